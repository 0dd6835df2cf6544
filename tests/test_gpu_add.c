/* fy_gpu_add against fy_cpu_add: bit for bit (one f32 addition per element on both sides), on
 * n = 1, 7, 33, 4096 and 2880*512, separate and aliased output (y == a), and misaligned pointers
 * (the scalar path of the kernel; aligned buffers take the 16-byte vector path). */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test.h"
#include "hip/fy_gpu.h"

static const int64_t sizes[] = { 1, 7, 33, 4096, 2880 * 512 };

static int run_case(fy_gpu_stream s, int64_t n, int alias, int off, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const size_t bytes = (size_t)(n + off) * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes), *ref = malloc(bytes), *got = malloc(bytes);
    float *da = NULL, *db = NULL, *dy = NULL;
    int bad = 1;

    if (!a || !b || !ref || !got) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    /* magnitudes over a wide range so that additions round (never zeros) */
    for (int64_t i = 0; i < n + off; i++) {
        a[i] = (float)(fy_rng_normal(&rng) * pow(10.0, fy_rng_range(&rng, -3.0f, 3.0f)));
        b[i] = (float)(fy_rng_normal(&rng) * pow(10.0, fy_rng_range(&rng, -3.0f, 3.0f)));
    }
    fy_cpu_add(ref + off, a + off, b + off, n);
    if (fy_gpu_malloc((void **)&da, bytes, "a") || fy_gpu_malloc((void **)&db, bytes, "b") ||
        fy_gpu_malloc((void **)&dy, bytes, "y"))
        goto done;
    if (fy_gpu_copy_h2d(da, a, bytes, s) || fy_gpu_copy_h2d(db, b, bytes, s))
        goto done;
    float *y = alias ? da : dy;
    if (fy_gpu_add(y + off, da + off, db + off, n, s) != FY_OK)
        goto done;
    if (fy_gpu_copy_d2h(got, y, bytes, s) || fy_gpu_stream_sync(s))
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
    if (bad)
        printf(" (first bad index %lld: %.9g vs %.9g)", (long long)first,
               (double)got[first + off], (double)ref[first + off]);
    printf("\n");
done:
    fy_gpu_free(da);
    fy_gpu_free(db);
    fy_gpu_free(dy);
    free(a);
    free(b);
    free(ref);
    free(got);
    return bad;
}

int main(void)
{
    struct fy_gpu_info info;
    fy_gpu_stream s = NULL;
    int failed = 0;

    if (fy_gpu_count() == 0)
        return FY_TEST_SKIP;
    if (fy_gpu_init(0, &info) != FY_OK || fy_gpu_stream_new(&s) != FY_OK)
        return FY_TEST_HARD;
    printf("device: %s (%s, %s, warp %d)\n", info.name, info.arch, fy_gpu_platform(), info.warp);
    for (size_t i = 0; i < FY_ARRAY_LEN(sizes); i++)
        for (int alias = 0; alias < 2; alias++)
            for (int off = 0; off < 2; off++)
                failed += run_case(s, sizes[i], alias, off, 100 + 4 * i + 2 * alias + off);
    /* n == 0 launches nothing and succeeds */
    FY_EXPECT(fy_gpu_add(NULL, NULL, NULL, 0, s) == FY_OK);
    fy_gpu_stream_free(s);
    if (failed)
        fprintf(stderr, "%d add case(s) failed\n", failed);
    return failed ? 1 : 0;
}
