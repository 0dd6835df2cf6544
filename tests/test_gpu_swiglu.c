/* fy_gpu_swiglu_oai against fy_cpu_swiglu_oai (alpha 1.702, limit 7), n 1, 7, 33, 4096*4, values
 * across the clamp limits (exactly +-limit, beyond, g so negative that exp(-alpha g) overflows:
 * -0), separate and aliased output (a == g, a == u), misaligned pointers (scalar path).
 *
 * Tolerance: |gpu - cpu| <= 1e-6 |cpu| + 1e-30. Both compute g'/(1 + expf(-alpha g')) * (u'+1)
 * with the same f32 operations; only expf differs (device <= 2 ulp vs glibc < 1 ulp), which
 * moves 1 + e by <= 2 ulp and the result by <= ~3e-7 relative. The absolute floor covers the
 * edge where one expf overflows to inf (result -0) and the other returns ~FLT_MAX (result
 * ~-1e-37). */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"

#define RTOL 1e-6
#define ATOL 1e-30

static const float alpha = 1.702f, limit = 7.0f;

static float pick(struct fy_rng *rng)
{
    static const float special[] = { 7.0f, -7.0f, 7.0001f, -7.0001f, 100.0f, -100.0f, -52.13f,
                                     -52.14f, -60.0f, -1.0f, 1e-30f, -1e-30f };
    const double r = fy_rng_unif(rng);
    if (r < 0.1)
        return special[fy_rng_u64(rng) % FY_ARRAY_LEN(special)];
    if (r < 0.3)
        return fy_rng_range(rng, -60.0f, 60.0f);
    return fy_rng_range(rng, -10.0f, 10.0f);
}

/* alias: 0 none, 1 a == g, 2 a == u */
static int run_case(fy_gpu_stream s, int64_t n, int alias, int off, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const size_t bytes = (size_t)(n + off) * sizeof(float);
    struct fy_bufs b = { .s = s };
    float *g = fy_bufs_host(&b, bytes), *u = fy_bufs_host(&b, bytes);
    float *ref = fy_bufs_host(&b, bytes), *got = fy_bufs_host(&b, bytes);
    int bad = 1;

    if (b.err)
        goto done;
    for (int64_t i = 0; i < n + off; i++) {
        g[i] = pick(&rng);
        u[i] = pick(&rng);
    }
    fy_cpu_swiglu_oai(ref + off, g + off, u + off, n, alpha, limit);
    float *dg = fy_bufs_up(&b, g, bytes, "g"), *du = fy_bufs_up(&b, u, bytes, "u");
    float *da = fy_bufs_dev(&b, bytes, "a");
    float *a = alias == 1 ? dg : alias == 2 ? du : da;
    if (b.err || fy_gpu_swiglu_oai(a + off, dg + off, du + off, n, alpha, limit, s) != FY_OK ||
        fy_bufs_down(&b, got, a, bytes))
        goto done;
    int64_t first = -1;
    double max_rel = 0.0;
    for (int64_t i = off; i < n + off; i++) {
        const double err = fabs((double)got[i] - ref[i]);
        const double rel = ref[i] != 0.0f ? err / fabs((double)ref[i]) : err;
        if (!(rel <= max_rel))
            max_rel = rel;
        if (!(err <= RTOL * fabs((double)ref[i]) + ATOL) && first < 0)
            first = i - off;
    }
    bad = first >= 0;
    printf("%s swiglu n %lld alias %d misaligned %d: max rel err %.3g (tol %g)",
           bad ? "FAIL" : "PASS", (long long)n, alias, off, max_rel, RTOL);
    if (bad)
        printf(" (first bad index %lld: g %.9g u %.9g: %.9g vs %.9g)", (long long)first,
               (double)g[first + off], (double)u[first + off], (double)got[first + off],
               (double)ref[first + off]);
    printf("\n");
done:
    fy_bufs_free(&b);
    return bad;
}

int main(void)
{
    static const int64_t sizes[] = { 1, 7, 33, 4096 * 4 };
    fy_gpu_stream s = NULL;
    int failed = 0, rc = fy_test_gpu_start(NULL, &s);

    if (rc)
        return rc;
    for (size_t i = 0; i < FY_ARRAY_LEN(sizes); i++)
        for (int alias = 0; alias < 3; alias++)
            for (int off = 0; off < 2; off++)
                failed += run_case(s, sizes[i], alias, off, 10 * i + 2 * alias + off);
    FY_EXPECT(fy_gpu_swiglu_oai(NULL, NULL, NULL, 0, alpha, limit, s) == FY_OK);
    return fy_test_gpu_end(s, failed, "swiglu");
}
