/* What the matmul kernels share (matmul.hip: the GEMM and the public launchers; matvec.hip: the
 * GEMV and its fused decode forms): the argument block, how a block finds its expert and rows,
 * and the x loads. */
#ifndef FY_HIP_MATMUL_ARGS_H
#define FY_HIP_MATMUL_ARGS_H

#include "fy_gpu_compat.h"
#include "fy_gpu.h"

#define FY_MV_MAX_TOK 8        /* GEMV up to this many tokens (rows per expert) */
#define FY_MV_THREADS 256
#define FY_MV_ROWS 16          /* output rows per GEMV block (2 per warp of 32, 4 per warp of 64) */
#define FY_MV_SMEM_FLOATS 8192 /* x chunk in shared memory: NT * KC floats (32 KiB) */
#define FY_MV_MAX_PARTS 3      /* matrices one fused GEMV computes (q, k, v) */

struct fy_mm_args {
    float *y;                /* [rows][n_out] */
    const uint8_t *w;        /* expert 0, row 0 */
    const float *x;          /* rows of x_stride floats */
    const int32_t *src_row;  /* x row of each y row, or NULL (identity) */
    const int32_t *off;      /* [n_mat+1] row offsets per expert, or NULL: rows [0, n_rows) */
    const float *bias;       /* expert e's bias at bias + e * bias_stride, or NULL */
    int64_t bias_stride;
    int64_t mat_bytes;
    int64_t row_bytes;
    int64_t x_stride;
    int n_in, n_out, n_rows, e0;
    int n_range;             /* compact: the experts [e0, e0 + n_range) */
    int compact;             /* blockIdx.z is the z-th expert of the range with rows, not e0 + z */
    int xvec;                /* x and x_stride allow float4 loads */
    /* GEMM over a list of row tiles (fy_gpu_matmul_grouped_tiles): tile t is expert
     * tiles[2t], rows from tiles[2t+1] (FY_GPU_TILE_ROWS of them at most, to off[e+1]); the
     * tiles of expert e are [tile_off[e], tile_off[e+1]) */
    const int32_t *tiles, *tile_off;
    /* the GEMM's x as bf16 rows of xh_ld elements (converted once per matmul for the tensor
     * cores; set by fy_mm_run from x_rows, the rows x holds, when known) */
    const uint16_t *xh;
    int xh_ld;
    int64_t x_rows;

    /* ---- fusions of the GEMV (matvec.hip); all off (0 / NULL) for a plain product ---- */
    /* RMSNorm of each x row (eps, weights norm_w) applied while x is staged; the blocks with
     * blockIdx.x == 0 also write the normalised rows to h_out (n_in floats per row) if given */
    const float *norm_w;
    float eps;
    float *h_out;
    /* residual epilogue: y = res + (W x + b) (res may be y); y_plain, if given, gets W x + b */
    const float *res;
    float *y_plain;
    /* SwiGLU-OAI staging: x element k is swiglu(xr[k], xr[k + u_off]) */
    int swiglu;
    int uvec; /* the up half allows float4 loads */
    int64_t u_off;
    float alpha, limit;
    /* several matrices of one type and n_in in one grid: part p owns blockIdx.x in
     * [part_bx[p], part_bx[p+1]) and has its own weights, output, bias, n_out and row bytes */
    int n_part;
    int part_bx[FY_MV_MAX_PARTS + 1];
    const uint8_t *pw[FY_MV_MAX_PARTS];
    float *py[FY_MV_MAX_PARTS];
    const float *pbias[FY_MV_MAX_PARTS];
    int pn_out[FY_MV_MAX_PARTS];
    int64_t prow_bytes[FY_MV_MAX_PARTS];
    /* MoE down with the weighted combine (c_k > 0): blockIdx.z is token t, which sums over its
     * slots j < c_k: c_w[t c_k + j] (W_e xr + b_e), e = c_ids[t c_k + j] (slots with e outside
     * [0, c_n_exp) add nothing), xr = x row c_inv[t c_k + j] */
    int c_k, c_n_exp;
    const int32_t *c_ids, *c_inv;
    const float *c_w;
};

/* the expert of this block, or -1 (a compact grid's block past the experts with rows; uniform
 * over the block, before any barrier): with compact, the blockIdx.z-th expert of [e0, e0 +
 * n_range) with rows in off[], found a warp's width of experts per step with a ballot */
static __device__ __forceinline__ int fy_mm_expert(const fy_mm_args &a)
{
    if (!a.compact)
        return a.e0 + (int)blockIdx.z;
    const int lane = (int)threadIdx.x % FY_WARP;
    int z = (int)blockIdx.z;
    for (int c = 0; c < a.n_range; c += FY_WARP) {
        const int e = a.e0 + c + lane;
        const bool used = c + lane < a.n_range && a.off[e + 1] > a.off[e];
        unsigned long long m = (unsigned long long)fy_ballot(used);
        const int n = __popcll(m);
        if (z < n) {
            for (int i = 0; i < z; i++)
                m &= m - 1; /* drop the lowest set bits before the z-th */
            return a.e0 + c + __ffsll((long long)m) - 1;
        }
        z -= n;
    }
    return -1;
}

/* rows [r0, r1) of expert e of this block (off[] or the plain [0, n_rows)) */
static __device__ __forceinline__ void fy_mm_rows(const fy_mm_args &a, int e, int &r0, int &r1)
{
    r0 = 0;
    r1 = a.n_rows;
    if (a.off) {
        r0 = a.off[e];
        r1 = a.off[e + 1];
    }
}

static __device__ __forceinline__ const float *fy_mm_xrow(const fy_mm_args &a, int r)
{
    return a.x + (int64_t)(a.src_row ? a.src_row[r] : r) * a.x_stride;
}

/* 4 floats of row xr at k (zeros past n) */
static __device__ __forceinline__ float4 fy_mm_ld4(const float *xr, int k, int n, int vec)
{
    if (vec && k + 4 <= n)
        return *(const float4 *)(xr + k);
    float4 f;
    f.x = k < n ? xr[k] : 0.0f;
    f.y = k + 1 < n ? xr[k + 1] : 0.0f;
    f.z = k + 2 < n ? xr[k + 2] : 0.0f;
    f.w = k + 3 < n ? xr[k + 3] : 0.0f;
    return f;
}

/* 4 floats of x row xr at k (zeros past n_in) */
static __device__ __forceinline__ float4 fy_mm_ldx4(const fy_mm_args &a, const float *xr, int k)
{
    return fy_mm_ld4(xr, k, a.n_in, a.xvec);
}

/* fy_mm_args with every field of a plain product cleared */
void fy_mm_args_clear(fy_mm_args *a);

/* The GEMV launch (matvec.hip) for max_rows <= FY_MV_MAX_TOK rows per expert, grid.z = n_z
 * (experts, or tokens with c_k); code is the weight type code (matmul_unit.h). Returns the
 * launch error. */
hipError_t fy_mv_run(int code, const fy_mm_args &a, int64_t n_z, int64_t max_rows,
                     hipStream_t s);

/* Checks w, x, y and fills a (cleared) and *code for a product of w (matmul.hip); fn names the
 * caller in messages. */
fy_status fy_mm_prepare(const char *fn, const struct fy_mat *w, const float *x, int64_t x_stride,
                        float *y, fy_mm_args *a, int *code);

/* MoE down with SwiGLU staging, routing weights and combine (matvec.hip's combine form):
 * y[t] = res[t] + sum_j w[t k + j] (W_e swiglu(gu row inv[t k + j]) + b_e), e = ids[t k + j];
 * y_plain (optional, with res) gets the sum alone. gu rows have stride floats, the up half at
 * u_off floats after the gate half. */
fy_status fy_gpu_moe_down_combine(float *y, float *y_plain, const struct fy_mat *down,
                                  const struct fy_bias *down_b, const float *gu, int64_t stride,
                                  int64_t u_off, float alpha, float limit, const int32_t *ids,
                                  const int32_t *inv, const float *w, int k, int64_t n_tok,
                                  const float *res, hipStream_t s);

/* Gate and up of an expert-grouped product (fy_gpu_matmul_grouped_n's arguments) in one GEMV
 * launch: FY_E_UNSUPPORTED (nothing launched) unless both have one type, shape and bias layout
 * and max_rows <= FY_MV_MAX_TOK. */
fy_status fy_mv_grouped_pair(float *g, float *u, const struct fy_mat *gate, const struct fy_mat *up,
                             const struct fy_bias *gb, const struct fy_bias *ub, const float *x,
                             int64_t x_stride, const int32_t *src_row, const int32_t *off,
                             int64_t e0, int64_t e1, int64_t max_rows, int64_t max_experts,
                             hipStream_t s);

#endif
