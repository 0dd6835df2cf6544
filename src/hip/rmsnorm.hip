/* RMSNorm on the GPU: y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w (fy_cpu_rmsnorm,
 * src/cpu/rmsnorm.c). One block per row. The sum of squares is f32: per-thread strided partial
 * sums, a butterfly over each warp, then every warp reduces the per-warp partials (so all threads
 * hold the total without a second barrier). The CPU sums in double, so the scale differs by a
 * few f32 rounding steps (relative ~1e-6); the scale and the two products are computed exactly
 * as the CPU does. y may alias x: element i is read and written by the same thread. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"

#include <limits.h>
#include <math.h>

#define FY_RMSNORM_THREADS 256

static __global__ __launch_bounds__(FY_RMSNORM_THREADS) void fy_gpu_f32_rmsnorm(
    float *y, const float *x, const float *w, int n, float eps)
{
    __shared__ float part[FY_RMSNORM_THREADS / 32];   /* one per warp, for the narrowest warp */
    const int tid = threadIdx.x;
    const int lane = tid % FY_WARP;
    const int n_warps = blockDim.x / FY_WARP;
    const float *xr = x + (int64_t)blockIdx.x * n;
    float *yr = y + (int64_t)blockIdx.x * n;

    float ss = 0.0f;
    for (int i = tid; i < n; i += blockDim.x)
        ss += xr[i] * xr[i];
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        ss += fy_shfl_xor(ss, m);
    if (lane == 0)
        part[tid / FY_WARP] = ss;
    __syncthreads();
    ss = lane < n_warps ? part[lane] : 0.0f;
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        ss += fy_shfl_xor(ss, m);

    const float mean = ss / (float)n;
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int i = tid; i < n; i += blockDim.x)
        yr[i] = (xr[i] * scale) * w[i];
}

extern "C" fy_status fy_gpu_rmsnorm(float *y, const float *x, const float *w, int64_t rows,
                                    int64_t n, float eps, fy_gpu_stream s)
{
    FY_CHECK_ARG(rows >= 0 && n >= 0);
    if (rows == 0 || n == 0)
        return FY_OK;
    FY_CHECK_ARG(y && x && w);
    FY_CHECK_ARG(n <= INT_MAX && rows <= INT_MAX);
    /* short rows get a smaller block (a multiple of 64, so whole warps on every target) */
    int threads = FY_RMSNORM_THREADS;
    if (n < FY_RMSNORM_THREADS)
        threads = (int)((n + 63) / 64 * 64);
    auto *k = &fy_gpu_f32_rmsnorm;
    FY_LAUNCH(k, dim3((unsigned)rows), dim3(threads), 0, (hipStream_t)s, y, x, w, (int)n, eps);
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_rmsnorm: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
