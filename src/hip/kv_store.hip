/* KV cache store on the GPU: row t of k and v goes to slot pos[t] (ring > 0: pos[t] % ring, a
 * sliding-window layer's ring) of caches laid out [slot][width] (fy_cpu_kv_store,
 * src/cpu/kv_store.c), F32 (a copy), F16 or Q8_0. The conversions are the CPU's bit for bit
 * (kv_f16.h): F16 by the hardware round-to-nearest-even conversion with NaN mapped by hand like
 * the CPU; Q8_0 one thread per block of 32 (a slot's row is width/32 blocks of 34 bytes). pos is
 * device int32; block (t, column chunk). */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "kv_f16.h"

#include <limits.h>

#define FY_KV_STORE_THREADS 256
#define FY_KV_STORE_MAX_Y 65535

template <bool F16>
static __global__ __launch_bounds__(FY_KV_STORE_THREADS) void fy_gpu_kv_store_kernel(
    void *kc, void *vc, const float *k, const float *v, int width, const int32_t *pos, int ring)
{
    const int64_t t = blockIdx.x;
    const int64_t src = t * width;
    const int64_t dst = (int64_t)(ring > 0 ? pos[t] % ring : pos[t]) * width;
    const int stride = gridDim.y * blockDim.x;
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < width; i += stride) {
        if (F16) {
            ((uint16_t *)kc)[dst + i] = fy_kv_to_f16(k[src + i]);
            ((uint16_t *)vc)[dst + i] = fy_kv_to_f16(v[src + i]);
        } else {
            ((float *)kc)[dst + i] = k[src + i];
            ((float *)vc)[dst + i] = v[src + i];
        }
    }
}

/* Q8_0: thread i of row t quantizes block i of K (i < nb) or block i - nb of V */
static __global__ __launch_bounds__(FY_KV_STORE_THREADS) void fy_gpu_kv_store_q8_0_kernel(
    void *kc, void *vc, const float *k, const float *v, int width, const int32_t *pos, int ring)
{
    const int64_t t = blockIdx.x;
    const int64_t slot = ring > 0 ? pos[t] % ring : pos[t];
    const int nb = width / 32;
    const int64_t row = (int64_t)nb * 34;
    const int stride = gridDim.y * blockDim.x;
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < 2 * nb; i += stride) {
        const bool is_v = i >= nb;
        const int b = is_v ? i - nb : i;
        uint8_t *dst = (uint8_t *)(is_v ? vc : kc) + slot * row + (int64_t)b * 34;
        fy_kv_to_q8_0(dst, (is_v ? v : k) + t * width + (int64_t)b * 32);
    }
}

extern "C" fy_status fy_gpu_kv_store(void *kc, void *vc, enum fy_dtype kv_type, const float *k,
                                     const float *v, int64_t n_tok, int64_t width,
                                     const int32_t *pos, int64_t ring, fy_gpu_stream s)
{
    if (kv_type != FY_F32 && kv_type != FY_F16 && kv_type != FY_Q8_0) {
        fy_log(FY_LOG_ERR, "fy_gpu_kv_store: unsupported cache type %s", fy_dtype_name(kv_type));
        return FY_E_INVAL;
    }
    if (kv_type == FY_Q8_0 && width % 32 != 0) {
        fy_log(FY_LOG_ERR, "fy_gpu_kv_store: Q8_0 rows of width %lld (not whole blocks of 32)",
               (long long)width);
        return FY_E_INVAL;
    }
    FY_CHECK_ARG(n_tok >= 0 && width >= 0);
    if (n_tok == 0 || width == 0)
        return FY_OK;
    FY_CHECK_ARG(kc && vc && k && v && pos);
    FY_CHECK_ARG(n_tok <= INT_MAX && width <= INT_MAX && ring >= 0 && ring <= INT_MAX);
    const int64_t items = kv_type == FY_Q8_0 ? 2 * (width / 32) : width;
    int64_t cy = (items + FY_KV_STORE_THREADS - 1) / FY_KV_STORE_THREADS;
    if (cy > FY_KV_STORE_MAX_Y)
        cy = FY_KV_STORE_MAX_Y;
    const dim3 grid((unsigned)n_tok, (unsigned)cy);
    hipStream_t st = (hipStream_t)s;
    if (kv_type == FY_Q8_0) {
        auto *kern = &fy_gpu_kv_store_q8_0_kernel;
        FY_LAUNCH(kern, grid, dim3(FY_KV_STORE_THREADS), 0, st, kc, vc, k, v, (int)width, pos,
                  (int)ring);
    } else if (kv_type == FY_F16) {
        auto *kern = &fy_gpu_kv_store_kernel<true>;
        FY_LAUNCH(kern, grid, dim3(FY_KV_STORE_THREADS), 0, st, kc, vc, k, v, (int)width, pos,
                  (int)ring);
    } else {
        auto *kern = &fy_gpu_kv_store_kernel<false>;
        FY_LAUNCH(kern, grid, dim3(FY_KV_STORE_THREADS), 0, st, kc, vc, k, v, (int)width, pos,
                  (int)ring);
    }
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_kv_store_kernel (%s): %s", fy_dtype_name(kv_type),
               hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
