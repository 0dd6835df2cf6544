/* Flash-style attention of the "amx" kernel set (qdot.h: fy_cpu_set.attention) on AMX-BF16
 * tiles: the online softmax of attention_avx512.c, with both products of a block of 32 cache
 * slots, the scores and the value sum, as TDPBF16PS on 16 x 16 tiles; the softmax between them
 * stays in AVX-512 f32. Items are larger than the other sets' (up to FY_ATTN_ROWS_AMX query
 * rows, attention.c chooses): each block of the cache is converted once for all of them.
 *
 * Everything is transposed against the other sets so that the softmax works on vectors of 16
 * query rows (no horizontal max or sum): a score tile is S^T = K Q^T (A: 16 slots x 32 d of K,
 * B: d pairs x 16 rows of Q), an output tile O^T += V^T P^T (A: 16 columns of V x 32 slots,
 * B: slot pairs x 16 rows of P), and acc^T lives in memory per group of 16 rows.
 *
 * Numerics: every f32 operand x is split into two bf16 numbers, hi = x with its low 16 bits
 * cleared and lo = (x - hi) likewise, and a product is hi.hi + hi.lo + lo.hi (the lo.lo term,
 * 2^-16 of it, is dropped). An F16 cache value has 11 significant bits, so hi + lo is exact
 * for K and V (a Q8_0 value q * d has up to 19: hi + lo keeps 16 of them, ~2^-17 relative);
 * Q (times the scale) and P keep 16 bits. The tile unit sums in f32. Outputs are ~5e-5
 * relative from the reference (test_attention: GATE_BF16). exp: a degree-6 polynomial of 2^f
 * and VSCALEFPS (1.2e-7 relative).
 *
 * Speed: the tile unit runs its instructions in order and the out-of-order window does not
 * reach across a group's softmax, so the groups of a block are software-pipelined: the scores
 * of group i + 1 are issued before the softmax of group i. Items of fewer than 16 rows (one
 * decoding token: 8 query heads per KV head) take the avx512 kernel, as does a CPU without
 * AMX-BF16. Compiled with the amx set's flags and -mamx-bf16. */
#include "amx_tiles.h"
#include "cpu/ops.h"
#include "qdot.h"
#include "simd_avx512.h"

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* tile numbers (literals for the intrinsics); every tile is 16 rows x 64 bytes */
#define T_S0 0 /* scores, slots 0-15 of the block */
#define T_S1 1 /* slots 16-31 */
#define T_AH 2 /* A: K (16 slots x 32 d) or V^T (16 columns x 32 slots), hi */
#define T_AL 3 /* lo */
#define T_BH 4 /* B: Q^T (d pairs x 16 rows) or P^T (slot pairs x 16 rows), hi */
#define T_BL 5 /* lo */
#define T_O 6  /* acc^T: 16 columns x 16 rows */

#define MIN_ROWS 16 /* fewer rows in an item: the avx512 kernel */

static const struct fy_amx_cfg g_cfg = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16},
};

#define NRG (FY_ATTN_ROWS_AMX / 16) /* row groups an item may have */

/* per-thread buffers of an item. Everything is transposed against attention_avx512.c: a score
 * tile is S^T (16 slots x 16 rows) and an output tile O^T (16 columns of d x 16 rows), so the
 * softmax works on vectors of 16 rows (no horizontal sums) */
struct abuf {
    uint32_t qt[NRG][FY_ATTN_MAXHD / 32][2][16][16]; /* B: d pair x 16 rows */
    uint16_t k[2][FY_ATTN_MAXHD / 32][2][16][32]; /* A: [slot half][d half][hi/lo] slot x d */
    uint32_t vt[FY_ATTN_MAXHD / 16][2][16][16];   /* A: [16 columns][hi/lo] d x slot pairs */
    uint32_t pt[2][2][16][16]; /* B: [buffer][hi/lo] slot pair x 16 rows */
    float s[2][FY_ATTN_KB][16]; /* [buffer] S^T of a row group */
    float acc[NRG][FY_ATTN_MAXHD][16]; /* O^T per row group */
    float m[NRG][16], z[NRG][16];
    int32_t lo[NRG][16], hi[NRG][16];
};
static __thread struct abuf *g_buf;

/* the running max of a row that has seen nothing: finite, so that m - m' is never inf - inf */
#define M_NONE (-1e30f)

static bool amx_bf16(void)
{
    static int have = -1; /* CPUID.(7,0):EDX[22]; the same answer on every thread */
    int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
    if (h < 0) {
        unsigned a, b, c, d;
        h = __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((d >> 22) & 1u);
        __atomic_store_n(&have, h, __ATOMIC_RELAXED);
    }
    return h;
}

INLINE __m512i hi_bits(__m512 x)
{
    return _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0xffff0000u));
}

/* the residual x - hi as f32 (exact), whose high half is lo */
INLINE __m512 lo_part(__m512 x)
{
    return _mm512_sub_ps(x, _mm512_castsi512_ps(hi_bits(x)));
}

/* the high halves of the 32 floats a (0-15), b (16-31) as 32 bf16 in order */
INLINE __m512i pack_hi(__m512 a, __m512 b)
{
    const __m512i odd = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37,
                                         35, 33, 31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7,
                                         5, 3, 1);
    return _mm512_permutex2var_epi16(_mm512_castps_si512(a), odd, _mm512_castps_si512(b));
}

/* dword n = (bf16 of a[n], bf16 of b[n]): the VNNI pair of k = 2i, 2i + 1 */
INLINE __m512i pair_hi(__m512 a, __m512 b)
{
    return _mm512_or_si512(_mm512_srli_epi32(_mm512_castps_si512(a), 16), hi_bits(b));
}

/* e^x for finite x <= 88: 2^f by its Taylor polynomial of degree 6 on |f| <= 1/2 (relative
 * error 1.2e-7), scaled by 2^n with VSCALEFPS (0 far below, no bit tricks) */
INLINE __m512 exp512(__m512 x)
{
    const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
    const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* an item: KV head g, query tokens [t0, t0 + nr / group) */
struct item {
    int64_t g, t0, hd, kvw, group, nr, n_rg, jmin, jmax;
};

/* the item's rows (row r: token t0 + r / group, head g * group + r % group): Q times the scale
 * into the B tiles, the softmax state (from the sink) and the visible slots into vectors of 16
 * rows, acc zeroed; rows past nr are zeros that see nothing. Sets jmin, jmax. */
static void prep_rows(struct abuf *B, const struct fy_attn_args *a, struct item *it,
                      const struct fy_attn_part *part)
{
    const int64_t hd = it->hd;
    const __m512 vs = _mm512_set1_ps(a->scale);
    it->jmin = INT64_MAX;
    it->jmax = -1;
    for (int64_t rg = 0; rg < it->n_rg; rg++) {
        for (int64_t dh = 0; dh < hd / 32; dh++) {
            __m512i h[16], l[16];
            for (int64_t n = 0; n < 16; n++) {
                const int64_t r = rg * 16 + n;
                __m512 x0 = _mm512_setzero_ps(), x1 = x0;
                if (r < it->nr) {
                    const float *q = a->q +
                                     ((it->t0 + r / it->group) * a->n_head + it->g * it->group +
                                      r % it->group) * hd + dh * 32;
                    x0 = _mm512_mul_ps(_mm512_loadu_ps(q), vs);
                    x1 = _mm512_mul_ps(_mm512_loadu_ps(q + 16), vs);
                }
                h[n] = pack_hi(x0, x1); /* dword kk: d pair kk of row n */
                l[n] = pack_hi(lo_part(x0), lo_part(x1));
            }
            fy_avx512_transpose16(h); /* row kk: that d pair of the 16 rows */
            fy_avx512_transpose16(l);
            for (int kk = 0; kk < 16; kk++) {
                _mm512_store_si512(B->qt[rg][dh][0][kk], h[kk]);
                _mm512_store_si512(B->qt[rg][dh][1][kk], l[kk]);
            }
        }
        for (int64_t n = 0; n < 16; n++) {
            const int64_t r = rg * 16 + n;
            int64_t lo = INT32_MAX, hi = -1;
            float m = M_NONE, z = 0.0f;
            if (r < it->nr) {
                if (fy_attn_row_init(a, it->g * it->group + r % it->group,
                                     a->pos[it->t0 + r / it->group], part, &m, &z, &lo, &hi)) {
                    it->jmin = lo < it->jmin ? lo : it->jmin;
                    it->jmax = hi > it->jmax ? hi : it->jmax;
                } else {
                    lo = INT32_MAX;
                    hi = -1;
                }
            }
            B->m[rg][n] = m > M_NONE ? m : M_NONE;
            B->z[rg][n] = z;
            B->lo[rg][n] = (int32_t)lo;
            B->hi[rg][n] = (int32_t)hi;
        }
        memset(B->acc[rg], 0, sizeof(B->acc[rg]));
    }
}

/* slots jb .. jb + nk - 1 of K and V into their A tiles (zeros past nk) */
static void prep_kv(struct abuf *B, const struct fy_attn_args *a, const struct item *it,
                    int64_t jb, int64_t nk)
{
    const int64_t hd = it->hd, kvw = it->kvw, g = it->g;
    for (int64_t j = 0; j < FY_ATTN_KB; j++)
        for (int64_t dh = 0; dh < hd / 32; dh++) {
            __m512 x0 = _mm512_setzero_ps(), x1 = x0;
            if (j < nk) {
                const int64_t at = (jb + j) * kvw + g * hd + dh * 32;
                x0 = fy_avx512_load_kv(a->kv_type, a->k, at);
                x1 = fy_avx512_load_kv(a->kv_type, a->k, at + 16);
            }
            _mm512_store_si512(B->k[j / 16][dh][0][j % 16], pack_hi(x0, x1));
            _mm512_store_si512(B->k[j / 16][dh][1][j % 16], pack_hi(lo_part(x0), lo_part(x1)));
        }
    for (int64_t dq = 0; dq < hd / 16; dq++) {
        __m512i h[16], l[16];
        for (int64_t kk = 0; kk < 16; kk++) {
            __m512 x0 = _mm512_setzero_ps(), x1 = x0;
            if (2 * kk < nk)
                x0 = fy_avx512_load_kv(a->kv_type, a->v, (jb + 2 * kk) * kvw + g * hd + dq * 16);
            if (2 * kk + 1 < nk)
                x1 = fy_avx512_load_kv(a->kv_type, a->v, (jb + 2 * kk + 1) * kvw + g * hd + dq * 16);
            h[kk] = pair_hi(x0, x1); /* lane d: slots 2kk, 2kk + 1 */
            l[kk] = pair_hi(lo_part(x0), lo_part(x1));
        }
        fy_avx512_transpose16(h); /* row d: its 16 slot pairs */
        fy_avx512_transpose16(l);
        for (int d = 0; d < 16; d++) {
            _mm512_store_si512(B->vt[dq][0][d], h[d]);
            _mm512_store_si512(B->vt[dq][1][d], l[d]);
        }
    }
}

/* slot j of the block visible to each row of group rg */
INLINE __mmask16 vis(const struct abuf *B, int64_t rg, int64_t jb, int64_t j, bool full)
{
    if (full)
        return 0xffff;
    const __m512i jv = _mm512_set1_epi32((int32_t)(jb + j));
    return _mm512_cmple_epi32_mask(_mm512_load_si512(B->lo[rg]), jv) &
           _mm512_cmpge_epi32_mask(_mm512_load_si512(B->hi[rg]), jv);
}

/* the scores of row group rg (B->s: slot j, lane = row) into its softmax state and P^T
 * (B->pt); its acc rescaled where the max grew. Invisible slots and slots past nk get P = 0. */
INLINE void softmax_group(struct abuf *B, int64_t rg, int64_t jb, int64_t nk, int64_t hd,
                          bool full, int buf)
{
    float(*S)[16] = B->s[buf];
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 mb = ninf;
    for (int64_t j = 0; j < nk; j++)
        mb = _mm512_mask_max_ps(mb, vis(B, rg, jb, j, full), mb, _mm512_load_ps(S[j]));
    const __m512 m0 = _mm512_load_ps(B->m[rg]), m1 = _mm512_max_ps(m0, mb);
    const __m512 alpha = exp512(_mm512_sub_ps(m0, m1));
    __m512 zs = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < 16; kk++) {
        __m512 p[2];
        for (int e = 0; e < 2; e++) {
            const int64_t j = 2 * kk + e;
            p[e] = j < nk ? _mm512_maskz_mov_ps(vis(B, rg, jb, j, full),
                                                exp512(_mm512_sub_ps(_mm512_load_ps(S[j]), m1)))
                          : _mm512_setzero_ps();
        }
        zs = _mm512_add_ps(zs, _mm512_add_ps(p[0], p[1]));
        _mm512_store_si512(B->pt[buf][0][kk], pair_hi(p[0], p[1]));
        _mm512_store_si512(B->pt[buf][1][kk], pair_hi(lo_part(p[0]), lo_part(p[1])));
    }
    _mm512_store_ps(B->m[rg], m1);
    _mm512_store_ps(B->z[rg], _mm512_fmadd_ps(_mm512_load_ps(B->z[rg]), alpha, zs));
    if (_mm512_cmp_ps_mask(alpha, _mm512_set1_ps(1.0f), _CMP_NEQ_UQ))
        for (int64_t d = 0; d < hd; d++)
            _mm512_store_ps(B->acc[rg][d], _mm512_mul_ps(_mm512_load_ps(B->acc[rg][d]), alpha));
}

/* the scores of row group rg over the prepared block into S^T buffer buf */
static void group_scores(struct abuf *B, int64_t rg, int64_t hd, int buf)
{
    _tile_zero(T_S0);
    _tile_zero(T_S1);
    for (int64_t dh = 0; dh < hd / 32; dh++) {
        _tile_loadd(T_BH, B->qt[rg][dh][0], 64);
        _tile_loadd(T_BL, B->qt[rg][dh][1], 64);
        _tile_loadd(T_AH, B->k[0][dh][0], 64);
        _tile_loadd(T_AL, B->k[0][dh][1], 64);
        _tile_dpbf16ps(T_S0, T_AH, T_BH);
        _tile_dpbf16ps(T_S0, T_AL, T_BH);
        _tile_dpbf16ps(T_S0, T_AH, T_BL);
        _tile_loadd(T_AH, B->k[1][dh][0], 64);
        _tile_loadd(T_AL, B->k[1][dh][1], 64);
        _tile_dpbf16ps(T_S1, T_AH, T_BH);
        _tile_dpbf16ps(T_S1, T_AL, T_BH);
        _tile_dpbf16ps(T_S1, T_AH, T_BL);
    }
    _tile_stored(T_S0, B->s[buf][0], 64);
    _tile_stored(T_S1, B->s[buf][16], 64);
}

/* acc^T of row group rg += V^T P^T (P^T buffer buf) */
static void group_values(struct abuf *B, int64_t rg, int64_t hd, int buf)
{
    _tile_loadd(T_BH, B->pt[buf][0], 64);
    _tile_loadd(T_BL, B->pt[buf][1], 64);
    for (int64_t dq = 0; dq < hd / 16; dq++) {
        _tile_loadd(T_O, B->acc[rg][dq * 16], 64);
        _tile_loadd(T_AH, B->vt[dq][0], 64);
        _tile_loadd(T_AL, B->vt[dq][1], 64);
        _tile_dpbf16ps(T_O, T_AH, T_BH);
        _tile_dpbf16ps(T_O, T_AL, T_BH);
        _tile_dpbf16ps(T_O, T_AH, T_BL);
        _tile_stored(T_O, B->acc[rg][dq * 16], 64);
    }
}

/* the row groups act[0..n) (full[i]: every row sees every slot) over the prepared block,
 * software-pipelined so that the tile unit computes the next group's scores while the vector
 * units take this group's softmax (the tile unit runs its instructions in order, and the
 * out-of-order window would not reach across a whole group) */
static void block_groups(struct abuf *B, const int64_t *act, const bool *full, int64_t n,
                         int64_t jb, int64_t nk, int64_t hd)
{
    if (n > 0)
        group_scores(B, act[0], hd, 0);
    for (int64_t i = 0; i < n; i++) {
        const int buf = (int)(i & 1);
        if (i + 1 < n)
            group_scores(B, act[i + 1], hd, buf ^ 1);
        if (full[i])
            softmax_group(B, act[i], jb, nk, hd, true, buf);
        else
            softmax_group(B, act[i], jb, nk, hd, false, buf);
        group_values(B, act[i], hd, buf);
    }
}

/* the item's output: each row acc / z, or for a part acc, m, z (acc^T transposed to rows) */
static void finish_rows(const struct abuf *B, const struct fy_attn_args *a, const struct item *it,
                        float *out, const struct fy_attn_part *part)
{
    const int64_t hd = it->hd;
    for (int64_t rg = 0; rg < it->n_rg; rg++) {
        const int64_t nn = it->nr - rg * 16 < 16 ? it->nr - rg * 16 : 16;
        for (int64_t d0 = 0; d0 < hd; d0 += 16) {
            __m512i v[16];
            for (int i = 0; i < 16; i++)
                v[i] = _mm512_load_si512(B->acc[rg][d0 + i]);
            fy_avx512_transpose16(v); /* v[n]: row n's columns d0 .. d0 + 15 */
            for (int64_t n = 0; n < nn; n++) {
                const int64_t r = rg * 16 + n;
                const int64_t row = (it->t0 + r / it->group) * a->n_head + it->g * it->group +
                                    r % it->group;
                const float z = B->z[rg][n];
                if (part)
                    _mm512_storeu_si512(part->out + row * (hd + 2) + d0, v[n]);
                else
                    _mm512_storeu_ps(out + row * hd + d0,
                                     _mm512_mul_ps(_mm512_castsi512_ps(v[n]),
                                                   _mm512_set1_ps(z > 0.0f ? 1.0f / z : 0.0f)));
            }
        }
        if (part)
            for (int64_t n = 0; n < nn; n++) {
                const int64_t r = rg * 16 + n;
                float *o = part->out + ((it->t0 + r / it->group) * a->n_head + it->g * it->group +
                                        r % it->group) * (hd + 2);
                o[hd] = B->m[rg][n];
                o[hd + 1] = B->z[rg][n];
            }
    }
}

bool fy_cpu_attention_item_amx(float *out, const struct fy_attn_args *a, int64_t g, int64_t t0,
                               int64_t t1, const struct fy_attn_part *part)
{
    const int64_t group = a->n_head / a->n_head_kv, nr = (t1 - t0) * group;
    if (nr < MIN_ROWS || !amx_bf16() || (part && part->all_heads))
        /* not taken when nr > FY_ATTN_ROWS: MIN_ROWS is less */
        return fy_cpu_attention_item_avx512(out, a, g, t0, t1, part);
    if (nr > FY_ATTN_ROWS_AMX || a->head_dim % 32 || a->head_dim > FY_ATTN_MAXHD)
        return false;
    if (!g_buf && !(g_buf = aligned_alloc(64, sizeof(struct abuf))))
        return false; /* the caller takes the reference path */
    struct item it = {.g = g, .t0 = t0, .hd = a->head_dim, .kvw = a->n_head_kv * a->head_dim,
                      .group = group, .nr = nr, .n_rg = (nr + 15) / 16};
    struct abuf *B = g_buf;
    fy_amx_use_config(FY_AMX_CFG_ATTENTION, &g_cfg);
    prep_rows(B, a, &it, part);
    for (int64_t jb = it.jmin; jb <= it.jmax; jb += FY_ATTN_KB) {
        const int64_t nk = it.jmax - jb + 1 < FY_ATTN_KB ? it.jmax - jb + 1 : FY_ATTN_KB;
        fy_attn_prefetch(a, g, jb, it.jmax, false);
        prep_kv(B, a, &it, jb, nk);
        const __m512i first = _mm512_set1_epi32((int32_t)jb),
                      last = _mm512_set1_epi32((int32_t)(jb + nk - 1));
        int64_t act[NRG], n_act = 0;
        bool full[NRG];
        for (int64_t rg = 0; rg < it.n_rg; rg++) {
            const __m512i lo = _mm512_load_si512(B->lo[rg]), hi = _mm512_load_si512(B->hi[rg]);
            /* rows that see some slot of the block; all of them see every slot */
            if (!(_mm512_cmple_epi32_mask(lo, last) & _mm512_cmpge_epi32_mask(hi, first)))
                continue;
            full[n_act] = _mm512_cmple_epi32_mask(lo, first) == 0xffff &&
                          _mm512_cmpge_epi32_mask(hi, last) == 0xffff;
            act[n_act++] = rg;
        }
        block_groups(B, act, full, n_act, jb, nk, it.hd);
    }
    finish_rows(B, a, &it, out, part);
    return true;
}
