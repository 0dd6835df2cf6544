/* Weight decoding for the matmul kernels (matmul.hip), in 8-element units: one 16-byte load of
 * F16/BF16, two of F32, a quarter of a Q8_0 or MXFP4 block read as aligned words (any alignment).
 * Decoded values are exact: v[i] * FY_PRE(T) * scale is the weight, bit for bit src/quant.c's. */
#ifndef FY_HIP_MATMUL_UNIT_H
#define FY_HIP_MATMUL_UNIT_H

#include "dequant.h"
#include "fy_gpu_compat.h"

/* weight type codes of the kernels: enum fy_dtype, plus element-load variants of the float
 * types for rows that are not 16-byte aligned or n_in % 8 != 0 */
enum {
    FY_MT_F32 = 0,
    FY_MT_F16 = 1,
    FY_MT_Q8_0 = 8,
    FY_MT_BF16 = 30,
    FY_MT_MXFP4 = 39,
    FY_MT_F32U = 100,
    FY_MT_F16U = 101,
    FY_MT_BF16U = 130,
};

/* ------------------------------------------------------------------ 8-element units
 * Unit k (k % 8 == 0) of a row: F32/F16/BF16 elements k..k+7; Q8_0 quarter q = (k/8)%4 of block
 * k/32, elements 8q..8q+7; MXFP4 quarter q: qs bytes 4q..4q+3, i.e. elements 4q..4q+3 (low
 * nibbles) and 16+4q..16+4q+3 (high). Decoded element v[4h + j] sits at block position
 * fy_unit_pos(T, q, h, j). */
struct fy_raw {
    uint32_t u[8];
    uint32_t s;
};

static __device__ __forceinline__ int fy_unit_pos(int t, int q, int h, int j)
{
    return t == FY_MT_MXFP4 ? 16 * h + 4 * q + j : 8 * q + 4 * h + j;
}

/* bytes [p, p + 4N) at any alignment, as N little-endian words: aligned loads + funnel shifts,
 * touching only the aligned words that hold those bytes */
template <int N> static __device__ __forceinline__ void fy_ld_words(const uint8_t *p, uint32_t *o)
{
    const uintptr_t a = (uintptr_t)p;
    const uint32_t *wp = (const uint32_t *)(a & ~(uintptr_t)3);
    const int sh = (int)(a & 3) * 8;
    uint32_t w[N + 1];
#pragma unroll
    for (int i = 0; i < N; i++)
        w[i] = wp[i];
    w[N] = wp[sh ? N : N - 1];
#pragma unroll
    for (int i = 0; i < N; i++)
        o[i] = (uint32_t)((((uint64_t)w[i + 1] << 32) | w[i]) >> sh);
}

template <int T>
static __device__ __forceinline__ void fy_unit_load(const uint8_t *row, int k, int n_in, fy_raw &r)
{
    if constexpr (T == FY_MT_F32 || T == FY_MT_F16 || T == FY_MT_BF16) {
        const int bytes = T == FY_MT_F32 ? 32 : 16;
        const uint4 *p = (const uint4 *)(row + (size_t)(k / 8) * bytes);
        const uint4 a = p[0];
        r.u[0] = a.x, r.u[1] = a.y, r.u[2] = a.z, r.u[3] = a.w;
        if constexpr (T == FY_MT_F32) {
            const uint4 b = p[1];
            r.u[4] = b.x, r.u[5] = b.y, r.u[6] = b.z, r.u[7] = b.w;
        }
    } else if constexpr (T == FY_MT_F32U || T == FY_MT_F16U || T == FY_MT_BF16U) {
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int i = k + j;
            if (T == FY_MT_F32U)
                r.u[j] = i < n_in ? __float_as_uint(((const float *)row)[i]) : 0u;
            else
                r.u[j] = i < n_in ? fy_ld_u16(row + 2 * (size_t)i) : 0u;
        }
    } else {
        const int nb = T == FY_MT_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
        const uint8_t *blk = row + (size_t)(k / FY_QK) * nb;
        const int q = (k / 8) & 3;
        if constexpr (T == FY_MT_Q8_0) {
            r.s = fy_ld_u16(blk);
            fy_ld_words<2>(blk + 2 + 8 * q, r.u);
        } else {
            r.s = blk[0];
            fy_ld_words<1>(blk + 1 + 4 * q, r.u);
        }
    }
}

/* two E2M1 nibbles (bits 0-3 and 16-19 of w) as f16 bit patterns: fp4 * 2^-14 exactly (the
 * E2M1 subnormal 0.5 becomes an f16 subnormal), so decode = f16 convert; fixed by FY_PRE */
static __device__ __forceinline__ uint32_t fy_e2m1_h2(uint32_t w)
{
    return ((w & 0x00070007u) << 9) | ((w & 0x00080008u) << 12);
}
/* int8 byte j of w ^ 0x80808080 to float, exactly: 2^23 + 128 + q - (2^23 + 128) */
static __device__ __forceinline__ float fy_i8f(uint32_t t, int j)
{
    return __uint_as_float(0x4b000000u | ((t >> (8 * j)) & 0xffu)) - 8388736.0f;
}

/* the element v[i] of a unit is v[i] * FY_PRE(T) * scale */
#define FY_PRE(T) ((T) == FY_MT_MXFP4 ? 32768.0f : 1.0f)

template <int T>
static __device__ __forceinline__ float fy_unit_decode(const fy_raw &r, float *v)
{
    if constexpr (T == FY_MT_F32 || T == FY_MT_F32U) {
#pragma unroll
        for (int j = 0; j < 8; j++)
            v[j] = __uint_as_float(r.u[j]);
        return 1.0f;
    } else if constexpr (T == FY_MT_F16) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            v[2 * j] = fy_f16_to_f32((uint16_t)(r.u[j] & 0xffffu));
            v[2 * j + 1] = fy_f16_to_f32((uint16_t)(r.u[j] >> 16));
        }
        return 1.0f;
    } else if constexpr (T == FY_MT_BF16) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            v[2 * j] = __uint_as_float(r.u[j] << 16);
            v[2 * j + 1] = __uint_as_float(r.u[j] & 0xffff0000u);
        }
        return 1.0f;
    } else if constexpr (T == FY_MT_F16U) {
#pragma unroll
        for (int j = 0; j < 8; j++)
            v[j] = fy_f16_to_f32((uint16_t)r.u[j]);
        return 1.0f;
    } else if constexpr (T == FY_MT_BF16U) {
#pragma unroll
        for (int j = 0; j < 8; j++)
            v[j] = __uint_as_float(r.u[j] << 16);
        return 1.0f;
    } else if constexpr (T == FY_MT_Q8_0) {
        const uint32_t t0 = r.u[0] ^ 0x80808080u, t1 = r.u[1] ^ 0x80808080u;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            v[j] = fy_i8f(t0, j);
            v[4 + j] = fy_i8f(t1, j);
        }
        return fy_f16_to_f32((uint16_t)r.s);
    } else {
        const uint32_t u = r.u[0];
        const uint32_t lo02 = fy_e2m1_h2(u & 0x000f000fu), lo13 = fy_e2m1_h2((u >> 8) & 0x000f000fu);
        const uint32_t hi02 = fy_e2m1_h2((u >> 4) & 0x000f000fu);
        const uint32_t hi13 = fy_e2m1_h2((u >> 12) & 0x000f000fu);
        v[0] = fy_f16_to_f32((uint16_t)(lo02 & 0xffffu));
        v[1] = fy_f16_to_f32((uint16_t)(lo13 & 0xffffu));
        v[2] = fy_f16_to_f32((uint16_t)(lo02 >> 16));
        v[3] = fy_f16_to_f32((uint16_t)(lo13 >> 16));
        v[4] = fy_f16_to_f32((uint16_t)(hi02 & 0xffffu));
        v[5] = fy_f16_to_f32((uint16_t)(hi13 & 0xffffu));
        v[6] = fy_f16_to_f32((uint16_t)(hi02 >> 16));
        v[7] = fy_f16_to_f32((uint16_t)(hi13 >> 16));
        return fy_e8m0_half((uint8_t)r.s);
    }
}

#endif
