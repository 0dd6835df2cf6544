/* gpt-oss SwiGLU on the GPU (fy_cpu_swiglu_oai, src/cpu/swiglu.c, gpt-oss.md section 6):
 * a = g' * sigmoid(alpha g') * (u' + 1), g' = min(g, limit), u' = clamp(u, -limit, limit),
 * computed as the CPU does: g' / (1 + expf(-alpha g')) (for very negative g the exp overflows to
 * inf and the result is -0, never NaN). Only the device expf differs from glibc's (<= 2 ulp).
 * a may alias g or u: each element is read and written by the same thread. 16-byte vector
 * accesses when all pointers allow them. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "swiglu.h"

#define FY_SWIGLU_THREADS 256
#define FY_SWIGLU_MAX_BLOCKS 65535

struct alignas(16) fy_swiglu_f4 {
    float x, y, z, w;
};

template <bool V4>
static __global__ __launch_bounds__(FY_SWIGLU_THREADS) void fy_gpu_f32_swiglu_oai(
    float *a, const float *g, const float *u, int64_t n, float alpha, float limit)
{
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t done = 0;
    if (V4) {
        const int64_t n4 = n / 4;
        for (int64_t q = i0; q < n4; q += stride) {
            const fy_swiglu_f4 vg = ((const fy_swiglu_f4 *)g)[q];
            const fy_swiglu_f4 vu = ((const fy_swiglu_f4 *)u)[q];
            fy_swiglu_f4 r;
            r.x = fy_swiglu1(vg.x, vu.x, alpha, limit);
            r.y = fy_swiglu1(vg.y, vu.y, alpha, limit);
            r.z = fy_swiglu1(vg.z, vu.z, alpha, limit);
            r.w = fy_swiglu1(vg.w, vu.w, alpha, limit);
            ((fy_swiglu_f4 *)a)[q] = r;
        }
        done = n4 * 4;
    }
    for (int64_t i = done + i0; i < n; i += stride)
        a[i] = fy_swiglu1(g[i], u[i], alpha, limit);
}

extern "C" fy_status fy_gpu_swiglu_oai(float *a, const float *g, const float *u, int64_t n,
                                       float alpha, float limit, fy_gpu_stream s)
{
    FY_CHECK_ARG(n >= 0);
    if (n == 0)
        return FY_OK;
    FY_CHECK_ARG(a && g && u);
    const bool v4 = (((uintptr_t)a | (uintptr_t)g | (uintptr_t)u) & 15) == 0;
    const int64_t work = v4 ? (n + 3) / 4 : n;
    int64_t blocks = (work + FY_SWIGLU_THREADS - 1) / FY_SWIGLU_THREADS;
    if (blocks > FY_SWIGLU_MAX_BLOCKS)
        blocks = FY_SWIGLU_MAX_BLOCKS;
    hipStream_t st = (hipStream_t)s;
    if (v4) {
        auto *k = &fy_gpu_f32_swiglu_oai<true>;
        FY_LAUNCH(k, dim3((unsigned)blocks), dim3(FY_SWIGLU_THREADS), 0, st, a, g, u, n, alpha,
                  limit);
    } else {
        auto *k = &fy_gpu_f32_swiglu_oai<false>;
        FY_LAUNCH(k, dim3((unsigned)blocks), dim3(FY_SWIGLU_THREADS), 0, st, a, g, u, n, alpha,
                  limit);
    }
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_swiglu_oai: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
