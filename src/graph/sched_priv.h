/* The hybrid scheduler's private parts, shared by its three files: sched.c (set-up, segments,
 * running a micro-batch), sched_upload.c (uploads of an offloaded MoE layer's selected experts:
 * pinning, staging slots, chunks) and sched_prefetch.c (the speculative cross-layer prefetch).
 * Only for them: the rest of src/graph/ uses sched.h. */
#ifndef FY_SCHED_PRIV_H
#define FY_SCHED_PRIV_H

#include "sched.h"

#include "placement/placement.h"
#include "device.h"
#include "kvcache.h"

/* A placed tensor's host bytes (the mmap) and, if it has one, its device copy. */
struct wrange {
    const uint8_t *host;
    size_t n;
    int64_t t; /* index in the placement */
    void *dev; /* NULL: not on the device */
};

struct fy_sched {
    struct fy_session *s;
    const struct fy_placement *pl;
    struct fy_device *gpu;
    struct fy_device *cpu;
    struct wrange *w; /* sorted by host address */
    int64_t n_w;
    struct fy_act dact[ACT_COUNT]; /* device copies of the activations */
    size_t dcap[ACT_COUNT];        /* bytes allocated for them */
    bool on_host[ACT_COUNT];
    bool on_dev[ACT_COUNT];
    void *tok_dev;             /* int32 [n_ubatch], then the positions: one upload */
    void *pos_dev;             /* tok_dev + n_ubatch */
    int32_t *io_host;          /* pinned [2 n_ubatch]: the ids and positions of that upload */
    bool io_pinned;            /* io_host is the device's pinned memory (else malloc) */
    void *act_stage[ACT_COUNT];   /* pinned staging of activation uploads (upload_act) */
    size_t act_stage_cap[ACT_COUNT];
    bool stage_busy[ACT_COUNT];   /* its staging may still be read by an upload in flight */
    /* step graphs: a batch is pure when the host did not wait for the device before its end;
     * a batch with the key of the last pure one is recorded or replayed as a step graph */
    bool pure, in_step;
    uint64_t pure_key, batch_key;
    void *down_stage[ACT_COUNT];  /* pinned staging of grouped downloads */
    size_t down_cap[ACT_COUNT];
    struct fy_kvcache kv_view; /* device pointers for the device's layers */
    /* staging of uploaded experts: one buffer per projection in each slot, laid out like the
     * tensor (expert e at e * nb2), holding only the experts the batch selected */
    void *stage[FY_STAGE_SLOTS][FY_EXP_PROJ_COUNT];
    size_t stage_cap[FY_STAGE_SLOTS][FY_EXP_PROJ_COUNT];
    void *stage_b[FY_STAGE_SLOTS][FY_EXP_PROJ_COUNT]; /* expert biases without a device copy */
    size_t stage_b_cap[FY_STAGE_SLOTS][FY_EXP_PROJ_COUNT];
    int slot;                             /* the slot of the next uploading layer */
    bool *used;                           /* [n_expert] */
    bool *all;                            /* [n_expert], all true: a prefetch's selection */
    struct fy_upload *up[FY_STAGE_SLOTS]; /* the uploads of the layer staged in a slot */
    int64_t up_cap;
    int64_t *chunk_up[FY_STAGE_SLOTS]; /* [n_expert + 2] */
    int64_t *chunk_e[FY_STAGE_SLOTS];  /* [n_expert + 2] */
    bool prefetch;                     /* cross-layer prefetch enabled */
    int pf_layer[FY_STAGE_SLOTS];      /* the layer prefetched into a slot, or -1 */
    struct fy_moe_stage pf_stage[FY_STAGE_SLOTS];
    uint64_t pf_expert[FY_STAGE_SLOTS]; /* bytes of one expert in that prefetch */
    const void **pins;                  /* host ranges pinned on the device */
    int64_t n_pins;
    bool oom_hint;       /* the placement hint was logged */
    struct fy_node *seg; /* translated nodes of one device segment */
    struct fy_mat *mats; /* their weights */
    int64_t seg_cap;
    struct fy_moe_layer moe; /* translated MoE parameters */
    struct fy_sched_stats st;
};

/* A CPU-resident expert tensor that the layer uploads into staging. */
struct staged {
    const struct wrange *r;
    uint8_t *dst; /* its staging buffer */
    size_t nb2;   /* bytes of one expert */
    int64_t run;  /* index in sc->up of its upload that the next expert may extend, or -1 */
};

/* ---- sched.c ---- */

/* The placed tensor whose host bytes hold p, or NULL. */
const struct wrange *fy_sched_find(const struct fy_sched *sc, const void *p);

/* Makes *buf (device memory of *cap bytes) hold at least need bytes; the contents are lost. */
fy_status fy_sched_dev_grow(struct fy_sched *sc, void **buf, size_t *cap, size_t need,
                            const char *what);

/* ---- sched_upload.c ---- */

/* Pins, once per session, the host pages of the CPU-resident experts of the uploading layers. */
fy_status fy_sched_pin_experts(struct fy_sched *sc);

/* Points the expert tensors of L at the device (resident copies or staging of slot), listing
 * in w and bs what has to be uploaded. */
fy_status fy_sched_stage_layer(struct fy_sched *sc, struct fy_moe_layer *L, int layer, int slot,
                               struct staged *w, int *n_w, struct staged *bs, int *n_bs);

/* The uploads of one layer into slot, of the experts marked in used, in chunks; fills the
 * slot's up, chunk_up, chunk_e and *st, and counts the bytes. */
void fy_sched_plan_uploads(struct fy_sched *sc, struct staged *w, int n_w, const struct staged *bs,
                           int n_bs, int slot, const bool *used, struct fy_moe_stage *st);

/* batches of at most this many tokens may run as step graphs (decode) */
#define FY_STEP_MAX_TOK 1

/* ---- sched_act.c ---- */

static inline int fy_sched_act_index(const struct fy_sched *sc, const struct fy_act *a)
{
    return (int)(a - sc->s->act);
}
size_t fy_sched_act_bytes(const struct fy_act *a);       /* of its ne1 rows */
size_t fy_sched_act_cap(const struct fy_sched *sc, int a); /* host capacity of activation a */
/* Makes the device copy of activation a exist (for an output) without copying into it. */
fy_status fy_sched_ensure_room(struct fy_sched *sc, int a);
/* Makes the latest version of activation a present on device d (a copy across if needed). */
fy_status fy_sched_ensure(struct fy_sched *sc, int a, enum fy_device_id d);
/* Activation a was just written on device d: the other side's copy is stale. */
void fy_sched_written(struct fy_sched *sc, const struct fy_act *a, enum fy_device_id d);
/* The inputs of nodes [i, j) that a CPU segment needs from the device, downloaded together:
 * async copies into pinned staging and one host synchronisation (a hybrid layer's h, ids and
 * weights); afterwards fy_sched_ensure finds them on the host. */
fy_status fy_sched_download_inputs(struct fy_sched *sc, int64_t i, int64_t j);
/* Waits for the device: ends the batch's step graph first (launching it) if one is open. */
fy_status fy_sched_wait(struct fy_sched *sc);
/* Ends a batch whose last node made activation a (the logits or their arg-max): synchronises
 * once and brings it to the host (through pinned staging when the device has it). */
fy_status fy_sched_result_home(struct fy_sched *sc, int a);

/* ---- sched_prefetch.c ---- */

/* Whether the cross-layer prefetch is on (fy_sched_set_prefetch, else FY_NO_PREFETCH). */
bool fy_sched_prefetch_enabled(void);

/* Forgets the prefetch in slot (if any), its experts not selected by used (NULL: none) counted
 * as wasted. */
void fy_sched_drop_prefetch(struct fy_sched *sc, int slot, const bool *used);

/* After layer l (node k) was enqueued, having selected `selected` experts: if the rule says so,
 * enqueues the whole upload of the next layer's MoE into the next slot. */
fy_status fy_sched_maybe_prefetch(struct fy_sched *sc, int64_t k, int64_t selected,
                                  const struct fy_batch *b);

#endif
