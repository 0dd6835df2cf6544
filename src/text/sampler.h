/* Token sampler over a full vocabulary, with llama.cpp's common-sampler semantics.
 *
 * Chain, in this order (llama.cpp's default order, restricted to these samplers):
 *   1. repetition penalty: every distinct id among the last repeat_last_n accepted ids gets
 *      logit > 0 ? logit / repeat_penalty : logit * repeat_penalty (once, however often it
 *      occurs);
 *   2. top-k: keep the top_k highest logits;
 *   3. top-p: softmax (temperature 1) over what is left; keep the smallest set of most probable
 *      tokens whose probability sums to >= top_p (at least one token);
 *   4. min-p: keep tokens with p >= min_p * p_max (tested as logit >= max + log(min_p));
 *   5. temperature: logits / temp;
 *   6. softmax over what is left, and one draw from the sampler's own seeded PRNG
 *      (xoshiro256**, seeded through splitmix64).
 * temp <= 0 is greedy: the arg-max of the penalised logits (ties: lowest id); steps 2-6 are
 * skipped and no random number is drawn.
 *
 * Ordering: "highest" means larger logit, then lower id, so ties at a top-k or top-p boundary
 * keep the lower ids. Nothing sorts the whole vocabulary: top-k <= 1024 scans with a k-heap;
 * a larger top-k, and top-p over the whole vocabulary, find their cut with a histogram of
 * logits below the max plus a quickselect inside one bucket; min-p is a logit threshold. Only
 * an active repetition penalty copies the logits (once per call).
 *
 * Probabilities use a vectorised exp with relative error < 3e-7 (0 below exp(-87)).
 *
 * Logits may hold -inf (a token that must never be drawn) but not NaN. If the largest penalised
 * logit is not finite (all -inf, or some +inf), the result is the greedy one.
 *
 * Reproducibility: the same seed, parameters, accepted ids and logits give the same samples
 * from the same build. A sampler is not thread-safe; use one per sequence. */
#ifndef FY_SAMPLER_H
#define FY_SAMPLER_H

#include "ferry.h"

#include <stdint.h>

/* fy_sampler_params.seed: draw a seed from the clock at fy_sampler_new (and again at
 * fy_sampler_reset). fy_sampler_seed tells which one was used. */
#define FY_SAMPLER_SEED_RANDOM UINT64_MAX

struct fy_sampler_params {
    float temp;             /* <= 0: greedy. Default 1.0 (gpt-oss's recommendation) */
    int32_t top_k;          /* <= 0 or >= n_vocab: off. Default 0 */
    float top_p;            /* >= 1: off. Default 1.0 */
    float min_p;            /* <= 0: off. Default 0 */
    float repeat_penalty;   /* 1: off; must be > 0 and finite. Default 1.0 */
    int32_t repeat_last_n;  /* accepted ids the penalty looks back over; 0: off; must be >= 0
                               (llama.cpp's -1 = "context size" is the caller's to translate).
                               Default 64 */
    uint64_t seed;          /* FY_SAMPLER_SEED_RANDOM (the default): from the clock */
};

/* The defaults above. */
struct fy_sampler_params fy_sampler_params_default(void);

struct fy_sampler;

/* n_vocab in [1, INT32_MAX]. FY_E_INVAL for a NaN temp/top_p/min_p, repeat_penalty <= 0 or not
 * finite, repeat_last_n < 0. Working memory is about 24 bytes per vocabulary entry. */
fy_status fy_sampler_new(const struct fy_sampler_params *p, int64_t n_vocab,
                         struct fy_sampler **out);
void fy_sampler_free(struct fy_sampler *s);

/* Records id (in [0, n_vocab)) as generated, for the repetition penalty. fy_sampler_sample
 * does not do this itself. */
fy_status fy_sampler_accept(struct fy_sampler *s, int32_t id);

/* Forgets the accepted ids and restarts the random stream: with a fixed seed the samples that
 * follow repeat those after fy_sampler_new; with FY_SAMPLER_SEED_RANDOM a new seed is drawn. */
void fy_sampler_reset(struct fy_sampler *s);

/* Next token id from logits[0..n_vocab) (read only). -1 if s or logits is NULL. */
int32_t fy_sampler_sample(struct fy_sampler *s, const float *logits);

/* The seed in use (the drawn one when FY_SAMPLER_SEED_RANDOM was asked for). */
uint64_t fy_sampler_seed(const struct fy_sampler *s);

#endif
