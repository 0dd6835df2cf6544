/* y = W_e x + b on the GPU for every weight type (F32, F16, BF16, Q8_0, MXFP4); the semantics of
 * fy_cpu_matmul (src/cpu/matmul.c). Two kernels, both serving the plain and the expert-grouped
 * product (a block finds its expert in blockIdx.z and its rows in off[]):
 *
 *   fy_gpu_f32_matvec  (n_tok or max_rows <= FY_MV_MAX_TOK): the memory-bound GEMV, in
 *       matvec.hip with its fused decode forms.
 *   fy_gpu_f32_gemm    (more tokens): 64 tokens x 128 outputs per block, k in steps of one
 *       32-element block. Each step decodes the weight tile and the x tile into shared memory
 *       while the next step's global loads are in flight (register prefetch), then either
 *       - MMA: bf16 tiles, warp-level 16x16x16 products on the matrix units (mma.h: tensor cores
 *         on sm_80+, MFMA on CDNA, per-lane emulation elsewhere); x and the weights are rounded
 *         to bf16 (MXFP4 values are exact in bf16), f32 accumulation: a few 1e-3 relative;
 *       - FMA: f32 tiles, 4x8 outputs per thread: the CPU's values up to summation order.
 *       MMA is the default where the device has matrix units, FMA elsewhere and on the emulator;
 *       FY_GPU_MMA=0/1 forces either (tests).
 *   fy_gpu_f32_gemm_pipe (MMA, the default; FY_GPU_PIPE=0 goes back to the one above): the
 *       same tile and products with 64-wide k-steps through a two-stage ring of shared tiles,
 *       one barrier a step instead of two a 32-wide step, so the next tile's global loads
 *       overlap this tile's products (issue 12 item 6; design at the kernel). Mode 2 (sm_80+,
 *       the emulator) copies bf16 x, and bf16 weights, with cp.async (fy_async_copy16) instead
 *       of through registers; mode 1 (AMD, older NVIDIA) stages everything in registers.
 *       Unmeasured: no GPU has run it yet. What it should buy: the old kernel waits for each
 *       step's loads at a barrier right after issuing them and keeps a 15 KB tile, so an SM
 *       mostly stalls on memory latency between short bursts of mma.sync; here the loads of
 *       step k+1 (x) and k+2 (weights) are in flight during step k's 16 mma.sync per warp. The
 *       cost: 55 KB of shared memory a block (dynamic, opt-in past 48 KiB): 3 blocks an SM on
 *       H100 as before (nvcc 13: 80 registers in mode 2 for Q8_0 and MXFP4, 80-92 for the old
 *       kernel), 2 instead of 3 on A100 (164 KB); mode 1 holds the next tile in registers (~125,
 *       2 blocks an SM). bench_gpu_ops times both kernels.
 * Weight loads never assume more alignment than the format gives: Q8_0 (34-byte) and MXFP4
 * (17-byte) blocks are read as aligned 32-bit words and funnel-shifted; F32/F16/BF16 rows use
 * 16-byte loads when data, row and matrix strides allow, else element loads ("U" variants). */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "dequant.h"
#include "matmul_unit.h"
#include "matmul_args.h"
#include "mma.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define FY_MM_THREADS 256
#define FY_MM_BM 64           /* tokens per GEMM block */
static_assert(FY_MM_BM == FY_GPU_TILE_ROWS, "the MoE's row tiles are the GEMM's");
#define FY_MM_BN 128          /* outputs per GEMM block */
#define FY_MM_BK 32           /* k per step: one Q8_0 / MXFP4 block */
#define FY_MM_LDH 40          /* bf16 row stride of the MMA tiles: 80 bytes, conflict-free frags */
#define FY_MM_LDF 68          /* f32 row strides of the FMA tiles A and B (float4 aligned) */
#define FY_MM_LDFB 132

/* ------------------------------------------------------------------ GEMM
 * Per k step, thread (lr = tid/4, q = tid%4) loads 8 x values of token row lr (elements
 * 8q..8q+7) and weight unit q of output rows lr and lr + 64, and decodes them into the tiles
 * after the barrier that frees the tiles, so the next step's global loads overlap this step's
 * products. MMA: warp w owns the 16x16 tiles (w % 4, (w / 4) * TPW + t); FMA: thread (tx, ty)
 * owns tokens 4ty..4ty+3 x outputs 4tx..4tx+3 and 64+4tx..64+4tx+3. */
/* two floats to packed bf16 (lo in the low half), round to nearest even: one cvt.rn.bf16x2.f32
 * on sm_80+ (issue 12 item 6: the software rounding took ~10 instructions a value), the same
 * bits as fy_f32_to_bf16 for every non-NaN value (a NaN stays a NaN, payload canonical) */
static __device__ __forceinline__ uint32_t fy_bf16x2(float lo, float hi)
{
#if defined(FY_GPU_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    return (uint32_t)fy_f32_to_bf16(lo) | ((uint32_t)fy_f32_to_bf16(hi) << 16);
#endif
}

/* the nibble in bits 0-3 of v (E2M1, bit 3 the sign) times 2^(ex-127) as bf16 bits, for a
 * block exponent 2 <= ex <= 254 (the value is then a normal bf16): the doubled table
 * {0,1,2,3,4,6,8,12} as bf16 (1.0 = 0x3f80, then 1.0/1.5 x 2^k), exponent field + ex - 128 */
static __device__ __forceinline__ uint32_t fy_e2m1_bf16(uint32_t v, int ex)
{
    const int m = (int)(v & 7u);
    const int b = m == 0 ? 0 : (m == 1 ? 0x3f80 : 0x4000 + ((m - 2) << 6)) + (ex - 128) * 128;
    return (uint32_t)b | ((v & 8u) << 12);
}

/* expert e, first row m0 and row count nr of this GEMM block; false: no rows here (uniform over
 * the block: the whole block leaves before any barrier) */
static __device__ __forceinline__ bool fy_mm_block(const fy_mm_args &a, int &e, int &m0, int &nr)
{
    int r1;
    if (a.tiles) { /* the blockIdx.y-th row tile of the experts [e0, e0 + n_range) */
        const int t = a.tile_off[a.e0] + (int)blockIdx.y;
        if (t >= a.tile_off[a.e0 + a.n_range])
            return false; /* past the tiles with rows */
        e = a.tiles[2 * t];
        m0 = a.tiles[2 * t + 1];
        r1 = a.off[e + 1];
    } else {
        e = fy_mm_expert(a);
        if (e < 0)
            return false; /* a compact grid's spare slice */
        int r0;
        fy_mm_rows(a, e, r0, r1);
        m0 = r0 + (int)blockIdx.y * FY_MM_BM;
    }
    nr = min(FY_MM_BM, r1 - m0);
    return nr > 0;
}

/* one 8-element weight unit (quarter q of a block; raw from fy_unit_load) as bf16 into the row
 * bw of a tile (bw: the block's first element); zeros unless ok (a row and k inside the matrix) */
template <int T>
static __device__ __forceinline__ void fy_mm_put_w(uint16_t *bw, const fy_raw &raw, bool ok, int q)
{
    uint2 w0, w1;
    const int ex = (int)raw.s;
    if (T == FY_MT_MXFP4 && ok && ex >= 2 && ex <= 254) {
        /* MXFP4 straight to bf16 (issue 12 item 6): exact, the same bits as below */
        const uint32_t u = raw.u[0];
        w0.x = fy_e2m1_bf16(u, ex) | fy_e2m1_bf16(u >> 8, ex) << 16;
        w0.y = fy_e2m1_bf16(u >> 16, ex) | fy_e2m1_bf16(u >> 24, ex) << 16;
        w1.x = fy_e2m1_bf16(u >> 4, ex) | fy_e2m1_bf16(u >> 12, ex) << 16;
        w1.y = fy_e2m1_bf16(u >> 20, ex) | fy_e2m1_bf16(u >> 28, ex) << 16;
    } else {
        float w[8];
        const float s = fy_unit_decode<T>(raw, w);
#pragma unroll
        for (int j = 0; j < 8; j++)
            w[j] = ok ? (w[j] * FY_PRE(T)) * s : 0.0f;
        w0.x = fy_bf16x2(w[0], w[1]), w0.y = fy_bf16x2(w[2], w[3]);
        w1.x = fy_bf16x2(w[4], w[5]), w1.y = fy_bf16x2(w[6], w[7]);
    }
    *(uint2 *)(bw + fy_unit_pos(T, q, 0, 0)) = w0;
    *(uint2 *)(bw + fy_unit_pos(T, q, 1, 0)) = w1;
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

    int e, m0, nr;
    if (!fy_mm_block(a, e, m0, nr))
        return; /* the whole block leaves before any barrier */
    const int n0 = (int)blockIdx.x * FY_MM_BN;

    const int tid = (int)threadIdx.x;
    const int lr = tid >> 2, q = tid & 3;
    const float *xr = lr < nr ? fy_mm_xrow(a, m0 + lr) : nullptr;
    /* MMA with x converted to bf16 once (a.xh, rows of a.xh_ld, zero-padded): 16 bytes a step */
    const uint16_t *xhr = nullptr;
    if (MMA && a.xh && lr < nr)
        xhr = a.xh + (int64_t)(a.src_row ? a.src_row[m0 + lr] : m0 + lr) * a.xh_ld;
    uint4 xraw = make_uint4(0, 0, 0, 0);
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
        if (xhr) {
            if (k < a.xh_ld)
                xraw = *(const uint4 *)(xhr + k);
        } else if (xr) {
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
            uint4 xv = xraw;
            if (!a.xh) {
                xv.x = fy_bf16x2(x0.x, x0.y), xv.y = fy_bf16x2(x0.z, x0.w);
                xv.z = fy_bf16x2(x1.x, x1.y), xv.w = fy_bf16x2(x1.z, x1.w);
            }
            *(uint4 *)(ah + lr * FY_MM_LDH + 8 * q) = xv;
#pragma unroll
            for (int i = 0; i < 2; i++)
                fy_mm_put_w<T>(bh + (lr + 64 * i) * FY_MM_LDH, raw[i], wr[i] && kok, q);
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

/* ------------------------------------------------------------------ pipelined GEMM (MMA)
 * The matrix-unit GEMM with 64-wide k-steps through a two-stage ring of shared tiles (FY_GPU_PIPE
 * 1 and 2; issue 12 item 6). Step kb multiplies stage kb % 2 while the other stage fills with
 * step kb + 1, so one barrier per step separates them:
 *     [x of kb+1: async copies into the other stage]   (mode 2)
 *     products of stage kb % 2 (4 x 16-wide k, TPW tiles per warp)
 *     decode kb+1's weights (and x, mode 1) from registers into the other stage
 *     global loads of kb+2 into registers; wait for this thread's copies; barrier
 * so the weights' global loads have a whole step of products to land, and x's copies (mode 2:
 * bf16 x through L2 straight into shared memory, no registers) the products of one step. Thread
 * (lr = tid / 4, q = tid % 4) stages, per step and 32-wide half h, x row lr elements 32h + 8q..+7
 * and weight unit q of the blocks h of output rows lr and lr + 64 (bf16 weights: copied as they
 * are in mode 2, the decoded bits but for NaN payloads). The products cover the 16-wide k-chunks below n_in rounded up to 32, in
 * order: the FY_GPU_PIPE=0 kernel's exact sequence of matrix-unit operations, so every mode
 * gives the same bits (the emulator checks). Tiles: bf16 [BM][LDH] x then [BN][LDH] weights per
 * stage, 55,296 bytes of dynamic shared memory (over the 48 KiB static limit). */
#define FY_MMP_BK 64                                            /* k per step: two blocks */
#define FY_MMP_LDH 72                                           /* 144-byte rows, conflict-free */
#define FY_MMP_STAGE ((FY_MM_BM + FY_MM_BN) * FY_MMP_LDH)       /* bf16 elements per stage */
#define FY_MMP_SMEM (2 * FY_MMP_STAGE * (int)sizeof(uint16_t)) /* bytes */

template <int T, bool ASYNC>
__global__ __launch_bounds__(FY_MM_THREADS) void fy_gpu_f32_gemm_pipe(const fy_mm_args a)
{
    FY_DYN_SMEM(uint16_t, smem); /* stage s at smem + s * FY_MMP_STAGE: x tile, weight tile */
    int e, m0, nr;
    if (!fy_mm_block(a, e, m0, nr))
        return; /* the whole block leaves before any barrier */
    const int n0 = (int)blockIdx.x * FY_MM_BN;
    constexpr bool WA = ASYNC && T == FY_MT_BF16; /* weight units copied as they are */

    const int tid = (int)threadIdx.x;
    const int lr = tid >> 2, q = tid & 3;
    /* x: bf16 rows (a.xh; always with ASYNC) or f32 rows */
    const uint16_t *xhr = nullptr;
    const float *xr = nullptr;
    if (lr < nr) {
        const int r = a.src_row ? a.src_row[m0 + lr] : m0 + lr;
        if (a.xh)
            xhr = a.xh + (int64_t)r * a.xh_ld;
        else
            xr = a.x + (int64_t)r * a.x_stride;
    }
    const uint8_t *wr[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int o = n0 + lr + 64 * i;
        wr[i] = o < a.n_out ? a.w + (int64_t)e * a.mat_bytes + (int64_t)o * a.row_bytes : nullptr;
    }
    const int nkb = fy_ceil_div(a.n_in, FY_MMP_BK);
    const int kend = fy_ceil_div(a.n_in, FY_QK) * FY_QK; /* products up to here (PIPE=0's) */
    const uint4 zero = make_uint4(0, 0, 0, 0);

    /* registers of the step in flight, per half h */
    uint4 xq[2] = {zero, zero};
    float4 xf[2][2];
    fy_raw raw[2][2] = {};
#pragma unroll
    for (int h = 0; h < 2; h++)
        xf[h][0] = xf[h][1] = make_float4(0, 0, 0, 0);

    auto load = [&](int kb) { /* global -> registers */
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int k = kb * FY_MMP_BK + 32 * h + 8 * q;
            if constexpr (!ASYNC) {
                if (a.xh) {
                    xq[h] = xhr && k < a.xh_ld ? *(const uint4 *)(xhr + k) : zero;
                } else if (xr) {
                    xf[h][0] = fy_mm_ldx4(a, xr, k);
                    xf[h][1] = fy_mm_ldx4(a, xr, k + 4);
                }
            }
            if constexpr (!WA) {
#pragma unroll
                for (int i = 0; i < 2; i++)
                    if (wr[i] && k < a.n_in)
                        fy_unit_load<T>(wr[i], k, a.n_in, raw[h][i]);
            }
        }
    };
    auto copy = [&](int kb, uint16_t *st) { /* global -> shared, asynchronously */
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int k = kb * FY_MMP_BK + 32 * h + 8 * q;
            uint16_t *d = st + lr * FY_MMP_LDH + 32 * h + 8 * q;
            if (xhr && k < a.xh_ld)
                fy_async_copy16(d, xhr + k);
            else
                *(uint4 *)d = zero; /* rows past the tile's, k past the row's padding */
            if constexpr (WA) {
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    uint16_t *dw = st + (FY_MM_BM + lr + 64 * i) * FY_MMP_LDH + 32 * h + 8 * q;
                    if (wr[i] && k < a.n_in)
                        fy_async_copy16(dw, wr[i] + 2 * (size_t)k);
                    else
                        *(uint4 *)dw = zero;
                }
            }
        }
        fy_async_commit();
    };
    auto store = [&](int kb, uint16_t *st) { /* registers -> shared, decoded to bf16 */
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int k = kb * FY_MMP_BK + 32 * h + 8 * q;
            if constexpr (!ASYNC) {
                uint4 v = xq[h];
                if (!a.xh) {
                    const float4 f0 = xf[h][0], f1 = xf[h][1];
                    v.x = fy_bf16x2(f0.x, f0.y), v.y = fy_bf16x2(f0.z, f0.w);
                    v.z = fy_bf16x2(f1.x, f1.y), v.w = fy_bf16x2(f1.z, f1.w);
                }
                *(uint4 *)(st + lr * FY_MMP_LDH + 32 * h + 8 * q) = v;
            }
            if constexpr (!WA) {
#pragma unroll
                for (int i = 0; i < 2; i++)
                    fy_mm_put_w<T>(st + (FY_MM_BM + lr + 64 * i) * FY_MMP_LDH + 32 * h, raw[h][i],
                                   wr[i] && k < a.n_in, q);
            }
        }
    };

    constexpr int NW = FY_MM_THREADS / FY_WARP;
    constexpr int TPW = (FY_MM_BM / 16) * (FY_MM_BN / 16) / NW; /* 16x16 tiles per warp */
    static_assert(NW == 4 || NW == 8, "GEMM warps");
    const int warp = tid / FY_WARP;
    const int mi = warp & 3, nj0 = (warp >> 2) * TPW;
    fy_mma_acc acc[TPW];
#pragma unroll
    for (int t = 0; t < TPW; t++)
        fy_mma_zero(acc[t]);

    /* prologue: step 0 into stage 0, step 1's loads in flight */
    load(0);
    if constexpr (ASYNC)
        copy(0, smem);
    store(0, smem);
    if (nkb > 1)
        load(1);
    fy_async_wait<0>();
    __syncthreads();
    for (int kb = 0; kb < nkb; kb++) {
        const uint16_t *cur = smem + (kb & 1) * FY_MMP_STAGE;
        uint16_t *nxt = smem + ((kb + 1) & 1) * FY_MMP_STAGE;
        const bool more = kb + 1 < nkb;
        if (ASYNC && more)
            copy(kb + 1, nxt); /* the other stage was last read before the previous barrier */
#pragma unroll
        for (int ks = 0; ks < FY_MMP_BK; ks += 16) {
            if (kb * FY_MMP_BK + ks >= kend)
                break; /* uniform: the zero half of a last step of one block */
            fy_mma_a fa;
            fy_mma_load_a(fa, cur + mi * 16 * FY_MMP_LDH + ks, FY_MMP_LDH);
#pragma unroll
            for (int t = 0; t < TPW; t++) {
                fy_mma_b fb;
                fy_mma_load_b(fb, cur + (FY_MM_BM + (nj0 + t) * 16) * FY_MMP_LDH + ks,
                              FY_MMP_LDH);
                fy_mma(acc[t], fa, fb);
            }
        }
        if (more) {
            store(kb + 1, nxt);
            if (kb + 2 < nkb)
                load(kb + 2);
            fy_async_wait<0>();
            __syncthreads();
        }
    }

    const float *bias = a.bias ? a.bias + (int64_t)e * a.bias_stride : nullptr;
#pragma unroll
    for (int t = 0; t < TPW; t++)
#pragma unroll
        for (int i = 0; i < FY_MMA_NACC; i++) {
            const int m = mi * 16 + fy_mma_row(i);
            const int n = n0 + (nj0 + t) * 16 + fy_mma_col(i);
            if (m < nr && n < a.n_out)
                a.y[(int64_t)(m0 + m) * a.n_out + n] = acc[t].v[i] + (bias ? bias[n] : 0.0f);
        }
}

/* x rows to bf16 once per matmul (issue 12 item 6): row r of x (x_stride floats) to row r of
 * xh (ld elements, zeros from n_in on), pairs per thread, grid-stride */
static __global__ __launch_bounds__(256) void fy_gpu_f32_to_bf16_rows(uint32_t *xh, int ld,
                                                                     const float *x,
                                                                     int64_t x_stride, int rows,
                                                                     int n_in)
{
    const int half = ld / 2;
    const int64_t n = (int64_t)rows * half;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / half;
        const int c = 2 * (int)(i - r * half);
        const float *xr = x + r * x_stride;
        xh[i] = fy_bf16x2(c < n_in ? xr[c] : 0.0f, c + 1 < n_in ? xr[c + 1] : 0.0f);
    }
}

/* the converted x of the GEMM in flight: one buffer for the module, grown as needed (prefill
 * only: decode's GEMV never uses it, so a step graph never sees it move) */
static void *g_xh;
static size_t g_xh_cap;

extern "C" void fy_gpu_scratch_free(void)
{
    fy_gpu_free(g_xh);
    g_xh = NULL;
    g_xh_cap = 0;
}

static fy_status fy_mm_convert_x(fy_mm_args *a, int64_t x_rows, hipStream_t s)
{
    const int ld = (a->n_in + 7) & ~7;
    const size_t need = (size_t)x_rows * (size_t)ld * sizeof(uint16_t);
    if (need > g_xh_cap) {
        FY_TRY(fy_gpu_stream_sync((fy_gpu_stream)s)); /* work in flight may read the old one */
        fy_gpu_free(g_xh);
        g_xh = NULL;
        g_xh_cap = 0;
        FY_TRY(fy_gpu_malloc(&g_xh, need, "GEMM input in bf16"));
        g_xh_cap = need;
    }
    const int64_t pairs = x_rows * (ld / 2);
    int64_t blocks = (pairs + 255) / 256;
    blocks = blocks > 4096 ? 4096 : blocks;
    auto *k = &fy_gpu_f32_to_bf16_rows;
    FY_LAUNCH(k, dim3((unsigned)blocks), dim3(256), 0, s, (uint32_t *)g_xh, ld, a->x, a->x_stride,
              (int)x_rows, a->n_in);
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_to_bf16_rows: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    a->xh = (const uint16_t *)g_xh;
    a->xh_ld = ld;
    return FY_OK;
}

/* ------------------------------------------------------------------ launchers */
#define FY_MM_TYPES(X)                                                                             \
    X(FY_MT_F32) X(FY_MT_F16) X(FY_MT_BF16) X(FY_MT_Q8_0) X(FY_MT_MXFP4) X(FY_MT_F32U)            \
    X(FY_MT_F16U) X(FY_MT_BF16U)

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

/* the pipelined MMA GEMM: its 55,296 bytes of dynamic shared memory need the opt-in past 48 KiB
 * (CUDA; AMD's LDS is 64 KiB), set at each launch (a host call, no stream work) */
template <bool ASYNC>
static hipError_t fy_mmp_launch(int code, const fy_mm_args &a, dim3 grid, hipStream_t s)
{
    hipError_t err = hipSuccess;
    switch (code) {
#define FY_MMP_CASE(T)                                                                             \
    case T: {                                                                                      \
        auto *k = &fy_gpu_f32_gemm_pipe<T, ASYNC>;                                                 \
        err = hipFuncSetAttribute((const void *)k, hipFuncAttributeMaxDynamicSharedMemorySize,     \
                                  FY_MMP_SMEM);                                                    \
        if (err == hipSuccess)                                                                     \
            FY_LAUNCH(k, grid, FY_MM_THREADS, FY_MMP_SMEM, s, a);                                  \
        break;                                                                                     \
    }
        FY_MM_TYPES(FY_MMP_CASE)
#undef FY_MMP_CASE
    }
    return err;
}

extern "C" int fy_gpu_pipe_mode(void)
{
    const char *v = getenv("FY_GPU_PIPE");
    if (v && v[0] >= '0' && v[0] <= '2' && !v[1])
        return v[0] - '0';
    return fy_gpu_async_copy() ? 2 : 1;
}

/* matrix units for the GEMM: FY_GPU_MMA=0/1 forces; by default where the device has them
 * (sm_80+ tensor cores, CDNA MFMA: fy_gpu_info.matrix_units); elsewhere, RDNA say, the FMA GEMM
 * beats mma.h's per-lane version. Off on the emulator (which has the per-lane version only). */
extern "C" bool fy_gpu_mma_enabled(void)
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

void fy_mm_args_clear(fy_mm_args *a)
{
    memset((void *)a, 0, sizeof(*a));
}

/* checks w and picks the kernel type code */
fy_status fy_mm_prepare(const char *fn, const struct fy_mat *w, const float *x,
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
    fy_mm_args_clear(a);
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
        kname = "fy_gpu_f32_matvec";
        const hipError_t err = fy_mv_run(code, a, n_exp, max_rows, s);
        if (err != hipSuccess) {
            fy_log(FY_LOG_ERR, "%s: %s", kname, hipGetErrorString(err));
            return FY_E_GPU;
        }
        return FY_OK;
    } else {
        /* with tiles: n_exp is the bound on the row tiles, in one grid dimension */
        const int64_t gy = a.tiles ? n_exp : (max_rows + FY_MM_BM - 1) / FY_MM_BM;
        if (gy > 65535) {
            fy_log(FY_LOG_ERR, "%s: %lld rows per expert exceed the grid", fn, (long long)max_rows);
            return FY_E_INVAL;
        }
        const dim3 grid((unsigned)((a.n_out + FY_MM_BN - 1) / FY_MM_BN), (unsigned)gy,
                        a.tiles ? 1u : (unsigned)n_exp);
        kname = "fy_gpu_f32_gemm";
        if (fy_gpu_mma_enabled()) {
            fy_mm_args b = a;
            const char *xv = getenv("FY_GPU_XBF16"); /* =0: convert in the GEMM, as before */
            if (a.x_rows > 0 && a.x_rows <= INT_MAX && (!xv || xv[0] != '0'))
                FY_TRY(fy_mm_convert_x(&b, a.x_rows, s));
            const int pipe = fy_gpu_pipe_mode();
            hipError_t err = hipSuccess;
            if (pipe == 0) {
                fy_mm_launch<true>(code, b, grid, s);
            } else {
                kname = "fy_gpu_f32_gemm_pipe";
                /* asynchronous copies take bf16 x (without it, mode 1's register staging) */
                err = pipe == 2 && b.xh ? fy_mmp_launch<true>(code, b, grid, s)
                                        : fy_mmp_launch<false>(code, b, grid, s);
            }
            if (err != hipSuccess) {
                fy_log(FY_LOG_ERR, "%s: shared memory opt-in: %s", kname, hipGetErrorString(err));
                return FY_E_GPU;
            }
        } else {
            fy_mm_launch<false>(code, a, grid, s);
        }
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
    a.x_rows = n_tok;
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

extern "C" fy_status fy_gpu_matmul_grouped_tiles(float *y, const struct fy_mat *w, const float *x,
                                                 int64_t x_stride, const int32_t *src_row,
                                                 const int32_t *off, const int32_t *tiles,
                                                 const int32_t *tile_off, int64_t e0, int64_t e1,
                                                 int64_t max_tiles, int64_t x_rows,
                                                 const struct fy_bias *bias, fy_gpu_stream s)
{
    if (!w || !off || !tiles || !tile_off || e0 < 0 || e1 < e0 || e1 > w->n_mat ||
        max_tiles < 0 || max_tiles > 65535) {
        fy_log(FY_LOG_ERR, "fy_gpu_matmul_grouped_tiles: invalid experts [%lld, %lld) or "
               "max_tiles %lld", (long long)e0, (long long)e1, (long long)max_tiles);
        return FY_E_INVAL;
    }
    if (e0 == e1 || max_tiles == 0)
        return FY_OK;
    fy_mm_args a;
    int code;
    FY_TRY(fy_mm_prepare("fy_gpu_matmul_grouped_tiles", w, x, x_stride, y, &a, &code));
    a.src_row = src_row;
    a.off = off;
    a.tiles = tiles;
    a.tile_off = tile_off;
    a.x_rows = x_rows;
    a.e0 = (int)e0;
    a.n_range = (int)(e1 - e0);
    if (bias && bias->data) {
        a.bias = bias->data;
        a.bias_stride = bias->stride;
    }
    /* rows > FY_MV_MAX_TOK: the GEMM, whose grid's y dimension is the tile bound */
    return fy_mm_run("fy_gpu_matmul_grouped_tiles", code, a, max_tiles, FY_MV_MAX_TOK + 1, s);
}
