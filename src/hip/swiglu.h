/* SwiGLU-OAI of one element, as fy_cpu_swiglu_oai computes it (gpt-oss.md section 6):
 * a = g' * sigmoid(alpha g') * (u' + 1), g' = min(g, limit), u' = clamp(u, -limit, limit),
 * written g' / (1 + expf(-alpha g')) (for very negative g the exp overflows to inf and the
 * result is -0, never NaN). Shared by the elementwise kernel (swiglu.hip) and the MoE kernel
 * that applies it to one expert range's rows (moe.hip). */
#ifndef FY_HIP_SWIGLU_H
#define FY_HIP_SWIGLU_H

#include "fy_gpu_compat.h"

#include <math.h>

static __device__ __forceinline__ float fy_swiglu1(float g, float u, float alpha, float limit)
{
    const float gc = g > limit ? limit : g;
    const float uc = u > limit ? limit : (u < -limit ? -limit : u);
    const float s = gc / (1.0f + expf(-alpha * gc));
    return s * (uc + 1.0f);
}

#endif
