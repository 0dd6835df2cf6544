/* Private to the synthetic-model writer (synth.c, synth_gen.c, synth_plan.c): the random
 * streams and the weight generator that synth.c drives tensor by tensor. */
#ifndef FY_SYNTH_PRIV_H
#define FY_SYNTH_PRIV_H

#include "synth.h"

/* xoshiro256** state, with the second Box-Muller value kept for the next call */
struct sy_rng {
    uint64_t s[4];
    int have_spare;
    double spare;
};

/* one tensor's generator: its random stream and the block scales for its std */
struct sy_gen {
    struct sy_rng rng;
    const float *nt; /* normal table */
    const struct fy_synth_tensor *t;
    float q8_d;     /* Q8_0: mean scale */
    uint8_t mx_e;   /* MXFP4: lower exponent */
    double mx_p_hi; /* probability of mx_e + 1 */
};

/* random numbers (synth_gen.c): a stream seeded from (seed, stream name); standard normals */
void fy_synth_rng_seed(struct sy_rng *r, uint64_t seed, const char *stream);
double fy_synth_rng_normal(struct sy_rng *r);

/* the weight generator (synth_gen.c) */
float *fy_synth_normal_table_new(void); /* the N(0, 1) quantile table; free() it */
void fy_synth_gen_init(struct sy_gen *g, const struct fy_synth_config *c,
                       const struct fy_synth_tensor *t, const float *nt);
/* Generates the next n_units (blocks for Q8_0 / MXFP4, else elements) of the tensor. */
void fy_synth_gen_units(struct sy_gen *g, uint8_t *dst, int64_t n_units);
size_t fy_synth_unit_bytes(enum fy_dtype t); /* bytes of one unit of fy_synth_gen_units */

#endif
