/* The GPU module's C interface, implemented in src/hip/ (HIP dialect, built by hipcc, nvcc or,
 * for CI, g++ against the CPU emulator). Two halves:
 *   - the runtime (device.hip): device, memory, pinned host memory, streams, events;
 *   - one launcher per graph op, the same names and arguments as src/cpu/ops.h plus a stream.
 * Every pointer a launcher takes is device memory, including the data of fy_mat / fy_bias /
 * fy_attn_args / fy_moe_layer views and the batch positions and token ids. Launchers enqueue
 * work on the stream and return at once: FY_OK, FY_E_INVAL (bad shape), FY_E_NOMEM (workspace)
 * or FY_E_GPU (launch failed, logged with the kernel's name). */
#ifndef FY_GPU_H
#define FY_GPU_H

#ifdef __cplusplus
extern "C" {
#endif

#include "cpu/ops.h"
#include "ferry.h"
#include "tensor.h"

#include <stdbool.h>

typedef struct fy_gpu_stream_ *fy_gpu_stream;  /* hipStream_t / cudaStream_t */
typedef struct fy_gpu_event_ *fy_gpu_event;    /* hipEvent_t / cudaEvent_t */

/* ---- runtime (device.hip) ---- */

struct fy_gpu_info {
    char name[256];
    char arch[64];          /* "sm_90", "gfx942", "emu" */
    size_t mem_total;
    size_t mem_free;
    int n_sm;               /* multiprocessors / compute units */
    int warp;               /* 32 or 64 */
    bool matrix_units;      /* tensor cores (sm_80+) / MFMA (CDNA); the GEMMs use them */
    bool async_copy;        /* global -> shared copies without registers (cp.async, sm_80+) */
};

const char *fy_gpu_platform(void);        /* "cuda", "hip", "emu"; "none" without a GPU build */
/* Devices present: 0 when none (or no GPU build, or no kernel driver), -1 when a driver is there
 * but the runtime cannot use it (a driver older than the runtime, ...; logged once, by name). */
int fy_gpu_count(void);
fy_status fy_gpu_init(int dev, struct fy_gpu_info *info);  /* selects dev, fills info (or NULL) */
bool fy_gpu_matrix_units(void);  /* the device fy_gpu_init selected has them (false before) */
bool fy_gpu_async_copy(void);    /* ... has asynchronous copies (fy_gpu_info.async_copy) */

/* Device memory. On failure: FY_E_NOMEM and a message naming `what`, the bytes asked for and
 * the bytes free. */
fy_status fy_gpu_malloc(void **p, size_t n, const char *what);
void fy_gpu_free(void *p);                /* NULL-safe */
fy_status fy_gpu_mem_info(size_t *free_bytes, size_t *total_bytes);

/* Pinned host memory: register existing pages (e.g. a mapped model file) or allocate. */
fy_status fy_gpu_host_register(void *p, size_t n, bool read_only);
void fy_gpu_host_unregister(void *p);
fy_status fy_gpu_host_alloc(void **p, size_t n);
void fy_gpu_host_free(void *p);

fy_status fy_gpu_stream_new(fy_gpu_stream *s);
void fy_gpu_stream_free(fy_gpu_stream s);
fy_status fy_gpu_stream_sync(fy_gpu_stream s);
fy_status fy_gpu_event_new(fy_gpu_event *e);
void fy_gpu_event_free(fy_gpu_event e);
fy_status fy_gpu_event_record(fy_gpu_event e, fy_gpu_stream s);
fy_status fy_gpu_stream_wait(fy_gpu_stream s, fy_gpu_event e);  /* s waits for e on the GPU */
fy_status fy_gpu_event_sync(fy_gpu_event e);                    /* the host waits for e */

/* Graphs: what is enqueued on s between capture_begin and capture_end is recorded, not run;
 * *g is the instantiated recording (NULL on failure, the capture ended either way), which
 * graph_launch enqueues again: the same kernels with the same arguments, copies between the
 * same addresses (host sides pinned). No synchronisation of s while capturing. */
typedef struct fy_gpu_graph_ *fy_gpu_graph;
fy_status fy_gpu_capture_begin(fy_gpu_stream s);
fy_status fy_gpu_capture_end(fy_gpu_stream s, fy_gpu_graph *g);
fy_status fy_gpu_graph_launch(fy_gpu_graph g, fy_gpu_stream s);
void fy_gpu_graph_free(fy_gpu_graph g);  /* NULL-safe */
/* Changes with every fy_gpu_malloc and fy_gpu_free (a graph's buffers may be gone). */
uint64_t fy_gpu_alloc_epoch(void);

fy_status fy_gpu_copy_h2d(void *dst, const void *src, size_t n, fy_gpu_stream s);
fy_status fy_gpu_copy_d2h(void *dst, const void *src, size_t n, fy_gpu_stream s);
fy_status fy_gpu_copy_d2d(void *dst, const void *src, size_t n, fy_gpu_stream s);
fy_status fy_gpu_memset(void *dst, int v, size_t n, fy_gpu_stream s);

/* ---- ops: same semantics as src/cpu/ops.h ---- */

fy_status fy_gpu_get_rows(float *y, const struct fy_mat *emb, const int32_t *tok, int64_t n_tok,
                          fy_gpu_stream s);
fy_status fy_gpu_rmsnorm(float *y, const float *x, const float *w, int64_t rows, int64_t n,
                         float eps, fy_gpu_stream s);
/* GEMV for small n_tok, tiled GEMM (matrix units where present) for large. */
fy_status fy_gpu_matmul(float *y, const struct fy_mat *w, int64_t e, const float *x, int64_t n_tok,
                        const float *bias, fy_gpu_stream s);
/* Expert-grouped product for MoE: for each sorted row r in [off[e], off[e+1]) of each expert e in
 * [e0, e1): y[r] = W_e x[src_row ? src_row[r] : r] + (bias.data ? bias_e : 0).
 * off is device int32 [n_mat+1]; max_rows bounds off[e+1]-off[e] (sizes the grid without
 * reading off on the host). x rows have x_stride floats, y rows have w->n_out floats. */
fy_status fy_gpu_matmul_grouped(float *y, const struct fy_mat *w, const float *x, int64_t x_stride,
                                const int32_t *src_row, const int32_t *off, int64_t e0, int64_t e1,
                                int64_t max_rows, const struct fy_bias *bias, fy_gpu_stream s);
/* The same with at most max_experts experts of [e0, e1) having rows (MoE: min(e1 - e0, the
 * selections)): the grid has that many expert slices instead of e1 - e0, each block finding its
 * expert among those with rows in off[] (decode of the 120b: 4 slices, not 128). */
fy_status fy_gpu_matmul_grouped_n(float *y, const struct fy_mat *w, const float *x,
                                  int64_t x_stride, const int32_t *src_row, const int32_t *off,
                                  int64_t e0, int64_t e1, int64_t max_rows, int64_t max_experts,
                                  const struct fy_bias *bias, fy_gpu_stream s);
/* ---- fused decode kernels (issue 12 item 3: fewer launches per token), n_tok <= 8 ---- */
#define FY_GPU_FUSE_MAX_TOK 8

/* one matrix of a fused GEMV: y = W h + bias (bias optional) */
struct fy_gpu_mv_part {
    const struct fy_mat *w;
    const float *bias;
    float *y;
};
/* h = rmsnorm(x) * norm_w (written if h is not NULL) and y_p = W_p h + b_p for 1..3 matrices of
 * one weight type and n_in (q, k and v), in one launch. */
fy_status fy_gpu_rmsnorm_matmul(float *h, const float *x, int64_t n_tok, const float *norm_w,
                                float eps, const struct fy_gpu_mv_part *parts, int n_parts,
                                fy_gpu_stream s);
/* y = res + (W x + bias) (res may be y), and y_plain = W x + bias if y_plain is not NULL. */
fy_status fy_gpu_matmul_residual(float *y, float *y_plain, const struct fy_mat *w, const float *x,
                                 int64_t n_tok, const float *bias, const float *res,
                                 fy_gpu_stream s);

/* RoPE of q (n_head heads) and k (n_head_kv heads) in place at pos, then k and v (rows of
 * n_head_kv * head_dim) stored at slots pos (ring > 0: pos % ring) of the caches:
 * fy_gpu_rope_yarn twice and fy_gpu_kv_store in one launch. */
fy_status fy_gpu_rope_kv_store(float *q, float *k, const float *v, int64_t n_tok, int64_t n_head,
                               int64_t n_head_kv, int64_t head_dim, const int32_t *pos,
                               const struct fy_rope *r, void *kc, void *vc, enum fy_dtype kv_type,
                               int64_t ring, fy_gpu_stream s);

/* ids[r] = arg-max of row r of x [rows][n] (fy_cpu_argmax). */
fy_status fy_gpu_argmax(int32_t *ids, const float *x, int64_t rows, int64_t n, fy_gpu_stream s);

/* Rows per tile of the expert-grouped GEMM (the prefill MoE) */
#define FY_GPU_TILE_ROWS 64
/* fy_gpu_matmul_grouped_n for many rows per expert over a compact list of row tiles (issue 12
 * item 4): tile t covers expert tiles[2t]'s rows from tiles[2t+1] (at most FY_GPU_TILE_ROWS, to
 * off[e+1]); expert e's tiles are [tile_off[e], tile_off[e+1]); the grid has max_tiles row
 * slots (a bound on tile_off[e1] - tile_off[e0]) instead of every expert times the largest row
 * count. The MoE's grouping kernel writes the list (device memory). x_rows: the rows x holds
 * (> 0: on the tensor cores x goes to bf16 once, not once per output tile; 0: unknown). */
fy_status fy_gpu_matmul_grouped_tiles(float *y, const struct fy_mat *w, const float *x,
                                      int64_t x_stride, const int32_t *src_row,
                                      const int32_t *off, const int32_t *tiles,
                                      const int32_t *tile_off, int64_t e0, int64_t e1,
                                      int64_t max_tiles, int64_t x_rows,
                                      const struct fy_bias *bias, fy_gpu_stream s);

fy_status fy_gpu_add(float *y, const float *a, const float *b, int64_t n, fy_gpu_stream s);
fy_status fy_gpu_rope_yarn(float *x, int64_t n_tok, int64_t n_heads, int64_t head_dim,
                           const int32_t *pos, const struct fy_rope *r, fy_gpu_stream s);
/* Rows t of k and v at slots pos[t] (ring > 0: pos[t] % ring) of the caches. */
fy_status fy_gpu_kv_store(void *kc, void *vc, enum fy_dtype kv_type, const float *k,
                          const float *v, int64_t n_tok, int64_t width, const int32_t *pos,
                          int64_t ring, fy_gpu_stream s);
/* Flash-style: memory does not grow with n_tok * n_kv. a->pos is device memory. a->ring > 0:
 * the key of position p is at slot p % ring (a->kv_pos0 must be 0). */
fy_status fy_gpu_attention(float *out, const struct fy_attn_args *a, fy_gpu_stream s);
fy_status fy_gpu_router_topk(int32_t *ids, float *w, const float *logits, int64_t n_tok,
                             int64_t n_exp, int k, fy_gpu_stream s);
fy_status fy_gpu_swiglu_oai(float *a, const float *g, const float *u, int64_t n, float alpha,
                            float limit, fy_gpu_stream s);

/* MoE in three steps so that uploads of expert weights can overlap the compute of earlier
 * experts: begin (group the (token, slot) pairs by expert), experts [e0, e1) (gate, up,
 * SwiGLU-OAI, down, each only on that expert's rows), end (weighted sum per token, in slot order).
 * fy_gpu_moe_ffn is all three. The workspace grows as needed (FY_E_NOMEM names it).
 * x given to begin must stay valid until the last experts call; the workspace must not be freed
 * while queued work still uses it (sync the stream first). The k ids of a token must be distinct
 * (each expert appears at most once per token: that bounds its rows by n_tok); ids outside
 * [0, n_expert) contribute nothing (the CPU path rejects them before this is reached). */
struct fy_gpu_moe_ws;
fy_status fy_gpu_moe_ws_new(struct fy_gpu_moe_ws **ws);
void fy_gpu_moe_ws_free(struct fy_gpu_moe_ws *ws);
fy_status fy_gpu_moe_begin(struct fy_gpu_moe_ws *ws, const float *x, int64_t n_tok,
                           const int32_t *ids, int k, const struct fy_moe_layer *L,
                           fy_gpu_stream s);
fy_status fy_gpu_moe_experts(struct fy_gpu_moe_ws *ws, const struct fy_moe_layer *L, int64_t e0,
                             int64_t e1, fy_gpu_stream s);
fy_status fy_gpu_moe_end(struct fy_gpu_moe_ws *ws, float *y, const float *w, fy_gpu_stream s);
fy_status fy_gpu_moe_ffn(struct fy_gpu_moe_ws *ws, float *y, const float *x, int64_t n_tok,
                         const int32_t *ids, const float *w, int k, const struct fy_moe_layer *L,
                         fy_gpu_stream s);

/* Fused decode MoE (n_tok <= FY_GPU_FUSE_MAX_TOK): y = res + MoE(x) (res may be y), moe_out
 * (optional) = MoE(x); gate and up in one grouped GEMV, then down with SwiGLU, routing weights
 * and combine in one (2 launches, 3 without `grouped`: true when fy_gpu_rmsnorm_router grouped
 * these very ids into ws, and nothing ran on ws since). */
fy_status fy_gpu_moe_ffn_residual(struct fy_gpu_moe_ws *ws, float *y, float *moe_out,
                                  const float *x, int64_t n_tok, const int32_t *ids,
                                  const float *w, int k, const struct fy_moe_layer *L,
                                  const float *res, bool grouped, fy_gpu_stream s);
/* Fused router (n_tok <= FY_GPU_FUSE_MAX_TOK): h = rmsnorm(x) * norm_w, logits = R h + rb
 * (rb optional), ids and w its top-k and softmax (fy_gpu_router_topk), and the grouping of those
 * selections by expert into ws for the MoE that follows, in one launch. FY_E_UNSUPPORTED when
 * the shapes do not fit the kernel (then use the separate kernels). */
fy_status fy_gpu_rmsnorm_router(float *h, float *logits, int32_t *ids, float *w, const float *x,
                                int64_t n_tok, const float *norm_w, float eps,
                                const struct fy_mat *r, const float *rb, int k,
                                struct fy_gpu_moe_ws *ws, fy_gpu_stream s);

/* The GEMV quantizes x to int8 blocks of 32 and multiplies Q8_0 and MXFP4 weights with integer
 * dot products (dp4a; FY_GPU_DP4A=0/1 forces, default on a GPU, off on the emulator): llama.cpp's
 * q8_1 numerics, relative error ~1e-2 of a dot product's scale instead of ~1e-6. */
bool fy_gpu_q8_enabled(void);
/* The GEMM runs on the matrix units in bf16 (FY_GPU_MMA=0/1 forces; default where the device has
 * them, off on the emulator): ~1e-2 relative error of a dot product instead of ~1e-6. */
bool fy_gpu_mma_enabled(void);
/* How the GEMM on the matrix units stages its k-tiles (FY_GPU_PIPE): 0 one buffer, 32-wide
 * k-steps (the first version); 1 a two-stage ring of 64-wide k-steps, the next tile's loads in
 * registers during this tile's products; 2 the same with x (and bf16 weights) copied
 * asynchronously (cp.async). Default 2 where the device has asynchronous copies (sm_80+, the
 * emulator), else 1. Every mode gives the same bits. */
int fy_gpu_pipe_mode(void);
/* Frees the module's scratch buffers (the GEMM's bf16 x); the caller has synchronised. */
void fy_gpu_scratch_free(void);

/* The fused decode kernels are used (FY_GPU_FUSE unset or not "0"); attention's split-KV merge
 * follows it too. */
bool fy_gpu_fuse_enabled(void);

#ifdef __cplusplus
}
#endif

#endif
