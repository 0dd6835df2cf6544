/* Attention with per-head sinks over a KV cache where slot j holds position j (gpt-oss.md
 * section 6; in general position kv_pos0 + j, fy_attn_visible). For query token t at position p and query head h (KV head h / (n_head/n_head_kv)):
 *   visible j: j < n_kv, j <= p and (window == 0 || p - j < window)
 *   s_j = dot(q, k_j) * scale
 *   m   = max(max_j s_j, sink_h)      Z = sum_j exp(s_j - m) + exp(sink_h - m)
 *   out = sum_j exp(s_j - m) / Z * v_j
 * The sink is a raw logit: never scaled, no value vector. It is folded in as the initial state
 * of an online softmax (m = sink, Z = 1, acc = 0), which then visits each visible slot once.
 *
 * Precision: dot products, exps and the value accumulator are f32; Z is accumulated in double.
 * Parallel over (token, head) pairs. F32 caches are read in place; F16 and Q8_0 caches are
 * converted tile by tile (slots shared by every pair) into an f32 buffer (fy_dequant_row of whole
 * cache rows), so a prompt of n tokens converts each cached row once, not n times. The kernel
 * sets' flash items (qdot.h) read every cache type themselves. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "qdot.h"
#include "quant.h"

#include <stdbool.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* f32 elements per converted F16/Q8_0 tile buffer (K and V each): 4 MiB. */
#define FY_ATTN_TILE_ELEMS ((int64_t)1 << 20)

/* Online softmax state of one (token, head) pair; its value accumulator is the output row. */
struct attn_state {
    float m;    /* running max logit */
    double z;   /* running sum of exp(logit - m) */
};

static float dot_f32(const float *restrict a, const float *restrict b, int64_t n)
{
    float s[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            s[l] += a[i + l] * b[i + l];
    for (; i < n; i++)
        s[0] += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* acc += p * v, and acc *= alpha: blocks of 8 so that gcc -O2 vectorizes them. */
static void axpy_f32(float *restrict acc, float p, const float *restrict v, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[i + l] += p * v[i + l];
    for (; i < n; i++)
        acc[i] += p * v[i];
}

static void scale_f32(float *acc, float alpha, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[i + l] *= alpha;
    for (; i < n; i++)
        acc[i] *= alpha;
}

/* element i of a converted cache (the fallback path below) */
static float kv_elem(enum fy_dtype t, const void *c, int64_t i)
{
    if (t == FY_F16)
        return fy_fp16_to_f32(((const uint16_t *)c)[i]);
    const uint8_t *b = (const uint8_t *)c + fy_kv_offset(FY_Q8_0, i);
    return fy_fp16_to_f32((uint16_t)(b[0] | b[1] << 8)) * (float)(int8_t)b[2 + i % 32];
}

/* Takes logit s into the running max; returns the weight exp(s - m) of the new entry. */
static float softmax_step(struct attn_state *st, float *acc, int64_t hd, float s)
{
    if (s > st->m) {
        const float alpha = expf(st->m - s);   /* 0 while m is still -inf */
        scale_f32(acc, alpha, hd);
        st->z *= alpha;
        st->m = s;
        return 1.0f;
    }
    return expf(s - st->m);
}

/* Adds n consecutive f32 rows (K and V rows `stride` floats apart) to one pair's softmax. */
static void attend_rows_f32(struct attn_state *st, float *restrict acc, const float *restrict q,
                            const float *kb, const float *vb, int64_t stride, int64_t n,
                            int64_t hd, float scale)
{
    for (int64_t j = 0; j < n; j++) {
        const float s = dot_f32(q, kb + j * stride, hd) * scale;
        const float p = softmax_step(st, acc, hd, s);
        st->z += p;
        axpy_f32(acc, p, vb + j * stride, hd);
    }
}

/* Same on F16 or Q8_0 rows, converting element by element (fallback when no tile buffer is
 * available): rows j0 .. j0 + n - 1, this head's elements from off. */
static void attend_rows_conv(struct attn_state *st, float *restrict acc, const float *restrict q,
                             const struct fy_attn_args *a, int64_t j0, int64_t off, int64_t n)
{
    const int64_t hd = a->head_dim, kvw = a->n_head_kv * hd;
    for (int64_t j = j0; j < j0 + n; j++) {
        float s = 0.0f;
        for (int64_t d = 0; d < hd; d++)
            s += q[d] * kv_elem(a->kv_type, a->k, j * kvw + off + d);
        const float p = softmax_step(st, acc, hd, s * a->scale);
        st->z += p;
        for (int64_t d = 0; d < hd; d++)
            acc[d] += p * kv_elem(a->kv_type, a->v, j * kvw + off + d);
    }
}

/* The union [*jmin, *jmax] of the visible ranges of the n_tok queries (empty: *jmin > *jmax). */
static void visible_union(const struct fy_attn_args *a, int64_t *jmin, int64_t *jmax)
{
    *jmin = INT64_MAX;
    *jmax = -1;
    for (int64_t t = 0; t < a->n_tok; t++) {
        int64_t j0, j1;
        fy_attn_visible(a, a->pos[t], &j0, &j1);
        if (j0 <= j1) {
            *jmin = j0 < *jmin ? j0 : *jmin;
            *jmax = j1 > *jmax ? j1 : *jmax;
        }
    }
}

static void state_init(const struct fy_attn_args *a, int64_t h, struct attn_state *st,
                       float *acc)
{
    memset(acc, 0, (size_t)a->head_dim * sizeof(float));
    if (a->sinks) {
        st->m = a->sinks[h];
        st->z = 1.0;
    } else {
        st->m = -INFINITY;
        st->z = 0.0;
    }
}

static void state_finish(const struct fy_attn_args *a, const struct attn_state *st, float *acc)
{
    const float inv = st->z > 0.0 ? (float)(1.0 / st->z) : 0.0f;
    for (int64_t d = 0; d < a->head_dim; d++)
        acc[d] *= inv;
}

/* One pair over its whole visible range, straight from the cache. */
static void attend_pair_direct(float *out, const struct fy_attn_args *a, int64_t i)
{
    const int64_t t = i / a->n_head;
    const int64_t h = i % a->n_head;
    const int64_t hd = a->head_dim;
    const int64_t kvw = a->n_head_kv * hd;
    const int64_t off = (h / (a->n_head / a->n_head_kv)) * hd;
    const float *q = a->q + i * hd;
    float *acc = out + i * hd;
    struct attn_state st;
    int64_t j0;
    int64_t j1;

    state_init(a, h, &st, acc);
    fy_attn_visible(a, a->pos[t], &j0, &j1);
    if (j0 <= j1) {
        if (a->kv_type != FY_F32)
            attend_rows_conv(&st, acc, q, a, j0, off, j1 - j0 + 1);
        else
            attend_rows_f32(&st, acc, q, (const float *)a->k + j0 * kvw + off,
                            (const float *)a->v + j0 * kvw + off, kvw, j1 - j0 + 1, hd,
                            a->scale);
    }
    state_finish(a, &st, acc);
}

static void attention_direct(float *out, const struct fy_attn_args *a)
{
    const int64_t n_pairs = a->n_tok * a->n_head;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) if (n_pairs > 1)
#endif
    for (int64_t i = 0; i < n_pairs; i++)
        attend_pair_direct(out, a, i);
}

/* F16 and Q8_0 caches: slots [jmin, jmax] are converted tile by tile into kt/vt ([tile][kvw] f32), and
 * every pair takes each tile's visible part into its online softmax. Returns 0 when the buffers
 * cannot be allocated (nothing written then). */
static int attention_tiled(float *out, const struct fy_attn_args *a)
{
    const int64_t hd = a->head_dim;
    const int64_t kvw = a->n_head_kv * hd;
    const int64_t group = a->n_head / a->n_head_kv;
    const int64_t n_pairs = a->n_tok * a->n_head;
    int64_t jmin, jmax;

    visible_union(a, &jmin, &jmax);
    int64_t tile = FY_ATTN_TILE_ELEMS / kvw;
    if (tile < 16)
        tile = 16;
    if (jmax >= jmin && tile > jmax - jmin + 1)
        tile = jmax - jmin + 1;

    struct attn_state *st = malloc((size_t)n_pairs * sizeof(*st));
    float *kt = malloc((size_t)(tile * kvw) * sizeof(float));
    float *vt = malloc((size_t)(tile * kvw) * sizeof(float));
    if (!st || !kt || !vt) {
        free(st);
        free(kt);
        free(vt);
        return 0;
    }
    for (int64_t i = 0; i < n_pairs; i++)
        state_init(a, i % a->n_head, &st[i], out + i * hd);

#ifdef _OPENMP
#pragma omp parallel if (n_pairs > 1)
#endif
    for (int64_t tb = jmin; tb <= jmax; tb += tile) {
        const int64_t te = tb + tile - 1 < jmax ? tb + tile - 1 : jmax;
        const uint8_t *kc = a->k;
        const uint8_t *vc = a->v;
        const size_t row = fy_dtype_row_bytes(a->kv_type, kvw);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t j = tb; j <= te; j++) {
            fy_dequant_row(a->kv_type, kc + (size_t)j * row, kt + (j - tb) * kvw, kvw);
            fy_dequant_row(a->kv_type, vc + (size_t)j * row, vt + (j - tb) * kvw, kvw);
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 4)
#endif
        for (int64_t i = 0; i < n_pairs; i++) {
            const int64_t h = i % a->n_head;
            const int64_t off = (h / group) * hd;
            int64_t j0;
            int64_t j1;
            fy_attn_visible(a, a->pos[i / a->n_head], &j0, &j1);
            j0 = j0 > tb ? j0 : tb;
            j1 = j1 < te ? j1 : te;
            if (j0 <= j1)
                attend_rows_f32(&st[i], out + i * hd, a->q + i * hd, kt + (j0 - tb) * kvw + off,
                                vt + (j0 - tb) * kvw + off, kvw, j1 - j0 + 1, hd, a->scale);
        }
    }

    for (int64_t i = 0; i < n_pairs; i++)
        state_finish(a, &st[i], out + i * hd);
    free(st);
    free(kt);
    free(vt);
    return 1;
}

static int64_t max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

#define FY_ATTN_SPLIT_MIN 1024 /* visible slots from which few queries split the slots */
#define FY_ATTN_CHUNK 256      /* slots per split item at least (a multiple of FY_ATTN_KB) */

/* Few queries over many slots (decode): items (slot chunk, KV head), chunk-major so that the
 * threads walk the cache rows together, each leaving its rows' unnormalized state; then the
 * chunks are merged per row. False when out of memory (nothing written). */
static bool attention_split(const struct fy_cpu_set *set, float *out,
                            const struct fy_attn_args *a, int64_t jmin, int64_t jmax)
{
    const int64_t hd = a->head_dim, n_rows = a->n_tok * a->n_head;
    int64_t chunk = (jmax - jmin + 1) / (4 * max_threads());
    chunk = chunk < FY_ATTN_CHUNK ? FY_ATTN_CHUNK : (chunk + FY_ATTN_KB - 1) / FY_ATTN_KB * FY_ATTN_KB;
    const int64_t n_chunks = (jmax - jmin + chunk) / chunk;
    float *part = malloc((size_t)(n_chunks * n_rows * (hd + 2)) * sizeof(float));
    if (!part)
        return false;
    int failed = 0;
    /* An item is a slot chunk for every KV head. Sets with attn_all_heads take the chunk block
     * by block, every head's slice of a block in turn (a block's cache rows are contiguous and
     * hold every head: two streams the prefetchers follow, the next block's rows prefetched into
     * L2): 0.64 -> 0.55 ms for one query after 4096 slots with the cache in L3, 0.96 -> 0.81 ms
     * from memory (12 layers' caches in turn) against the items below (avx512 items, 2-core
     * Xeon). The others take it head by head, the first head's pass prefetching the chunk's
     * whole rows into L2 for the others (a chunk of 512 slots of the 20b is 1 MiB of K and V):
     * 0.94 -> 0.75 ms against items of one head's slice (128 of each 1024 bytes) alone. */
    const bool all = set->attn_all_heads && fy_attn_all_heads_fits(a, 0, a->n_tok);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
#endif
    for (int64_t c = 0; c < n_chunks; c++)
        for (int64_t g = 0; g < (all ? 1 : a->n_head_kv); g++) {
            const struct fy_attn_part p = {.s0 = jmin + c * chunk,
                                           .s1 = jmin + (c + 1) * chunk - 1,
                                           .sink = c == 0,
                                           .whole_rows = g == 0,
                                           .all_heads = all,
                                           .out = part + c * n_rows * (hd + 2)};
            failed |= !set->attention(out, a, g, 0, a->n_tok, &p);
        }
    if (!failed)
        for (int64_t r = 0; r < n_rows; r++) {
            float mx = -INFINITY;
            for (int64_t c = 0; c < n_chunks; c++) {
                const float *pc = part + (c * n_rows + r) * (hd + 2);
                mx = pc[hd + 1] > 0.0f && pc[hd] > mx ? pc[hd] : mx;
            }
            float *o = out + r * hd;
            double z = 0.0;
            memset(o, 0, (size_t)hd * sizeof(float));
            for (int64_t c = 0; c < n_chunks && mx > -INFINITY; c++) {
                const float *pc = part + (c * n_rows + r) * (hd + 2);
                if (!(pc[hd + 1] > 0.0f))
                    continue;
                const float w = expf(pc[hd] - mx);
                z += (double)w * pc[hd + 1];
                for (int64_t d = 0; d < hd; d++)
                    o[d] += w * pc[d];
            }
            const float inv = z > 0.0 ? (float)(1.0 / z) : 0.0f;
            for (int64_t d = 0; d < hd; d++)
                o[d] *= inv;
        }
    free(part);
    return !failed;
}

/* The kernel set's flash attention (qdot.h), over (KV head, query block) items; false when the
 * set has none or the shape is outside it. */
static bool attention_items(const struct fy_cpu_set *set, float *out,
                            const struct fy_attn_args *a)
{
    const int64_t group = a->n_head / a->n_head_kv;
    if (!set->attention || a->head_dim % 32 != 0 || a->head_dim > FY_ATTN_MAXHD ||
        group > FY_ATTN_ROWS)
        return false;
    /* query tokens per item: FY_ATTN_ROWS rows, or up to the set's attn_rows while there are
     * still 4 items per thread (larger items convert each cache block for more rows) */
    int64_t qt = FY_ATTN_ROWS / group;
    if (set->attn_rows > FY_ATTN_ROWS) {
        const int64_t want = a->n_tok * a->n_head_kv / (4 * max_threads());
        const int64_t most = set->attn_rows / group;
        qt = want > most ? most : want > qt ? want : qt;
    }
    if (a->n_tok <= qt) {
        int64_t jmin, jmax;
        visible_union(a, &jmin, &jmax);
        if (jmax - jmin + 1 >= FY_ATTN_SPLIT_MIN && attention_split(set, out, a, jmin, jmax))
            return true;
    }
    const int64_t n_tb = (a->n_tok + qt - 1) / qt;
    const int64_t n_items = n_tb * a->n_head_kv;
    int failed = 0;
    /* the last query blocks see the most slots: they go first */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (n_items > 1) reduction(| : failed)
#endif
    for (int64_t i = 0; i < n_items; i++) {
        const int64_t tb = n_tb - 1 - i / a->n_head_kv, g = i % a->n_head_kv;
        const int64_t t1 = (tb + 1) * qt < a->n_tok ? (tb + 1) * qt : a->n_tok;
        failed |= !set->attention(out, a, g, tb * qt, t1, NULL);
    }
    return !failed; /* out of memory in some item: the reference path redoes every row */
}

void fy_cpu_attention(float *out, const struct fy_attn_args *a)
{
    fy_cpu_attention_set(fy_cpu_set(), out, a);
}

void fy_cpu_attention_set(const struct fy_cpu_set *set, float *out, const struct fy_attn_args *a)
{
    if (a->n_tok <= 0 || a->n_head <= 0)
        return;
    if (a->n_head_kv <= 0 || a->n_head % a->n_head_kv != 0 || a->head_dim <= 0 ||
        (a->kv_type != FY_F32 && a->kv_type != FY_F16 && a->kv_type != FY_Q8_0) ||
        (a->kv_type == FY_Q8_0 && (a->n_head_kv * a->head_dim) % 32 != 0) || a->ring != 0) {
        fy_log(FY_LOG_ERR, "fy_cpu_attention: unsupported shape n_head %lld n_head_kv %lld "
               "head_dim %lld kv %s ring %lld (a ring is made linear first: fy_kvcache_linear)",
               (long long)a->n_head, (long long)a->n_head_kv, (long long)a->head_dim,
               fy_dtype_name(a->kv_type), (long long)a->ring);
        memset(out, 0, (size_t)(a->n_tok * a->n_head * a->head_dim) * sizeof(float));
        return;
    }
    if (attention_items(set, out, a))
        return;
    if (a->kv_type != FY_F32 && attention_tiled(out, a))
        return;
    attention_direct(out, a);   /* F32, or F16/Q8_0 element by element when buffers are short */
}
