/* fy_gpu_add against fy_cpu_add: bit for bit (one f32 addition per element on both sides), on
 * n = 1, 7, 33, 4096 and 2880*512, separate and aliased output (y == a), and misaligned pointers
 * (the scalar path of the kernel; aligned buffers take the 16-byte vector path). */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"

static const int64_t sizes[] = { 1, 7, 33, 4096, 2880 * 512 };

static int run_case(fy_gpu_stream s, int64_t n, int alias, int off, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const size_t bytes = (size_t)(n + off) * sizeof(float);
    struct fy_bufs bb = { .s = s };
    float *a = fy_bufs_host(&bb, bytes), *b = fy_bufs_host(&bb, bytes);
    float *ref = fy_bufs_host(&bb, bytes), *got = fy_bufs_host(&bb, bytes);
    int bad = 1;

    if (bb.err)
        goto done;
    /* magnitudes over a wide range so that additions round (never zeros) */
    for (int64_t i = 0; i < n + off; i++) {
        a[i] = (float)(fy_rng_normal(&rng) * pow(10.0, fy_rng_range(&rng, -3.0f, 3.0f)));
        b[i] = (float)(fy_rng_normal(&rng) * pow(10.0, fy_rng_range(&rng, -3.0f, 3.0f)));
    }
    fy_cpu_add(ref + off, a + off, b + off, n);
    float *da = fy_bufs_up(&bb, a, bytes, "a"), *db = fy_bufs_up(&bb, b, bytes, "b");
    float *dy = fy_bufs_dev(&bb, bytes, "y");
    float *y = alias ? da : dy;
    if (bb.err || fy_gpu_add(y + off, da + off, db + off, n, s) != FY_OK ||
        fy_bufs_down(&bb, got, y, bytes))
        goto done;
    int64_t first = -1;
    double max_err = 0.0;
    for (int64_t i = off; i < n + off; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (e > max_err)
            max_err = e;
        if (memcmp(&got[i], &ref[i], sizeof(float)) && first < 0)
            first = i - off;
    }
    bad = first >= 0;
    printf("%s add n %lld alias %d misaligned %d: max abs err %g", bad ? "FAIL" : "PASS",
           (long long)n, alias, off, max_err);
    fy_test_first_bad(first, got + off, ref + off);
done:
    fy_bufs_free(&bb);
    return bad;
}

int main(void)
{
    fy_gpu_stream s = NULL;
    int failed = 0, rc = fy_test_gpu_start(NULL, &s);

    if (rc)
        return rc;
    for (size_t i = 0; i < FY_ARRAY_LEN(sizes); i++)
        for (int alias = 0; alias < 2; alias++)
            for (int off = 0; off < 2; off++)
                failed += run_case(s, sizes[i], alias, off, 100 + 4 * i + 2 * alias + off);
    /* n == 0 launches nothing and succeeds */
    FY_EXPECT(fy_gpu_add(NULL, NULL, NULL, 0, s) == FY_OK);
    return fy_test_gpu_end(s, failed, "add");
}
