/* CPU kernels. Each op has a plain C implementation, parallel with OpenMP at op level only.
 * Activations are f32, row-major: a [n_tok][width] buffer has token t's row at t*width. */
#ifndef FY_CPU_OPS_H
#define FY_CPU_OPS_H

#include "ferry.h"
#include "tensor.h"

#include <stdbool.h>

/* y[t] = dequant(emb row tok[t]) */
void fy_cpu_get_rows(float *y, const struct fy_mat *emb, const int32_t *tok, int64_t n_tok);

/* y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w; sum of squares in double. y may alias x. */
void fy_cpu_rmsnorm(float *y, const float *x, const float *w, int64_t rows, int64_t n, float eps);

/* y[t][o] = sum_i W_e[o][i] x[t][i] + (bias ? bias[o] : 0), for expert/matrix index e.
 * y is [n_tok][n_out], x is [n_tok][n_in]. y must not alias x. */
void fy_cpu_matmul(float *y, const struct fy_mat *w, int64_t e, const float *x, int64_t n_tok,
                   const float *bias);
/* Its output rows [o0, o1) on the calling thread, for weights that take the f32 path (not
 * fy_cpu_qdot_ok): the same bits as fy_cpu_matmul. buf: FY_CPU_MM_TILE x n_in floats (the rows
 * dequantized once for every token), or NULL (a fused dot per row and token: the same bits). */
#define FY_CPU_MM_TILE 16
void fy_cpu_matmul_rows_f32(float *y, const struct fy_mat *w, int64_t e, const float *x,
                            int64_t n_tok, const float *bias, int64_t o0, int64_t o1, float *buf);

/* The integer path (qdot.h), which fy_cpu_matmul and fy_cpu_moe_ffn take by themselves where
 * fy_cpu_qdot_ok. */
/* expert e's bias row, or NULL for a matrix without bias */
static inline const float *fy_bias_of(const struct fy_bias *b, int64_t e)
{
    return b->data ? b->data + e * b->stride : NULL;
}

struct fy_qx_block;
/* True when w goes through int16 activations: Q8_0/MXFP4 weights, n_in a multiple of 32, and a
 * kernel set other than "c" in use. */
bool fy_cpu_qdot_ok(const struct fy_mat *w);
/* Rows r0..r0+rows of expert e's matrix over n_tok inputs quantized for it (xq [n_tok][n_in/32]
 * blocks: struct fy_qx_block, or with q8 struct fy_q8_block and MXFP4 weights) into
 * y [n_tok][n_out] (+ bias), on the calling thread; int16 tokens in blocks that stay in L2. */
void fy_cpu_qdot_rows(const struct fy_mat *w, int64_t e, int64_t r0, int64_t rows, const void *xq,
                      bool q8, int64_t n_tok, float *y, const float *bias);

/* ids[r] = the index of the largest value of row r of x [rows][n] that is not NaN, the lowest
 * among equals (0 for a row of NaNs): greedy sampling. */
void fy_cpu_argmax(int32_t *ids, const float *x, int64_t rows, int64_t n);

/* y[i] = a[i] + b[i]; y may alias a. */
void fy_cpu_add(float *y, const float *a, const float *b, int64_t n);

/* YaRN RoPE, ggml semantics (gpt-oss.md section 7), NEOX pairs (i, i + n_rot/2). */
struct fy_rope {
    int n_rot;            /* rotated dims per head (= head_dim for gpt-oss) */
    int n_ctx_orig;       /* 4096 */
    float freq_base;      /* 150000 */
    float freq_scale;     /* 1/32 */
    float ext_factor;     /* 1 */
    float attn_factor;    /* 1 */
    float beta_fast;      /* 32 */
    float beta_slow;      /* 1 */
    int unrounded;        /* test-only: OpenAI/HF unrounded correction range */
};
/* Rotates x [n_tok][n_heads*head_dim] in place; token t is at position pos[t]. */
void fy_cpu_rope_yarn(float *x, int64_t n_tok, int64_t n_heads, int64_t head_dim,
                      const int32_t *pos, const struct fy_rope *r);

/* Attention with per-head sinks over a KV cache where slot j holds position kv_pos0 + j (the
 * CPU), or, with ring > 0 (the GPU kernels only), position p at slot p % ring. */
struct fy_attn_args {
    int64_t n_tok, n_head, n_head_kv, head_dim;
    const float *q;         /* [n_tok][n_head*head_dim], already rotated */
    const void *k;          /* [n_kv][n_head_kv*head_dim] of kv_type, rotated */
    const void *v;          /* [n_kv][n_head_kv*head_dim] of kv_type */
    enum fy_dtype kv_type;  /* FY_F32, FY_F16 or FY_Q8_0 (rows of kvw/32 blocks of 34 bytes) */
    int64_t n_kv;           /* slots 0..n_kv-1 are valid (ring: positions 0..n_kv-1) */
    const int32_t *pos;     /* [n_tok] query positions */
    const float *sinks;     /* [n_head] raw logits, or NULL */
    int32_t window;         /* 0: causal; else visible iff 0 <= p - pj < window */
    float scale;            /* 1/sqrt(head_dim) */
    int64_t kv_pos0;        /* the position slot 0 holds (0: slot j holds position j) */
    int64_t ring;           /* GPU: > 0: position p at slot p % ring (a sliding-window layer's
                               ring of slots, src/graph/kvcache.h); the CPU kernels take 0 */
};
void fy_cpu_attention(float *out, const struct fy_attn_args *a);  /* out [n_tok][n_head*hd] */
/* Bytes from a cache's start to the block holding element i of the flat [slot][kvw] array
 * (kvw a multiple of 32 for Q8_0, so a block never straddles two slots). */
static inline size_t fy_kv_offset(enum fy_dtype t, int64_t i)
{
    return t == FY_Q8_0 ? (size_t)(i / 32) * 34 : (size_t)i * (t == FY_F16 ? 2 : 4);
}
/* The slots [*j0, *j1] a query at position p sees (empty when *j0 > *j1): causal, the window,
 * the cache's n_kv slots from position kv_pos0 on. Kernels visit them from the first visible
 * slot on, so the arithmetic depends on positions only, not on where slot 0 is. */
static inline void fy_attn_visible(const struct fy_attn_args *a, int64_t p, int64_t *j0,
                                   int64_t *j1)
{
    const int64_t first = a->window > 0 && p - a->window + 1 > a->kv_pos0 ? p - a->window + 1
                                                                          : a->kv_pos0;
    const int64_t last = a->kv_pos0 + a->n_kv - 1;
    *j0 = first - a->kv_pos0;
    *j1 = (p < last ? p : last) - a->kv_pos0;
}
/* the same with a given kernel set (qdot.h; benchmarks and tests) */
struct fy_cpu_set;
void fy_cpu_attention_set(const struct fy_cpu_set *set, float *out, const struct fy_attn_args *a);

/* Store rows k,v [n_tok][width] f32 at slots pos[t] of caches of kv_type (ring > 0: at slots
 * pos[t] % ring; Q8_0: each block of 32 quantized as fy_quant_row_q8_0, width a multiple of 32). */
void fy_cpu_kv_store(void *kc, void *vc, enum fy_dtype kv_type, const float *k, const float *v,
                     int64_t n_tok, int64_t width, const int32_t *pos, int64_t ring);

/* Top-k of each row of logits [n_tok][n_exp] (descending; ties to the lower index), then a
 * softmax over the k selected. ids/w are [n_tok][k]. */
void fy_cpu_router_topk(int32_t *ids, float *w, const float *logits, int64_t n_tok,
                        int64_t n_exp, int k);

/* a = min(g,limit) * sigmoid(alpha*min(g,limit)) * (clamp(u,-limit,limit) + 1) */
void fy_cpu_swiglu_oai(float *a, const float *g, const float *u, int64_t n, float alpha,
                       float limit);
/* the same on the calling thread only (inside a parallel region's work item) */
void fy_cpu_swiglu_oai_serial(float *a, const float *g, const float *u, int64_t n, float alpha,
                              float limit);

/* Mixture of experts. For each token t: y[t] = sum_j w[t][j] * FFN_{ids[t][j]}(x[t]) where
 * FFN_e(x) = Wd_e * swiglu_oai(Wg_e x + bg_e, Wu_e x + bu_e) + bd_e.
 * Tokens are grouped by expert: each selected expert's weights are read once per call. */
struct fy_moe_layer {
    struct fy_mat gate, up, down;   /* [d -> ff] x E, [d -> ff] x E, [ff -> d] x E */
    struct fy_bias gate_b, up_b, down_b;
    float alpha, limit;             /* 1.702, 7 */
};
fy_status fy_cpu_moe_ffn(float *y, const float *x, int64_t n_tok, const int32_t *ids,
                         const float *w, int k, const struct fy_moe_layer *L);
/* The same with the work split by NUMA node (cpu/numa.h: --numa experts: each node's threads
 * compute the selections of the node's experts; mirror: a share of every expert from the node's
 * copy), the same bits as without: every output row is computed by the same kernel calls, and
 * each token's k expert outputs are summed in one fixed order (increasing expert id). nu NULL,
 * or a mode that does not split the MoE: fy_cpu_moe_ffn. */
struct fy_numa;
fy_status fy_cpu_moe_ffn_numa(float *y, const float *x, int64_t n_tok, const int32_t *ids,
                              const float *w, int k, const struct fy_moe_layer *L,
                              const struct fy_numa *nu);
/* Its integer path (moe_qdot.c), which fy_cpu_moe_ffn takes where the three matrices are
 * fy_cpu_qdot_ok: start[n_exp + 1] and sel[n_tok*k] are the selections grouped by expert; nu
 * NULL, or the node split. */
fy_status fy_cpu_moe_ffn_qdot(float *y, const float *x, int64_t n_tok, const int32_t *ids,
                              const float *w, int k, const struct fy_moe_layer *L,
                              const int64_t *start, const int64_t *sel, const struct fy_numa *nu);
/* Its f32 path split by node (moe_numa.c), for weights none of which take the integer path. */
fy_status fy_cpu_moe_ffn_nodes(float *y, const float *x, int64_t n_tok, const int32_t *ids,
                               const float *w, int k, const struct fy_moe_layer *L,
                               const int64_t *start, const int64_t *sel, const struct fy_numa *nu);

#endif
