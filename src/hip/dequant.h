/* Device-side decoding of the weight types (the same values as src/quant.c, bit for bit).
 * Block layouts (ggml): Q8_0 = f16 scale + 32 int8 (34 bytes); MXFP4 = E8M0 byte + 16 bytes of
 * nibbles, element j < 16 in the low nibble of byte 1+j, element j+16 in its high nibble (17 bytes). */
#ifndef FY_HIP_DEQUANT_H
#define FY_HIP_DEQUANT_H

#include "fy_gpu_compat.h"

#define FY_QK 32
#define FY_Q8_0_BYTES 34
#define FY_MXFP4_BYTES 17

/* 2^(e-128) exactly: ggml's halved E8M0 scale, paired with the doubled E2M1 table below */
static __device__ __forceinline__ float fy_e8m0_half(uint8_t e)
{
    return __uint_as_float(e >= 2 ? (uint32_t)(e - 1) << 23 : (e == 1 ? 0x00400000u : 0x00200000u));
}

/* doubled E2M1 value of a nibble: {0,1,2,3,4,6,8,12} with bit 3 the sign */
static __device__ __forceinline__ float fy_e2m1x2(unsigned n)
{
    const int m = (int)(n & 7u);
    const int v = m < 4 ? m : (m < 6 ? 2 * m - 4 : 4 * m - 16);
    return (n & 8u) ? -(float)v : (float)v;
}

static __device__ __forceinline__ uint16_t fy_ld_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

/* Element j (0 <= j < 32) of one block. */
static __device__ __forceinline__ float fy_dq_mxfp4(const uint8_t *blk, int j)
{
    const uint8_t q = blk[1 + (j & 15)];
    return fy_e2m1x2(j < 16 ? q & 0x0fu : q >> 4) * fy_e8m0_half(blk[0]);
}
static __device__ __forceinline__ float fy_dq_q8_0(const uint8_t *blk, int j)
{
    return (float)(int8_t)blk[2 + j] * fy_f16_to_f32(fy_ld_u16(blk));
}

/* Element i of a row of type t (enum fy_dtype values: F32 0, F16 1, Q8_0 8, BF16 30, MXFP4 39). */
static __device__ __forceinline__ float fy_dq_elem(int t, const uint8_t *row, int64_t i)
{
    switch (t) {
    case 0: return ((const float *)row)[i];
    case 1: return fy_f16_to_f32(fy_ld_u16(row + 2 * i));
    case 30: return fy_bf16_to_f32(fy_ld_u16(row + 2 * i));
    case 8: return fy_dq_q8_0(row + (i / FY_QK) * FY_Q8_0_BYTES, (int)(i % FY_QK));
    default: return fy_dq_mxfp4(row + (i / FY_QK) * FY_MXFP4_BYTES, (int)(i % FY_QK));
    }
}

#endif
