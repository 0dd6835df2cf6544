/* Fused MoE router for decode (issue 12 item 3): one launch does what RMSNorm, the router
 * matmul, the top-k and the MoE's grouping kernel do in four, split along the input (item 5:
 * the router is a narrow matrix, 32 or 128 rows; one block per token would stream it through
 * one multiprocessor). Block (split s, token t):
 *   1. the row's RMS with fy_gpu_rmsnorm's reduction (same threads, same order: the same h bit
 *      for bit), h for its slice of the input kept in shared memory and written out;
 *   2. partial router logits of every expert over the slice, a warp per expert, lanes over
 *      8-element weight units decoded exactly (matmul_unit.h), into the workspace;
 *   3. the token's last split (a ticket per token) sums the partials in split order, adds the
 *      bias, writes the logits, and warp 0 takes the top-k and softmax (router_topk.h);
 *   4. the last token done (a second ticket) groups every token's selections by expert as
 *      fy_gpu_i32_moe_group does (a stable counting sort: off[e], src_row, inv).
 * Tickets go back to 0 for the next launch. For n_tok <= FY_GPU_FUSE_MAX_TOK: the grouping is
 * one block's O(n_sel^2) work. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "matmul_args.h"
#include "matmul_unit.h"
#include "moe_ws.h"
#include "router_topk.h"

#include <limits.h>

#define FY_ROUTE_THREADS 256
#define FY_ROUTE_SMEM_FLOATS 12288 /* a slice of h, or the logits of one token: 48 KiB */

struct fy_route_args {
    float *h, *logits, *w;
    int32_t *ids;
    const float *x, *norm_w, *rb;
    const uint8_t *r;
    int64_t row_bytes;
    float eps;
    int d, n_exp, k, n_tok;
    int chunk;             /* input elements per split (a multiple of 32); gridDim.x splits */
    float *part;           /* [n_tok][splits][n_exp] partial logits */
    int32_t *tick;         /* [n_tok] per-token tickets of the splits */
    int32_t *off, *src_row, *inv, *ticket;
};

template <int T>
static __global__ __launch_bounds__(FY_ROUTE_THREADS) void fy_gpu_f32_rmsnorm_router(
    const fy_route_args a)
{
    FY_DYN_SMEM(float, hs); /* this split's slice of h, then the token's logits */
    __shared__ float red[FY_ROUTE_THREADS / 32];
    __shared__ int last;
    const int tid = (int)threadIdx.x;
    const int lane = tid % FY_WARP;
    const int nw = FY_ROUTE_THREADS / FY_WARP;
    const int sp = (int)blockIdx.x, n_sp = (int)gridDim.x;
    const int t = (int)blockIdx.y;
    const float *xr = a.x + (int64_t)t * a.d;
    const int k0 = sp * a.chunk, k1 = min(a.d, k0 + a.chunk);

    /* 1. RMSNorm, fy_gpu_f32_rmsnorm's reduction over the whole row (every split: the same
     *    scale), h for this split's slice */
    float ss = 0.0f;
    for (int i = tid; i < a.d; i += FY_ROUTE_THREADS)
        ss += xr[i] * xr[i];
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        ss += fy_shfl_xor(ss, m);
    if (lane == 0)
        red[tid / FY_WARP] = ss;
    __syncthreads();
    ss = lane < nw ? red[lane] : 0.0f;
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        ss += fy_shfl_xor(ss, m);
    const float scale = 1.0f / sqrtf(ss / (float)a.d + a.eps);
    float *hr = a.h + (int64_t)t * a.d;
    for (int i = k0 + tid; i < k1; i += FY_ROUTE_THREADS) {
        const float v = (xr[i] * scale) * a.norm_w[i];
        hs[i - k0] = v;
        hr[i] = v;
    }
    __syncthreads();

    /* 2. partial logits over [k0, k1): a warp per expert, lanes over 8-element units */
    float *pt = a.part + ((int64_t)t * n_sp + sp) * a.n_exp;
    const int u0 = k0 / 8, u1 = (k1 + 7) / 8;
    for (int e = tid / FY_WARP; e < a.n_exp; e += nw) {
        const uint8_t *row = a.r + (int64_t)e * a.row_bytes;
        float acc = 0.0f;
        for (int u = u0 + lane; u < u1; u += FY_WARP) {
            const int k = 8 * u;
            fy_raw raw;
            fy_unit_load<T>(row, k, a.d, raw);
            float v[8];
            const float s = fy_unit_decode<T>(raw, v);
            const int base = k & ~(FY_QK - 1), q = (k / 8) & 3;
            float p = 0.0f;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const int i = base + fy_unit_pos(T, q, j >> 2, j & 3);
                p = fmaf(v[j], i < k1 ? hs[i - k0] : 0.0f, p);
            }
            acc = fmaf(p * FY_PRE(T), s, acc);
        }
        for (int m = FY_WARP / 2; m > 0; m >>= 1)
            acc += fy_shfl_xor(acc, m);
        if (lane == 0)
            pt[e] = acc;
    }

    /* 3. the token's last split: the logits (splits summed in order), top-k and softmax */
    __threadfence();
    __syncthreads();
    if (tid == 0) {
        last = atomicAdd(&a.tick[t], 1) == n_sp - 1;
        if (last)
            a.tick[t] = 0;
    }
    __syncthreads();
    if (!last)
        return;
    __threadfence();
    float *ls = hs;
    const volatile float *vp = a.part + (int64_t)t * n_sp * a.n_exp;
    for (int e = tid; e < a.n_exp; e += FY_ROUTE_THREADS) {
        float l = 0.0f;
        for (int z = 0; z < n_sp; z++)
            l += vp[(int64_t)z * a.n_exp + e];
        l += a.rb ? a.rb[e] : 0.0f;
        ls[e] = l;
        a.logits[(int64_t)t * a.n_exp + e] = l;
    }
    __syncthreads();
    if (tid < FY_WARP)
        fy_router_warp_topk(a.ids + (int64_t)t * a.k, a.w + (int64_t)t * a.k, ls, a.n_exp, a.k);

    /* 4. the last token done groups every token's selections */
    __threadfence();
    __syncthreads();
    if (tid == 0)
        last = atomicAdd(a.ticket, 1) == a.n_tok - 1;
    __syncthreads();
    if (!last)
        return;
    __threadfence();
    const volatile int32_t *ids = a.ids;
    const int n_sel = a.n_tok * a.k;
    for (int e = tid; e <= a.n_exp; e += FY_ROUTE_THREADS) {
        int lt = 0;
        for (int s = 0; s < n_sel; s++) {
            const int id = ids[s];
            lt += id >= 0 && id < e;
        }
        a.off[e] = lt;
    }
    for (int s = tid; s < n_sel; s += FY_ROUTE_THREADS) {
        const int id = ids[s];
        if (id < 0 || id >= a.n_exp) {
            a.inv[s] = -1;
            continue;
        }
        int r = 0;
        for (int o = 0; o < n_sel; o++) {
            const int io = ids[o];
            r += (io >= 0 && io < id) || (o < s && io == id);
        }
        a.src_row[r] = s / a.k;
        a.inv[s] = r;
    }
    if (tid == 0)
        *a.ticket = 0;
}

extern "C" fy_status fy_gpu_rmsnorm_router(float *h, float *logits, int32_t *ids, float *w,
                                           const float *x, int64_t n_tok, const float *norm_w,
                                           float eps, const struct fy_mat *r, const float *rb,
                                           int k, struct fy_gpu_moe_ws *ws, fy_gpu_stream s)
{
    const char *fn = "fy_gpu_rmsnorm_router";
    FY_CHECK_ARG(ws && r && n_tok >= 0 && n_tok <= FY_GPU_FUSE_MAX_TOK);
    if (n_tok == 0)
        return FY_OK;
    FY_CHECK_ARG(h && logits && ids && w && x && norm_w);
    if (r->n_mat != 1 || r->n_out > FY_ROUTER_MAX_EXP || k < 1 || k > FY_ROUTER_MAX_K ||
        k > r->n_out)
        return FY_E_UNSUPPORTED;
    /* splits of the input: about FY_ROUTE_SPLIT_ELEMS each, whole 32-blocks */
    int n_sp = (int)((r->n_in + FY_ROUTE_SPLIT_ELEMS - 1) / FY_ROUTE_SPLIT_ELEMS);
    n_sp = n_sp < 1 ? 1 : n_sp > FY_ROUTE_MAX_SPLITS ? FY_ROUTE_MAX_SPLITS : n_sp;
    const int chunk = (int)(((r->n_in + n_sp - 1) / n_sp + 31) & ~31);
    n_sp = (int)((r->n_in + chunk - 1) / chunk);
    if (chunk + r->n_out > FY_ROUTE_SMEM_FLOATS)
        return FY_E_UNSUPPORTED;
    fy_mm_args m;
    int code;
    FY_TRY(fy_mm_prepare(fn, r, x, r->n_in, logits, &m, &code));
    hipStream_t hs = (hipStream_t)s;
    FY_TRY(fy_moe_reserve_group(ws, n_tok * k, r->n_out, hs));
    FY_TRY(fy_moe_reserve_route(ws, n_tok, (int64_t)n_sp * r->n_out, hs));
    fy_route_args a;
    a.h = h;
    a.logits = logits;
    a.w = w;
    a.ids = ids;
    a.x = x;
    a.norm_w = norm_w;
    a.rb = rb;
    a.r = (const uint8_t *)r->data;
    a.row_bytes = (int64_t)r->row_bytes;
    a.eps = eps;
    a.d = (int)r->n_in;
    a.n_exp = (int)r->n_out;
    a.k = k;
    a.n_tok = (int)n_tok;
    a.off = ws->off;
    a.src_row = ws->src_row;
    a.inv = ws->inv;
    a.ticket = ws->ticket;
    a.chunk = chunk;
    a.part = ws->rpart;
    a.tick = ws->rtick;
    const size_t smem = (size_t)(chunk > r->n_out ? chunk : r->n_out) * sizeof(float);
    const dim3 grid((unsigned)n_sp, (unsigned)n_tok);
    switch (code) {
#define FY_ROUTE_CASE(T)                                                                           \
    case T: {                                                                                      \
        auto *kern = &fy_gpu_f32_rmsnorm_router<T>; /* smem <= 48 KiB: no opt-in */         \
        FY_LAUNCH(kern, grid, dim3(FY_ROUTE_THREADS), smem, hs, a);                                \
        break;                                                                                     \
    }
        FY_ROUTE_CASE(FY_MT_F32)
        FY_ROUTE_CASE(FY_MT_F16)
        FY_ROUTE_CASE(FY_MT_BF16)
        FY_ROUTE_CASE(FY_MT_Q8_0)
        FY_ROUTE_CASE(FY_MT_MXFP4)
        FY_ROUTE_CASE(FY_MT_F32U)
        FY_ROUTE_CASE(FY_MT_F16U)
        FY_ROUTE_CASE(FY_MT_BF16U)
#undef FY_ROUTE_CASE
    default:
        return FY_E_UNSUPPORTED;
    }
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_rmsnorm_router: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
