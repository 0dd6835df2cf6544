/* YaRN RoPE on the GPU, NEOX pairs (i, i + n_rot/2), ggml semantics exactly as fy_cpu_rope_yarn
 * (src/cpu/rope.c, gpt-oss.md section 7). The constants (theta scale, correction range, mscale)
 * are computed on the host by the CPU's formulas; on the device theta_i is iterated in f32 like
 * the CPU (i roundings), and every step avoids FMA contraction, so the angles are bit-identical
 * and the results differ only by the device cosf/sinf (a few ulp). One block per token: the
 * first half threads tabulate cos/sin for the token in shared memory, then all threads rotate
 * the pairs of every head. Dims >= n_rot of each head are untouched. x is rotated in place;
 * pos is device int32. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "kv_f16.h"

#include <limits.h>
#include <math.h>

#define FY_ROPE_THREADS 256
#define FY_ROPE_MAX_HALF 256   /* n_rot <= 512 */

/* Separately rounded f32 products and sums (no a*b+c fused into an FMA, which would move the
 * angle by an ulp of theta, i.e. up to 1e-2 rad at position 131071). CUDA: the _rn intrinsics
 * are never contracted. HIP (clang): the pragma below. Emulator: g++ -std=c++17 contracts
 * nothing. */
#if defined(FY_GPU_EMU) || defined(__HIP__) || defined(__HIPCC__)
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
static __device__ __forceinline__ float fy_rope_mul(float a, float b) { return a * b; }
static __device__ __forceinline__ float fy_rope_add(float a, float b) { return a + b; }
static __device__ __forceinline__ float fy_rope_sub(float a, float b) { return a - b; }
#else
static __device__ __forceinline__ float fy_rope_mul(float a, float b) { return __fmul_rn(a, b); }
static __device__ __forceinline__ float fy_rope_add(float a, float b) { return __fadd_rn(a, b); }
static __device__ __forceinline__ float fy_rope_sub(float a, float b) { return __fsub_rn(a, b); }
#endif

struct fy_rope_consts {
    float theta_scale;   /* base^(-2/n_rot) */
    float lo, hi;        /* correction range in pair units */
    float mscale;
    float freq_scale;
    float ext_factor;
};

/* cs[2i], cs[2i+1] = cos, sin of pair i's angle at position p, times mscale (threads of the
 * block share the pairs; the caller synchronises before reading) */
static __device__ void fy_rope_table(float *cs, int half, int p, const fy_rope_consts &k)
{
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float extrap = (float)p;
        for (int j = 0; j < i; j++)   /* theta_i, rounded after every step like the CPU */
            extrap = fy_rope_mul(extrap, k.theta_scale);
        const float interp = fy_rope_mul(k.freq_scale, extrap);
        float th = interp;
        if (k.ext_factor != 0.0f) {
            const float y = fy_rope_sub((float)i, k.lo) / fmaxf(0.001f, fy_rope_sub(k.hi, k.lo));
            const float ramp = fy_rope_sub(1.0f, fminf(1.0f, fmaxf(0.0f, y)));
            const float mix = fy_rope_mul(ramp, k.ext_factor);
            th = fy_rope_add(fy_rope_mul(interp, fy_rope_sub(1.0f, mix)), fy_rope_mul(extrap, mix));
        }
        cs[2 * i] = fy_rope_mul(cosf(th), k.mscale);
        cs[2 * i + 1] = fy_rope_mul(sinf(th), k.mscale);
    }
}

/* rotates the NEOX pairs of n_heads heads of one token row in place */
static __device__ void fy_rope_rotate(float *xt, int n_heads, int head_dim, int half,
                                      const float *cs)
{
    const int n_pairs = n_heads * half;
    for (int q = threadIdx.x; q < n_pairs; q += blockDim.x) {
        const int h = q / half;
        const int j = q - h * half;
        float *a = xt + (int64_t)h * head_dim + j;
        const float c = cs[2 * j];
        const float s = cs[2 * j + 1];
        const float x0 = a[0];
        const float x1 = a[half];
        a[0] = fy_rope_sub(fy_rope_mul(x0, c), fy_rope_mul(x1, s));
        a[half] = fy_rope_add(fy_rope_mul(x0, s), fy_rope_mul(x1, c));
    }
}

static __global__ __launch_bounds__(FY_ROPE_THREADS) void fy_gpu_f32_rope_yarn(
    float *x, int n_heads, int head_dim, int half, const int32_t *pos, fy_rope_consts k)
{
    __shared__ float cs[2 * FY_ROPE_MAX_HALF];
    const int64_t t = blockIdx.x;
    fy_rope_table(cs, half, pos[t], k);
    __syncthreads();
    fy_rope_rotate(x + t * n_heads * head_dim, n_heads, head_dim, half, cs);
}

/* Fused decode step (issue 12 item 3): q and k of token blockIdx.x rotated in place with one
 * table, then k and v stored at slot pos[t] (ring > 0: pos[t] % ring) of the caches
 * (kv_store.hip's conversions: F32, F16, or Q8_0 with one thread per block of 32). */
template <enum fy_dtype KT>
static __global__ __launch_bounds__(FY_ROPE_THREADS) void fy_gpu_f32_rope_kv_store(
    float *q, float *kx, const float *vx, int n_head, int n_head_kv, int head_dim, int half,
    const int32_t *pos, fy_rope_consts k, void *kc, void *vc, int ring)
{
    __shared__ float cs[2 * FY_ROPE_MAX_HALF];
    const int64_t t = blockIdx.x;
    const int p = pos[t];
    const int width = n_head_kv * head_dim;
    fy_rope_table(cs, half, p, k);
    __syncthreads();
    fy_rope_rotate(q + t * n_head * head_dim, n_head, head_dim, half, cs);
    float *kt = kx + t * width;
    fy_rope_rotate(kt, n_head_kv, head_dim, half, cs);
    __syncthreads(); /* the rotated k of every thread is written */
    const float *vt = vx + t * width;
    const int64_t slot = ring > 0 ? p % ring : p;
    const int64_t dst = slot * width;
    if (KT == FY_Q8_0) {
        const int nb = width / 32;
        for (int i = threadIdx.x; i < 2 * nb; i += blockDim.x) {
            const bool is_v = i >= nb;
            const int b = is_v ? i - nb : i;
            uint8_t *o = (uint8_t *)(is_v ? vc : kc) + slot * nb * 34 + (int64_t)b * 34;
            fy_kv_to_q8_0(o, (is_v ? vt : kt) + b * 32);
        }
    } else {
        for (int i = threadIdx.x; i < width; i += blockDim.x) {
            if (KT == FY_F16) {
                ((uint16_t *)kc)[dst + i] = fy_kv_to_f16(kt[i]);
                ((uint16_t *)vc)[dst + i] = fy_kv_to_f16(vt[i]);
            } else {
                ((float *)kc)[dst + i] = kt[i];
                ((float *)vc)[dst + i] = vt[i];
            }
        }
    }
}

/* the CPU's rope_corr_dim and rope_setup (src/cpu/rope.c), term for term */
static float fy_rope_corr_dim(int n_rot, int n_ctx_orig, float beta, float base)
{
    return (float)n_rot * logf((float)n_ctx_orig / (beta * 2.0f * (float)3.14159265358979323846)) /
           (2.0f * logf(base));
}

static fy_rope_consts fy_rope_setup(const struct fy_rope *r)
{
    fy_rope_consts k;
    k.theta_scale = powf(r->freq_base, -2.0f / (float)r->n_rot);
    float lo = fy_rope_corr_dim(r->n_rot, r->n_ctx_orig, r->beta_fast, r->freq_base);
    float hi = fy_rope_corr_dim(r->n_rot, r->n_ctx_orig, r->beta_slow, r->freq_base);
    if (!r->unrounded) {
        lo = fmaxf(0.0f, floorf(lo));
        hi = fminf((float)(r->n_rot - 1), ceilf(hi));
    }
    k.lo = lo;
    k.hi = hi;
    k.mscale = r->attn_factor;
    if (r->ext_factor != 0.0f)
        k.mscale *= 1.0f + 0.1f * logf(1.0f / r->freq_scale);
    k.freq_scale = r->freq_scale;
    k.ext_factor = r->ext_factor;
    return k;
}

extern "C" fy_status fy_gpu_rope_yarn(float *x, int64_t n_tok, int64_t n_heads, int64_t head_dim,
                                      const int32_t *pos, const struct fy_rope *r,
                                      fy_gpu_stream s)
{
    FY_CHECK_ARG(r && n_tok >= 0 && n_heads >= 0 && head_dim >= 0);
    if (n_tok == 0 || n_heads == 0 || r->n_rot <= 0)
        return FY_OK;
    FY_CHECK_ARG(x && pos);
    FY_CHECK_ARG(r->n_rot % 2 == 0 && r->n_rot <= head_dim && r->n_rot / 2 <= FY_ROPE_MAX_HALF);
    FY_CHECK_ARG(n_tok <= INT_MAX && n_heads * head_dim <= INT_MAX);
    const fy_rope_consts k = fy_rope_setup(r);
    auto *kern = &fy_gpu_f32_rope_yarn;
    FY_LAUNCH(kern, dim3((unsigned)n_tok), dim3(FY_ROPE_THREADS), 0, (hipStream_t)s, x,
              (int)n_heads, (int)head_dim, r->n_rot / 2, pos, k);
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_rope_yarn: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}

extern "C" fy_status fy_gpu_rope_kv_store(float *q, float *k, const float *v, int64_t n_tok,
                                          int64_t n_head, int64_t n_head_kv, int64_t head_dim,
                                          const int32_t *pos, const struct fy_rope *r, void *kc,
                                          void *vc, enum fy_dtype kv_type, int64_t ring,
                                          fy_gpu_stream s)
{
    FY_CHECK_ARG(r && n_tok >= 0 && n_head >= 0 && n_head_kv >= 0 && head_dim >= 0);
    if (kv_type != FY_F32 && kv_type != FY_F16 && kv_type != FY_Q8_0) {
        fy_log(FY_LOG_ERR, "fy_gpu_rope_kv_store: unsupported cache type %s",
               fy_dtype_name(kv_type));
        return FY_E_INVAL;
    }
    if (kv_type == FY_Q8_0 && (n_head_kv * head_dim) % 32 != 0) {
        fy_log(FY_LOG_ERR, "fy_gpu_rope_kv_store: Q8_0 rows of width %lld (not whole blocks of "
               "32)", (long long)(n_head_kv * head_dim));
        return FY_E_INVAL;
    }
    if (n_tok == 0)
        return FY_OK;
    FY_CHECK_ARG(q && k && v && pos && kc && vc && ring >= 0 && ring <= INT_MAX);
    FY_CHECK_ARG(r->n_rot >= 0 && r->n_rot % 2 == 0 && r->n_rot <= head_dim &&
                 r->n_rot / 2 <= FY_ROPE_MAX_HALF);
    FY_CHECK_ARG(n_tok <= INT_MAX && n_head * head_dim <= INT_MAX);
    const fy_rope_consts c = fy_rope_setup(r);
    const int half = r->n_rot / 2;
    hipStream_t st = (hipStream_t)s;
    if (kv_type == FY_Q8_0) {
        auto *kern = &fy_gpu_f32_rope_kv_store<FY_Q8_0>;
        FY_LAUNCH(kern, dim3((unsigned)n_tok), dim3(FY_ROPE_THREADS), 0, st, q, k, v, (int)n_head,
                  (int)n_head_kv, (int)head_dim, half, pos, c, kc, vc, (int)ring);
    } else if (kv_type == FY_F16) {
        auto *kern = &fy_gpu_f32_rope_kv_store<FY_F16>;
        FY_LAUNCH(kern, dim3((unsigned)n_tok), dim3(FY_ROPE_THREADS), 0, st, q, k, v, (int)n_head,
                  (int)n_head_kv, (int)head_dim, half, pos, c, kc, vc, (int)ring);
    } else {
        auto *kern = &fy_gpu_f32_rope_kv_store<FY_F32>;
        FY_LAUNCH(kern, dim3((unsigned)n_tok), dim3(FY_ROPE_THREADS), 0, st, q, k, v, (int)n_head,
                  (int)n_head_kv, (int)head_dim, half, pos, c, kc, vc, (int)ring);
    }
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_rope_kv_store: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
