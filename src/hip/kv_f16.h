/* The KV cache conversions (kv_store.hip, and rope.hip's fused RoPE + store).
 * F16: the CPU's fy_f32_to_fp16 bit for bit: the hardware round-to-nearest-even conversion
 * (subnormals, overflow to inf), with NaN mapped by hand like the CPU (quiet, top payload bits
 * kept; the hardware returns a canonical NaN).
 * Q8_0: one block of 32 as the CPU's fy_quant_row_q8_0 (src/quant.c) bit for bit: d = amax/127
 * (IEEE division), stored as f16 (above), q = round(x/d) half away from zero, clamped to
 * +-127, with the unrounded d; an all-zero block stores d = 0 and q = 0. */
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

/* x[0..31] -> the 34 bytes of a Q8_0 block at dst (any alignment) */
static __device__ __forceinline__ void fy_kv_to_q8_0(uint8_t *dst, const float *x)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const uint16_t h = fy_kv_to_f16(d);
    dst[0] = (uint8_t)(h & 0xffu);
    dst[1] = (uint8_t)(h >> 8);
    for (int j = 0; j < 32; j++) {
        float q = d > 0.0f ? roundf(x[j] / d) : 0.0f;
        q = fminf(fmaxf(q, -127.0f), 127.0f);
        dst[2 + j] = (uint8_t)(int8_t)q;
    }
}

#endif
