/* Token sampler (sampler.h): repetition penalty -> top-k -> top-p -> min-p -> temperature ->
 * softmax -> draw.
 *
 * Candidates are either a list (struct fy_cand, after a heap top-k) or the whole vocabulary cut
 * by a threshold in candidate order (struct fy_thr): the vocabulary is never sorted or copied.
 * A threshold is found by a histogram of logits below the max (mass or count per bucket), then
 * a quickselect inside the one bucket where the cut falls. Whole-vocabulary passes work on blocks
 * of FY_SAMP_BLOCK elements with fixed-length inner loops, which GCC vectorises at -O2. */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FY_SAMP_BLOCK 64       /* elements per vectorised block */
#define FY_SAMP_HEAP_MAX 1024  /* top-k up to this scans with a heap; larger k uses the histogram */
#define FY_SAMP_SMALL 16       /* quickselect ranges this short finish by insertion sort */
#define FY_SAMP_RES 64.0f      /* histogram buckets per unit of logit below the max */
#define FY_SAMP_SPAN 32.0f     /* logits further below the max share the last bucket */
#define FY_SAMP_NB 2049        /* FY_SAMP_RES * FY_SAMP_SPAN + 1 buckets */

struct fy_cand {
    float v;     /* logit (penalised) */
    float e;     /* weight: exp(v - max) for top-p, 1 for top-k */
    int32_t id;
};

/* Keeps token i iff (v[i], i) is at least (v, id) in candidate order (larger logit first, then
 * lower id): v[i] > v, or v[i] == v and i <= id. NaN logits are never kept. */
struct fy_thr {
    float v;
    int32_t id;
};

struct fy_sampler {
    struct fy_sampler_params p;
    int64_t n_vocab;
    uint64_t seed;          /* in use; never FY_SAMPLER_SEED_RANDOM */
    uint64_t rng[4];        /* xoshiro256** state */
    int32_t *recent;        /* (repeat_last_n) ring of accepted ids; NULL when it is 0 */
    int32_t n_recent;
    int32_t recent_pos;     /* next slot to write */
    float *pen;             /* (n_vocab) penalised logits; NULL when the penalty is off */
    float *prob;            /* (n_vocab) exp((v - max) / T) of the candidates, 0 for the rest */
    float *vals;            /* (n_vocab) list candidates' logits, contiguous, for the draw */
    double *bsum;           /* (n_vocab / FY_SAMP_BLOCK + 1) per-block sums of prob */
    double *hist;           /* (2, FY_SAMP_NB) interleaved histograms */
    struct fy_cand *cand;   /* (n_vocab) candidate list */
};

/* ---- random numbers ---- */

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t st[4])
{
    const uint64_t r = rotl64(st[1] * 5, 7) * 9;
    const uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl64(st[3], 45);
    return r;
}

/* uniform in [0, 1) with 53 random bits */
static double rng_unif(uint64_t st[4])
{
    return (double)(rng_next(st) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t clock_seed(const void *salt)
{
    struct timespec a = {0};
    struct timespec b = {0};
    clock_gettime(CLOCK_REALTIME, &a);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t x = (uint64_t)a.tv_sec * 1000000000ull + (uint64_t)a.tv_nsec;
    x ^= rotl64((uint64_t)b.tv_sec * 1000000000ull + (uint64_t)b.tv_nsec, 29);
    x ^= (uint64_t)(uintptr_t)salt;
    x = splitmix64(&x);
    return x == FY_SAMPLER_SEED_RANDOM ? 0 : x;
}

static void rng_start(struct fy_sampler *s)
{
    s->seed = s->p.seed == FY_SAMPLER_SEED_RANDOM ? clock_seed(s) : s->p.seed;
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);   /* never all zero: splitmix64 is a bijection of a counter */
}

/* ---- vectorisable block passes ---- */

/* y where keep is nonzero, else +0; by bit mask, since GCC will not if-convert a conditional
 * floating-point operation (it could trap), which keeps loops from vectorising */
static inline float keep_or_zero(float y, int keep)
{
    uint32_t b;
    memcpy(&b, &y, sizeof(b));
    b &= 0u - (uint32_t)(keep != 0);
    memcpy(&y, &b, sizeof(y));
    return y;
}

/* exp(x) for x <= 0, relative error < 3e-7; 0 below -87 (where expf goes subnormal), for -inf
 * and for NaN. exp(x) = 2^n exp(r), n = round(x / ln2), |r| <= ln2 / 2, exp(r) by its degree-6
 * Taylor polynomial. Branch-free so that block loops vectorise: out of range, the arithmetic
 * makes garbage that the final mask discards. */
/* Sum of one block of FY_SAMP_BLOCK probabilities, in a fixed order (16 float lanes, then
 * double), so both passes that sum blocks agree to the bit. */
static inline double block_sum(const float *pb)
{
    float lane[16];
    for (int j = 0; j < 16; j++)
        lane[j] = (pb[j] + pb[j + 16]) + (pb[j + 32] + pb[j + 48]);
    double sb = 0.0;
    for (int j = 0; j < 16; j++)
        sb += lane[j];
    return sb;
}

static inline float samp_exp(float x)
{
    const float shift = 12582912.0f;   /* 1.5 * 2^23: x + shift rounds x to an integer */
    const float t = x * 1.44269504f + shift;
    const float n = t - shift;
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;   /* ln2 split hi + lo */
    const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6.0f + r * (1.0f / 24.0f +
                    r * (1.0f / 120.0f + r * (1.0f / 720.0f))))));
    uint32_t tb;
    memcpy(&tb, &t, sizeof(tb));
    const uint32_t sb = (tb - 0x4B400000u + 127u) << 23;   /* 2^n, for n in [-126, 0] */
    float sc;
    memcpy(&sc, &sb, sizeof(sc));
    return keep_or_zero(p * sc, x >= -87.0f);
}

static inline int thr_keep(float x, int32_t i, struct fy_thr t)
{
    return (x > t.v) | ((x == t.v) & (i <= t.id));
}

/* histogram bucket of logit x: (max - x) in steps of 1 / FY_SAMP_RES, the tail (and NaN) last */
static inline int32_t bucket_of(float x, float vmax)
{
    const float d = (vmax - x) * FY_SAMP_RES;
    return (int32_t)(d <= FY_SAMP_SPAN * FY_SAMP_RES ? d : FY_SAMP_SPAN * FY_SAMP_RES);
}

static float block_max(const float *restrict v)
{
    float lane[16];
    for (int j = 0; j < 16; j++) {
        const float a = v[j] > v[j + 16] ? v[j] : v[j + 16];
        const float b = v[j + 32] > v[j + 48] ? v[j + 32] : v[j + 48];
        lane[j] = a > b ? a : b;
    }
    float m = lane[0];
    for (int j = 1; j < 16; j++)
        m = lane[j] > m ? lane[j] : m;
    return m;
}

/* 1 if any of the block's values is >= thr */
static int block_any_ge(const float *restrict v, float thr)
{
    int hit = 0;
    for (int j = 0; j < FY_SAMP_BLOCK; j++)
        hit |= v[j] >= thr;
    return hit;
}

/* 1 if any of the block's values is > thr */
static int block_any_gt(const float *restrict v, float thr)
{
    int hit = 0;
    for (int j = 0; j < FY_SAMP_BLOCK; j++)
        hit |= v[j] > thr;
    return hit;
}

/* largest of v[0..n), ignoring NaN; -inf if there is none */
static float vec_max(const float *restrict v, int64_t n)
{
    float acc[FY_SAMP_BLOCK];
    for (int j = 0; j < FY_SAMP_BLOCK; j++)
        acc[j] = -INFINITY;
    int64_t i = 0;
    for (; i + FY_SAMP_BLOCK <= n; i += FY_SAMP_BLOCK)
        for (int j = 0; j < FY_SAMP_BLOCK; j++)
            acc[j] = v[i + j] > acc[j] ? v[i + j] : acc[j];
    float mx = -INFINITY;
    for (int j = 0; j < FY_SAMP_BLOCK; j++)
        mx = acc[j] > mx ? acc[j] : mx;
    for (; i < n; i++)
        mx = v[i] > mx ? v[i] : mx;
    return mx;
}

/* lowest index of the largest value (NaN ignored); with no value above -inf, the first -inf
 * (or 0) */
static int64_t argmax(const float *restrict v, int64_t n)
{
    float best = -INFINITY;
    int64_t from = 0;   /* the first occurrence of best is at or after this */
    int64_t i = 0;
    for (; i + FY_SAMP_BLOCK <= n; i += FY_SAMP_BLOCK) {
        const float bm = block_max(v + i);
        if (bm > best) {
            best = bm;
            from = i;
        }
    }
    for (; i < n; i++) {
        if (v[i] > best) {
            best = v[i];
            from = i;
        }
    }
    for (i = from; i < n; i++)
        if (v[i] == best)
            return i;
    return 0;
}

/* prob[i] = exp((v[i] - vmax) * inv_t) for the tokens t keeps, 0 for the others; bsum[b] = the
 * sum over block b. A block with nothing kept gets bsum 0 and its prob is left unwritten.
 * Returns the total. */
static double exp_pass(float *restrict prob, double *restrict bsum, const float *restrict v,
                       int64_t n, float vmax, float inv_t, struct fy_thr t)
{
    const int64_t nb = n / FY_SAMP_BLOCK;
    const int check = t.v > -INFINITY;
    double z = 0.0;
    for (int64_t b = 0; b < nb; b++) {
        const float *restrict vb = v + b * FY_SAMP_BLOCK;
        float *restrict pb = prob + b * FY_SAMP_BLOCK;
        const int32_t i0 = (int32_t)(b * FY_SAMP_BLOCK);
        if (check && !block_any_ge(vb, t.v)) {
            bsum[b] = 0.0;
            continue;
        }
        for (int j = 0; j < FY_SAMP_BLOCK; j++) {
            const float e = samp_exp((vb[j] - vmax) * inv_t);
            pb[j] = keep_or_zero(e, thr_keep(vb[j], i0 + j, t));
        }
        const double sb = block_sum(pb);
        bsum[b] = sb;
        z += sb;
    }
    if (nb * FY_SAMP_BLOCK < n) {
        double sb = 0.0;
        for (int64_t i = nb * FY_SAMP_BLOCK; i < n; i++) {
            const float e = samp_exp((v[i] - vmax) * inv_t);
            prob[i] = keep_or_zero(e, thr_keep(v[i], (int32_t)i, t));
            sb += prob[i];
        }
        bsum[nb] = sb;
        z += sb;
    }
    return z;
}

/* After exp_pass at this temperature with a looser threshold: zeroes prob outside t and
 * recomputes bsum, without recomputing the exponentials. Returns the total. */
static double mask_pass(float *restrict prob, double *restrict bsum, const float *restrict v,
                        int64_t n, struct fy_thr t)
{
    const int64_t nb = (n + FY_SAMP_BLOCK - 1) / FY_SAMP_BLOCK;
    double z = 0.0;
    for (int64_t b = 0; b < nb; b++) {
        if (bsum[b] == 0.0)
            continue;
        const int64_t i0 = b * FY_SAMP_BLOCK;
        if (i0 + FY_SAMP_BLOCK > n) {   /* the tail */
            double sb = 0.0;
            for (int64_t i = i0; i < n; i++) {
                prob[i] = keep_or_zero(prob[i], thr_keep(v[i], (int32_t)i, t));
                sb += prob[i];
            }
            bsum[b] = sb;
            z += sb;
            continue;
        }
        const float *restrict vb = v + i0;
        float *restrict pb = prob + i0;
        if (!block_any_ge(vb, t.v)) {
            bsum[b] = 0.0;
            continue;
        }
        for (int j = 0; j < FY_SAMP_BLOCK; j++)
            pb[j] = keep_or_zero(pb[j], thr_keep(vb[j], (int32_t)i0 + j, t));
        const double sb = block_sum(pb);
        bsum[b] = sb;
        z += sb;
    }
    return z;
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
    for (int64_t j = lo; j < hi - 1; j++) {   /* branch-free Lomuto */
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
        if (budget-- == 0) {   /* pathological pivots: finish by sorting */
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
    double acc = 0.0;   /* mass of c[0..lo), all in the set */
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
    insertion_sort(c, lo, hi);   /* linear after a qsort */
    for (int64_t i = lo; i < hi; i++) {
        acc += (double)c[i].e;
        if (acc >= target)
            return i + 1;
    }
    return hi;
}

/* ---- the chain ---- */

/* the penalised logits: the caller's, or a copy in s->pen */
static const float *apply_penalty(struct fy_sampler *s, const float *logits)
{
    if (!s->pen || s->n_recent == 0)
        return logits;
    const float pen = s->p.repeat_penalty;
    memcpy(s->pen, logits, (size_t)s->n_vocab * sizeof(float));
    for (int32_t i = 0; i < s->n_recent; i++) {
        const int32_t id = s->recent[i];
        const float l = logits[id];   /* from the original: a repeated id is penalised once */
        s->pen[id] = l > 0.0f ? l / pen : l * pen;
    }
    return s->pen;
}

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

static void top_k_heap(struct fy_cand *h, const float *v, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < k; i++) {
        h[i].v = v[i] == v[i] ? v[i] : -INFINITY;   /* a NaN must not break the heap */
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
            w[j] = (float)thr_keep(v[j], i0 + (int32_t)j, t);
    }
}

/* For the tokens t keeps, with weight prob[i] (mass: prob and bsum from exp_pass with t) or 1
 * (!mass): the threshold keeping the shortest prefix in candidate order whose weight is
 * >= target; t itself if the weight never gets there. A histogram of weight per bucket finds
 * the bucket where the cut falls; a quickselect inside that bucket finds the cut. */
static struct fy_thr hist_select(struct fy_sampler *s, const float *v, float vmax, struct fy_thr t,
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
                 : len == FY_SAMP_BLOCK && !block_any_ge(v + i, t.v))
            continue;
        if (len == FY_SAMP_BLOCK)
            block_keys(key, w, v + i, s->prob + i, (int32_t)i, FY_SAMP_BLOCK, vmax, t, mass);
        else
            block_keys(key, w, v + i, s->prob + i, (int32_t)i, len, vmax, t, mass);
        for (int64_t j = 0; j + 1 < len; j += 2) {   /* two tables: no store-to-load chain */
            h0[key[j]] += w[j];
            h1[key[j + 1]] += w[j + 1];
        }
        if (len & 1)
            h0[key[len - 1]] += w[len - 1];
    }
    double base = 0.0;   /* weight of the buckets before the cut's */
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
            if (bucket_of(v[j], vmax) == cut && thr_keep(v[j], (int32_t)j, t)) {
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

static int64_t top_p_list(struct fy_sampler *s, int64_t m, float vmax)
{
    struct fy_cand *c = s->cand;
    double z = 0.0;
    for (int64_t i = 0; i < m; i++) {
        c[i].e = samp_exp(c[i].v - vmax);
        z += (double)c[i].e;
    }
    return select_mass(c, m, (double)s->p.top_p * z);
}

/* index into prob[0..m) drawn in proportion to prob (total z > 0, block sums in bsum; blocks
 * with bsum 0 are never read) */
static int64_t draw(struct fy_sampler *s, int64_t m, double z)
{
    const double u = rng_unif(s->rng) * z;
    const int64_t nb = (m + FY_SAMP_BLOCK - 1) / FY_SAMP_BLOCK;
    double acc = 0.0;
    int64_t last = -1;   /* the last block with weight so far */
    for (int64_t b = 0; b < nb; b++) {
        if (!(s->bsum[b] > 0.0))
            continue;
        last = b;
        if (acc + s->bsum[b] <= u) {
            acc += s->bsum[b];
            continue;
        }
        const int64_t end = (b + 1) * FY_SAMP_BLOCK < m ? (b + 1) * FY_SAMP_BLOCK : m;
        for (int64_t i = b * FY_SAMP_BLOCK; i < end; i++) {
            acc += (double)s->prob[i];
            if (acc > u && s->prob[i] > 0.0f)
                return i;
        }
        break;   /* rounding: the block's own sum said u is in here */
    }
    if (last < 0)
        return 0;
    const int64_t end = (last + 1) * FY_SAMP_BLOCK < m ? (last + 1) * FY_SAMP_BLOCK : m;
    for (int64_t i = end; i-- > last * FY_SAMP_BLOCK;)
        if (s->prob[i] > 0.0f)
            return i;
    return 0;
}

static int32_t sample_chain(struct fy_sampler *s, const float *v, float vmax)
{
    const int64_t n = s->n_vocab;
    const struct fy_sampler_params *p = &s->p;
    const struct fy_thr all = {-INFINITY, INT32_MAX};
    struct fy_thr t = all;   /* the candidates, while !list */
    int64_t m = 0;           /* the candidates s->cand[0..m), once list */
    int list = 0;
    int have_exp1 = 0;       /* prob holds exp(v - vmax) for a superset of t */

    if (p->top_k > 0 && p->top_k < n) {
        if (p->top_k <= FY_SAMP_HEAP_MAX) {
            top_k_heap(s->cand, v, n, p->top_k);
            m = p->top_k;
            list = 1;
        } else {
            t = hist_select(s, v, vmax, t, 0, (double)p->top_k);
        }
    }
    if (p->top_p < 1.0f) {
        if (list) {
            m = top_p_list(s, m, vmax);
        } else {
            const double z = exp_pass(s->prob, s->bsum, v, n, vmax, 1.0f, t);
            t = hist_select(s, v, vmax, t, 1, (double)p->top_p * z);
            have_exp1 = 1;
        }
    }
    if (p->min_p > 0.0f) {
        /* the max survives every step above, so it is still the candidates' max */
        float lo = vmax + logf(p->min_p);
        lo = lo < vmax ? lo : vmax;   /* min_p >= 1 still keeps the max */
        if (list) {
            int64_t k = 0;
            for (int64_t i = 0; i < m; i++)
                if (s->cand[i].v >= lo)
                    s->cand[k++] = s->cand[i];
            m = k;
        } else if (lo > t.v) {
            t = (struct fy_thr){lo, INT32_MAX};
        }
    }

    float inv_t = 1.0f / p->temp;
    if (!(inv_t <= FLT_MAX))
        inv_t = FLT_MAX;   /* temp below 1 / FLT_MAX: near-greedy, without inf * 0 */
    if (list) {
        for (int64_t i = 0; i < m; i++)
            s->vals[i] = s->cand[i].v;
        const double z = exp_pass(s->prob, s->bsum, s->vals, m, vmax, inv_t, all);
        return s->cand[draw(s, m, z)].id;
    }
    const double z = have_exp1 && inv_t == 1.0f ? mask_pass(s->prob, s->bsum, v, n, t)
                                                 : exp_pass(s->prob, s->bsum, v, n, vmax, inv_t, t);
    return (int32_t)draw(s, n, z);
}

/* ---- API ---- */

struct fy_sampler_params fy_sampler_params_default(void)
{
    struct fy_sampler_params p = {
        .temp = 1.0f,
        .top_k = 0,
        .top_p = 1.0f,
        .min_p = 0.0f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .seed = FY_SAMPLER_SEED_RANDOM,
    };
    return p;
}

fy_status fy_sampler_new(const struct fy_sampler_params *p, int64_t n_vocab,
                         struct fy_sampler **out)
{
    struct fy_sampler *s = NULL;

    FY_CHECK_ARG(out);
    *out = NULL;
    FY_CHECK_ARG(p && n_vocab >= 1 && n_vocab <= INT32_MAX);
    FY_CHECK_ARG(!isnan(p->temp) && !isnan(p->top_p) && !isnan(p->min_p));
    FY_CHECK_ARG(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty));
    FY_CHECK_ARG(p->repeat_last_n >= 0);

    s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    s->p = *p;
    s->n_vocab = n_vocab;
    const size_t n = (size_t)n_vocab;
    s->prob = malloc(n * sizeof(*s->prob));
    s->vals = malloc(n * sizeof(*s->vals));
    s->bsum = malloc((n / FY_SAMP_BLOCK + 1) * sizeof(*s->bsum));
    s->hist = malloc(2 * FY_SAMP_NB * sizeof(*s->hist));
    s->cand = malloc(n * sizeof(*s->cand));
    if (!s->prob || !s->vals || !s->bsum || !s->hist || !s->cand)
        goto fail;
    if (p->repeat_last_n > 0) {
        s->recent = malloc((size_t)p->repeat_last_n * sizeof(*s->recent));
        if (!s->recent)
            goto fail;
        if (p->repeat_penalty != 1.0f) {
            s->pen = malloc(n * sizeof(*s->pen));
            if (!s->pen)
                goto fail;
        }
    }
    rng_start(s);
    *out = s;
    return FY_OK;
fail:
    fy_log(FY_LOG_ERR, "sampler: out of memory for a vocabulary of %lld", (long long)n_vocab);
    fy_sampler_free(s);
    return FY_E_NOMEM;
}

void fy_sampler_free(struct fy_sampler *s)
{
    if (!s)
        return;
    free(s->recent);
    free(s->pen);
    free(s->prob);
    free(s->vals);
    free(s->bsum);
    free(s->hist);
    free(s->cand);
    free(s);
}

fy_status fy_sampler_accept(struct fy_sampler *s, int32_t id)
{
    FY_CHECK_ARG(s && id >= 0 && id < s->n_vocab);
    const int32_t cap = s->p.repeat_last_n;
    if (cap == 0)
        return FY_OK;
    s->recent[s->recent_pos] = id;
    s->recent_pos = s->recent_pos + 1 == cap ? 0 : s->recent_pos + 1;
    if (s->n_recent < cap)
        s->n_recent++;
    return FY_OK;
}

void fy_sampler_reset(struct fy_sampler *s)
{
    if (!s)
        return;
    s->n_recent = 0;
    s->recent_pos = 0;
    rng_start(s);
}

uint64_t fy_sampler_seed(const struct fy_sampler *s)
{
    return s ? s->seed : 0;
}

int32_t fy_sampler_sample(struct fy_sampler *s, const float *logits)
{
    if (!s || !logits)
        return -1;
    const float *v = apply_penalty(s, logits);
    if (s->p.temp <= 0.0f)
        return (int32_t)argmax(v, s->n_vocab);
    const float vmax = vec_max(v, s->n_vocab);
    if (!isfinite(vmax))
        return (int32_t)argmax(v, s->n_vocab);
    return sample_chain(s, v, vmax);
}
