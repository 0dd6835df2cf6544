/* Small AVX-512 helpers shared by the avx512 kernel sets' files (qdot_avx512.c,
 * attention_avx512.c, and the amx set's qdot_amx.c, attention_amx.c). Include only from files compiled with -mavx512f -mavx512bw -mavx512vl. */
#ifndef FY_CPU_SIMD_AVX512_H
#define FY_CPU_SIMD_AVX512_H

#include "qdot.h"

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* one weight block as its 32 int8 values in element order: Q8_0's q, or MXFP4's doubled E2M1
 * values by VPSHUFB (low nibbles, then high) */
static inline __m256i fy_avx512_block_i8(enum fy_dtype type, const uint8_t *p)
{
    if (type == FY_Q8_0)
        return _mm256_loadu_si256((const __m256i *)(p + 2));
    const __m256i tab = _mm256_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12,
                                         0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m128i qs = _mm_loadu_si128((const __m128i *)(p + 1));
    const __m256i t =
        _mm256_inserti128_si256(_mm256_castsi128_si256(qs), _mm_srli_epi16(qs, 4), 1);
    return _mm256_shuffle_epi8(tab, _mm256_and_si256(t, _mm256_set1_epi8(0x0f)));
}

/* elements i .. i + 15 (i a multiple of 16) of a Q8_0 KV cache as f32: q * d of the block that
 * holds them (row-major [slot][kvw], kvw/32 blocks of 34 bytes per slot; d * q is exact in f32,
 * so these are fy_dequant_row's values) */
static inline __m512 fy_avx512_load_kv_q8(const void *base, int64_t i)
{
    const uint8_t *b = (const uint8_t *)base + (size_t)(i / 32) * 34;
    uint16_t d;
    memcpy(&d, b, sizeof(d));
    const __m128i q = _mm_loadu_si128((const __m128i *)(b + 2 + i % 32));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), _mm512_set1_ps(_cvtsh_ss(d)));
}

/* elements i .. i + 15 of a KV cache (F16, F32 or Q8_0) as f32 (the attention kernels) */
static inline __m512 fy_avx512_load_kv(enum fy_dtype kv_type, const void *base, int64_t i)
{
    if (kv_type == FY_F16)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + i)));
    if (kv_type == FY_Q8_0)
        return fy_avx512_load_kv_q8(base, i);
    return _mm512_loadu_ps((const float *)base + i);
}

/* 16 x 16 transpose of 32-bit elements: v[r] lane k -> v[k] lane r */
static inline void fy_avx512_transpose16(__m512i v[16])
{
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
    /* b[4j + m], chunk c = element 4c + m of rows 4j..4j+3 */
    for (int j = 0; j < 4; j++) {
        b[4 * j] = _mm512_unpacklo_epi64(a[4 * j], a[4 * j + 2]);
        b[4 * j + 1] = _mm512_unpackhi_epi64(a[4 * j], a[4 * j + 2]);
        b[4 * j + 2] = _mm512_unpacklo_epi64(a[4 * j + 1], a[4 * j + 3]);
        b[4 * j + 3] = _mm512_unpackhi_epi64(a[4 * j + 1], a[4 * j + 3]);
    }
    for (int m = 0; m < 4; m++) {
        const __m512i s1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x88);
        const __m512i s2 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xdd);
        const __m512i s3 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x88);
        const __m512i s4 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xdd);
        v[m] = _mm512_shuffle_i32x4(s1, s3, 0x88);      /* element m */
        v[8 + m] = _mm512_shuffle_i32x4(s1, s3, 0xdd);  /* element 8 + m */
        v[4 + m] = _mm512_shuffle_i32x4(s2, s4, 0x88);  /* element 4 + m */
        v[12 + m] = _mm512_shuffle_i32x4(s2, s4, 0xdd); /* element 12 + m */
    }
}


/* the block scales of the group's rows (lanes in m; the others 0): p = row 0's block, rows
 * `row_bytes` apart. MXFP4: 2^(e-128) exactly as fy_e8m0_half (subnormal for e <= 1);
 * Q8_0: the fp16 d. */
static inline __m512 fy_avx512_wscales(enum fy_dtype type, const uint8_t *p, __m512i idx, __mmask16 m)
{
    const __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, p, 1);
    if (type == FY_Q8_0)
        return _mm512_maskz_mov_ps(m, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g)));
    const __m512i e = _mm512_and_si512(g, _mm512_set1_epi32(0xff));
    const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
    const __m512i sub = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e); /* e = 0, 1 */
    const __mmask16 big = _mm512_cmpge_epu32_mask(e, _mm512_set1_epi32(2));
    return _mm512_maskz_mov_ps(m, _mm512_castsi512_ps(_mm512_mask_blend_epi32(big, sub, normal)));
}
static inline __mmask16 fy_avx512_lanes(int nr)
{
    return nr >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1u);
}
static inline __m512i fy_avx512_row_offsets(size_t row_bytes)
{
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32((int)row_bytes));
}
/* y[r] (r < nr) = acc lane r + bias[r] */
static inline void fy_avx512_store_rows(float *y, __m512 acc, const float *bias, __mmask16 m)
{
    const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(y, m, _mm512_add_ps(acc, b));
}

#endif
