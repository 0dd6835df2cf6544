/* Residual add on the GPU: y[i] = a[i] + b[i] (fy_cpu_add, src/cpu/add.c). y may alias a: every
 * element is read and written by the same thread, read first. Bit-identical with the CPU (one
 * f32 addition per element). 16-byte vector accesses when all three pointers allow them. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"

#define FY_ADD_THREADS 256
#define FY_ADD_MAX_BLOCKS 65535   /* grid-stride beyond this */

struct alignas(16) fy_f32x4 {
    float x, y, z, w;
};

template <bool V4>
static __global__ __launch_bounds__(FY_ADD_THREADS) void fy_gpu_f32_add(float *y, const float *a,
                                                                        const float *b, int64_t n)
{
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t done = 0;
    if (V4) {
        const int64_t n4 = n / 4;
        for (int64_t q = i0; q < n4; q += stride) {
            const fy_f32x4 va = ((const fy_f32x4 *)a)[q];
            const fy_f32x4 vb = ((const fy_f32x4 *)b)[q];
            fy_f32x4 r;
            r.x = va.x + vb.x;
            r.y = va.y + vb.y;
            r.z = va.z + vb.z;
            r.w = va.w + vb.w;
            ((fy_f32x4 *)y)[q] = r;
        }
        done = n4 * 4;
    }
    for (int64_t i = done + i0; i < n; i += stride)
        y[i] = a[i] + b[i];
}

extern "C" fy_status fy_gpu_add(float *y, const float *a, const float *b, int64_t n,
                                fy_gpu_stream s)
{
    FY_CHECK_ARG(n >= 0);
    if (n == 0)
        return FY_OK;
    FY_CHECK_ARG(y && a && b);
    const bool v4 = (((uintptr_t)y | (uintptr_t)a | (uintptr_t)b) & 15) == 0;
    const int64_t work = v4 ? (n + 3) / 4 : n;
    int64_t blocks = (work + FY_ADD_THREADS - 1) / FY_ADD_THREADS;
    if (blocks > FY_ADD_MAX_BLOCKS)
        blocks = FY_ADD_MAX_BLOCKS;
    hipStream_t st = (hipStream_t)s;
    if (v4) {
        auto *k = &fy_gpu_f32_add<true>;
        FY_LAUNCH(k, dim3((unsigned)blocks), dim3(FY_ADD_THREADS), 0, st, y, a, b, n);
    } else {
        auto *k = &fy_gpu_f32_add<false>;
        FY_LAUNCH(k, dim3((unsigned)blocks), dim3(FY_ADD_THREADS), 0, st, y, a, b, n);
    }
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_add: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
