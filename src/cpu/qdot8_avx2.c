/* The "avx2" set's q8 kernels (qdot.h): int8 activations against MXFP4 weights, for prompt
 * processing of the experts.
 *
 * The weights of a call are decoded once into a per-thread buffer, 8 rows interleaved: per
 * block, vector k holds bytes 4k..4k+3 of each of the 8 rows, as unsigned w + 12 (0..24). One
 * VPMADDUBSW against the token's 4 activations k (broadcast) gives two int16 partial sums per
 * row; four of them add up in int16 (at most 4 * 2 * 24 * 127 = 24384), one VPMADDWD by ones
 * makes int32 lanes, one per row: the block's sum of (w + 12) q, exact, from which 12 s (s the
 * block's sum of q) is taken: the exact S of qdot.h. Then one convert, one multiply by the
 * scales and one FMA per 8 (row, token) pairs instead of per pair. */
#include "qdot.h"
#include "simd_avx2.h"

/* compiled twice: the avx2 set's, and with AVX-VNNI (FY_SET_AVXVNNI) the avxvnni set's mm8,
 * where one VPDPBUSD per 4 activations replaces VPMADDUBSW + VPADDW (and the final VPMADDWD) */
#if FY_SET_AVXVNNI
#define FY_MM8_SYM fy_qdot_mm8_avxvnni
#else
#define FY_MM8_SYM fy_qdot_mm8_avx2
#endif

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define FY_MXFP4_BYTES 17
#define FY_W_OFF 12 /* weights stored as w + 12 */

#if !FY_SET_AVXVNNI /* the quantizer: once, in the avx2 library */
void fy_qdot_quantize8_avx2(const float *x, struct fy_q8_block *y, int64_t n)
{
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < n / FY_QX_BLOCK; b++) {
        __m256 v[4];
        float id;
        const float d = fy_qx_scale(fy_avx2_block_amax(x + b * FY_QX_BLOCK, v), 127.0f, &id);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++)
            q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid)); /* |q| <= 127: no clamping */
        const __m256i s8 =
            _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        /* int32 -> int8; the packs interleave 4-byte groups: put them back in order */
        const __m256i p =
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        y[b].d = d;
        y[b].s = _mm_cvtsi128_si32(s4);
        _mm256_storeu_si256((__m256i *)y[b].q, _mm256_permutevar8x32_epi32(p, order));
    }
}
#endif

/* one MXFP4 block as 32 bytes w + 12 in element order */
static inline __m256i row_u8(const uint8_t *p)
{
    const __m128i tab = _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m128i qs = _mm_loadu_si128((const __m128i *)(p + 1));
    const __m128i a = _mm_shuffle_epi8(tab, _mm_and_si128(qs, m4));
    const __m128i b = _mm_shuffle_epi8(tab, _mm_and_si128(_mm_srli_epi16(qs, 4), m4));
    return _mm256_set_m128i(b, a);
}

static inline __m256i bcast4(const int8_t *q)
{
    int32_t v;
    memcpy(&v, q, sizeof(v));
    return _mm256_set1_epi32(v);
}

/* G <= 2 groups of 8 interleaved rows (group g: W + g * gstride vectors, 8 per block; its scales
 * DW + g * gstride, 8 per block) x T <= 4 tokens, G * T <= 4: each broadcast activation feeds
 * the G groups. On the Zen 3 VM 1 x 4 and 2 x 2 ran at the same speed (0.43 ns per 32-product
 * pair, one thread; int16: 0.83): the call uses 1 x 4. */
static inline __attribute__((always_inline)) void tile8(const __m256i *W, const float *DW,
                                                        size_t gstride, int G, int64_t nb,
                                                        const struct fy_q8_block *x, int T,
                                                        __m256 acc[2][4])
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (int g = 0; g < G; g++)
        for (int t = 0; t < T; t++)
            acc[g][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i i32[2][4];
        for (int h = 0; h < 2; h++) {
            __m256i w[2][4];
            for (int g = 0; g < G; g++)
                for (int k = 0; k < 4; k++)
                    w[g][k] = _mm256_load_si256(W + g * gstride + b * 8 + 4 * h + k);
            for (int t = 0; t < T; t++) {
                const int8_t *q = x[t * nb + b].q + 16 * h;
#if FY_SET_AVXVNNI
                for (int g = 0; g < G; g++) {
                    __m256i a = h ? i32[g][t] : _mm256_setzero_si256();
                    for (int k = 0; k < 4; k++)
                        a = _mm256_dpbusd_avx_epi32(a, w[g][k], bcast4(q + 4 * k));
                    i32[g][t] = a;
                }
                (void)ones;
#else
                __m256i s[2];
                for (int k = 0; k < 4; k++) {
                    const __m256i xk = bcast4(q + 4 * k);
                    for (int g = 0; g < G; g++) {
                        const __m256i p = _mm256_maddubs_epi16(w[g][k], xk);
                        s[g] = k ? _mm256_add_epi16(s[g], p) : p;
                    }
                }
                for (int g = 0; g < G; g++) {
                    const __m256i m = _mm256_madd_epi16(s[g], ones);
                    i32[g][t] = h ? _mm256_add_epi32(i32[g][t], m) : m;
                }
#endif
            }
        }
        for (int g = 0; g < G; g++) {
            const __m256 dw = _mm256_load_ps(DW + g * gstride + b * 8);
            for (int t = 0; t < T; t++) {
                const struct fy_q8_block *xb = x + t * nb + b;
                const __m256i S = _mm256_sub_epi32(i32[g][t], _mm256_set1_epi32(FY_W_OFF * xb->s));
                acc[g][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S),
                                            _mm256_mul_ps(dw, _mm256_set1_ps(xb->d)), acc[g][t]);
            }
        }
    }
}

static __thread void *g_buf;
static __thread size_t g_buf_bytes;

void FY_MM8_SYM(const uint8_t *w, size_t row_bytes, int64_t rows, const struct fy_q8_block *x,
                int64_t nb, int64_t n_tok, float *y, int64_t ldy, const float *bias)
{
    const int64_t n_groups = (rows + 7) / 8;
    const size_t group_bytes = (size_t)nb * (8 * 32 + 8 * sizeof(float));
    const size_t bytes = (size_t)n_groups * group_bytes;
    if (bytes > g_buf_bytes) {
        free(g_buf);
        g_buf = aligned_alloc(64, (bytes + 63) / 64 * 64);
        g_buf_bytes = g_buf ? bytes : 0;
    }
    if (!g_buf) { /* the reference kernel gives the same bits, without a buffer */
        fy_cpu_set_c.mm8(w, row_bytes, rows, x, nb, n_tok, y, ldy, bias);
        return;
    }
    __m256i *W = g_buf;                                           /* [group][block][8] */
    float *DW = (float *)(W + (size_t)n_groups * (size_t)nb * 8); /* [group][block][8] */
    for (int64_t g = 0; g < n_groups; g++)
        for (int64_t b = 0; b < nb; b++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                const int64_t row = g * 8 + i;
                const uint8_t *p = w + (size_t)row * row_bytes + (size_t)b * FY_MXFP4_BYTES;
                r[i] = _mm256_castsi256_ps(row < rows ? row_u8(p) : _mm256_set1_epi8(FY_W_OFF));
                DW[(g * nb + b) * 8 + i] = row < rows ? fy_avx2_e8m0_half(p[0]) : 0.0f;
            }
            fy_avx2_transpose8(r);
            for (int k = 0; k < 8; k++)
                _mm256_store_si256(W + (g * nb + b) * 8 + k, _mm256_castps_si256(r[k]));
        }
    const size_t gstride = (size_t)nb * 8;
    for (int64_t t0 = 0; t0 < n_tok; t0 += 4) {
        const int64_t nt = n_tok - t0 < 4 ? n_tok - t0 : 4;
        for (int64_t g = 0; g < n_groups; g++) {
            const __m256i *Wg = W + g * gstride;
            const float *DWg = DW + g * gstride;
            __m256 acc[2][4];
            if (nt == 4)
                tile8(Wg, DWg, gstride, 1, nb, x + t0 * nb, 4, acc);
            else if (nt == 3)
                tile8(Wg, DWg, gstride, 1, nb, x + t0 * nb, 3, acc);
            else if (nt == 2)
                tile8(Wg, DWg, gstride, 1, nb, x + t0 * nb, 2, acc);
            else
                tile8(Wg, DWg, gstride, 1, nb, x + t0 * nb, 1, acc);
            const int64_t r0 = g * 8, nr = rows - r0 < 8 ? rows - r0 : 8;
            for (int64_t t = 0; t < nt; t++) {
                _Alignas(32) float o[8];
                _mm256_store_ps(o, acc[0][t]);
                for (int64_t i = 0; i < nr; i++)
                    y[(t0 + t) * ldy + r0 + i] = o[i] + (bias ? bias[r0 + i] : 0.0f);
            }
        }
    }
}
