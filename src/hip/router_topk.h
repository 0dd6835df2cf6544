/* The router's per-token top-k and softmax as a warp function (router.hip's kernel, and
 * moe_route.hip's fused RMSNorm + router + top-k). One warp per token: each lane holds experts
 * lane, lane + FY_WARP, ...; k rounds of a warp arg-max on (value, -index) pick exactly the
 * CPU's list, in its order (the CPU's insertion keeps the first k of the rows sorted by value
 * descending, then index ascending). The softmax is the CPU's: double, max-subtracted, the
 * normaliser summed in slot order, so the weights match to the last bit but for the device exp.
 * NaN logits are not supported (nor ordered by the CPU). */
#ifndef FY_HIP_ROUTER_TOPK_H
#define FY_HIP_ROUTER_TOPK_H

#include "fy_gpu_compat.h"

#include <math.h>

#define FY_ROUTER_MAX_EXP 256
#define FY_ROUTER_MAX_K 8
#define FY_ROUTER_PER_LANE (FY_ROUTER_MAX_EXP / 32)   /* for the narrowest warp */

/* The top-k and softmax of one row of logits l (device or shared memory) by one warp (every
 * lane calls it): ids[0..k) and w[0..k) written by lanes 0..k-1. */
static __device__ __forceinline__ void fy_router_warp_topk(int32_t *ids, float *w, const float *l,
                                                           int n_exp, int k)
{
    const int lane = threadIdx.x % FY_WARP;
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
        ids[lane] = my_i;
        w[lane] = (float)(exp((double)my_v - mx) / z);
    }
}

#endif
