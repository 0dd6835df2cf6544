/* fy_gpu_rope_yarn against fy_cpu_rope_yarn: gpt-oss parameters (head_dim 64, n_heads 64 and 8),
 * positions 0, 1, 127, 128, 4095, 4096, 131071 and random ones up to 131071, n_tok 1, 7, 33, 512,
 * the rounded and the unrounded correction range, plus n_rot < head_dim (dims >= n_rot pass
 * through, bit-exact) and ext_factor 0 (plain scaled RoPE).
 *
 * Tolerance: |gpu - cpu| <= 1e-6 * mscale * (|x0| + |x1|) for an element of the pair (x0, x1).
 * The angles are bit-identical (same f32 iteration, no FMA contraction), so only the device
 * cosf/sinf differ from glibc's: <= 2 ulp (CUDA, ROCm ocml) of a value <= 1, i.e. <= 1.2e-7,
 * times mscale, plus three f32 roundings of the rotated value: <= ~4e-7 (|x0| + |x1|). */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"

#define TOL 1e-6

static const struct fy_rope gptoss = {
    .n_rot = 64, .n_ctx_orig = 4096, .freq_base = 150000.0f, .freq_scale = 1.0f / 32.0f,
    .ext_factor = 1.0f, .attn_factor = 1.0f, .beta_fast = 32.0f, .beta_slow = 1.0f,
    .unrounded = 0,
};

static const int32_t fixed_pos[] = { 0, 1, 127, 128, 4095, 4096, 131071 };

static int run_case(fy_gpu_stream s, int64_t n_tok, int64_t n_heads, int64_t hd,
                    const struct fy_rope *r, const char *what, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const int64_t n = n_tok * n_heads * hd;
    const size_t bytes = (size_t)n * sizeof(float), pbytes = (size_t)n_tok * sizeof(int32_t);
    struct fy_bufs b = { .s = s };
    float *x = fy_bufs_host(&b, bytes), *ref = fy_bufs_host(&b, bytes);
    float *got = fy_bufs_host(&b, bytes);
    int32_t *pos = fy_bufs_host(&b, pbytes);
    int bad = 1;

    if (b.err)
        goto done;
    fy_rng_fill(&rng, x, n, 1.0f);
    for (int64_t t = 0; t < n_tok; t++)
        pos[t] = t < (int64_t)FY_ARRAY_LEN(fixed_pos) ? fixed_pos[(t + seed) % FY_ARRAY_LEN(fixed_pos)]
                                                      : (int32_t)(fy_rng_u64(&rng) % 131072);
    if (n_tok == 1)
        pos[0] = 131071;
    memcpy(ref, x, bytes);
    fy_cpu_rope_yarn(ref, n_tok, n_heads, hd, pos, r);

    float *dx = fy_bufs_up(&b, x, bytes, "x");
    int32_t *dpos = fy_bufs_up(&b, pos, pbytes, "pos");
    if (b.err || fy_gpu_rope_yarn(dx, n_tok, n_heads, hd, dpos, r, s) != FY_OK ||
        fy_bufs_down(&b, got, dx, bytes))
        goto done;

    const int half = r->n_rot / 2;
    const double mscale = r->attn_factor * (r->ext_factor != 0.0f
                                                ? 1.0 + 0.1 * log(1.0 / (double)r->freq_scale)
                                                : 1.0);
    int64_t first = -1;
    double max_rel = 0.0;
    for (int64_t e = 0; e < n; e++) {
        const int64_t d = e % hd;
        double bound = 0.0;   /* pass-through dims: exact */
        if (d < r->n_rot) {
            const int64_t a = e - d + (d % half);
            bound = TOL * mscale * (fabs((double)x[a]) + fabs((double)x[a + half]));
        }
        const double err = fabs((double)got[e] - ref[e]);
        if (bound > 0.0 && err / bound * TOL > max_rel)
            max_rel = err / bound * TOL;
        if (!(err <= bound) && first < 0)
            first = e;
    }
    bad = first >= 0;
    printf("%s rope %s n_tok %lld n_heads %lld: max err %.3g (x mscale*(|x0|+|x1|); tol %g)",
           bad ? "FAIL" : "PASS", what, (long long)n_tok, (long long)n_heads, max_rel, TOL);
    if (bad)
        printf(" (first bad index %lld, pos %d: %.9g vs %.9g)", (long long)first,
               pos[first / (n_heads * hd)], (double)got[first], (double)ref[first]);
    printf("\n");
done:
    fy_bufs_free(&b);
    return bad;
}

int main(void)
{
    static const int64_t ntoks[] = { 1, 7, 33, 512 };
    static const int64_t heads[] = { 64, 8 };
    fy_gpu_stream s = NULL;
    int failed = 0, rc = fy_test_gpu_start(NULL, &s);

    if (rc)
        return rc;

    struct fy_rope unr = gptoss;
    unr.unrounded = 1;
    struct fy_rope part = gptoss;   /* half the head rotated: dims 32..63 pass through */
    part.n_rot = 32;
    struct fy_rope noext = gptoss;
    noext.ext_factor = 0.0f;
    noext.freq_scale = 0.5f;
    noext.attn_factor = 0.75f;

    for (size_t i = 0; i < FY_ARRAY_LEN(ntoks); i++)
        for (size_t h = 0; h < FY_ARRAY_LEN(heads); h++) {
            const uint64_t seed = 10 * i + h;
            failed += run_case(s, ntoks[i], heads[h], 64, &gptoss, "gpt-oss", seed);
            failed += run_case(s, ntoks[i], heads[h], 64, &unr, "unrounded", seed + 1000);
        }
    failed += run_case(s, 33, 8, 64, &part, "n_rot 32 of 64", 77);
    failed += run_case(s, 7, 64, 64, &noext, "ext_factor 0", 78);
    FY_EXPECT(fy_gpu_rope_yarn(NULL, 0, 64, 64, NULL, &gptoss, s) == FY_OK);
    return fy_test_gpu_end(s, failed, "rope");
}
