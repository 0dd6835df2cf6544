/* MoE router on the GPU: top-k of each row of logits (descending, ties to the lower expert
 * index), then a softmax over the k selected (fy_cpu_router_topk, src/cpu/router.c); one warp
 * per token, router_topk.h says how. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "router_topk.h"

#include <limits.h>
#include <math.h>

#define FY_ROUTER_THREADS 256
#define FY_ROUTER_MAX_BLOCKS 65535

static __global__ __launch_bounds__(FY_ROUTER_THREADS) void fy_gpu_f32_router_topk(
    int32_t *ids, float *w, const float *logits, int64_t n_tok, int n_exp, int k)
{
    const int warps = blockDim.x / FY_WARP;
    const int64_t stride = (int64_t)gridDim.x * warps;
    /* t is uniform across the warp: every lane runs the same iterations and shuffles */
    for (int64_t t = (int64_t)blockIdx.x * warps + threadIdx.x / FY_WARP; t < n_tok; t += stride)
        fy_router_warp_topk(ids + t * k, w + t * k, logits + t * n_exp, n_exp, k);
}

extern "C" fy_status fy_gpu_router_topk(int32_t *ids, float *w, const float *logits,
                                        int64_t n_tok, int64_t n_exp, int k, fy_gpu_stream s)
{
    FY_CHECK_ARG(n_tok >= 0);
    if (n_tok == 0)
        return FY_OK;
    FY_CHECK_ARG(ids && w && logits);
    FY_CHECK_ARG(n_exp >= 1 && n_exp <= FY_ROUTER_MAX_EXP);
    FY_CHECK_ARG(k >= 1 && k <= FY_ROUTER_MAX_K && k <= n_exp);
    const int per_block = FY_ROUTER_THREADS / FY_WARP;   /* the host's guess; the kernel strides */
    int64_t blocks = (n_tok + per_block - 1) / per_block;
    if (blocks > FY_ROUTER_MAX_BLOCKS)
        blocks = FY_ROUTER_MAX_BLOCKS;
    auto *kern = &fy_gpu_f32_router_topk;
    FY_LAUNCH(kern, dim3((unsigned)blocks), dim3(FY_ROUTER_THREADS), 0, (hipStream_t)s, ids, w,
              logits, n_tok, (int)n_exp, k);
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_router_topk: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
