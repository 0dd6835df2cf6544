/* Small AVX-512 helpers shared by the avx512 kernel sets' files (qdot_avx512.c,
 * attention_avx512.c). Include only from files compiled with -mavx512f -mavx512bw -mavx512vl. */
#ifndef FY_CPU_SIMD_AVX512_H
#define FY_CPU_SIMD_AVX512_H

#include <immintrin.h>

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

#endif
