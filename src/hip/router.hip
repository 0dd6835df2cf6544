/* MoE router on the GPU: top-k of each row of logits (descending, ties to the lower expert
 * index), then a softmax over the k selected (fy_cpu_router_topk, src/cpu/router.c). One warp
 * per token: each lane holds experts lane, lane + FY_WARP, ...; k rounds of a warp arg-max on
 * (value, -index) pick exactly the CPU's list, in its order (the CPU's insertion keeps the
 * first k of the rows sorted by value descending, then index ascending). The softmax is the
 * CPU's: double, max-subtracted, the normaliser summed in slot order, so the weights match to
 * the last bit but for the device exp. NaN logits are not supported (nor ordered by the CPU). */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"

#include <limits.h>
#include <math.h>

#define FY_ROUTER_THREADS 256
#define FY_ROUTER_MAX_EXP 256
#define FY_ROUTER_MAX_K 8
#define FY_ROUTER_PER_LANE (FY_ROUTER_MAX_EXP / 32)   /* for the narrowest warp */
#define FY_ROUTER_MAX_BLOCKS 65535

static __global__ __launch_bounds__(FY_ROUTER_THREADS) void fy_gpu_f32_router_topk(
    int32_t *ids, float *w, const float *logits, int64_t n_tok, int n_exp, int k)
{
    const int lane = threadIdx.x % FY_WARP;
    const int warps = blockDim.x / FY_WARP;
    const int64_t stride = (int64_t)gridDim.x * warps;
    /* t is uniform across the warp: every lane runs the same iterations and shuffles */
    for (int64_t t = (int64_t)blockIdx.x * warps + threadIdx.x / FY_WARP; t < n_tok; t += stride) {
        const float *l = logits + t * n_exp;
        float v[FY_ROUTER_PER_LANE];
        unsigned avail = 0;   /* bit j: expert j * FY_WARP + lane exists and is not taken */
#pragma unroll
        for (int j = 0; j < FY_ROUTER_PER_LANE; j++) {
            const int e = j * FY_WARP + lane;
            v[j] = 0.0f;
            if (e < n_exp) {
                v[j] = l[e];
                avail |= 1u << j;
            }
        }
        float sel_v[FY_ROUTER_MAX_K];
        float my_v = 0.0f;
        int my_i = 0;
#pragma unroll
        for (int r = 0; r < FY_ROUTER_MAX_K; r++) {
            if (r < k) {   /* uniform: the whole warp takes the same rounds */
                /* this lane's best: increasing j is increasing index, '>' keeps the lower one */
                float bv = 0.0f;
                int bi = -1;
#pragma unroll
                for (int j = 0; j < FY_ROUTER_PER_LANE; j++)
                    if (((avail >> j) & 1u) && (bi < 0 || v[j] > bv)) {
                        bv = v[j];
                        bi = j * FY_WARP + lane;
                    }
                for (int m = FY_WARP / 2; m > 0; m >>= 1) {
                    const float ov = fy_shfl_xor(bv, m);
                    const int oi = fy_shfl_xor(bi, m);
                    if (oi >= 0 && (bi < 0 || ov > bv || (ov == bv && oi < bi))) {
                        bv = ov;
                        bi = oi;
                    }
                }
                bv = fy_shfl(bv, 0);   /* lane 0's answer for all, whatever the order did */
                bi = fy_shfl(bi, 0);
                if (bi % FY_WARP == lane)
                    avail &= ~(1u << (bi / FY_WARP));
                sel_v[r] = bv;
                if (r == lane) {
                    my_v = bv;
                    my_i = bi;
                }
            }
        }
        const double mx = (double)sel_v[0];
        double z = 0.0;
#pragma unroll
        for (int r = 0; r < FY_ROUTER_MAX_K; r++)
            if (r < k)
                z += exp((double)sel_v[r] - mx);
        if (lane < k) {
            ids[t * k + lane] = my_i;
            w[t * k + lane] = (float)(exp((double)my_v - mx) / z);
        }
    }
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
