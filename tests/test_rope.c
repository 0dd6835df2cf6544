/* fy_cpu_rope_yarn against double-precision references of gpt-oss.md section 7, plus the exact
 * behaviour of single pairs (correction range 8..18, ramp steps of 0.1, mscale 1.3465736). */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test.h"

#define PI 3.14159265358979323846

static const struct fy_rope gptoss = {
    .n_rot = 64, .n_ctx_orig = 4096, .freq_base = 150000.0f, .freq_scale = 1.0f / 32.0f,
    .ext_factor = 1.0f, .attn_factor = 1.0f, .beta_fast = 32.0f, .beta_slow = 1.0f,
    .unrounded = 0,
};

static double ref_corr_dim(const struct fy_rope *r, double beta)
{
    return r->n_rot * log(r->n_ctx_orig / (2.0 * PI * beta)) / (2.0 * log((double)r->freq_base));
}

/* Reference rotation. f32_angles: theta_i iterated in f32 as ggml does (bit-exact per the doc);
 * otherwise theta_i = p * base^(-2i/n_rot) in double. Everything after theta is double. */
static void ref_rope(double *y, const float *x, int64_t n_tok, int64_t n_heads, int64_t hd,
                     const int32_t *pos, const struct fy_rope *r, int f32_angles)
{
    const int half = r->n_rot / 2;
    double lo = ref_corr_dim(r, r->beta_fast);
    double hi = ref_corr_dim(r, r->beta_slow);
    if (!r->unrounded) {
        lo = fmax(0.0, floor(lo));
        hi = fmin(r->n_rot - 1.0, ceil(hi));
    }
    double mscale = r->attn_factor;
    if (r->ext_factor != 0.0f)
        mscale *= 1.0 + 0.1 * log(1.0 / (double)r->freq_scale);
    const float theta_scale_f = powf(r->freq_base, -2.0f / (float)r->n_rot);

    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * n_heads * hd;
        double *yt = y + t * n_heads * hd;
        for (int64_t e = 0; e < n_heads * hd; e++)
            yt[e] = xt[e];
        float theta_f = (float)pos[t];
        for (int i = 0; i < half; i++) {
            const double th_ext = f32_angles
                ? (double)theta_f
                : pos[t] * pow((double)r->freq_base, -2.0 * i / r->n_rot);
            theta_f *= theta_scale_f;
            const double th_int = (double)r->freq_scale * th_ext;
            double th = th_int;
            if (r->ext_factor != 0.0f) {
                const double ramp = 1.0 - fmin(1.0, fmax(0.0, (i - lo) / fmax(0.001, hi - lo)));
                const double mix = ramp * r->ext_factor;
                th = th_int * (1.0 - mix) + th_ext * mix;
            }
            const double c = cos(th) * mscale;
            const double s = sin(th) * mscale;
            for (int64_t h = 0; h < n_heads; h++) {
                const double x0 = xt[h * hd + i];
                const double x1 = xt[h * hd + i + half];
                yt[h * hd + i] = x0 * c - x1 * s;
                yt[h * hd + i + half] = x0 * s + x1 * c;
            }
        }
    }
}

/* Rotates random x with positions pos through ferry and the reference; returns the NMSE. */
static double rope_nmse(const struct fy_rope *r, int64_t n_heads, int64_t hd, const int32_t *pos,
                        int64_t n_tok, int f32_angles, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const int64_t n = n_tok * n_heads * hd;
    float *x = malloc((size_t)n * sizeof(float));
    float *y = malloc((size_t)n * sizeof(float));
    double *ref = malloc((size_t)n * sizeof(double));
    double e = INFINITY;
    if (x && y && ref) {
        for (int64_t i = 0; i < n; i++)
            x[i] = fy_rng_range(&rng, 0.1f, 1.0f) * (fy_rng_unif(&rng) < 0.5 ? -1.0f : 1.0f);
        memcpy(y, x, (size_t)n * sizeof(float));
        fy_cpu_rope_yarn(y, n_tok, n_heads, hd, pos, r);
        ref_rope(ref, x, n_tok, n_heads, hd, pos, r, f32_angles);
        e = fy_nmse(y, ref, n);
        if (e > 1e-3) {
            for (int64_t i = 0; i < n; i++) {
                if (fabs(y[i] - ref[i]) > 1e-3) {
                    fprintf(stderr, "  (first bad index %lld: %g vs %g)\n", (long long)i,
                            (double)y[i], ref[i]);
                    break;
                }
            }
        }
    }
    free(x);
    free(y);
    free(ref);
    return e;
}

static int check(const char *what, double e, double gate)
{
    if (!(e <= gate)) {
        fprintf(stderr, "FAIL %s: nmse %.3g > %.3g\n", what, e, gate);
        return 1;
    }
    printf("ok   %s: nmse %.3g\n", what, e);
    return 0;
}

/* Gates, from measured values (2 cores, gcc 12, -O2). With f32-iterated angles (bit-exact per
 * the doc) the only differences are the f32 rounding of theta' and of cos/sin: measured <= 2e-12
 * up to p = 4096 and ~1e-9 at p = 100000, where theta' (up to 1e5) has an ulp of 8e-3 rad.
 * Mixed angles (0 < mix < 1 on every pair, as in the n_rot 160 case) round once more: 5e-11.
 * With double angles the f32 angle sequence drifts by ~i ulps of the constant: measured 1e-10 up
 * to p = 4096. A wrong variant is far above all of these: the unrounded range gives 1e-4 at
 * p = 128 and 0.1 at p = 4096; mscale 1 instead of 1.3465736 or a swapped pair layout gives >0.1. */
#define GATE_F32_ANGLES 1e-10         /* gpt-oss parameters, positions <= 4096 */
#define GATE_F32_ANGLES_MIXED 1e-9    /* ext_factor 0.5: every pair's angle is a mix */
#define GATE_F32_ANGLES_LARGE 1e-7    /* position 100000 */
#define GATE_DOUBLE_ANGLES 1e-8       /* positions <= 4096 */
#define GATE_WRONG 1e-6               /* a wrong variant must be above this */

static const int32_t positions[] = { 0, 1, 127, 128, 4095, 4096, 100000 };

static int test_reference(void)
{
    int failed = 0;
    char what[160];
    const int32_t small[] = { 0, 1, 127, 128, 4095, 4096, 1000, 2047 };
    struct fy_rope unr = gptoss;
    unr.unrounded = 1;

    for (size_t i = 0; i < FY_ARRAY_LEN(positions); i++) {
        const int32_t p = positions[i];
        snprintf(what, sizeof(what), "rope gpt-oss f32 angles, 8 heads x 64, p %d", p);
        failed += check(what, rope_nmse(&gptoss, 8, 64, &p, 1, 1, 100 + i),
                        p <= 4096 ? GATE_F32_ANGLES : GATE_F32_ANGLES_LARGE);
        snprintf(what, sizeof(what), "rope gpt-oss unrounded f32 angles, 8 heads x 64, p %d", p);
        failed += check(what, rope_nmse(&unr, 8, 64, &p, 1, 1, 200 + i),
                        p <= 4096 ? GATE_F32_ANGLES : GATE_F32_ANGLES_LARGE);
    }
    /* many tokens at once (OpenMP over tokens), double angles */
    failed += check("rope gpt-oss double angles, 8 tokens, 3 heads x 64",
                    rope_nmse(&gptoss, 3, 64, small, 8, 0, 300), GATE_DOUBLE_ANGLES);
    failed += check("rope gpt-oss unrounded double angles, 8 tokens, 3 heads x 64",
                    rope_nmse(&unr, 3, 64, small, 8, 0, 301), GATE_DOUBLE_ANGLES);

    /* other parameters: head_dim > n_rot (the tail passes through), plain RoPE (ext_factor 0,
     * mscale = attn_factor), more pairs than one cos/sin chunk (n_rot 160: 80 pairs) */
    failed += check("rope n_rot 64 in head_dim 72, 5 heads",
                    rope_nmse(&gptoss, 5, 72, small, 8, 1, 400), GATE_F32_ANGLES);
    const struct fy_rope plain = {
        .n_rot = 32, .n_ctx_orig = 4096, .freq_base = 10000.0f, .freq_scale = 1.0f,
        .ext_factor = 0.0f, .attn_factor = 0.75f, .beta_fast = 32.0f, .beta_slow = 1.0f,
    };
    failed += check("rope plain (ext 0, attn_factor 0.75), n_rot 32 in head_dim 48",
                    rope_nmse(&plain, 2, 48, small, 8, 1, 401), GATE_F32_ANGLES);
    struct fy_rope wide = gptoss;
    wide.n_rot = 160;
    wide.freq_scale = 0.25f;
    wide.ext_factor = 0.5f;
    wide.attn_factor = 1.1f;
    failed += check("rope n_rot 160, freq_scale 1/4, ext 0.5, attn_factor 1.1",
                    rope_nmse(&wide, 2, 160, small, 8, 1, 402), GATE_F32_ANGLES_MIXED);

    /* the reference must tell the variants apart */
    const int32_t p4096[] = { 4096 };
    const int32_t p128[] = { 128 };
    {
        /* ferry rounded vs unrounded reference, and the opposite */
        struct fy_rng rng = { 500 };
        float x[64];
        double ref[64];
        for (int i = 0; i < 64; i++)
            x[i] = fy_rng_range(&rng, 0.1f, 1.0f);
        float y[64];
        memcpy(y, x, sizeof(x));
        fy_cpu_rope_yarn(y, 1, 1, 64, p4096, &gptoss);
        ref_rope(ref, x, 1, 1, 64, p4096, &unr, 1);
        const double e = fy_nmse(y, ref, 64);
        FY_EXPECT(e > GATE_WRONG);
        printf("%s rounded ferry vs unrounded reference at p 4096: nmse %.3g (must be > %g)\n",
               e > GATE_WRONG ? "ok  " : "FAIL", e, GATE_WRONG);
        memcpy(y, x, sizeof(x));
        fy_cpu_rope_yarn(y, 1, 1, 64, p128, &unr);
        ref_rope(ref, x, 1, 1, 64, p128, &gptoss, 1);
        const double e2 = fy_nmse(y, ref, 64);
        FY_EXPECT(e2 > GATE_WRONG);
        printf("%s unrounded ferry vs rounded reference at p 128: nmse %.3g (must be > %g)\n",
               e2 > GATE_WRONG ? "ok  " : "FAIL", e2, GATE_WRONG);
    }
    return failed;
}

/* Single pairs: only x[i] = 1 is set, so x'[i] = mscale cos(theta'), x'[i+32] = mscale sin(theta').
 * theta' = theta_i/32 (1 - ramp_i) + theta_i ramp_i with the doc's rounded ramp table, theta_i the
 * f32 iterated angle. Also: the pair is the only thing that moves, and theta_1 at p = 1 is
 * exactly the f32 constant 0.68904430f. */
static int test_pairs(void)
{
    int failed = 0;
    const double mscale_doc = 1.3465736;
    const int32_t ps[] = { 1, 128, 1000, 4096 };

    for (size_t k = 0; k < FY_ARRAY_LEN(ps); k++) {
        const int32_t p = ps[k];
        float theta = (float)p;
        for (int i = 0; i < 32; i++) {
            const double ramp = i <= 8 ? 1.0 : i >= 18 ? 0.0 : (18 - i) / 10.0;
            const double th = (double)theta / 32.0 * (1.0 - ramp) + (double)theta * ramp;
            theta *= 0.68904430f;
            /* angle tolerance: f32 rounding of theta' (~ulp(theta') / 2) plus cos/sin rounding */
            const double tol = 2e-7 * fabs(th) + 1e-6;
            float x[64];
            memset(x, 0, sizeof(x));
            x[i] = 1.0f;
            fy_cpu_rope_yarn(x, 1, 1, 64, &p, &gptoss);
            const double norm = hypot(x[i], x[i + 32]);
            const double dc = fabs(x[i] / mscale_doc - cos(th));
            const double ds = fabs(x[i + 32] / mscale_doc - sin(th));
            int others = 0;
            for (int e = 0; e < 64; e++)
                if (e != i && e != i + 32 && x[e] != 0.0f)
                    others++;
            if (fabs(norm - mscale_doc) > 1e-6 || dc > tol || ds > tol || others) {
                fprintf(stderr, "FAIL pair %d at p %d: got (%.9g, %.9g) norm %.9g, want angle %.9g "
                        "(cos %.9g sin %.9g) mscale %.9g, %d other dims moved\n", i, p,
                        (double)x[i], (double)x[i + 32], norm, th, cos(th), sin(th), mscale_doc,
                        others);
                failed++;
            }
        }
    }
    /* theta_1 at p = 1: pair 1 has ramp 1, so the angle is exactly theta_scale */
    {
        const int32_t p = 1;
        float x[64];
        memset(x, 0, sizeof(x));
        x[1] = 1.0f;
        fy_cpu_rope_yarn(x, 1, 1, 64, &p, &gptoss);
        const double ang = atan2(x[33], x[1]);
        FY_EXPECT(fabs(ang - (double)0.68904430f) < 1e-7);
        /* p = 0: identity times mscale */
        const int32_t p0 = 0;
        float z[64];
        for (int e = 0; e < 64; e++)
            z[e] = (float)(e + 1);
        fy_cpu_rope_yarn(z, 1, 1, 64, &p0, &gptoss);
        for (int e = 0; e < 64; e++)
            if (fabs(z[e] - (e + 1) * mscale_doc) > 1e-5 * (e + 1)) {
                fprintf(stderr, "FAIL p 0 dim %d: %g vs %g\n", e, (double)z[e],
                        (e + 1) * mscale_doc);
                failed++;
                break;
            }
    }
    if (!failed)
        printf("ok   single pairs: ramp table 8..18, mscale 1.3465736, theta_scale 0.68904430f\n");
    return failed;
}

int main(void)
{
    int failed = 0;
    failed += test_reference();
    failed += test_pairs();
    if (failed)
        fprintf(stderr, "%d rope check(s) failed\n", failed);
    return failed ? 1 : 0;
}
