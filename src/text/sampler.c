/* Token sampler (sampler.h): repetition penalty -> top-k -> top-p -> min-p -> temperature ->
 * softmax -> draw.
 *
 * Candidates are either a list (struct fy_cand, after a heap top-k) or the whole vocabulary cut
 * by a threshold in candidate order (struct fy_thr): the vocabulary is never sorted or copied.
 * A threshold is found by a histogram of logits below the max (mass or count per bucket), then
 * a quickselect inside the one bucket where the cut falls. Whole-vocabulary passes work on blocks
 * of FY_SAMP_BLOCK elements with fixed-length inner loops, which GCC vectorises at -O2.
 *
 * This file holds the sampler's state, its random numbers, the repetition penalty, the chain and
 * the API; the cuts are in sampler_select.c, the block passes in sampler_vec.c. */
#include "sampler_priv.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
            fy_samp_top_k_heap(s->cand, v, n, p->top_k);
            m = p->top_k;
            list = 1;
        } else {
            t = fy_samp_hist_select(s, v, vmax, t, 0, (double)p->top_k);
        }
    }
    if (p->top_p < 1.0f) {
        if (list) {
            m = fy_samp_top_p_list(s, m, vmax);
        } else {
            const double z = fy_samp_exp_pass(s->prob, s->bsum, v, n, vmax, 1.0f, t);
            t = fy_samp_hist_select(s, v, vmax, t, 1, (double)p->top_p * z);
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
        const double z = fy_samp_exp_pass(s->prob, s->bsum, s->vals, m, vmax, inv_t, all);
        return s->cand[draw(s, m, z)].id;
    }
    const double z = have_exp1 && inv_t == 1.0f
                         ? fy_samp_mask_pass(s->prob, s->bsum, v, n, t)
                         : fy_samp_exp_pass(s->prob, s->bsum, v, n, vmax, inv_t, t);
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
        return (int32_t)fy_samp_argmax(v, s->n_vocab);
    const float vmax = fy_samp_vec_max(v, s->n_vocab);
    if (!isfinite(vmax))
        return (int32_t)fy_samp_argmax(v, s->n_vocab);
    return sample_chain(s, v, vmax);
}
