/* Internals of the sampler shared by sampler.c (the state, random numbers, the repetition penalty,
 * the chain and the API), sampler_select.c (the cuts: candidate order, quickselect, the top-k heap,
 * the histogram threshold) and sampler_vec.c (the vectorised whole-vocabulary passes). */
#ifndef FY_SAMPLER_PRIV_H
#define FY_SAMPLER_PRIV_H

#include "sampler.h"

#include <stdint.h>
#include <string.h>

#define FY_SAMP_BLOCK 64      /* elements per vectorised block */
#define FY_SAMP_HEAP_MAX 1024 /* top-k up to this scans a heap; larger k uses the histogram */
#define FY_SAMP_SMALL 16      /* quickselect ranges this short finish by insertion sort */
#define FY_SAMP_RES 64.0f     /* histogram buckets per unit of logit below the max */
#define FY_SAMP_SPAN 32.0f    /* logits further below the max share the last bucket */
#define FY_SAMP_NB 2049       /* FY_SAMP_RES * FY_SAMP_SPAN + 1 buckets */

struct fy_cand {
    float v; /* logit (penalised) */
    float e; /* weight: exp(v - max) for top-p, 1 for top-k */
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
    uint64_t seed;   /* in use; never FY_SAMPLER_SEED_RANDOM */
    uint64_t rng[4]; /* xoshiro256** state */
    int32_t *recent; /* (repeat_last_n) ring of accepted ids; NULL when it is 0 */
    int32_t n_recent;
    int32_t recent_pos;   /* next slot to write */
    float *pen;           /* (n_vocab) penalised logits; NULL when the penalty is off */
    float *prob;          /* (n_vocab) exp((v - max) / T) of the candidates, 0 for the rest */
    float *vals;          /* (n_vocab) list candidates' logits, contiguous, for the draw */
    double *bsum;         /* (n_vocab / FY_SAMP_BLOCK + 1) per-block sums of prob */
    double *hist;         /* (2, FY_SAMP_NB) interleaved histograms */
    struct fy_cand *cand; /* (n_vocab) candidate list */
};

/* ---- inline helpers of the block passes (sampler_vec.c, sampler_select.c, the chain) ---- */

/* y where keep is nonzero, else +0; by bit mask, since GCC will not if-convert a conditional
 * floating-point operation (it could trap), which keeps loops from vectorising */
static inline float fy_samp_keep_or_zero(float y, int keep)
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
static inline float fy_samp_exp(float x)
{
    const float shift = 12582912.0f; /* 1.5 * 2^23: x + shift rounds x to an integer */
    const float t = x * 1.44269504f + shift;
    const float n = t - shift;
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f; /* ln2 split hi + lo */
    const float p =
        1.0f +
        r * (1.0f +
             r * (0.5f + r * (1.0f / 6.0f +
                              r * (1.0f / 24.0f + r * (1.0f / 120.0f + r * (1.0f / 720.0f))))));
    uint32_t tb;
    memcpy(&tb, &t, sizeof(tb));
    const uint32_t sb = (tb - 0x4B400000u + 127u) << 23; /* 2^n, for n in [-126, 0] */
    float sc;
    memcpy(&sc, &sb, sizeof(sc));
    return fy_samp_keep_or_zero(p * sc, x >= -87.0f);
}

static inline int fy_samp_thr_keep(float x, int32_t i, struct fy_thr t)
{
    return (x > t.v) | ((x == t.v) & (i <= t.id));
}

/* 1 if any of the block's values is >= thr */
static inline int fy_samp_block_any_ge(const float *restrict v, float thr)
{
    int hit = 0;
    for (int j = 0; j < FY_SAMP_BLOCK; j++)
        hit |= v[j] >= thr;
    return hit;
}

/* ---- sampler_vec.c ---- */

/* largest of v[0..n), ignoring NaN; -inf if there is none */
float fy_samp_vec_max(const float *restrict v, int64_t n);
/* lowest index of the largest value (NaN ignored); with no value above -inf, the first -inf
 * (or 0) */
int64_t fy_samp_argmax(const float *restrict v, int64_t n);
/* prob[i] = exp((v[i] - vmax) * inv_t) for the tokens t keeps, 0 for the others, bsum the
 * per-block sums; returns the total */
double fy_samp_exp_pass(float *restrict prob, double *restrict bsum, const float *restrict v,
                        int64_t n, float vmax, float inv_t, struct fy_thr t);
/* after fy_samp_exp_pass with a looser threshold: prob outside t zeroed, bsum recomputed;
 * returns the total */
double fy_samp_mask_pass(float *restrict prob, double *restrict bsum, const float *restrict v,
                         int64_t n, struct fy_thr t);

/* ---- sampler_select.c ---- */

/* h[0..k) = the k best of v[0..n), 0 < k < n, as a heap (not sorted) */
void fy_samp_top_k_heap(struct fy_cand *h, const float *v, int64_t n, int64_t k);
/* the threshold keeping the shortest prefix, in candidate order, of the tokens t keeps whose
 * weight (mass: prob from fy_samp_exp_pass with t; else 1 each) is >= target */
struct fy_thr fy_samp_hist_select(struct fy_sampler *s, const float *v, float vmax, struct fy_thr t,
                                  int mass, double target);
/* top-p over the list s->cand[0..m): reorders it and returns how many are kept */
int64_t fy_samp_top_p_list(struct fy_sampler *s, int64_t m, float vmax);

#endif
