/* Flash-style attention of the avx512 sets (qdot.h: fy_cpu_set.attention): the algorithm of
 * attention_avx2.c (see there: work items of one KV head and a block of query tokens, 32-slot
 * blocks of the cache converted once per item, an online softmax per row) with 16-lane vectors:
 * a block is 2 vectors per row instead of 4, the K tile is transposed 16 x 16 in registers, and
 * eight rows share each K and V load (32 registers) instead of two. With the matmuls of the
 * avx512vnni set the avx2 attention held prompt processing at 3584 cached slots to 0.82 of its
 * speed at none (2-core Xeon, 20b preset). Compiled with the avx512 set's flags only.
 * Numerics: as the reference up to the order of the f32 sums; exp as in attention_avx2.c. */
#include "cpu/ops.h"
#include "qdot.h"
#include "simd_avx512.h"

#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define RMAX 8       /* rows per pass: 16 accumulators, the K (V) pair and a broadcast */
#define INLINE static inline __attribute__((always_inline))

/* e^x for x <= 88.37 (below -87.33 it gives 2^-126 instead of less: the caller masks those) */
INLINE __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)), _mm512_set1_ps(88.37626f));
    const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i n =
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(n));
}

/* the block's lanes [lo, hi] (relative to its first slot; 32 lanes) as two 16-lane masks */
INLINE void vis_masks(int64_t lo, int64_t hi, __mmask16 m[2])
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > 31 ? 31 : hi;
    uint64_t bits = lo > hi ? 0 : ((2ull << hi) - 1) & ~((1ull << lo) - 1);
    m[0] = (__mmask16)(bits & 0xffff);
    m[1] = (__mmask16)(bits >> 16);
}

/* rows r[0..R) of an item take the block jb (nk slots) into their softmax: scores with the K
 * loads shared, the online softmax, then acc = acc * alpha + p V with the V loads shared */
INLINE void block_rows(int R, const int64_t *rows, const struct fy_attn_args *a, int64_t g,
                       int64_t t0, int64_t group, const float *kt, const float *vb, int64_t jb,
                       int64_t nk, float *acc, float *m, float *z, const int64_t *lo,
                       const int64_t *hi)
{
    const int64_t hd = a->head_dim;
    _Alignas(64) float pbuf[RMAX][FY_ATTN_KB];
    const float *q[RMAX];
    float alpha[RMAX];
    __mmask16 vis[RMAX][2];
    __m512 s[RMAX][2];
    for (int i = 0; i < R; i++) {
        const int64_t r = rows[i];
        q[i] = a->q + ((t0 + r / group) * a->n_head + g * group + r % group) * hd;
        vis_masks(lo[r] - jb, hi[r] - jb, vis[i]);
        s[i][0] = s[i][1] = _mm512_setzero_ps();
    }
    for (int64_t d = 0; d < hd; d++) {
        const __m512 k0 = _mm512_load_ps(kt + d * FY_ATTN_KB);
        const __m512 k1 = _mm512_load_ps(kt + d * FY_ATTN_KB + 16);
        for (int i = 0; i < R; i++) {
            const __m512 qd = _mm512_set1_ps(q[i][d]);
            s[i][0] = _mm512_fmadd_ps(qd, k0, s[i][0]);
            s[i][1] = _mm512_fmadd_ps(qd, k1, s[i][1]);
        }
    }
    const __m512 ninf = _mm512_set1_ps(-INFINITY), vscale = _mm512_set1_ps(a->scale);
    for (int i = 0; i < R; i++) {
        const int64_t r = rows[i];
        for (int h = 0; h < 2; h++)
            s[i][h] = _mm512_mask_mul_ps(ninf, vis[i][h], s[i][h], vscale);
        const float mb = _mm512_reduce_max_ps(_mm512_max_ps(s[i][0], s[i][1]));
        alpha[i] = 1.0f;
        if (mb > m[r]) {
            alpha[i] = expf(m[r] - mb); /* 0 while m is -inf */
            z[r] *= alpha[i];
            m[r] = mb;
        }
        const __m512 vm = _mm512_set1_ps(m[r]);
        const __m512 e0 = _mm512_maskz_mov_ps(vis[i][0], exp512(_mm512_sub_ps(s[i][0], vm)));
        const __m512 e1 = _mm512_maskz_mov_ps(vis[i][1], exp512(_mm512_sub_ps(s[i][1], vm)));
        z[r] += _mm512_reduce_add_ps(_mm512_add_ps(e0, e1));
        _mm512_store_ps(pbuf[i], e0);
        _mm512_store_ps(pbuf[i] + 16, e1);
    }
    for (int64_t d0 = 0; d0 < hd; d0 += 32) {
        __m512 o[RMAX][2];
        for (int i = 0; i < R; i++) {
            const float *ac = acc + rows[i] * hd + d0;
            const __m512 va = _mm512_set1_ps(alpha[i]);
            o[i][0] = _mm512_mul_ps(_mm512_load_ps(ac), va);
            o[i][1] = _mm512_mul_ps(_mm512_load_ps(ac + 16), va);
        }
        for (int64_t j = 0; j < nk; j++) {
            const __m512 v0 = _mm512_load_ps(vb + j * hd + d0);
            const __m512 v1 = _mm512_load_ps(vb + j * hd + d0 + 16);
            for (int i = 0; i < R; i++) {
                const __m512 pj = _mm512_set1_ps(pbuf[i][j]);
                o[i][0] = _mm512_fmadd_ps(pj, v0, o[i][0]);
                o[i][1] = _mm512_fmadd_ps(pj, v1, o[i][1]);
            }
        }
        for (int i = 0; i < R; i++) {
            float *ac = acc + rows[i] * hd + d0;
            _mm512_store_ps(ac, o[i][0]);
            _mm512_store_ps(ac + 16, o[i][1]);
        }
    }
}

/* the block jb (nk slots) of item it (KV head g): its K transposed and V converted to f32,
 * then its rows that see a slot of it */
static void item_block(struct fy_attn_item *it, const struct fy_attn_args *a, int64_t g,
                       int64_t t0, int64_t jb, int64_t nk)
{
    const int64_t hd = it->hd, kvw = it->kvw;
    float *kt = it->kt, *vb = it->vb;
    int64_t act[FY_ATTN_ROWS];
    /* the block's K transposed (kt[d][j]) by 16 x 16 tiles in registers, and V (vb[j][d]), f32,
     * zero past nk */
    for (int64_t j0 = 0; j0 < FY_ATTN_KB; j0 += 16)
        for (int64_t d = 0; d < hd; d += 16) {
            __m512i r[16];
            if (j0 + 16 <= nk && a->kv_type == FY_F16) { /* whole: no branch per row */
                const uint16_t *k16 = (const uint16_t *)a->k + (jb + j0) * kvw + g * hd + d;
                for (int64_t j = 0; j < 16; j++)
                    r[j] = _mm512_castps_si512(
                        _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k16 + j * kvw))));
            } else if (j0 + 16 <= nk && a->kv_type == FY_Q8_0) {
                const int64_t at = (jb + j0) * kvw + g * hd + d;
                for (int64_t j = 0; j < 16; j++)
                    r[j] = _mm512_castps_si512(fy_avx512_load_kv_q8(a->k, at + j * kvw));
            } else
                for (int64_t j = 0; j < 16; j++)
                    r[j] = _mm512_castps_si512(
                        j0 + j < nk ? fy_avx512_load_kv(a->kv_type, a->k, (jb + j0 + j) * kvw + g * hd + d)
                                    : _mm512_setzero_ps());
            fy_avx512_transpose16(r);
            for (int i = 0; i < 16; i++)
                _mm512_store_si512(kt + (d + i) * FY_ATTN_KB + j0, r[i]);
        }
    for (int64_t j = 0; j < nk; j++)
        for (int64_t d = 0; d < hd; d += 16)
            _mm512_store_ps(vb + j * hd + d, fy_avx512_load_kv(a->kv_type, a->v, (jb + j) * kvw + g * hd + d));
    for (int64_t j = nk; j < FY_ATTN_KB; j++)
        for (int64_t d = 0; d < hd; d += 16)
            _mm512_store_ps(vb + j * hd + d, _mm512_setzero_ps());
    /* the rows that see some slot of the block, eight at a time (a decode item's 8 query heads
     * of one KV head in one pass) */
    const int64_t n_act = fy_attn_item_active(it, jb, nk, act);
    int64_t i = 0;
    for (; i + RMAX <= n_act; i += RMAX)
        block_rows(RMAX, act + i, a, g, t0, it->group, kt, vb, jb, nk, it->acc, it->m, it->z,
                   it->lo, it->hi);
    switch (n_act - i) {
#define FY_ROWS(n)                                                                                 \
    case n:                                                                                        \
        block_rows(n, act + i, a, g, t0, it->group, kt, vb, jb, nk, it->acc, it->m, it->z,         \
                   it->lo, it->hi);                                                                \
        break;
        FY_ROWS(1)
        FY_ROWS(2)
        FY_ROWS(3)
        FY_ROWS(4)
        FY_ROWS(5)
        FY_ROWS(6)
        FY_ROWS(7)
#undef FY_ROWS
    default:
        break;
    }
}

/* Every KV head of a split item (fy_attn_part.all_heads: few queries over a slot chunk),
 * block by block: a block's cache rows hold every head's slice, so the item reads K and V as
 * two contiguous streams the hardware prefetchers follow, instead of one head's 128 bytes of
 * every 1 KiB row (the items of one head needed the first head's pass to prefetch whole rows
 * into L2 for the others). */
static bool item_all_heads(float *out, const struct fy_attn_args *a, int64_t t0, int64_t t1,
                           const struct fy_attn_part *part)
{
    struct fy_attn_item it[FY_ATTN_MAXKV];
    const int64_t nkv = a->n_head_kv, nr = (t1 - t0) * (a->n_head / nkv);
    int64_t jmin = INT64_MAX, jmax = -1;
    for (int64_t g = 0; g < nkv; g++) {
        if (!fy_attn_item_begin_at(&it[g], a, g, t0, t1, part, g * nr * a->head_dim))
            return false;
        jmin = it[g].jmin < jmin ? it[g].jmin : jmin;
        jmax = it[g].jmax > jmax ? it[g].jmax : jmax;
    }
    for (int64_t jb = jmin; jb <= jmax; jb += FY_ATTN_KB) {
        const int64_t nk = jmax - jb + 1 < FY_ATTN_KB ? jmax - jb + 1 : FY_ATTN_KB;
        /* the next block's whole rows into L2 (2 blocks ahead, as the one-head items do for
         * the others' sake, was slower here: 0.92 against 0.87 ms, 4096 slots, cold cache) */
        if (part->whole_rows)
            fy_attn_prefetch_rows(a, jb + FY_ATTN_KB, jb + 2 * FY_ATTN_KB - 1 < jmax ? jb + 2 * FY_ATTN_KB - 1 : jmax);
        for (int64_t g = 0; g < nkv; g++)
            if (it[g].jmin <= jb + nk - 1 && it[g].jmax >= jb)
                item_block(&it[g], a, g, t0, jb, nk);
    }
    for (int64_t g = 0; g < nkv; g++)
        fy_attn_item_end(&it[g], out, a, g, t0, part);
    return true;
}

bool fy_cpu_attention_item_avx512(float *out, const struct fy_attn_args *a, int64_t g, int64_t t0,
                                  int64_t t1, const struct fy_attn_part *part)
{
    if (part && part->all_heads)
        return fy_attn_all_heads_fits(a, t0, t1) && item_all_heads(out, a, t0, t1, part);
    struct fy_attn_item it;
    if (!fy_attn_item_begin(&it, a, g, t0, t1, part))
        return false; /* the caller takes the reference path */
    for (int64_t jb = it.jmin; jb <= it.jmax; jb += FY_ATTN_KB) {
        const int64_t nk = it.jmax - jb + 1 < FY_ATTN_KB ? it.jmax - jb + 1 : FY_ATTN_KB;
        fy_attn_item_prefetch(&it, a, g, jb);
        item_block(&it, a, g, t0, jb, nk);
    }
    fy_attn_item_end(&it, out, a, g, t0, part);
    return true;
}
