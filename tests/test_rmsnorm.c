/* fy_cpu_rmsnorm against a double-precision reference, on boundary widths, 1 and 7 rows,
 * separate and aliased output. */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test.h"

static const int64_t widths[] = { 1, 31, 32, 64, 2880, 2884 };  /* odd, < 32, 32, 64, d_model, tail */
static const int64_t rows_list[] = { 1, 7 };

/* f32 scale and products against double: ~1e-7 relative per element, so NMSE ~1e-14. */
#define GATE 1e-12

static void ref_rmsnorm(double *y, const float *x, const float *w, int64_t rows, int64_t n,
                        float eps)
{
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0.0;
        for (int64_t i = 0; i < n; i++)
            ss += (double)x[r * n + i] * x[r * n + i];
        const double inv = 1.0 / sqrt(ss / (double)n + (double)eps);
        for (int64_t i = 0; i < n; i++)
            y[r * n + i] = (double)x[r * n + i] * inv * (double)w[i];
    }
}

static int run_case(int64_t rows, int64_t n, int alias, float xscale, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const float eps = 1e-5f;
    float *x = malloc((size_t)(rows * n) * sizeof(float));
    float *y = malloc((size_t)(rows * n) * sizeof(float));
    float *w = malloc((size_t)n * sizeof(float));
    double *ref = malloc((size_t)(rows * n) * sizeof(double));
    int failed = 0;
    char what[128];

    if (!x || !y || !w || !ref) {
        fprintf(stderr, "out of memory\n");
        failed = 1;
        goto done;
    }
    for (int64_t i = 0; i < rows * n; i++)
        x[i] = fy_rng_range(&rng, 0.05f, 1.0f) * (fy_rng_unif(&rng) < 0.5 ? -xscale : xscale);
    for (int64_t i = 0; i < n; i++)
        w[i] = fy_rng_range(&rng, 0.1f, 2.0f) * (fy_rng_unif(&rng) < 0.2 ? -1.0f : 1.0f);
    ref_rmsnorm(ref, x, w, rows, n, eps);
    if (alias) {
        memcpy(y, x, (size_t)(rows * n) * sizeof(float));
        fy_cpu_rmsnorm(y, y, w, rows, n, eps);
    } else {
        fy_cpu_rmsnorm(y, x, w, rows, n, eps);
    }
    snprintf(what, sizeof(what), "rmsnorm rows %lld n %lld alias %d xscale %g",
             (long long)rows, (long long)n, alias, (double)xscale);
    failed += fy_check_nmse(what, y, ref, rows * n, GATE);
done:
    free(x);
    free(y);
    free(w);
    free(ref);
    return failed;
}

int main(void)
{
    int failed = 0;
    for (size_t i = 0; i < FY_ARRAY_LEN(widths); i++)
        for (size_t r = 0; r < FY_ARRAY_LEN(rows_list); r++)
            for (int alias = 0; alias < 2; alias++)
                failed += run_case(rows_list[r], widths[i], alias, 1.0f,
                                   1000 + 10 * (uint64_t)widths[i] + 2 * r + (uint64_t)alias);
    /* small and large magnitudes: eps matters in the first, not in the second */
    failed += run_case(7, 2880, 0, 1e-3f, 17);
    failed += run_case(7, 2880, 1, 300.0f, 18);
    if (failed)
        fprintf(stderr, "%d rmsnorm case(s) failed\n", failed);
    return failed ? 1 : 0;
}
