/* KV cache store on the GPU: row t of k and v goes to slot pos[t] (ring > 0: pos[t] % ring,
 * a sliding-window layer's ring) of caches laid out
 * [slot][width] (fy_cpu_kv_store, src/cpu/kv_store.c), F32 (a copy) or F16. The F16 conversion
 * is the CPU's fy_f32_to_fp16 bit for bit: the hardware round-to-nearest-even conversion
 * (subnormals, overflow to inf), with NaN mapped by hand like the CPU (quiet, top payload bits
 * kept; the hardware returns a canonical NaN). pos is device int32; block (t, column chunk). */
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

extern "C" fy_status fy_gpu_kv_store(void *kc, void *vc, enum fy_dtype kv_type, const float *k,
                                     const float *v, int64_t n_tok, int64_t width,
                                     const int32_t *pos, int64_t ring, fy_gpu_stream s)
{
    if (kv_type != FY_F32 && kv_type != FY_F16) {
        fy_log(FY_LOG_ERR, "fy_gpu_kv_store: unsupported cache type %s", fy_dtype_name(kv_type));
        return FY_E_INVAL;
    }
    FY_CHECK_ARG(n_tok >= 0 && width >= 0);
    if (n_tok == 0 || width == 0)
        return FY_OK;
    FY_CHECK_ARG(kc && vc && k && v && pos);
    FY_CHECK_ARG(n_tok <= INT_MAX && width <= INT_MAX && ring >= 0 && ring <= INT_MAX);
    int64_t cy = (width + FY_KV_STORE_THREADS - 1) / FY_KV_STORE_THREADS;
    if (cy > FY_KV_STORE_MAX_Y)
        cy = FY_KV_STORE_MAX_Y;
    const dim3 grid((unsigned)n_tok, (unsigned)cy);
    hipStream_t st = (hipStream_t)s;
    if (kv_type == FY_F16) {
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
        fy_log(FY_LOG_ERR, "fy_gpu_kv_store_kernel: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
