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
    struct fy_seq_run *runs; /* [n_ubatch] */
    int32_t *tok;            /* [n_ubatch]: a micro-batch's tokens gathered from several inputs */
    /* per sequence [o.n_seq]: positions evaluated; the rings (kv->ring) hold every position
     * from seq_lo to seq_past - 1 (fy_session_truncate) */
    int64_t *seq_past, *seq_lo;
    /* ring_min: the smallest ring, ring_window: the largest window of a ring layer */
    int64_t ring_min, ring_window;
    int64_t logits_rows;     /* rows allocated in act[ACT_LOGITS] */
    struct fy_moe_reads reads; /* the CPU MoE layers' expert reads, cumulated */
    struct fy_sched *sched;  /* hybrid execution over a placement; NULL: all on the CPU */
};

/* Runs one micro-batch of nb tokens whose positions are in s->pos, in runs[n_runs] (kvcache.h:
 * consecutive tokens of one sequence each, n_kv counting them), and advances each run's
 * sequence. Logits: every row (all_logits), the last row (need_logits), or none; argmax: the
 * last row's arg-max in act[ACT_ARGMAX]. */
fy_status fy_session_ubatch(struct fy_session *s, const int32_t *tokens, int64_t nb,
                            const struct fy_seq_run *runs, int64_t n_runs, bool all_logits,
                            bool need_logits, bool argmax);
/* FY_E_INVAL (logged) for a token id outside the vocabulary */
fy_status fy_session_check_tokens(const struct fy_session *s, const int32_t *tokens, int64_t n);
/* the rows of act[ACT_LOGITS] */
fy_status fy_session_ensure_logits(struct fy_session *s, int64_t rows);

#endif
