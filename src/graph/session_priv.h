/* The session's insides, shared by the graph builder (build_gptoss.c) and the scheduler
 * (sched.c). */
#ifndef FY_SESSION_PRIV_H
#define FY_SESSION_PRIV_H

#include "session.h"

/* Activation buffers; ACT_HLAST is a view of the last row of ACT_H (no storage of its own). */
enum { ACT_X, ACT_H, ACT_Q, ACT_K, ACT_V, ACT_ATTN, ACT_O, ACT_RL, ACT_IDS, ACT_W, ACT_MOE,
       ACT_LOGITS, ACT_ARGMAX, ACT_HLAST, ACT_COUNT };

struct fy_sched;

struct fy_session {
    const struct fy_model *m;
    struct fy_session_opts o;
    struct fy_kvcache *kv;
    struct fy_act act[ACT_COUNT];
    struct fy_attn_shape shape;
    struct fy_graph graph;
    int32_t *pos;            /* [n_ubatch] */
    int64_t n_past;
    /* the rings (kv->ring) hold every position from kv_lo to n_past - 1 (fy_session_truncate);
     * ring_min: the smallest ring, ring_window: the largest window of a ring layer */
    int64_t kv_lo, ring_min, ring_window;
    int64_t logits_rows;     /* rows allocated in act[ACT_LOGITS] */
    struct fy_sched *sched;  /* hybrid execution over a placement; NULL: all on the CPU */
};

#endif
