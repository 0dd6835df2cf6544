/* y = W_e x + b on the GPU for every weight type (F32, F16, BF16, Q8_0, MXFP4); the semantics of
 * fy_cpu_matmul (src/cpu/matmul.c). Two kernels, both serving the plain and the expert-grouped
 * product (a block finds its expert in blockIdx.z and its rows in off[]):
 *
 *   fy_gpu_f32_matvec  (n_tok or max_rows <= FY_MV_MAX_TOK): memory bound. A block of 256
 *       threads owns FY_MV_ROWS output rows for up to NT tokens; each warp R of them. x is staged
 *       in shared memory in chunks of at most 32 KiB, permuted so that each lane's two float4
 *       reads per unit are conflict free; the weights stream through once, each lane taking U
 *       8-element units (16 bytes of F16/BF16, a quarter of a Q8_0 or MXFP4 block) per step, all
 *       loads issued first, decoded to exact f32, f32 FMAs, warp-shuffle reduction. Same values as the CPU up to the
 *       summation order (about 1e-6 relative).
 *   fy_gpu_f32_gemm    (more tokens): 64 tokens x 128 outputs per block, k in steps of one
 *       32-element block. Each step decodes the weight tile and the x tile into shared memory
 *       while the next step's global loads are in flight (register prefetch), then either
 *       - MMA: bf16 tiles, warp-level 16x16x16 products on the matrix units (mma.h: tensor cores
 *         on sm_80+, MFMA on CDNA, per-lane emulation elsewhere); x and the weights are rounded
 *         to bf16 (MXFP4 values are exact in bf16), f32 accumulation: a few 1e-3 relative;
 *       - FMA: f32 tiles, 4x8 outputs per thread: the CPU's values up to summation order.
 *       MMA is the default where the device has matrix units, FMA elsewhere and on the emulator;
 *       FY_GPU_MMA=0/1 forces either (tests).
 * Weight loads never assume more alignment than the format gives: Q8_0 (34-byte) and MXFP4
 * (17-byte) blocks are read as aligned 32-bit words and funnel-shifted; F32/F16/BF16 rows use
 * 16-byte loads when data, row and matrix strides allow, else element loads ("U" variants). */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "dequant.h"
#include "matmul_unit.h"
#include "mma.h"

#include <limits.h>
#include <stdlib.h>

#define FY_MV_MAX_TOK 8       /* GEMV up to this many tokens (rows per expert) */
#define FY_MV_THREADS 256
#define FY_MV_ROWS 16         /* output rows per GEMV block (2 per warp of 32, 4 per warp of 64) */
#define FY_MV_SMEM_FLOATS 8192 /* x chunk in shared memory: NT * KC floats (32 KiB) */
#define FY_MM_THREADS 256
#define FY_MM_BM 64           /* tokens per GEMM block */
#define FY_MM_BN 128          /* outputs per GEMM block */
#define FY_MM_BK 32           /* k per step: one Q8_0 / MXFP4 block */
#define FY_MM_LDH 40          /* bf16 row stride of the MMA tiles: 80 bytes, conflict-free frags */
#define FY_MM_LDF 68          /* f32 row strides of the FMA tiles A and B (float4 aligned) */
#define FY_MM_LDFB 132

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

/* 4 floats of x row xr at k (zeros past n_in) */
static __device__ __forceinline__ float4 fy_mm_ldx4(const fy_mm_args &a, const float *xr, int k)
{
    if (a.xvec && k + 4 <= a.n_in)
        return *(const float4 *)(xr + k);
    float4 f;
    f.x = k < a.n_in ? xr[k] : 0.0f;
    f.y = k + 1 < a.n_in ? xr[k + 1] : 0.0f;
    f.z = k + 2 < a.n_in ? xr[k + 2] : 0.0f;
    f.w = k + 3 < a.n_in ? xr[k + 3] : 0.0f;
    return f;
}

/* ------------------------------------------------------------------ GEMV
 * Shared memory: x of NT tokens, one chunk of kp (multiple of 256) elements at a time. Unit u of
 * the chunk (elements 8u..8u+7 in fy_unit_pos order) has its two float4 halves at
 * (u/32)*256 + (u%32)*4 and + 128: the lanes of a warp read consecutive float4s. */
template <int T, int NT>
__global__ __launch_bounds__(FY_MV_THREADS) void fy_gpu_f32_matvec(const fy_mm_args a, int kc_max)
{
    constexpr int NW = FY_MV_THREADS / FY_WARP;
    constexpr int R = FY_MV_ROWS / NW;
    constexpr int U = NT <= 2 ? 2 : 1; /* units per lane and step */
    static_assert(R * NW == FY_MV_ROWS && R * NT <= FY_WARP, "GEMV geometry");
    FY_DYN_SMEM(float, xs);

    const int e = fy_mm_expert(a);
    if (e < 0)
        return; /* a compact grid's spare slice: the whole block leaves before any barrier */
    int r0, r1;
    fy_mm_rows(a, e, r0, r1);
    r0 += (int)blockIdx.y * NT;
    const int nr = min(NT, r1 - r0);
    if (nr <= 0)
        return; /* no rows here: the whole block leaves before any barrier */

    const int lane = (int)threadIdx.x % FY_WARP;
    const int o0 = (int)blockIdx.x * FY_MV_ROWS + ((int)threadIdx.x / FY_WARP) * R;
    const bool active = o0 < a.n_out; /* warp-uniform */
    const uint8_t *wrow[R];
#pragma unroll
    for (int r = 0; r < R; r++)
        wrow[r] = a.w + (int64_t)e * a.mat_bytes + (int64_t)min(o0 + r, a.n_out - 1) * a.row_bytes;

    float acc[R][NT];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++)
            acc[r][t] = 0.0f;

    for (int k0 = 0; k0 < a.n_in; k0 += kc_max) {
        const int kc = min(kc_max, a.n_in - k0);
        const int kp4 = ((kc + 255) & ~255) / 4; /* float4s per token in this chunk */
        if (k0 > 0)
            __syncthreads(); /* the previous chunk is consumed */
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float *xr = t < nr ? fy_mm_xrow(a, r0 + t) : nullptr;
            for (int g = (int)threadIdx.x; g < kp4; g += FY_MV_THREADS) {
                const float4 f = xr ? fy_mm_ldx4(a, xr, k0 + 4 * g) : make_float4(0, 0, 0, 0);
                const int q = T == FY_MT_MXFP4 ? (g & 3) : (g & 7) >> 1;
                const int h = T == FY_MT_MXFP4 ? (g >> 2) & 1 : g & 1;
                const int u = (g >> 3) * 4 + q;
                *(float4 *)(xs + t * 4 * kp4 + (u >> 5) * 256 + h * 128 + (u & 31) * 4) = f;
            }
        }
        __syncthreads();
        if (!active)
            continue;
        const int nu = (kc + 7) / 8;
        for (int u0 = lane; u0 < nu; u0 += U * FY_WARP) {
            fy_raw raw[U][R];
#pragma unroll
            for (int i = 0; i < U; i++) /* all loads of the step first: more bytes in flight */
                if (u0 + i * FY_WARP < nu)
#pragma unroll
                    for (int r = 0; r < R; r++)
                        fy_unit_load<T>(wrow[r], k0 + 8 * (u0 + i * FY_WARP), a.n_in, raw[i][r]);
#pragma unroll
            for (int i = 0; i < U; i++) {
                const int u = u0 + i * FY_WARP;
                if (u >= nu)
                    break;
                float v[R][8];
                float s[R];
#pragma unroll
                for (int r = 0; r < R; r++)
                    s[r] = fy_unit_decode<T>(raw[i][r], v[r]);
                const float *xu = xs + (u >> 5) * 256 + (u & 31) * 4;
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    const float4 x0 = *(const float4 *)(xu + t * 4 * kp4);
                    const float4 x1 = *(const float4 *)(xu + t * 4 * kp4 + 128);
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        float p = v[r][0] * x0.x;
                        p = fmaf(v[r][1], x0.y, p);
                        p = fmaf(v[r][2], x0.z, p);
                        p = fmaf(v[r][3], x0.w, p);
                        p = fmaf(v[r][4], x1.x, p);
                        p = fmaf(v[r][5], x1.y, p);
                        p = fmaf(v[r][6], x1.z, p);
                        p = fmaf(v[r][7], x1.w, p);
                        acc[r][t] = fmaf(p * FY_PRE(T), s[r], acc[r][t]); /* e 254: no overflow */
                    }
                }
            }
        }
    }

    const float *bias = a.bias ? a.bias + (int64_t)e * a.bias_stride : nullptr;
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float v = acc[r][t];
#pragma unroll
            for (int m = FY_WARP / 2; m > 0; m >>= 1)
                v += fy_shfl_xor(v, m);
            const int o = o0 + r;
            if (lane == r * NT + t && t < nr && o < a.n_out)
                a.y[(int64_t)(r0 + t) * a.n_out + o] = v + (bias ? bias[o] : 0.0f);
        }
}

/* ------------------------------------------------------------------ GEMM
 * Per k step, thread (lr = tid/4, q = tid%4) loads 8 x values of token row lr (elements
 * 8q..8q+7) and weight unit q of output rows lr and lr + 64, and decodes them into the tiles
 * after the barrier that frees the tiles, so the next step's global loads overlap this step's
 * products. MMA: warp w owns the 16x16 tiles (w % 4, (w / 4) * TPW + t); FMA: thread (tx, ty)
 * owns tokens 4ty..4ty+3 x outputs 4tx..4tx+3 and 64+4tx..64+4tx+3. */
static __device__ __forceinline__ uint32_t fy_bf16x2(float lo, float hi)
{
    return (uint32_t)fy_f32_to_bf16(lo) | ((uint32_t)fy_f32_to_bf16(hi) << 16);
}

template <int T, bool MMA>
__global__ __launch_bounds__(FY_MM_THREADS) void fy_gpu_f32_gemm(const fy_mm_args a)
{
    /* FMA: A f32 [BK][LDF], B f32 [BK][LDFB] (k-major); MMA: A bf16 [BM][LDH], B bf16 [BN][LDH] */
    __shared__ float4 fy_mm_smem[FY_MM_BK * (FY_MM_LDF + FY_MM_LDFB) / 4];
    static_assert((FY_MM_BM + FY_MM_BN) * FY_MM_LDH * 2 <= (int)sizeof(fy_mm_smem), "tiles");
    float *const af = (float *)fy_mm_smem;
    float *const bf = af + FY_MM_BK * FY_MM_LDF;
    uint16_t *const ah = (uint16_t *)fy_mm_smem;
    uint16_t *const bh = ah + FY_MM_BM * FY_MM_LDH;

    const int e = fy_mm_expert(a);
    if (e < 0)
        return; /* a compact grid's spare slice: the whole block leaves before any barrier */
    int r0, r1;
    fy_mm_rows(a, e, r0, r1);
    const int m0 = r0 + (int)blockIdx.y * FY_MM_BM;
    const int nr = min(FY_MM_BM, r1 - m0);
    if (nr <= 0)
        return; /* no rows here: the whole block leaves before any barrier */
    const int n0 = (int)blockIdx.x * FY_MM_BN;

    const int tid = (int)threadIdx.x;
    const int lr = tid >> 2, q = tid & 3;
    const float *xr = lr < nr ? fy_mm_xrow(a, m0 + lr) : nullptr;
    const uint8_t *wr[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int o = n0 + lr + 64 * i;
        wr[i] = o < a.n_out ? a.w + (int64_t)e * a.mat_bytes + (int64_t)o * a.row_bytes : nullptr;
    }
    const int nkb = (a.n_in + FY_MM_BK - 1) / FY_MM_BK;

    fy_raw raw[2] = {};
    float4 x0 = make_float4(0, 0, 0, 0), x1 = x0;
    auto load = [&](int kb) {
        const int k = kb * FY_MM_BK + 8 * q;
        if (xr) {
            x0 = fy_mm_ldx4(a, xr, k);
            x1 = fy_mm_ldx4(a, xr, k + 4);
        }
#pragma unroll
        for (int i = 0; i < 2; i++)
            if (wr[i] && k < a.n_in)
                fy_unit_load<T>(wr[i], k, a.n_in, raw[i]);
    };
    load(0);

    constexpr int NW = FY_MM_THREADS / FY_WARP;
    constexpr int TPW = (FY_MM_BM / 16) * (FY_MM_BN / 16) / NW; /* 16x16 tiles per warp */
    static_assert(NW == 4 || NW == 8, "GEMM warps");
    const int warp = tid / FY_WARP;
    const int mi = warp & 3, nj0 = (warp >> 2) * TPW;
    fy_mma_acc acc[MMA ? TPW : 1];
    float c[4][8];
    const int tx = tid & 15, ty = tid >> 4;
    if constexpr (MMA) {
#pragma unroll
        for (int t = 0; t < TPW; t++)
            fy_mma_zero(acc[t]);
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 8; j++)
                c[i][j] = 0.0f;
    }

    for (int kb = 0; kb < nkb; kb++) {
        const bool kok = kb * FY_MM_BK + 8 * q < a.n_in;
        float w[2][8];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const float s = fy_unit_decode<T>(raw[i], w[i]);
#pragma unroll
            for (int j = 0; j < 8; j++)
                w[i][j] = wr[i] && kok ? (w[i][j] * FY_PRE(T)) * s : 0.0f;
        }
        if (kb > 0)
            __syncthreads(); /* the previous step's tiles are consumed */
        if constexpr (MMA) {
            uint4 xv;
            xv.x = fy_bf16x2(x0.x, x0.y), xv.y = fy_bf16x2(x0.z, x0.w);
            xv.z = fy_bf16x2(x1.x, x1.y), xv.w = fy_bf16x2(x1.z, x1.w);
            *(uint4 *)(ah + lr * FY_MM_LDH + 8 * q) = xv;
#pragma unroll
            for (int i = 0; i < 2; i++) {
                uint16_t *bw = bh + (lr + 64 * i) * FY_MM_LDH;
                uint2 w0, w1;
                w0.x = fy_bf16x2(w[i][0], w[i][1]), w0.y = fy_bf16x2(w[i][2], w[i][3]);
                w1.x = fy_bf16x2(w[i][4], w[i][5]), w1.y = fy_bf16x2(w[i][6], w[i][7]);
                *(uint2 *)(bw + fy_unit_pos(T, q, 0, 0)) = w0;
                *(uint2 *)(bw + fy_unit_pos(T, q, 1, 0)) = w1;
            }
        } else {
            const float xv[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const int kw = fy_unit_pos(T, q, j >> 2, j & 3);
                af[(8 * q + j) * FY_MM_LDF + lr] = xv[j];
                bf[kw * FY_MM_LDFB + lr] = w[0][j];
                bf[kw * FY_MM_LDFB + lr + 64] = w[1][j];
            }
        }
        __syncthreads();
        if (kb + 1 < nkb)
            load(kb + 1);
        if constexpr (MMA) {
#pragma unroll
            for (int ks = 0; ks < FY_MM_BK; ks += 16) {
                fy_mma_a fa;
                fy_mma_load_a(fa, ah + mi * 16 * FY_MM_LDH + ks, FY_MM_LDH);
#pragma unroll
                for (int t = 0; t < TPW; t++) {
                    fy_mma_b fb;
                    fy_mma_load_b(fb, bh + (nj0 + t) * 16 * FY_MM_LDH + ks, FY_MM_LDH);
                    fy_mma(acc[t], fa, fb);
                }
            }
        } else {
#pragma unroll 4
            for (int k = 0; k < FY_MM_BK; k++) {
                const float4 av = *(const float4 *)(af + k * FY_MM_LDF + 4 * ty);
                const float4 b0 = *(const float4 *)(bf + k * FY_MM_LDFB + 4 * tx);
                const float4 b1 = *(const float4 *)(bf + k * FY_MM_LDFB + 64 + 4 * tx);
                const float am[4] = {av.x, av.y, av.z, av.w};
                const float bn[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 8; j++)
                        c[i][j] = fmaf(am[i], bn[j], c[i][j]);
            }
        }
    }

    const float *bias = a.bias ? a.bias + (int64_t)e * a.bias_stride : nullptr;
    if constexpr (MMA) {
#pragma unroll
        for (int t = 0; t < TPW; t++)
#pragma unroll
            for (int i = 0; i < FY_MMA_NACC; i++) {
                const int m = mi * 16 + fy_mma_row(i);
                const int n = n0 + (nj0 + t) * 16 + fy_mma_col(i);
                if (m < nr && n < a.n_out)
                    a.y[(int64_t)(m0 + m) * a.n_out + n] = acc[t].v[i] + (bias ? bias[n] : 0.0f);
            }
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int m = 4 * ty + i;
            if (m >= nr)
                continue;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const int n = n0 + 4 * tx + (j & 3) + 64 * (j >> 2);
                if (n < a.n_out)
                    a.y[(int64_t)(m0 + m) * a.n_out + n] = c[i][j] + (bias ? bias[n] : 0.0f);
            }
        }
    }
}

/* ------------------------------------------------------------------ launchers */
#define FY_MM_TYPES(X)                                                                             \
    X(FY_MT_F32) X(FY_MT_F16) X(FY_MT_BF16) X(FY_MT_Q8_0) X(FY_MT_MXFP4) X(FY_MT_F32U)            \
    X(FY_MT_F16U) X(FY_MT_BF16U)

template <int NT>
static void fy_mv_launch(int code, const fy_mm_args &a, dim3 grid, int kc, size_t smem,
                         hipStream_t s)
{
    switch (code) {
#define FY_MV_CASE(T)                                                                              \
    case T: {                                                                                      \
        auto *k = &fy_gpu_f32_matvec<T, NT>;                                                       \
        FY_LAUNCH(k, grid, FY_MV_THREADS, smem, s, a, kc);                                         \
        break;                                                                                     \
    }
        FY_MM_TYPES(FY_MV_CASE)
#undef FY_MV_CASE
    }
}

template <bool MMA>
static void fy_mm_launch(int code, const fy_mm_args &a, dim3 grid, hipStream_t s)
{
    switch (code) {
#define FY_MM_CASE(T)                                                                              \
    case T: {                                                                                      \
        auto *k = &fy_gpu_f32_gemm<T, MMA>;                                                        \
        FY_LAUNCH(k, grid, FY_MM_THREADS, 0, s, a);                                                \
        break;                                                                                     \
    }
        FY_MM_TYPES(FY_MM_CASE)
#undef FY_MM_CASE
    }
}

/* matrix units for the GEMM: FY_GPU_MMA=0/1 forces; by default where the device has them
 * (sm_80+ tensor cores, CDNA MFMA: fy_gpu_info.matrix_units); elsewhere, RDNA say, the FMA GEMM
 * beats mma.h's per-lane version. Off on the emulator (which has the per-lane version only). */
static bool fy_mm_use_mma(void)
{
    const char *v = getenv("FY_GPU_MMA");
    if (v && *v)
        return v[0] != '0';
#if defined(FY_GPU_EMU)
    return false;
#else
    return fy_gpu_matrix_units();
#endif
}

/* checks w and picks the kernel type code; n_rows_max sizes the grids */
static fy_status fy_mm_prepare(const char *fn, const struct fy_mat *w, const float *x,
                               int64_t x_stride, float *y, fy_mm_args *a, int *code)
{
    if (!w || !w->data || !x || !y || w->n_in <= 0 || w->n_out <= 0 || w->n_mat <= 0 ||
        w->n_in > INT_MAX / 2 || w->n_out > INT_MAX / 2 || x_stride < w->n_in) {
        fy_log(FY_LOG_ERR, "%s: invalid matrix or buffers", fn);
        return FY_E_INVAL;
    }
    const enum fy_dtype t = w->type;
    if (t != FY_F32 && t != FY_F16 && t != FY_BF16 && t != FY_Q8_0 && t != FY_MXFP4) {
        fy_log(FY_LOG_ERR, "%s: unsupported weight type %d", fn, (int)t);
        return FY_E_INVAL;
    }
    const bool blocked = t == FY_Q8_0 || t == FY_MXFP4;
    if ((blocked && w->n_in % FY_QK != 0) || w->row_bytes < fy_dtype_row_bytes(t, w->n_in) ||
        (w->n_mat > 1 && w->mat_bytes < w->row_bytes * (size_t)w->n_out)) {
        fy_log(FY_LOG_ERR, "%s: bad %s layout (n_in %lld, row_bytes %zu, mat_bytes %zu)", fn,
               fy_dtype_name(t), (long long)w->n_in, w->row_bytes, w->mat_bytes);
        return FY_E_INVAL;
    }
    const bool vec = (uintptr_t)w->data % 16 == 0 && w->row_bytes % 16 == 0 &&
                     (w->n_mat == 1 || w->mat_bytes % 16 == 0) && w->n_in % 8 == 0;
    *code = blocked || vec ? (int)t : (int)t + 100;
    a->y = y;
    a->w = (const uint8_t *)w->data;
    a->x = x;
    a->src_row = nullptr;
    a->off = nullptr;
    a->bias = nullptr;
    a->bias_stride = 0;
    a->mat_bytes = (int64_t)w->mat_bytes;
    a->row_bytes = (int64_t)w->row_bytes;
    a->x_stride = x_stride;
    a->n_in = (int)w->n_in;
    a->n_out = (int)w->n_out;
    a->n_rows = 0;
    a->e0 = 0;
    a->n_range = 0;
    a->compact = 0;
    a->xvec = (uintptr_t)x % 16 == 0 && x_stride % 4 == 0;
    return FY_OK;
}

/* launches over n_exp experts with at most max_rows rows each */
static fy_status fy_mm_run(const char *fn, int code, const fy_mm_args &a, int64_t n_exp,
                           int64_t max_rows, fy_gpu_stream stream)
{
    hipStream_t s = (hipStream_t)stream;
    const char *kname;
    if (max_rows <= FY_MV_MAX_TOK) {
        const int nt = max_rows <= 1 ? 1 : max_rows <= 2 ? 2 : max_rows <= 4 ? 4 : 8;
        const int kc = min(FY_MV_SMEM_FLOATS / nt, (a.n_in + 255) & ~255);
        const dim3 grid((unsigned)((a.n_out + FY_MV_ROWS - 1) / FY_MV_ROWS), 1, (unsigned)n_exp);
        const size_t smem = (size_t)nt * kc * sizeof(float);
        kname = "fy_gpu_f32_matvec";
        if (nt == 1)
            fy_mv_launch<1>(code, a, grid, kc, smem, s);
        else if (nt == 2)
            fy_mv_launch<2>(code, a, grid, kc, smem, s);
        else if (nt == 4)
            fy_mv_launch<4>(code, a, grid, kc, smem, s);
        else
            fy_mv_launch<8>(code, a, grid, kc, smem, s);
    } else {
        const int64_t gy = (max_rows + FY_MM_BM - 1) / FY_MM_BM;
        if (gy > 65535) {
            fy_log(FY_LOG_ERR, "%s: %lld rows per expert exceed the grid", fn, (long long)max_rows);
            return FY_E_INVAL;
        }
        const dim3 grid((unsigned)((a.n_out + FY_MM_BN - 1) / FY_MM_BN), (unsigned)gy,
                        (unsigned)n_exp);
        kname = "fy_gpu_f32_gemm";
        if (fy_mm_use_mma())
            fy_mm_launch<true>(code, a, grid, s);
        else
            fy_mm_launch<false>(code, a, grid, s);
    }
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "%s: %s", kname, hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}

extern "C" fy_status fy_gpu_matmul(float *y, const struct fy_mat *w, int64_t e, const float *x,
                                   int64_t n_tok, const float *bias, fy_gpu_stream s)
{
    if (n_tok < 0 || n_tok > INT_MAX || !w || e < 0 || e >= w->n_mat) {
        fy_log(FY_LOG_ERR, "fy_gpu_matmul: invalid n_tok %lld or expert %lld", (long long)n_tok,
               (long long)e);
        return FY_E_INVAL;
    }
    if (n_tok == 0)
        return FY_OK;
    fy_mm_args a;
    int code;
    FY_TRY(fy_mm_prepare("fy_gpu_matmul", w, x, w->n_in, y, &a, &code));
    a.n_rows = (int)n_tok;
    a.e0 = (int)e;
    a.bias = bias;
    return fy_mm_run("fy_gpu_matmul", code, a, 1, n_tok, s);
}

extern "C" fy_status fy_gpu_matmul_grouped_n(float *y, const struct fy_mat *w, const float *x,
                                             int64_t x_stride, const int32_t *src_row,
                                             const int32_t *off, int64_t e0, int64_t e1,
                                             int64_t max_rows, int64_t max_experts,
                                             const struct fy_bias *bias, fy_gpu_stream s)
{
    if (!w || !off || e0 < 0 || e1 < e0 || e1 > w->n_mat || e1 - e0 > 65535 || max_rows < 0 ||
        max_rows > INT_MAX || max_experts < 0) {
        fy_log(FY_LOG_ERR, "fy_gpu_matmul_grouped: invalid experts [%lld, %lld), max_rows %lld "
               "or max_experts %lld", (long long)e0, (long long)e1, (long long)max_rows,
               (long long)max_experts);
        return FY_E_INVAL;
    }
    if (e0 == e1 || max_rows == 0 || max_experts == 0)
        return FY_OK;
    fy_mm_args a;
    int code;
    FY_TRY(fy_mm_prepare("fy_gpu_matmul_grouped", w, x, x_stride, y, &a, &code));
    a.src_row = src_row;
    a.off = off;
    a.e0 = (int)e0;
    a.n_range = (int)(e1 - e0);
    a.compact = max_experts < e1 - e0;
    if (bias && bias->data) {
        a.bias = bias->data;
        a.bias_stride = bias->stride;
    }
    return fy_mm_run("fy_gpu_matmul_grouped", code, a, a.compact ? max_experts : e1 - e0,
                     max_rows, s);
}

extern "C" fy_status fy_gpu_matmul_grouped(float *y, const struct fy_mat *w, const float *x,
                                           int64_t x_stride, const int32_t *src_row,
                                           const int32_t *off, int64_t e0, int64_t e1,
                                           int64_t max_rows, const struct fy_bias *bias,
                                           fy_gpu_stream s)
{
    return fy_gpu_matmul_grouped_n(y, w, x, x_stride, src_row, off, e0, e1, max_rows,
                                   e1 > e0 ? e1 - e0 : 0, bias, s);
}
