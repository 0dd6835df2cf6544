/* SwiGLU-OAI against a double reference (gpt-oss.md section 6 and mistake 9): gate clamped from
 * above only, up clamped both ways, alpha inside the sigmoid, +1 on the up branch. */
#include "cpu/ops.h"
#include "fy_test.h"

static double ref_swiglu(double g, double u, double alpha, double limit)
{
    double gc = g > limit ? limit : g;
    double uc = u > limit ? limit : u < -limit ? -limit : u;
    return gc / (1.0 + exp(-alpha * gc)) * (uc + 1.0);
}

static int check_one(float g, float u, double want)
{
    float a;
    fy_cpu_swiglu_oai(&a, &g, &u, 1, 1.702f, 7.0f);
    double got = a;
    if (!(fabs(got - want) <= 1e-6 * fabs(want) + 1e-30)) {
        fprintf(stderr, "FAIL swiglu(g=%g, u=%g) = %.9g, want %.9g\n", (double)g, (double)u, got,
                want);
        return 1;
    }
    return 0;
}

int main(void)
{
    static const int64_t ns[] = {1, 7, 1000, 100003};
    int failed = 0;
    struct fy_rng r = {3};

    for (size_t in = 0; in < FY_ARRAY_LEN(ns); in++) {
        int64_t n = ns[in];
        float *g = malloc((size_t)n * sizeof(float));
        float *u = malloc((size_t)n * sizeof(float));
        float *a = malloc((size_t)n * sizeof(float));
        double *ref = malloc((size_t)n * sizeof(double));
        int64_t n_gclamp = 0, n_uclamp = 0;
        for (int64_t i = 0; i < n; i++) {
            g[i] = fy_rng_range(&r, -20.0f, 20.0f);
            u[i] = fy_rng_range(&r, -20.0f, 20.0f);
            ref[i] = ref_swiglu(g[i], u[i], 1.702, 7.0);
            n_gclamp += g[i] > 7.0f;
            n_uclamp += fabsf(u[i]) > 7.0f;
        }
        fy_cpu_swiglu_oai(a, g, u, n, 1.702f, 7.0f);
        char what[128];
        snprintf(what, sizeof(what), "swiglu_oai n=%lld (clamped g %lld, u %lld)", (long long)n,
                 (long long)n_gclamp, (long long)n_uclamp);
        failed += fy_check_nmse(what, a, ref, n, 1e-12);
        /* in place over g, as the MoE uses it */
        fy_cpu_swiglu_oai(g, g, u, n, 1.702f, 7.0f);
        for (int64_t i = 0; i < n; i++)
            if (g[i] != a[i]) {
                fprintf(stderr, "FAIL swiglu in place n=%lld index %lld\n", (long long)n,
                        (long long)i);
                failed++;
                break;
            }
        free(g);
        free(u);
        free(a);
        free(ref);
    }

    /* clamps: g = 8 acts as 7; u = -9 as -7; u = 9 as 7; g has no lower clamp */
    double s7 = 7.0 / (1.0 + exp(-1.702 * 7.0));
    failed += check_one(8.0f, -9.0f, s7 * -6.0);
    failed += check_one(8.0f, 9.0f, s7 * 8.0);
    failed += check_one(7.0f, 0.5f, s7 * 1.5);
    failed += check_one(-9.0f, 2.0f, -9.0 / (1.0 + exp(1.702 * 9.0)) * 3.0);
    failed += check_one(1.0f, -1.0f, 0.0);
    /* very negative gate: tiny or zero, never NaN */
    float g = -1000.0f, u = 3.0f, a;
    fy_cpu_swiglu_oai(&a, &g, &u, 1, 1.702f, 7.0f);
    FY_EXPECT(!isnan(a) && fabsf(a) < 1e-30f);
    printf("ok   swiglu_oai clamp values\n");
    if (failed)
        fprintf(stderr, "%d failure(s)\n", failed);
    return failed ? 1 : 0;
}
