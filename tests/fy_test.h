/* Small shared helpers for ferry's C tests: seeded RNG, NMSE in double, exit codes. */
#ifndef FY_TEST_H
#define FY_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FY_TEST_SKIP 77
#define FY_TEST_HARD 99

struct fy_rng {
    uint64_t s;
};

static inline uint64_t fy_rng_u64(struct fy_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static inline double fy_rng_unif(struct fy_rng *r)
{
    return (double)(fy_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform in [lo, hi), never exactly zero for lo < 0 < hi in practice */
static inline float fy_rng_range(struct fy_rng *r, float lo, float hi)
{
    return (float)(lo + (hi - lo) * fy_rng_unif(r));
}

/* standard normal (Box-Muller) */
static inline double fy_rng_normal(struct fy_rng *r)
{
    double u1 = fy_rng_unif(r), u2 = fy_rng_unif(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static inline void fy_rng_fill(struct fy_rng *r, float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(scale * fy_rng_normal(r));
}

/* sum (a-b)^2 / sum b^2, in double; a is the tested value, b the reference */
static inline double fy_nmse(const float *a, const double *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

/* Reports one NMSE check; returns 1 on failure. */
static inline int fy_check_nmse(const char *what, const float *a, const double *b, int64_t n,
                                double gate)
{
    double e = fy_nmse(a, b, n);
    int bad = !(e <= gate);
    if (bad) {
        int64_t first = -1;
        for (int64_t i = 0; i < n && first < 0; i++)
            if (fabs((double)a[i] - b[i]) > 1e-3 * (fabs(b[i]) + 1e-3))
                first = i;
        fprintf(stderr, "FAIL %s: nmse %.3g > %.3g (first bad index %lld: %g vs %g)\n", what, e,
                gate, (long long)first, first >= 0 ? a[first] : 0.0, first >= 0 ? b[first] : 0.0);
    } else {
        printf("ok   %s: nmse %.3g\n", what, e);
    }
    return bad;
}

#define FY_EXPECT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
            failed++;                                                                              \
        }                                                                                          \
    } while (0)

#endif
