/* The sampler's cuts (sampler_priv.h): candidate order (larger logit first, then lower id),
 * quickselect by count or by mass, top-k by a heap, top-p over a candidate list, and the
 * threshold over the whole vocabulary found by a histogram of logits below the max plus a
 * quickselect inside the one bucket where the cut falls. */
#include "sampler_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* histogram bucket of logit x: (max - x) in steps of 1 / FY_SAMP_RES, the tail (and NaN) last */
static inline int32_t bucket_of(float x, float vmax)
{
    const float d = (vmax - x) * FY_SAMP_RES;
    return (int32_t)(d <= FY_SAMP_SPAN * FY_SAMP_RES ? d : FY_SAMP_SPAN * FY_SAMP_RES);
}

/* 1 if any of the block's values is > thr */
static int block_any_gt(const float *restrict v, float thr)
{
    int hit = 0;
    for (int j = 0; j < FY_SAMP_BLOCK; j++)
        hit |= v[j] > thr;
    return hit;
}

/* ---- candidate order: larger logit first, then lower id ---- */

static int cand_better(const struct fy_cand *a, const struct fy_cand *b)
{
    return a->v > b->v || (a->v == b->v && a->id < b->id);
}

static int cand_cmp(const void *pa, const void *pb)
{
    const struct fy_cand *a = pa;
    const struct fy_cand *b = pb;
    return cand_better(a, b) ? -1 : cand_better(b, a) ? 1 : 0;
}

static void cand_swap(struct fy_cand *a, struct fy_cand *b)
{
    const struct fy_cand t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(struct fy_cand *c, int64_t lo, int64_t hi)
{
    for (int64_t i = lo + 1; i < hi; i++) {
        const struct fy_cand x = c[i];
        int64_t j = i;
        for (; j > lo && cand_better(&x, &c[j - 1]); j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
}

/* Partitions c[lo..hi) (hi - lo >= 3) around a median-of-three pivot: returns p with c[lo..p)
 * better than c[p] and c[p+1..hi) worse; *mass = sum of e over c[lo..p). */
static int64_t partition(struct fy_cand *c, int64_t lo, int64_t hi, double *mass)
{
    int64_t a = lo;
    int64_t b = lo + (hi - lo) / 2;
    const int64_t d = hi - 1;
    if (cand_better(&c[b], &c[a])) {
        const int64_t t = a;
        a = b;
        b = t;
    }
    /* now c[a] >= c[b]; the median of the three goes to hi - 1 */
    if (cand_better(&c[d], &c[b]))
        b = cand_better(&c[d], &c[a]) ? a : d;
    cand_swap(&c[b], &c[hi - 1]);
    const struct fy_cand piv = c[hi - 1];
    int64_t i = lo;
    double s = 0.0;
    for (int64_t j = lo; j < hi - 1; j++) { /* branch-free Lomuto */
        const struct fy_cand x = c[j];
        const int bt = cand_better(&x, &piv);
        c[j] = c[i];
        c[i] = x;
        s += bt ? (double)x.e : 0.0;
        i += bt;
    }
    cand_swap(&c[i], &c[hi - 1]);
    *mass = s;
    return i;
}

static int depth_budget(int64_t m)
{
    int d = 8;
    for (; m > 1; m >>= 1)
        d += 2;
    return d;
}

/* Reorders c[0..m) so that c[0..k) are the k best, 0 < k < m. */
static void select_count(struct fy_cand *c, int64_t m, int64_t k)
{
    int64_t lo = 0;
    int64_t hi = m;
    int budget = depth_budget(m);
    while (hi - lo > FY_SAMP_SMALL) {
        if (budget-- == 0) { /* pathological pivots: finish by sorting */
            qsort(c + lo, (size_t)(hi - lo), sizeof(*c), cand_cmp);
            return;
        }
        double unused = 0.0;
        const int64_t p = partition(c, lo, hi, &unused);
        if (p == k || p + 1 == k)
            return;
        if (k < p)
            hi = p;
        else
            lo = p + 1;
    }
    insertion_sort(c, lo, hi);
}

/* Reorders c[0..m) and returns n such that c[0..n) is the shortest prefix, in candidate
 * order, with sum of e >= target (all m if rounding never gets there); n >= 1 for m >= 1. */
static int64_t select_mass(struct fy_cand *c, int64_t m, double target)
{
    int64_t lo = 0;
    int64_t hi = m;
    double acc = 0.0; /* mass of c[0..lo), all in the set */
    int budget = depth_budget(m);
    while (hi - lo > FY_SAMP_SMALL) {
        if (budget-- == 0) {
            qsort(c + lo, (size_t)(hi - lo), sizeof(*c), cand_cmp);
            break;
        }
        double mb = 0.0;
        const int64_t p = partition(c, lo, hi, &mb);
        if (p > lo && acc + mb >= target) {
            hi = p;
            continue;
        }
        acc += mb + (double)c[p].e;
        if (acc >= target)
            return p + 1;
        lo = p + 1;
    }
    insertion_sort(c, lo, hi); /* linear after a qsort */
    for (int64_t i = lo; i < hi; i++) {
        acc += (double)c[i].e;
        if (acc >= target)
            return i + 1;
    }
    return hi;
}

/* ---- top-k, top-p ---- */

/* c[0..k) = the k best of v[0..n), 0 < k < n: a min-heap in candidate order (root = the worst
 * kept), fed by a scan that skips blocks with nothing above the root */
static void heap_down(struct fy_cand *h, int64_t k, int64_t i)
{
    const struct fy_cand x = h[i];
    for (;;) {
        int64_t w = 2 * i + 1;
        if (w >= k)
            break;
        if (w + 1 < k && cand_better(&h[w], &h[w + 1]))
            w++;
        if (!cand_better(&x, &h[w]))
            break;
        h[i] = h[w];
        i = w;
    }
    h[i] = x;
}

static inline void heap_offer(struct fy_cand *h, int64_t k, float x, int64_t i)
{
    if (x > h[0].v) {
        h[0].v = x;
        h[0].id = (int32_t)i;
        heap_down(h, k, 0);
    }
}

void fy_samp_top_k_heap(struct fy_cand *h, const float *v, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < k; i++) {
        h[i].v = v[i] == v[i] ? v[i] : -INFINITY; /* a NaN must not break the heap */
        h[i].e = 1.0f;
        h[i].id = (int32_t)i;
    }
    for (int64_t i = k / 2; i-- > 0;)
        heap_down(h, k, i);
    /* later ids lose ties, so a newcomer must be strictly larger than the worst kept */
    int64_t i = k;
    for (; i < n && i % FY_SAMP_BLOCK != 0; i++)
        heap_offer(h, k, v[i], i);
    for (; i + FY_SAMP_BLOCK <= n; i += FY_SAMP_BLOCK)
        if (block_any_gt(v + i, h[0].v))
            for (int64_t j = i; j < i + FY_SAMP_BLOCK; j++)
                heap_offer(h, k, v[j], j);
    for (; i < n; i++)
        heap_offer(h, k, v[i], i);
}

/* key[j] = bucket of v[j]; w[j] = weight of token i0 + j: prob (mass) or kept (count) */
static inline void block_keys(int32_t *restrict key, float *restrict w, const float *restrict v,
                              const float *restrict prob, int32_t i0, int64_t len, float vmax,
                              struct fy_thr t, int mass)
{
    for (int64_t j = 0; j < len; j++)
        key[j] = bucket_of(v[j], vmax);
    if (mass) {
        for (int64_t j = 0; j < len; j++)
            w[j] = prob[j];
    } else {
        for (int64_t j = 0; j < len; j++)
            w[j] = (float)fy_samp_thr_keep(v[j], i0 + (int32_t)j, t);
    }
}

/* For the tokens t keeps, with weight prob[i] (mass: prob and bsum from fy_samp_exp_pass with t) or
 * 1
 * (!mass): the threshold keeping the shortest prefix in candidate order whose weight is
 * >= target; t itself if the weight never gets there. A histogram of weight per bucket finds
 * the bucket where the cut falls; a quickselect inside that bucket finds the cut. */
struct fy_thr fy_samp_hist_select(struct fy_sampler *s, const float *v, float vmax, struct fy_thr t,
                                  int mass, double target)
{
    const int64_t n = s->n_vocab;
    double *restrict h0 = s->hist;
    double *restrict h1 = s->hist + FY_SAMP_NB;
    int32_t key[FY_SAMP_BLOCK];
    float w[FY_SAMP_BLOCK];

    memset(s->hist, 0, 2 * FY_SAMP_NB * sizeof(*s->hist));
    for (int64_t i = 0; i < n; i += FY_SAMP_BLOCK) {
        const int64_t len = n - i < FY_SAMP_BLOCK ? n - i : FY_SAMP_BLOCK;
        if (mass ? s->bsum[i / FY_SAMP_BLOCK] == 0.0
                 : len == FY_SAMP_BLOCK && !fy_samp_block_any_ge(v + i, t.v))
            continue;
        if (len == FY_SAMP_BLOCK)
            block_keys(key, w, v + i, s->prob + i, (int32_t)i, FY_SAMP_BLOCK, vmax, t, mass);
        else
            block_keys(key, w, v + i, s->prob + i, (int32_t)i, len, vmax, t, mass);
        for (int64_t j = 0; j + 1 < len; j += 2) { /* two tables: no store-to-load chain */
            h0[key[j]] += w[j];
            h1[key[j + 1]] += w[j + 1];
        }
        if (len & 1)
            h0[key[len - 1]] += w[len - 1];
    }
    double base = 0.0; /* weight of the buckets before the cut's */
    int32_t cut = -1;
    for (int32_t b = 0; b < FY_SAMP_NB; b++) {
        const double hb = h0[b] + h1[b];
        if (hb > 0.0 && base + hb >= target) {
            cut = b;
            break;
        }
        base += hb;
    }
    if (cut < 0)
        return t;

    struct fy_cand *c = s->cand;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i += FY_SAMP_BLOCK) {
        const int64_t len = n - i < FY_SAMP_BLOCK ? n - i : FY_SAMP_BLOCK;
        if (mass && s->bsum[i / FY_SAMP_BLOCK] == 0.0)
            continue;
        int hit = 0;
        if (len == FY_SAMP_BLOCK) {
            for (int j = 0; j < FY_SAMP_BLOCK; j++)
                hit |= bucket_of(v[i + j], vmax) == cut;
        } else {
            hit = 1;
        }
        if (!hit)
            continue;
        for (int64_t j = i; j < i + len; j++) {
            if (bucket_of(v[j], vmax) == cut && fy_samp_thr_keep(v[j], (int32_t)j, t)) {
                c[m].v = v[j];
                c[m].e = mass ? s->prob[j] : 1.0f;
                c[m].id = (int32_t)j;
                m++;
            }
        }
    }
    if (m == 0)
        return t;
    int64_t k;
    if (mass) {
        k = select_mass(c, m, target - base);
    } else {
        k = (int64_t)ceil(target - base);
        k = k < 1 ? 1 : k > m ? m : k;
        if (k < m)
            select_count(c, m, k);
    }
    struct fy_cand last = c[0];
    for (int64_t i = 1; i < k; i++)
        if (cand_better(&last, &c[i]))
            last = c[i];
    return (struct fy_thr){last.v, last.id};
}

int64_t fy_samp_top_p_list(struct fy_sampler *s, int64_t m, float vmax)
{
    struct fy_cand *c = s->cand;
    double z = 0.0;
    for (int64_t i = 0; i < m; i++) {
        c[i].e = fy_samp_exp(c[i].v - vmax);
        z += (double)c[i].e;
    }
    return select_mass(c, m, (double)s->p.top_p * z);
}
