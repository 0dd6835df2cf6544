/* Arg-max of each row on the GPU (fy_cpu_argmax, src/cpu/argmax.c): the index of the largest
 * value that is not NaN, the lowest index among equals; 0 for a row of NaNs. One block per row:
 * strided (value, index) per thread, warp butterflies, then the per-warp winners. Exact: only
 * comparisons. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"

#include <limits.h>

#define FY_ARGMAX_THREADS 1024

/* (v, i) beats (w, j): larger, or equal and lower index; i < 0 is "none" */
static __device__ __forceinline__ bool fy_am_better(float v, int i, float w, int j)
{
    return i >= 0 && (j < 0 || v > w || (v == w && i < j));
}

static __global__ __launch_bounds__(FY_ARGMAX_THREADS) void fy_gpu_f32_argmax(int32_t *ids,
                                                                            const float *x, int n)
{
    __shared__ float sv[FY_ARGMAX_THREADS / 32];
    __shared__ int si[FY_ARGMAX_THREADS / 32];
    const float *xr = x + (int64_t)blockIdx.x * n;
    const int tid = (int)threadIdx.x, lane = tid % FY_WARP, nw = (int)blockDim.x / FY_WARP;
    float bv = 0.0f;
    int bi = -1;
    for (int i = tid; i < n; i += (int)blockDim.x) {
        const float v = xr[i];
        if (v == v && fy_am_better(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    for (int m = FY_WARP / 2; m > 0; m >>= 1) {
        const float ov = fy_shfl_xor(bv, m);
        const int oi = fy_shfl_xor(bi, m);
        if (fy_am_better(ov, oi, bv, bi)) {
            bv = ov;
            bi = oi;
        }
    }
    if (lane == 0) {
        sv[tid / FY_WARP] = bv;
        si[tid / FY_WARP] = bi;
    }
    __syncthreads();
    if (tid == 0) {
        for (int w = 1; w < nw; w++)
            if (fy_am_better(sv[w], si[w], bv, bi)) {
                bv = sv[w];
                bi = si[w];
            }
        ids[blockIdx.x] = bi < 0 ? 0 : bi;
    }
}

extern "C" fy_status fy_gpu_argmax(int32_t *ids, const float *x, int64_t rows, int64_t n,
                                   fy_gpu_stream s)
{
    FY_CHECK_ARG(rows >= 0 && n >= 0 && rows <= 0x7fffffff && n <= INT_MAX);
    if (rows == 0)
        return FY_OK;
    FY_CHECK_ARG(ids && x);
    auto *k = &fy_gpu_f32_argmax;
    FY_LAUNCH(k, dim3((unsigned)rows), dim3(FY_ARGMAX_THREADS), 0, (hipStream_t)s, ids, x,
              (int)n);
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_argmax: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
