/* The "avx2" kernel set (AVX2 + FMA + F16C). This file is compiled with those flags only, in
 * its own static library, and called only when CPUID says the CPU has them (dispatch.c).
 *
 * One block of a (row, token) pair: the 32 int8 weights, widened to int16 once per block (for
 * all the tokens of a tile), times the 32 int16 activations by two VPMADDWD into eight int32
 * lanes, VPADDD, converted to f32 and accumulated with one FMA by d_w * d_x: the lane order of
 * the C reference (qdot_c.c), so both give the same bits. MXFP4 nibbles become int8 by VPSHUFB
 * from the doubled E2M1 table. Tiles of R rows x T tokens decode each weight block once for
 * the T tokens; every pair does the same operations in the same order whatever the tile, so a
 * result does not depend on n_tok. */
#include "qdot.h"
#include "quant.h"
#include "simd_avx2.h"

#include <immintrin.h>
#include <string.h>

/* compiled twice: the "avx2" set, and with AVX-VNNI (FY_SET_AVXVNNI) the "avxvnni" set (Intel
 * cores without AVX-512 since Alder Lake), where VPDPWSSD adds the second half's products */
#if FY_SET_AVXVNNI
#define FY_SET_SYM fy_cpu_set_avxvnni
#define FY_SET_NAME "avxvnni"
#define FY_MM8 fy_qdot_mm8_avxvnni
#else
#define FY_SET_SYM fy_cpu_set_avx2
#define FY_SET_NAME "avx2"
#define FY_MM8 fy_qdot_mm8_avx2
#endif

#define FY_Q8_0_BYTES 34
#define FY_MXFP4_BYTES 17

#if !FY_SET_AVXVNNI /* the quantizer: once, in the avx2 library */
/* The reference quantizer's bits: amax by max (order-free), d = amax/FY_QX_QMAX, q = round-to-
 * nearest-even(x * (1/d)) (VCVTPS2DQ in the default rounding mode, as nearbyintf). */
void fy_qdot_quantize_avx2(const float *x, struct fy_qx_block *y, int64_t n)
{
    for (int64_t b = 0; b < n / FY_QX_BLOCK; b++) {
        __m256 v[4];
        float id;
        float d = fy_qx_scale(fy_avx2_block_amax(x + b * FY_QX_BLOCK, v), (float)FY_QX_QMAX, &id);
        y[b].d = d;
        const __m256 vid = _mm256_set1_ps(id);
        for (int i = 0; i < 2; i++) {
            __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(v[2 * i], vid));
            __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(v[2 * i + 1], vid));
            /* int32 -> int16 (|q| <= FY_QX_QMAX), then undo the per-lane interleave of the pack */
            __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, c), 0xd8);
            _mm256_storeu_si256((__m256i *)(y[b].q + 16 * i), p);
        }
    }
}
#endif

/* weight block: elements 0-15 and 16-31 widened to int16, and the block's scale */
static inline void wblock(enum fy_dtype type, const uint8_t *p, __m256i *lo, __m256i *hi, float *d)
{
    __m128i a, b;
    if (type == FY_Q8_0) {
        *d = _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); /* exact, as fy_fp16_to_f32 */
        a = _mm_loadu_si128((const __m128i *)(p + 2));
        b = _mm_loadu_si128((const __m128i *)(p + 18));
    } else {
        const __m128i tab = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
        const __m128i m4 = _mm_set1_epi8(0x0f);
        __m128i qs = _mm_loadu_si128((const __m128i *)(p + 1));
        a = _mm_shuffle_epi8(tab, _mm_and_si128(qs, m4));
        b = _mm_shuffle_epi8(tab, _mm_and_si128(_mm_srli_epi16(qs, 4), m4));
        *d = fy_avx2_e8m0_half(p[0]);
    }
    *lo = _mm256_cvtepi8_epi16(a);
    *hi = _mm256_cvtepi8_epi16(b);
}

/* R rows x T tokens, R <= 4 and T <= 4 (constants after inlining: the loops unroll) */
static inline __attribute__((always_inline)) void
tile(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int R, const struct fy_qx_block *x,
     int64_t nb, int T, float *y, int64_t ldy, const float *bias)
{
    const size_t bb = type == FY_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wl[4], wh[4];
        float dw[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wblock(type, w + (size_t)r * row_bytes + (size_t)b * bb, &wl[r], &wh[r], &dw[r]);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const struct fy_qx_block *xb = x + t * nb + b;
            __m256i xl = _mm256_loadu_si256((const __m256i *)xb->q);
            __m256i xh = _mm256_loadu_si256((const __m256i *)(xb->q + 16));
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
#if FY_SET_AVXVNNI
                __m256i p = _mm256_dpwssd_avx_epi32(_mm256_madd_epi16(wl[r], xl), wh[r], xh);
#else
                __m256i p =
                    _mm256_add_epi32(_mm256_madd_epi16(wl[r], xl), _mm256_madd_epi16(wh[r], xh));
#endif
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw[r] * xb->d),
                                            acc[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = fy_avx2_hsum8(acc[r][t]) + (bias ? bias[r] : 0.0f);
}

/* the tiles for one weight type (a constant after inlining: no type test in the loops) */
static inline __attribute__((always_inline)) void
mm_typed(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
         const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y, int64_t ldy,
         const float *bias)
{
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint8_t *wr = w + (size_t)r * row_bytes;
        const float *br = bias ? bias + r : NULL;
        int64_t t = 0;
        /* 2 rows x 3 tokens: 6 accumulators, the widened weights and one token's activations
         * fit the 16 registers; two tokens left (n_tok 2, 5, 8: the experts' small groups, B
         * sequences decoding together): 2 rows x 2 tokens, each block decoded once for both;
         * one token at a time: 4 rows */
        for (; t + 3 <= n_tok; t += 3) {
            tile(type, wr, row_bytes, 2, x + t * nb, nb, 3, y + t * ldy + r, ldy, br);
            tile(type, wr + 2 * row_bytes, row_bytes, 2, x + t * nb, nb, 3, y + t * ldy + r + 2,
                 ldy, br ? br + 2 : NULL);
        }
        if (n_tok - t == 2) {
            tile(type, wr, row_bytes, 2, x + t * nb, nb, 2, y + t * ldy + r, ldy, br);
            tile(type, wr + 2 * row_bytes, row_bytes, 2, x + t * nb, nb, 2, y + t * ldy + r + 2,
                 ldy, br ? br + 2 : NULL);
            t += 2;
        }
        for (; t < n_tok; t++)
            tile(type, wr, row_bytes, 4, x + t * nb, nb, 1, y + t * ldy + r, ldy, br);
    }
    for (; r < rows; r++)
        for (int64_t t = 0; t < n_tok; t++)
            tile(type, w + (size_t)r * row_bytes, row_bytes, 1, x + t * nb, nb, 1, y + t * ldy + r,
                 ldy, bias ? bias + r : NULL);
}

static void mm_avx2(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                    const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y, int64_t ldy,
                    const float *bias)
{
    if (type == FY_Q8_0)
        mm_typed(FY_Q8_0, w, row_bytes, rows, x, nb, n_tok, y, ldy, bias);
    else
        mm_typed(FY_MXFP4, w, row_bytes, rows, x, nb, n_tok, y, ldy, bias);
}

const struct fy_cpu_set FY_SET_SYM = {
    .name = FY_SET_NAME,
    .quantize = fy_qdot_quantize_avx2,
    .mm = mm_avx2,
    .mm_ref = fy_qdot_mm_ref,
    .mm_rows = 16,
    .mm_tok = 32,
    .attention = fy_cpu_attention_item_avx2,
    .quantize8 = fy_qdot_quantize8_avx2,
    .mm8 = FY_MM8,
};
