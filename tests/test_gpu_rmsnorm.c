/* fy_gpu_rmsnorm against fy_cpu_rmsnorm on rows 1, 7, 33, 512 and n 1, 33, 64, 2880, 4096,
 * separate and aliased output, small (eps matters) and large magnitudes.
 *
 * Tolerance, per element, relative to the CPU value: 2e-6. The GPU sums squares in f32 (per
 * thread at most ceil(n/256) = 16 terms for n = 4096, then 8 butterfly levels): worst-case
 * relative error 24 * 2^-24 = 1.4e-6 on the sum, halved by the square root, plus ~4 roundings
 * (mean, + eps, sqrt, 1/x) on the scale; the CPU's double sum is exact to f32 rounding. The two
 * products per element are the same operations on both sides, so the element error is the
 * scale error: <= ~1.1e-6. */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"

#define TOL 2e-6

static const int64_t rows_list[] = { 1, 7, 33, 512 };
static const int64_t widths[] = { 1, 33, 64, 2880, 4096 };

static int run_case(fy_gpu_stream s, int64_t rows, int64_t n, int alias, float xscale,
                    uint64_t seed)
{
    struct fy_rng rng = { seed };
    const float eps = 1e-5f;
    const size_t bytes = (size_t)(rows * n) * sizeof(float), wbytes = (size_t)n * sizeof(float);
    struct fy_bufs b = { .s = s };
    float *x = fy_bufs_host(&b, bytes), *w = fy_bufs_host(&b, wbytes);
    float *ref = fy_bufs_host(&b, bytes), *got = fy_bufs_host(&b, bytes);
    int bad = 1;

    if (b.err)
        goto done;
    for (int64_t i = 0; i < rows * n; i++)
        x[i] = fy_rng_range(&rng, 0.05f, 1.0f) * (fy_rng_unif(&rng) < 0.5 ? -xscale : xscale);
    for (int64_t i = 0; i < n; i++)
        w[i] = fy_rng_range(&rng, 0.1f, 2.0f) * (fy_rng_unif(&rng) < 0.2 ? -1.0f : 1.0f);
    fy_cpu_rmsnorm(ref, x, w, rows, n, eps);
    float *dx = fy_bufs_up(&b, x, bytes, "x"), *dw = fy_bufs_up(&b, w, wbytes, "w");
    float *dy = fy_bufs_dev(&b, bytes, "y");
    float *y = alias ? dx : dy;
    if (b.err || fy_gpu_rmsnorm(y, dx, dw, rows, n, eps, s) != FY_OK ||
        fy_bufs_down(&b, got, y, bytes))
        goto done;
    int64_t first = -1;
    double max_rel = 0.0;
    for (int64_t i = 0; i < rows * n; i++) {
        double rel = fabs((double)got[i] - ref[i]) / fabs((double)ref[i]);
        if (!(rel <= max_rel))
            max_rel = rel;   /* NaN sticks */
        if (!(rel <= TOL) && first < 0)
            first = i;
    }
    bad = first >= 0;
    printf("%s rmsnorm rows %lld n %lld alias %d xscale %g: max rel err %.3g (tol %g)",
           bad ? "FAIL" : "PASS", (long long)rows, (long long)n, alias, (double)xscale, max_rel,
           TOL);
    fy_test_first_bad(first, got, ref);
done:
    fy_bufs_free(&b);
    return bad;
}

int main(void)
{
    fy_gpu_stream s = NULL;
    int failed = 0, rc = fy_test_gpu_start(NULL, &s);

    if (rc)
        return rc;
    for (size_t r = 0; r < FY_ARRAY_LEN(rows_list); r++)
        for (size_t i = 0; i < FY_ARRAY_LEN(widths); i++)
            failed += run_case(s, rows_list[r], widths[i], (int)((r + i) & 1), 1.0f,
                               1000 + 10 * r + i);
    /* eps matters / large values; aliased and not */
    failed += run_case(s, 7, 2880, 0, 1e-3f, 17);
    failed += run_case(s, 7, 2880, 1, 300.0f, 18);
    failed += run_case(s, 33, 4096, 1, 1.0f, 19);
    FY_EXPECT(fy_gpu_rmsnorm(NULL, NULL, NULL, 0, 64, 1e-5f, s) == FY_OK);
    return fy_test_gpu_end(s, failed, "rmsnorm");
}
