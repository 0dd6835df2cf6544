/* fy_gpu_argmax against fy_cpu_argmax, and fy_cpu_argmax against a plain scan, on random rows
 * (n 1 .. the gpt-oss vocabulary 201088): the maximum repeated at a later index (the lower
 * wins), -inf entries, NaNs (skipped), a row of NaNs (0). Exact: the ids must be equal. */
#include <math.h>
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"

static int failed;

/* the plain definition: largest non-NaN, lowest index among equals, 0 if none */
static int32_t plain_argmax(const float *x, int64_t n)
{
    int64_t best = -1;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(x[i]) && (best < 0 || x[i] > x[best]))
            best = i;
    return (int32_t)(best < 0 ? 0 : best);
}

static void one_case(fy_gpu_stream s, int64_t rows, int64_t n, uint64_t seed)
{
    struct fy_rng r = {seed};
    struct fy_bufs b = {.s = s};
    float *x = fy_bufs_host(&b, (size_t)(rows * n) * 4);
    int32_t *cpu = fy_bufs_host(&b, (size_t)rows * 4), *gpu = fy_bufs_host(&b, (size_t)rows * 4);
    if (b.err)
        return;
    fy_rng_fill(&r, x, rows * n, 3.0f);
    for (int64_t row = 0; row < rows; row++) {
        float *xr = x + row * n;
        const int kind = (int)(row % 4);
        if (kind == 1 && n > 2) { /* the maximum twice: the first one wins */
            const int32_t m = plain_argmax(xr, n);
            xr[(m + 1 + fy_rng_u64(&r) % (uint64_t)(n - 1)) % n] = xr[m] + 1.0f;
            const int32_t m2 = plain_argmax(xr, n);
            xr[(m2 + 1 + fy_rng_u64(&r) % (uint64_t)(n - 1)) % n] = xr[m2];
        } else if (kind == 2) { /* NaNs and -inf scattered */
            for (int64_t i = 0; i < n; i += 3)
                xr[i] = i % 2 ? -INFINITY : NAN;
        } else if (kind == 3 && row == 3) { /* nothing but NaN */
            for (int64_t i = 0; i < n; i++)
                xr[i] = NAN;
        }
    }
    fy_cpu_argmax(cpu, x, rows, n);
    int ok = 1;
    for (int64_t row = 0; row < rows; row++)
        ok &= cpu[row] == plain_argmax(x + row * n, n);
    float *dx = fy_bufs_up(&b, x, (size_t)(rows * n) * 4, "x");
    int32_t *dids = fy_bufs_dev(&b, (size_t)rows * 4, "ids");
    if (b.err || fy_gpu_argmax(dids, dx, rows, n, s) != FY_OK ||
        fy_bufs_down(&b, gpu, dids, (size_t)rows * 4)) {
        printf("FAIL argmax rows %lld n %lld: launch\n", (long long)rows, (long long)n);
        failed++;
        fy_bufs_free(&b);
        return;
    }
    const int same = !memcmp(cpu, gpu, (size_t)rows * 4);
    printf("%s argmax rows %lld n %6lld: CPU %s the plain scan, GPU %s the CPU (row 0: %d)\n",
           ok && same ? "PASS" : "FAIL", (long long)rows, (long long)n, ok ? "=" : "!=",
           same ? "=" : "!=", gpu[0]);
    failed += !(ok && same);
    fy_bufs_free(&b);
}

int main(void)
{
    fy_gpu_stream s;
    const int st = fy_test_gpu_start(NULL, &s);
    if (st)
        return st;
    one_case(s, 1, 1, 1);
    one_case(s, 4, 7, 2);
    one_case(s, 8, 1000, 3);
    one_case(s, 5, 4097, 4);
    one_case(s, 2, 201088, 5);
    return fy_test_gpu_end(s, failed, "argmax");
}
