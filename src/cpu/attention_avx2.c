/* Flash-style attention, the "avx2" set's (qdot.h: fy_cpu_set.attention): one work item is one
 * KV head and a block of query tokens, that is every query row (token, head) of that KV head's
 * group in the block, at most FY_ATTN_ROWS rows. The item walks its visible slots in blocks of
 * FY_ATTN_KB: each block of K (transposed) and V is converted to f32 once (F16C for F16 caches,
 * int8 widening times the block scale for Q8_0)
 * into a per-thread buffer, and every row (two at a time: the K and V loads are shared) takes the
 * block into its online softmax: s = q K^T * scale (masked: causal and window), m' = max(m, max s),
 *   acc, z *= exp(m - m'), p = exp(s - m'), z += sum p, acc += p V.
 * No buffer grows with the number of cached slots, each K/V row is converted once per item
 * (not once per query row), and the work splits over heads and query blocks, so the cost per
 * token follows the number of visible slots and nothing else.
 * Numerics: as the reference (attention.c) up to the order of the f32 sums; exp is a degree-6
 * polynomial after range reduction (relative error ~2e-7). The sink starts the softmax
 * (m = sink, z = 1) as in the reference. The item's scalar parts (rows, scratch, prefetch,
 * output) are attention_item.c's, shared with attention_avx512.c. */
#include "cpu/ops.h"
#include "qdot.h"
#include "simd_avx2.h"

#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* e^x for x <= 88.37 (below -87.33 it gives 2^-126 instead of less: the caller masks those) */
static inline __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.37626f));
    const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i n =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

/* 8 elements i .. i + 7 (i a multiple of 8) of a cache as f32; Q8_0: q * d of the block that
 * holds them (fy_dequant_row's values exactly: d * q is exact in f32) */
static inline __m256 load8(const struct fy_attn_args *a, const void *base, int64_t i)
{
    if (a->kv_type == FY_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    if (a->kv_type == FY_Q8_0) {
        const uint8_t *b = (const uint8_t *)base + fy_kv_offset(FY_Q8_0, i);
        uint16_t d;
        memcpy(&d, b, sizeof(d));
        const __m128i q = _mm_loadl_epi64((const __m128i *)(b + 2 + i % 32));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)),
                             _mm256_set1_ps(_cvtsh_ss(d)));
    }
    return _mm256_loadu_ps((const float *)base + i);
}

/* the scores of R (1 or 2) rows for the block (FY_ATTN_KB = 32 lanes in 4 vectors), masked to
 * [lo, hi]: the K loads are shared by the rows */
static inline __attribute__((always_inline)) void scores(int R, const float *const q[2],
                                                         const float *kt, int64_t hd, float scale,
                                                         int64_t jb, const int64_t lo[2],
                                                         const int64_t hi[2], __m256 s[2][4])
{
    for (int r = 0; r < R; r++)
        for (int i = 0; i < 4; i++)
            s[r][i] = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd; d++) {
        const float *k = kt + d * FY_ATTN_KB;
        const __m256 k0 = _mm256_load_ps(k), k1 = _mm256_load_ps(k + 8);
        const __m256 k2 = _mm256_load_ps(k + 16), k3 = _mm256_load_ps(k + 24);
        for (int r = 0; r < R; r++) {
            const __m256 qd = _mm256_broadcast_ss(q[r] + d);
            s[r][0] = _mm256_fmadd_ps(qd, k0, s[r][0]);
            s[r][1] = _mm256_fmadd_ps(qd, k1, s[r][1]);
            s[r][2] = _mm256_fmadd_ps(qd, k2, s[r][2]);
            s[r][3] = _mm256_fmadd_ps(qd, k3, s[r][3]);
        }
    }
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int r = 0; r < R; r++) {
        const __m256 vlo = _mm256_set1_ps((float)(lo[r] - jb));
        const __m256 vhi = _mm256_set1_ps((float)(hi[r] - jb));
        for (int i = 0; i < 4; i++) {
            const __m256 j = _mm256_add_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_ps((float)(8 * i)));
            const __m256 vis =
                _mm256_and_ps(_mm256_cmp_ps(j, vlo, _CMP_GE_OQ), _mm256_cmp_ps(j, vhi, _CMP_LE_OQ));
            s[r][i] = _mm256_blendv_ps(ninf, _mm256_mul_ps(s[r][i], _mm256_set1_ps(scale)), vis);
        }
    }
}

/* for R (1 or 2) rows: acc[0..32) = acc * alpha + sum_j p[j] * v[j] (v rows of hd floats, 32 of
 * them from the pointer); the V loads are shared by the rows */
static inline __attribute__((always_inline)) void
accumulate32(int R, float *const acc[2], const float alpha[2], const float *const p[2],
             const float *v, int64_t hd, int64_t nk)
{
    __m256 o[2][4];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < 4; i++)
            o[r][i] = _mm256_mul_ps(_mm256_load_ps(acc[r] + 8 * i), _mm256_set1_ps(alpha[r]));
    for (int64_t j = 0; j < nk; j++) {
        const float *vj = v + j * hd;
        const __m256 v0 = _mm256_load_ps(vj), v1 = _mm256_load_ps(vj + 8);
        const __m256 v2 = _mm256_load_ps(vj + 16), v3 = _mm256_load_ps(vj + 24);
        for (int r = 0; r < R; r++) {
            const __m256 pj = _mm256_broadcast_ss(p[r] + j);
            o[r][0] = _mm256_fmadd_ps(pj, v0, o[r][0]);
            o[r][1] = _mm256_fmadd_ps(pj, v1, o[r][1]);
            o[r][2] = _mm256_fmadd_ps(pj, v2, o[r][2]);
            o[r][3] = _mm256_fmadd_ps(pj, v3, o[r][3]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < 4; i++)
            _mm256_store_ps(acc[r] + 8 * i, o[r][i]);
}

/* rows r[0..R) (R 1 or 2) of an item take the block jb (nk slots) into their softmax */
static inline __attribute__((always_inline)) void
block_rows(int R, const int64_t *rows, const struct fy_attn_args *a, int64_t g, int64_t t0,
           int64_t group, const float *kt, const float *vb, int64_t jb, int64_t nk, float *acc,
           float *m, float *z, const int64_t *lo, const int64_t *hi)
{
    const int64_t hd = a->head_dim;
    _Alignas(32) float pbuf[2][FY_ATTN_KB];
    const float *q[2], *p[2];
    float *ac[2];
    float alpha[2];
    int64_t l[2], h[2];
    __m256 s[2][4];
    for (int i = 0; i < R; i++) {
        const int64_t r = rows[i];
        q[i] = a->q + ((t0 + r / group) * a->n_head + g * group + r % group) * hd;
        l[i] = lo[r];
        h[i] = hi[r];
        p[i] = pbuf[i];
    }
    scores(R, q, kt, hd, a->scale, jb, l, h, s);
    for (int i = 0; i < R; i++) {
        const int64_t r = rows[i];
        const float mb = fy_avx2_hmax8(
            _mm256_max_ps(_mm256_max_ps(s[i][0], s[i][1]), _mm256_max_ps(s[i][2], s[i][3])));
        alpha[i] = 1.0f;
        if (mb > m[r]) {
            alpha[i] = expf(m[r] - mb); /* 0 while m is -inf */
            z[r] *= alpha[i];
            m[r] = mb;
        }
        const __m256 vm = _mm256_set1_ps(m[r]);
        __m256 zs = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            const __m256 vis = _mm256_cmp_ps(s[i][k], _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ);
            const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(s[i][k], vm)), vis);
            zs = _mm256_add_ps(zs, e);
            _mm256_store_ps(pbuf[i] + 8 * k, e);
        }
        z[r] += fy_avx2_hsum8(zs);
    }
    for (int64_t d0 = 0; d0 < hd; d0 += 32) {
        for (int i = 0; i < R; i++)
            ac[i] = acc + rows[i] * hd + d0;
        accumulate32(R, ac, alpha, p, vb + d0, hd, nk);
    }
}

bool fy_cpu_attention_item_avx2(float *out, const struct fy_attn_args *a, int64_t g, int64_t t0,
                                int64_t t1, const struct fy_attn_part *part)
{
    struct fy_attn_item it;
    if (!fy_attn_item_begin(&it, a, g, t0, t1, part))
        return false; /* the caller takes the reference path */
    const int64_t hd = it.hd, kvw = it.kvw;
    float *kt = it.kt, *vb = it.vb;
    int64_t act[FY_ATTN_ROWS];
    for (int64_t jb = it.jmin; jb <= it.jmax; jb += FY_ATTN_KB) {
        const int64_t nk = it.jmax - jb + 1 < FY_ATTN_KB ? it.jmax - jb + 1 : FY_ATTN_KB;
        fy_attn_item_prefetch(&it, a, g, jb);
        /* the block's K transposed (kt[d][j]) and V (vb[j][d]), f32, zero past nk; K by 8 x 8
         * tiles transposed in registers */
        for (int64_t j0 = 0; j0 < FY_ATTN_KB; j0 += 8)
            for (int64_t d = 0; d < hd; d += 8) {
                __m256 r[8];
                for (int64_t j = 0; j < 8; j++)
                    r[j] = j0 + j < nk ? load8(a, a->k, (jb + j0 + j) * kvw + g * hd + d)
                                       : _mm256_setzero_ps();
                fy_avx2_transpose8(r);
                for (int i = 0; i < 8; i++)
                    _mm256_store_ps(kt + (d + i) * FY_ATTN_KB + j0, r[i]);
            }
        for (int64_t j = 0; j < FY_ATTN_KB; j++)
            for (int64_t d = 0; d < hd; d += 8)
                _mm256_store_ps(vb + j * hd + d, j < nk
                                                     ? load8(a, a->v, (jb + j) * kvw + g * hd + d)
                                                     : _mm256_setzero_ps());
        /* the rows that see some slot of the block, two at a time */
        const int64_t n_act = fy_attn_item_active(&it, jb, nk, act);
        int64_t i = 0;
        for (; i + 2 <= n_act; i += 2)
            block_rows(2, act + i, a, g, t0, it.group, kt, vb, jb, nk, it.acc, it.m, it.z, it.lo,
                       it.hi);
        if (i < n_act)
            block_rows(1, act + i, a, g, t0, it.group, kt, vb, jb, nk, it.acc, it.m, it.z, it.lo,
                       it.hi);
    }
    fy_attn_item_end(&it, out, a, g, t0, part);
    return true;
}
