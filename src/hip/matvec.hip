/* The GEMV of the matmuls (n_tok or rows per expert <= FY_MV_MAX_TOK) and its fused decode forms
 * (issue 12 item 3: fewer launches per token), all one kernel, fy_gpu_f32_matvec<T, NT>:
 *
 *   plain     y = W_e x + b: memory bound. A block of 256 threads owns FY_MV_ROWS output rows
 *             for up to NT tokens; each warp R of them. x is staged in shared memory in chunks
 *             of at most 32 KiB, permuted so that each lane's two float4 reads per unit are
 *             conflict free; the weights stream through once, each lane taking U 8-element
 *             units (16 bytes of F16/BF16, a quarter of a Q8_0 or MXFP4 block) per step, all
 *             loads issued first, decoded to exact f32, f32 FMAs, warp-shuffle reduction. Same
 *             values as the CPU up to the summation order (about 1e-6 relative).
 *   norm      RMSNorm folded into the staging: each block reduces the sum of squares of its
 *             token rows exactly as fy_gpu_rmsnorm does (same threads, same order: the same
 *             scale), stages (x * scale) * w, and the blocks of column 0 write the normalised
 *             rows out (the graph's h). With parts, q, k and v are one grid: RMSNorm + three
 *             matmuls in one launch.
 *   residual  y = res + (W x + b) in the epilogue (attention output + residual add).
 *   swiglu    x staged as SwiGLU-OAI of the gate and up halves of a row (the MoE down input).
 *   combine   MoE down for one token per grid.z: the block loops over the token's k slots, each
 *             staging swiglu(gate/up row of that selection) and streaming its expert's rows,
 *             and keeps sum_j w_j (W_e x_j) in the lanes' partials (linear, so one reduction at
 *             the end) plus sum_j w_j b_e: down, routing weights and combine in one kernel, with
 *             the residual epilogue the whole MoE output stage.
 * Weight loads never assume more alignment than the format gives (matmul_unit.h). */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "matmul_args.h"
#include "matmul_unit.h"
#include "dequant.h"
#include "swiglu.h"

#include <limits.h>
#include <stdlib.h>

/* Shared memory: x of NT tokens, one chunk of kp (multiple of 256) elements at a time. Unit u of
 * the chunk (elements 8u..8u+7 in fy_unit_pos order) has its two float4 halves at
 * (u/32)*256 + (u%32)*4 and + 128: the lanes of a warp read consecutive float4s. */
/* int8 activations (Q8, issue 12 item 5): 4 int8 packed little-endian in a word */
static __device__ __forceinline__ int32_t fy_pack_i8x4(float a, float b, float c, float d)
{
    return (int32_t)(((uint32_t)(uint8_t)(int8_t)(int)a) | ((uint32_t)(uint8_t)(int8_t)(int)b << 8) |
                     ((uint32_t)(uint8_t)(int8_t)(int)c << 16) |
                     ((uint32_t)(uint8_t)(int8_t)(int)d << 24));
}

/* Four nibbles (one per byte, values 0..15) to the doubled E2M1 values as int8: the table
 * {0,1,2,3,4,6,8,12} with bit 3 the sign (the MXFP4 scale is then halved: fy_e8m0_half) */
static __device__ __forceinline__ int32_t fy_e2m1_i8x4(uint32_t v)
{
#if defined(FY_GPU_CUDA)
    const uint32_t sel = (v & 0x7u) | ((v >> 4) & 0x70u) | ((v >> 8) & 0x700u) | ((v >> 12) & 0x7000u);
    const uint32_t pos = __byte_perm(0x03020100u, 0x0c080604u, sel);
    const uint32_t neg = __byte_perm(0xfdfeff00u, 0xf4f8fafcu, sel);
    const uint32_t m = ((v >> 3) & 0x01010101u) * 0xffu;
    return (int32_t)((pos & ~m) | (neg & m));
#else
    uint32_t r = 0;
    for (int j = 0; j < 4; j++) {
        const int n = (int)((v >> (8 * j)) & 15u), m = n & 7;
        const int x = m < 4 ? m : (m < 6 ? 2 * m - 4 : 4 * m - 16);
        r |= (uint32_t)(uint8_t)(int8_t)(n & 8 ? -x : x) << (8 * j);
    }
    return (int32_t)r;
#endif
}

template <int T, int NT, bool Q8>
__global__ __launch_bounds__(FY_MV_THREADS) void fy_gpu_f32_matvec(const fy_mm_args a, int kc_max)
{
    constexpr int NW = FY_MV_THREADS / FY_WARP;
    constexpr int R = FY_MV_ROWS / NW;
    constexpr int U = NT <= 2 ? 2 : 1; /* units per lane and step */
    static_assert(R * NW == FY_MV_ROWS && R * NT <= FY_WARP, "GEMV geometry");
    FY_DYN_SMEM(float, xs);
    __shared__ float red[FY_MV_THREADS / 32];
    __shared__ float scale[NT];

    /* this block's matrix (part), expert and token rows: uniform over the block */
    int bx = (int)blockIdx.x;
    const uint8_t *W = a.w;
    float *Y = a.y;
    const float *B = a.bias;
    int n_out = a.n_out;
    int64_t row_bytes = a.row_bytes;
    if (a.n_part > 1) {
        int p = 0;
        while (p + 1 < a.n_part && bx >= a.part_bx[p + 1])
            p++;
        bx -= a.part_bx[p];
        W = a.pw[p];
        Y = a.py[p];
        B = a.pbias[p];
        n_out = a.pn_out[p];
        row_bytes = a.prow_bytes[p];
    }
    int e = 0, r0 = 0, nr = 1;
    if (a.c_k == 0) {
        e = fy_mm_expert(a);
        if (e < 0)
            return; /* a compact grid's spare slice: the whole block leaves before any barrier */
        int r1;
        fy_mm_rows(a, e, r0, r1);
        r0 += (int)blockIdx.y * NT;
        nr = min(NT, r1 - r0);
        if (nr <= 0)
            return; /* no rows here: the whole block leaves before any barrier */
    } else {
        r0 = (int)blockIdx.z; /* the token; NT == 1 */
    }

    const int tid = (int)threadIdx.x;
    const int lane = tid % FY_WARP;
    const int o0 = bx * FY_MV_ROWS + (tid / FY_WARP) * R;
    const bool active = o0 < n_out; /* warp-uniform */
    const bool write_h = a.h_out && a.norm_w && blockIdx.x == 0;

    if (a.norm_w) {
        /* fy_gpu_rmsnorm's reduction, thread for thread: the same scale */
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float ss = 0.0f;
            if (t < nr) {
                const float *xr = fy_mm_xrow(a, r0 + t);
                for (int i = tid; i < a.n_in; i += FY_MV_THREADS)
                    ss += xr[i] * xr[i];
            }
            for (int m = FY_WARP / 2; m > 0; m >>= 1)
                ss += fy_shfl_xor(ss, m);
            if (lane == 0)
                red[tid / FY_WARP] = ss;
            __syncthreads();
            ss = lane < NW ? red[lane] : 0.0f;
            for (int m = FY_WARP / 2; m > 0; m >>= 1)
                ss += fy_shfl_xor(ss, m);
            if (tid == 0)
                scale[t] = 1.0f / sqrtf(ss / (float)a.n_in + a.eps);
            __syncthreads(); /* red is rewritten by the next token */
        }
    }

    float tot[R][NT];
    float bsum[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        bsum[r] = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++)
            tot[r][t] = 0.0f;
    }

    const int n_slot = a.c_k > 0 ? a.c_k : 1;
    bool staged = false;
    for (int j = 0; j < n_slot; j++) {
        float wj = 1.0f;
        const float *xrow[NT];
        if (a.c_k > 0) {
            const int sel = r0 * a.c_k + j;
            e = a.c_ids[sel];
            if (e < 0 || e >= a.c_n_exp)
                continue; /* uniform: every thread read the same id */
            wj = a.c_w[sel];
            xrow[0] = a.x + (int64_t)a.c_inv[sel] * a.x_stride;
        } else {
#pragma unroll
            for (int t = 0; t < NT; t++)
                xrow[t] = t < nr ? fy_mm_xrow(a, r0 + t) : nullptr;
        }
        const uint8_t *wrow[R];
#pragma unroll
        for (int r = 0; r < R; r++)
            wrow[r] = W + (int64_t)e * a.mat_bytes + (int64_t)min(o0 + r, n_out - 1) * row_bytes;
        const float *be = B ? B + (int64_t)e * a.bias_stride : nullptr;
#pragma unroll
        for (int r = 0; r < R; r++)
            if (be && o0 + r < n_out)
                bsum[r] = a.c_k > 0 ? fmaf(wj, be[o0 + r], bsum[r]) : be[o0 + r];

        float acc[R][NT];
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int t = 0; t < NT; t++)
                acc[r][t] = 0.0f;

        for (int k0 = 0; k0 < a.n_in; k0 += kc_max) {
            const int kc = min(kc_max, a.n_in - k0);
            const int kp4 = ((kc + 255) & ~255) / 4; /* float4s per token in this chunk */
            if (staged)
                __syncthreads(); /* the previous chunk is consumed */
            staged = true;
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const float *xr = xrow[t];
                for (int g = tid; g < kp4; g += FY_MV_THREADS) {
                    const int k = k0 + 4 * g;
                    float4 f = make_float4(0, 0, 0, 0);
                    if (xr) {
                        f = fy_mm_ldx4(a, xr, k);
                        if (a.swiglu) {
                            const float4 u = fy_mm_ld4(xr + a.u_off, k, a.n_in, a.uvec);
                            f.x = fy_swiglu1(f.x, u.x, a.alpha, a.limit);
                            f.y = fy_swiglu1(f.y, u.y, a.alpha, a.limit);
                            f.z = fy_swiglu1(f.z, u.z, a.alpha, a.limit);
                            f.w = fy_swiglu1(f.w, u.w, a.alpha, a.limit); /* 0 past n_in */
                        }
                        if (a.norm_w) {
                            const float4 nw = fy_mm_ld4(a.norm_w, k, a.n_in, 0);
                            const float sc = scale[t];
                            f.x = (f.x * sc) * nw.x;
                            f.y = (f.y * sc) * nw.y;
                            f.z = (f.z * sc) * nw.z;
                            f.w = (f.w * sc) * nw.w;
                            if (write_h) {
                                float *h = a.h_out + (int64_t)(r0 + t) * a.n_in;
                                const float fv[4] = {f.x, f.y, f.z, f.w};
                                for (int i = 0; i < 4 && k + i < a.n_in; i++)
                                    h[k + i] = fv[i];
                            }
                        }
                    }
                    if constexpr (Q8) {
                        /* int8 blocks of 32 (8 float4s: 8 consecutive lanes), natural order,
                         * then one scale per block after the token's bytes */
                        float am = fmaxf(fmaxf(fabsf(f.x), fabsf(f.y)), fmaxf(fabsf(f.z), fabsf(f.w)));
                        am = fmaxf(am, fy_shfl_xor(am, 1));
                        am = fmaxf(am, fy_shfl_xor(am, 2));
                        am = fmaxf(am, fy_shfl_xor(am, 4));
                        const float d = am / 127.0f, id = am > 0.0f ? 127.0f / am : 0.0f;
                        int32_t *xq = (int32_t *)xs + t * (kp4 + kp4 / 8);
                        xq[g] = fy_pack_i8x4(rintf(f.x * id), rintf(f.y * id), rintf(f.z * id),
                                             rintf(f.w * id));
                        if ((g & 7) == 0)
                            ((float *)xq)[kp4 + (g >> 3)] = d;
                    } else {
                        const int q = T == FY_MT_MXFP4 ? (g & 3) : (g & 7) >> 1;
                        const int h = T == FY_MT_MXFP4 ? (g >> 2) & 1 : g & 1;
                        const int u = (g >> 3) * 4 + q;
                        *(float4 *)(xs + t * 4 * kp4 + (u >> 5) * 256 + h * 128 + (u & 31) * 4) =
                            f;
                    }
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
                    if constexpr (Q8) {
                        /* unit u: quarter q of block u/4: int8 weights (MXFP4 nibbles through
                         * the doubled E2M1 table), dp4a against the int8 x, block scales */
                        const int q = u & 3, blk = u >> 2;
                        int wa[R], wb[R];
                        float ws[R];
#pragma unroll
                        for (int r = 0; r < R; r++) {
                            if constexpr (T == FY_MT_MXFP4) {
                                wa[r] = fy_e2m1_i8x4(raw[i][r].u[0] & 0x0f0f0f0fu);
                                wb[r] = fy_e2m1_i8x4((raw[i][r].u[0] >> 4) & 0x0f0f0f0fu);
                                ws[r] = fy_e8m0_half((uint8_t)raw[i][r].s);
                            } else {
                                wa[r] = (int)raw[i][r].u[0];
                                wb[r] = (int)raw[i][r].u[1];
                                ws[r] = fy_f16_to_f32((uint16_t)raw[i][r].s);
                            }
                        }
                        const int ia = T == FY_MT_MXFP4 ? q : 2 * q;
                        const int ib = T == FY_MT_MXFP4 ? 4 + q : 2 * q + 1;
#pragma unroll
                        for (int t = 0; t < NT; t++) {
                            const int32_t *xq = (const int32_t *)xs + t * (kp4 + kp4 / 8);
                            const int xa = xq[blk * 8 + ia], xb = xq[blk * 8 + ib];
                            const float xd = ((const float *)xq)[kp4 + blk];
#pragma unroll
                            for (int r = 0; r < R; r++) {
                                const int sum = fy_dp4a(wb[r], xb, fy_dp4a(wa[r], xa, 0));
                                acc[r][t] = fmaf((float)sum * xd, ws[r], acc[r][t]);
                            }
                        }
                    } else {
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
        }
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int t = 0; t < NT; t++)
                tot[r][t] = a.c_k > 0 ? fmaf(wj, acc[r][t], tot[r][t]) : acc[r][t];
    }

#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float v = tot[r][t];
#pragma unroll
            for (int m = FY_WARP / 2; m > 0; m >>= 1)
                v += fy_shfl_xor(v, m);
            const int o = o0 + r;
            if (lane == r * NT + t && t < nr && o < n_out) {
                const int64_t i = (int64_t)(r0 + t) * n_out + o;
                const float vb = v + bsum[r];
                if (a.res) {
                    if (a.y_plain)
                        a.y_plain[i] = vb;
                    Y[i] = a.res[i] + vb;
                } else {
                    Y[i] = vb;
                }
            }
        }
}

#define FY_MV_TYPES(X)                                                                             \
    X(FY_MT_F32) X(FY_MT_F16) X(FY_MT_BF16) X(FY_MT_Q8_0) X(FY_MT_MXFP4) X(FY_MT_F32U)            \
    X(FY_MT_F16U) X(FY_MT_BF16U)
#define FY_MV_Q8 1000 /* code offset of the int8-activation kernels */

template <int NT>
static void fy_mv_launch(int code, const fy_mm_args &a, dim3 grid, int kc, size_t smem,
                         hipStream_t s)
{
    switch (code) {
#define FY_MV_CASE(T)                                                                              \
    case T: {                                                                                      \
        auto *k = &fy_gpu_f32_matvec<T, NT, false>;                                                \
        FY_LAUNCH(k, grid, FY_MV_THREADS, smem, s, a, kc);                                         \
        break;                                                                                     \
    }
        FY_MV_TYPES(FY_MV_CASE)
#undef FY_MV_CASE
    case FY_MV_Q8 + FY_MT_Q8_0: {
        auto *k = &fy_gpu_f32_matvec<FY_MT_Q8_0, NT, true>;
        FY_LAUNCH(k, grid, FY_MV_THREADS, smem, s, a, kc);
        break;
    }
    case FY_MV_Q8 + FY_MT_MXFP4: {
        auto *k = &fy_gpu_f32_matvec<FY_MT_MXFP4, NT, true>;
        FY_LAUNCH(k, grid, FY_MV_THREADS, smem, s, a, kc);
        break;
    }
    }
}

/* int8 activations for Q8_0 and MXFP4 weights: FY_GPU_DP4A=0/1 forces; by default on a GPU,
 * off on the emulator (whose tests keep the exact f32 products unless they ask) */
extern "C" bool fy_gpu_q8_enabled(void)
{
    const char *v = getenv("FY_GPU_DP4A");
    if (v && *v)
        return v[0] != '0';
#if defined(FY_GPU_EMU)
    return false;
#else
    return true;
#endif
}

hipError_t fy_mv_run(int code, const fy_mm_args &a, int64_t n_z, int64_t max_rows, hipStream_t s)
{
    if ((code == FY_MT_Q8_0 || code == FY_MT_MXFP4) && fy_gpu_q8_enabled())
        code += FY_MV_Q8;
    const int nt = a.c_k > 0 || max_rows <= 1 ? 1 : max_rows <= 2 ? 2 : max_rows <= 4 ? 4 : 8;
    const int kc = min(FY_MV_SMEM_FLOATS / nt, (a.n_in + 255) & ~255);
    const int n_x = a.n_part > 1 ? a.part_bx[a.n_part] : (a.n_out + FY_MV_ROWS - 1) / FY_MV_ROWS;
    const dim3 grid((unsigned)n_x, 1, (unsigned)n_z);
    const size_t smem = (size_t)nt * kc * sizeof(float);
    if (nt == 1)
        fy_mv_launch<1>(code, a, grid, kc, smem, s);
    else if (nt == 2)
        fy_mv_launch<2>(code, a, grid, kc, smem, s);
    else if (nt == 4)
        fy_mv_launch<4>(code, a, grid, kc, smem, s);
    else
        fy_mv_launch<8>(code, a, grid, kc, smem, s);
    return hipGetLastError();
}

static fy_status fy_mv_launched(const char *fn, hipError_t err)
{
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "%s (fy_gpu_f32_matvec): %s", fn, hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}

/* ------------------------------------------------------------------ fused launchers */

extern "C" fy_status fy_gpu_rmsnorm_matmul(float *h, const float *x, int64_t n_tok,
                                           const float *norm_w, float eps,
                                           const struct fy_gpu_mv_part *parts, int n_parts,
                                           fy_gpu_stream s)
{
    const char *fn = "fy_gpu_rmsnorm_matmul";
    if (n_tok < 0 || n_tok > FY_GPU_FUSE_MAX_TOK || !x || !norm_w || !parts || n_parts < 1 ||
        n_parts > FY_MV_MAX_PARTS) {
        fy_log(FY_LOG_ERR, "%s: invalid arguments (n_tok %lld, %d matrices)", fn,
               (long long)n_tok, n_parts);
        return FY_E_INVAL;
    }
    if (n_tok == 0)
        return FY_OK;
    fy_mm_args a;
    int code = 0;
    for (int p = 0; p < n_parts; p++) {
        const struct fy_mat *w = parts[p].w;
        fy_mm_args ap;
        int cp;
        FY_TRY(fy_mm_prepare(fn, w, x, w ? w->n_in : 0, parts[p].y, &ap, &cp));
        if (p == 0) {
            a = ap;
            code = cp;
            a.part_bx[0] = 0;
        } else if (cp != code || w->n_in != parts[0].w->n_in || !ap.xvec != !a.xvec) {
            fy_log(FY_LOG_ERR, "%s: matrix %d differs in type or n_in from the first", fn, p);
            return FY_E_INVAL;
        }
        a.pw[p] = ap.w;
        a.py[p] = parts[p].y;
        a.pbias[p] = parts[p].bias;
        a.pn_out[p] = ap.n_out;
        a.prow_bytes[p] = ap.row_bytes;
        a.part_bx[p + 1] = a.part_bx[p] + (ap.n_out + FY_MV_ROWS - 1) / FY_MV_ROWS;
    }
    a.n_part = n_parts;
    a.y = a.py[0];
    a.bias = a.pbias[0];
    a.n_rows = (int)n_tok;
    a.norm_w = norm_w;
    a.eps = eps;
    a.h_out = h;
    return fy_mv_launched(fn, fy_mv_run(code, a, 1, n_tok, (hipStream_t)s));
}

extern "C" fy_status fy_gpu_matmul_residual(float *y, float *y_plain, const struct fy_mat *w,
                                            const float *x, int64_t n_tok, const float *bias,
                                            const float *res, fy_gpu_stream s)
{
    const char *fn = "fy_gpu_matmul_residual";
    if (n_tok < 0 || n_tok > FY_GPU_FUSE_MAX_TOK || !res || !w || w->n_mat < 1) {
        fy_log(FY_LOG_ERR, "%s: invalid arguments (n_tok %lld)", fn, (long long)n_tok);
        return FY_E_INVAL;
    }
    if (n_tok == 0)
        return FY_OK;
    fy_mm_args a;
    int code;
    FY_TRY(fy_mm_prepare(fn, w, x, w->n_in, y, &a, &code));
    a.n_rows = (int)n_tok;
    a.bias = bias;
    a.res = res;
    a.y_plain = y_plain;
    return fy_mv_launched(fn, fy_mv_run(code, a, 1, n_tok, (hipStream_t)s));
}

fy_status fy_gpu_moe_down_combine(float *y, float *y_plain, const struct fy_mat *down,
                                  const struct fy_bias *down_b, const float *gu, int64_t stride,
                                  int64_t u_off, float alpha, float limit, const int32_t *ids,
                                  const int32_t *inv, const float *w, int k, int64_t n_tok,
                                  const float *res, hipStream_t s)
{
    const char *fn = "fy_gpu_moe_down_combine";
    if (n_tok < 0 || n_tok > 65535 || k < 1 || !ids || !inv || !w || !down) {
        fy_log(FY_LOG_ERR, "%s: invalid arguments (n_tok %lld, k %d)", fn, (long long)n_tok, k);
        return FY_E_INVAL;
    }
    if (n_tok == 0)
        return FY_OK;
    fy_mm_args a;
    int code;
    FY_TRY(fy_mm_prepare(fn, down, gu, stride, y, &a, &code));
    if (down_b && down_b->data) {
        a.bias = down_b->data;
        a.bias_stride = down_b->stride;
    }
    a.swiglu = 1;
    a.u_off = u_off;
    a.uvec = a.xvec && u_off % 4 == 0;
    a.alpha = alpha;
    a.limit = limit;
    a.c_k = k;
    a.c_n_exp = (int)down->n_mat;
    a.c_ids = ids;
    a.c_inv = inv;
    a.c_w = w;
    a.res = res;
    a.y_plain = res ? y_plain : nullptr;
    return fy_mv_launched(fn, fy_mv_run(code, a, n_tok, 1, s));
}

fy_status fy_mv_grouped_pair(float *g, float *u, const struct fy_mat *gate, const struct fy_mat *up,
                             const struct fy_bias *gb, const struct fy_bias *ub, const float *x,
                             int64_t x_stride, const int32_t *src_row, const int32_t *off,
                             int64_t e0, int64_t e1, int64_t max_rows, int64_t max_experts,
                             hipStream_t s)
{
    const char *fn = "fy_mv_grouped_pair";
    const bool gbias = gb && gb->data, ubias = ub && ub->data;
    if (max_rows > FY_MV_MAX_TOK || gate->type != up->type || gate->n_in != up->n_in ||
        gate->mat_bytes != up->mat_bytes || gate->n_mat != up->n_mat || gbias != ubias ||
        (gbias && gb->stride != ub->stride) || e1 - e0 > 65535 || e0 < 0 || e1 > gate->n_mat)
        return FY_E_UNSUPPORTED;
    if (e0 == e1 || max_rows <= 0 || max_experts <= 0)
        return FY_OK;
    fy_mm_args a, au;
    int code, cu;
    FY_TRY(fy_mm_prepare(fn, gate, x, x_stride, g, &a, &code));
    FY_TRY(fy_mm_prepare(fn, up, x, x_stride, u, &au, &cu));
    if (cu != code)
        return FY_E_UNSUPPORTED;
    a.src_row = src_row;
    a.off = off;
    a.e0 = (int)e0;
    a.n_range = (int)(e1 - e0);
    a.compact = max_experts < e1 - e0;
    a.bias_stride = gbias ? gb->stride : 0;
    a.n_part = 2;
    a.part_bx[0] = 0;
    a.pw[0] = a.w;
    a.py[0] = g;
    a.pbias[0] = gbias ? gb->data : nullptr;
    a.pn_out[0] = a.n_out;
    a.prow_bytes[0] = a.row_bytes;
    a.part_bx[1] = (a.n_out + FY_MV_ROWS - 1) / FY_MV_ROWS;
    a.pw[1] = au.w;
    a.py[1] = u;
    a.pbias[1] = ubias ? ub->data : nullptr;
    a.pn_out[1] = au.n_out;
    a.prow_bytes[1] = au.row_bytes;
    a.part_bx[2] = a.part_bx[1] + (au.n_out + FY_MV_ROWS - 1) / FY_MV_ROWS;
    return fy_mv_launched(fn, fy_mv_run(code, a, a.compact ? max_experts : e1 - e0, max_rows, s));
}
