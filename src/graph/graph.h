/* Compute graph: a list of nodes, each an op with inputs, an output and an assigned backend.
 * Placement (src/placement/) may change node->backend; op code never decides placement. */
#ifndef FY_GRAPH_H
#define FY_GRAPH_H

#include "cpu/ops.h"
#include "ferry.h"
#include "tensor.h"

enum fy_op {
    FY_OP_GET_ROWS,   /* dst[t] = embedding row of tokens[t] */
    FY_OP_RMSNORM,    /* dst = rms(src0) * vec */
    FY_OP_MATMUL,     /* dst = W src0 + vec (bias, optional) */
    FY_OP_ROPE,       /* dst (= src0) rotated in place at the batch positions */
    FY_OP_KV_STORE,   /* cache[layer] slots pos <- src0 (k), src1 (v) */
    FY_OP_ATTENTION,  /* dst = attention(src0 = q, cache[layer]) with sinks and window */
    FY_OP_ADD,        /* dst = src0 + src1 */
    FY_OP_ROUTER,     /* dst = top-k ids, dst2 = softmax weights of src0 (router logits) */
    FY_OP_MOE_FFN,    /* dst = sum_j w_j FFN_{ids_j}(src0); src1 = ids, src2 = weights */
    FY_OP_ARGMAX,     /* dst (i32, one per row) = arg-max of each row of src0 */
    FY_OP_COUNT
};

const char *fy_op_name(enum fy_op op);

enum fy_act_type { FY_ACT_F32, FY_ACT_I32 };

/* An activation buffer: rows of ne0 elements; ne1 is the row count of the current batch. */
struct fy_act {
    enum fy_act_type type;
    int64_t ne0;
    int64_t ne1;
    void *data;
};

struct fy_kvcache;
struct fy_seq_run;
struct fy_numa;

/* params of ATTENTION and KV_STORE nodes */
struct fy_attn_shape {
    int64_t n_head;
    int64_t n_head_kv;
    int64_t head_dim;
};

struct fy_node {
    enum fy_op op;
    int backend;              /* index into the executor's backend table; set by placement */
    int layer;                /* -1 for non-layer nodes */
    const char *name;         /* static string, e.g. "attn_q" */
    struct fy_act *src[3];    /* inputs (unused = NULL) */
    struct fy_act *dst;       /* output */
    struct fy_act *dst2;      /* second output (ROUTER: the weights; dst holds the ids) */
    const struct fy_mat *w;   /* weight (GET_ROWS, MATMUL) */
    const float *vec;         /* bias (MATMUL), norm weight (RMSNORM), sinks (ATTENTION) */
    const void *params;       /* ROPE: fy_rope; ATTENTION, KV_STORE: fy_attn_shape; MOE_FFN:
                                 fy_moe_layer */
    int32_t iparam;           /* ATTENTION window; ROUTER k; ROPE head_dim */
    float fparam;             /* RMSNORM eps; ATTENTION scale */
};

/* What every op needs to know about the batch being evaluated. */
struct fy_batch {
    int64_t n_tok;
    const int32_t *tokens;    /* [n_tok] */
    const int32_t *pos;       /* [n_tok] */
    struct fy_kvcache *kv;
    int64_t n_kv;             /* valid cache slots after this batch is stored (no runs) */
    /* tokens of several sequences (kvcache.h: struct fy_seq_run), consecutive runs in token
     * order; n_runs 0: every token is of sequence 0 and n_kv applies */
    const struct fy_seq_run *runs;
    int64_t n_runs;
    struct fy_moe_reads *reads; /* NULL, or where MoE layers run on the CPU count their reads */
    const struct fy_numa *numa; /* NULL, or how the CPU's MoE steps split by NUMA node */
};

/* Expert weights the CPU's MoE layers read (each selected expert once per micro-batch). */
struct fy_moe_reads {
    int64_t layers;     /* MoE layer evaluations */
    int64_t experts;    /* distinct experts they selected, summed */
    uint64_t bytes;     /* those experts' weight bytes (gate, up, down) */
};

struct fy_backend {
    const char *name;
    fy_status (*run[FY_OP_COUNT])(const struct fy_node *n, const struct fy_batch *b);
    int (*supports)(const struct fy_node *n);
};

extern const struct fy_backend fy_backend_cpu;

struct fy_graph {
    struct fy_node *nodes;
    int64_t n_nodes;
    int64_t cap;
};

fy_status fy_graph_push(struct fy_graph *g, const struct fy_node *n);
void fy_graph_reset(struct fy_graph *g);
void fy_graph_free(struct fy_graph *g);

/* Runs every node on its backend, in order. backends[node->backend] must support the node. */
fy_status fy_graph_exec(const struct fy_graph *g, const struct fy_backend *const *backends,
                        int n_backends, const struct fy_batch *b);

#endif
