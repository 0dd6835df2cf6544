/* The F16 KV cache conversion (kv_store.hip, and rope.hip's fused RoPE + store): the CPU's
 * fy_f32_to_fp16 bit for bit: the hardware round-to-nearest-even conversion (subnormals,
 * overflow to inf), with NaN mapped by hand like the CPU (quiet, top payload bits kept; the
 * hardware returns a canonical NaN). */
#ifndef FY_HIP_KV_F16_H
#define FY_HIP_KV_F16_H

#include "fy_gpu_compat.h"

static __device__ __forceinline__ uint16_t fy_kv_to_f16(float f)
{
    const uint32_t x = __float_as_uint(f);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(((x >> 16) & 0x8000u) | 0x7e00u | ((a >> 13) & 0x3ffu));
    return fy_f32_to_f16(f);
}

#endif
