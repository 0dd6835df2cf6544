/* A session: one sequence evaluated on a model, with its KV cache, activation buffers and the
 * per-batch gpt-oss graph. */
#ifndef FY_SESSION_H
#define FY_SESSION_H

#include "model/model.h"
#include "graph.h"
#include "kvcache.h"

#include <stdbool.h>

struct fy_placement;
struct fy_device;
struct fy_session;

struct fy_session_opts {
    int64_t n_ctx;          /* KV cache positions (default: 4096, capped at n_ctx_train) */
    int64_t n_ubatch;       /* tokens per graph evaluation (default 512) */
    enum fy_dtype kv_type;  /* FY_F16 (default), FY_F32 or FY_Q8_0 */
    /* sequences the cache holds (default 1), each n_ctx positions (fy_session_eval_seqs) */
    int32_t n_seq;
    /* false (default): sliding-window layers keep a ring of window + n_ubatch slots
     * (fy_place_kv_slots); true (--swa-full): every layer keeps n_ctx slots */
    bool swa_full;
    /* OpenMP threads for micro-batches of one token / of more (-t, -tb); 0: leave as set */
    int n_threads, n_threads_batch;
    /* Hybrid execution (both or neither): tensors placed by `placement` on GPU0 live on `gpu`,
     * uploaded when the session opens; each node runs where its weights live, the MoE layers
     * where fy_place_experts says. The session does not own either. */
    const struct fy_placement *placement;
    struct fy_device *gpu;
    /* NUMA (cpu/numa.h): the CPU's MoE steps split by node, the threads pinned per node; NULL:
     * none. Not owned; its memory placement is the caller's (fy_numa_place). */
    struct fy_numa *numa;
};

/* What the hybrid scheduler moved, cumulated since the session opened. */
struct fy_sched_stats {
    uint64_t load_bytes;        /* weights uploaded when the session opened */
    uint64_t expert_bytes;      /* expert weights uploaded for offloaded MoE layers */
    int64_t experts_uploaded;   /* (layer, expert) pairs uploaded */
    uint64_t bias_bytes;        /* expert biases uploaded per step (no GPU copy) */
    uint64_t act_bytes_in;      /* activations and batch inputs, host -> device */
    uint64_t act_bytes_out;     /* activations, device -> host */
    int64_t moe_gpu;            /* MoE layer evaluations on the GPU (resident or uploaded) */
    int64_t moe_cpu;            /* MoE layer evaluations on the CPU */
    int64_t segments;           /* device segments run */
    int64_t upload_chunks;      /* chunks the expert uploads were split into (each a few
                                   experts, computed while the next one uploads) */
    uint64_t pinned_bytes;      /* host memory pinned for expert uploads (whole pages) */
    uint64_t prefetch_bytes;    /* of expert_bytes + bias_bytes: uploaded speculatively for the
                                   next layer before its router ran (cross-layer prefetch) */
    uint64_t prefetch_wasted_bytes; /* of prefetch_bytes: experts the layer did not select */
    int64_t handoffs_down;      /* grouped downloads of a CPU segment's inputs (one host
                                   synchronisation each: a hybrid layer's h, ids and weights) */
};
/* NULL for a session without a placement. */
const struct fy_sched_stats *fy_session_sched_stats(const struct fy_session *s);

void fy_session_opts_default(struct fy_session_opts *o);

/* Receives logits rows: row0 is the index (within the evaluated tokens) of the first row. */
typedef fy_status (*fy_logits_fn)(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                                  int64_t n_vocab);

struct fy_session;

fy_status fy_session_new(const struct fy_model *m, const struct fy_session_opts *o,
                         struct fy_session **out);
void fy_session_free(struct fy_session *s);

/* Evaluates n tokens continuing the sequence, in micro-batches of n_ubatch. If all_logits, every
 * row's logits are passed to fn; otherwise only the last token's. FY_E_FULL (nothing evaluated)
 * if the tokens do not fit in the cache; FY_E_INVAL for a token id outside the vocabulary. */
fy_status fy_session_eval(struct fy_session *s, const int32_t *tokens, int64_t n, bool all_logits,
                          fy_logits_fn fn, void *ud);
/* The same for greedy generation: *id = the arg-max of the last token's logits (fy_cpu_argmax:
 * ties to the lowest id), computed where the logits are made, so a GPU hands back one id
 * instead of a row of n_vocab floats. */
fy_status fy_session_eval_argmax(struct fy_session *s, const int32_t *tokens, int64_t n,
                                 int32_t *id);

int64_t fy_session_n_past(const struct fy_session *s);
int64_t fy_session_n_ctx(const struct fy_session *s);
/* Bytes of the KV cache (every layer's K and V, rings included), wherever it lives. */
size_t fy_session_kv_bytes(const struct fy_session *s);
void fy_session_reset(struct fy_session *s);
/* Forgets every position from n on (n <= n_past): the next eval continues at position n. Used
 * when a re-rendered conversation shares only a prefix with what the cache holds. Returns the
 * new n_past: n, or 0 when a sliding-window layer's ring no longer holds the window before n
 * (positions since overwritten: more than ring - window + 1 evaluated after n-1; the caller
 * evaluates the prefix again). */
int64_t fy_session_truncate(struct fy_session *s, int64_t n);

/* ---- several sequences (session_seq.c) ---- */
#define FY_SEQ_MAX 1024

/* n tokens continuing sequence seq */
struct fy_seq_input {
    int32_t seq;
    const int32_t *tokens;
    int64_t n;
};
/* Receives the logits of the last token of input i. */
typedef fy_status (*fy_seq_logits_fn)(void *ud, int64_t i, const float *logits, int64_t n_vocab);

/* Evaluates the inputs (distinct sequences) together: the tokens of all of them share
 * micro-batches (each selected expert's weights read once per micro-batch for every sequence's
 * tokens), each attends to its own sequence only. fn receives the logits of each input's last
 * token (in micro-batches of up to n_ubatch such last tokens, after every input's earlier tokens
 * went through micro-batches without logits). A sequence's result does not depend on the
 * others (bit for bit with the reference kernel set). FY_E_FULL (nothing evaluated) if an input
 * does not fit in its sequence's n_ctx; FY_E_INVAL for a bad sequence or token id. */
fy_status fy_session_eval_seqs(struct fy_session *s, const struct fy_seq_input *in, int64_t n_in,
                               fy_seq_logits_fn fn, void *ud);
int32_t fy_session_n_seq(const struct fy_session *s);
int64_t fy_session_seq_n_past(const struct fy_session *s, int32_t seq);
/* Empties sequence seq (its rows are left to be overwritten). */
void fy_session_seq_reset(struct fy_session *s, int32_t seq);
/* fy_session_truncate for sequence seq. */
int64_t fy_session_seq_truncate(struct fy_session *s, int32_t seq, int64_t n);
/* Forks: sequence dst becomes the first n positions of sequence src (n <= its n_past; the rows
 * are copied, wherever the cache lives). Returns dst's new n_past: n, or 0 when src's rings no
 * longer hold the window before n (the caller evaluates the prefix), or -1 on an error (logged;
 * dst is then empty). */
int64_t fy_session_seq_copy(struct fy_session *s, int32_t src, int32_t dst, int64_t n);

/* The expert weights the MoE layers that ran on the CPU read since the session opened. */
const struct fy_moe_reads *fy_session_moe_reads(const struct fy_session *s);

/* The graph of the last evaluated micro-batch (for inspection and tests). */
const struct fy_graph *fy_session_graph(const struct fy_session *s);
/* The session's (host) KV cache (for inspection and tests). */
struct fy_kvcache;
const struct fy_kvcache *fy_session_kv(const struct fy_session *s);

#endif
