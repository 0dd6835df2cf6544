/* fy_sampler: greedy and top-k 1 against the arg-max; draw frequencies against the analytic
 * softmax(logits / T) over the expected support (chi-square); the exact supports of top-k,
 * top-p and min-p (and their chain) against sets computed here in double; the repetition
 * penalty; determinism per seed; argument checks. Supports are probed at a high temperature
 * (applied after the filters, so it flattens the draw without changing the support). */
#include <string.h>

#include "fy_test.h"
#include "text/sampler.h"

#define N_BIG 201088

struct ref_tok {
    double v;
    int32_t id;
};

/* candidate order: larger logit first, then lower id */
static int ref_cmp(const void *pa, const void *pb)
{
    const struct ref_tok *a = pa;
    const struct ref_tok *b = pb;
    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int64_t ref_argmax(const float *l, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (l[i] > l[best])
            best = i;
    return best;
}

/* keep[i] = 1 for the support llama.cpp's chain leaves: top-k, then top-p over the softmax
 * (T = 1) of what top-k kept, then min-p; computed in double from a full sort. */
static void ref_support(char *keep, const float *l, int64_t n, const struct fy_sampler_params *p)
{
    struct ref_tok *o = malloc((size_t)n * sizeof(*o));
    for (int64_t i = 0; i < n; i++) {
        o[i].v = l[i];
        o[i].id = (int32_t)i;
    }
    qsort(o, (size_t)n, sizeof(*o), ref_cmp);
    int64_t m = n;
    if (p->top_k > 0 && p->top_k < m)
        m = p->top_k;
    if (p->top_p < 1.0f) {
        double z = 0.0;
        for (int64_t i = 0; i < m; i++)
            z += exp(o[i].v - o[0].v);
        double cum = 0.0;
        int64_t k = 0;
        while (k < m) {
            cum += exp(o[k].v - o[0].v) / z;
            k++;
            if (cum >= p->top_p)
                break;
        }
        m = k;
    }
    memset(keep, 0, (size_t)n);
    for (int64_t i = 0; i < m; i++)
        if (p->min_p <= 0.0f || exp(o[i].v - o[0].v) >= p->min_p)
            keep[o[i].id] = 1;
    free(o);
}

static int64_t count_kept(const char *keep, int64_t n)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        k += keep[i];
    return k;
}

/* Draws `draws` samples and checks them against softmax(l / temp) restricted to keep: none may
 * fall outside; every kept token expected >= 25 times must appear; chi-square over the tokens
 * expected >= 5 times (the rest pooled) must stay below df + 5 sqrt(2 df) + 5. */
static int check_dist(const char *what, const struct fy_sampler_params *p, const float *l,
                      int64_t n, const char *keep, int64_t draws)
{
    int failed = 0;
    struct fy_sampler *s = NULL;
    double *ex = calloc((size_t)n, sizeof(*ex));
    int64_t *cnt = calloc((size_t)n, sizeof(*cnt));
    if (fy_sampler_new(p, n, &s) != FY_OK || !ex || !cnt) {
        fprintf(stderr, "FAIL %s: setup\n", what);
        failed = 1;
        goto done;
    }
    double mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (keep[i] && l[i] > mx)
            mx = l[i];
    double z = 0.0;
    for (int64_t i = 0; i < n; i++) {
        ex[i] = keep[i] ? exp(((double)l[i] - mx) / p->temp) : 0.0;
        z += ex[i];
    }
    for (int64_t i = 0; i < n; i++)
        ex[i] *= (double)draws / z;
    int64_t outside = -1;
    for (int64_t d = 0; d < draws; d++) {
        const int32_t id = fy_sampler_sample(s, l);
        if (id < 0 || id >= n || !keep[id]) {
            outside = id;
            break;
        }
        cnt[id]++;
    }
    if (outside != -1) {
        fprintf(stderr, "FAIL %s: drew %lld, outside the support of %lld\n", what,
                (long long)outside, (long long)count_kept(keep, n));
        failed = 1;
        goto done;
    }
    double chi2 = 0.0;
    double pool_e = 0.0;
    double pool_o = 0.0;
    int64_t bins = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        if (ex[i] >= 25.0 && cnt[i] == 0) {
            fprintf(stderr, "FAIL %s: token %lld (expected %.1f times) never drawn\n", what,
                    (long long)i, ex[i]);
            failed = 1;
        }
        if (ex[i] >= 5.0) {
            chi2 += (cnt[i] - ex[i]) * (cnt[i] - ex[i]) / ex[i];
            bins++;
        } else {
            pool_e += ex[i];
            pool_o += (double)cnt[i];
        }
    }
    if (pool_e >= 5.0) {
        chi2 += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        bins++;
    }
    const double df = (double)(bins - 1);
    const double gate = df + 5.0 * sqrt(2.0 * df) + 5.0;
    if (bins > 1 && !(chi2 <= gate)) {
        fprintf(stderr, "FAIL %s: chi2 %.1f > %.1f (df %.0f)\n", what, chi2, gate, df);
        failed = 1;
    } else if (!failed) {
        printf("ok   %s: support %lld, chi2 %.1f (df %.0f)\n", what,
               (long long)count_kept(keep, n), chi2, df);
    }
done:
    fy_sampler_free(s);
    free(ex);
    free(cnt);
    return failed;
}

/* reference support from the params, then check_dist */
static int check_chain(const char *what, const struct fy_sampler_params *p, const float *l,
                       int64_t n, int64_t draws)
{
    char *keep = malloc((size_t)n);
    ref_support(keep, l, n, p);
    const int failed = check_dist(what, p, l, n, keep, draws);
    free(keep);
    return failed;
}

static struct fy_sampler_params params(float temp, int32_t top_k, float top_p, float min_p,
                                       uint64_t seed)
{
    struct fy_sampler_params p = fy_sampler_params_default();
    p.temp = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = seed;
    return p;
}

/* normal(mu, sigma), plus n_spike tokens raised to [8, 14): a peaked, LM-like distribution */
static void fill_logits(struct fy_rng *r, float *l, int64_t n, float mu, float sigma,
                        int n_spike)
{
    for (int64_t i = 0; i < n; i++)
        l[i] = (float)(mu + sigma * fy_rng_normal(r));
    for (int i = 0; i < n_spike; i++)
        l[fy_rng_u64(r) % (uint64_t)n] = 8.0f + 6.0f * (float)fy_rng_unif(r);
}

static int test_greedy(struct fy_rng *r, float *l)
{
    int failed = 0;
    static const int64_t sizes[] = {1, 8, 63, 64, 1000, N_BIG};
    for (size_t c = 0; c < FY_ARRAY_LEN(sizes); c++) {
        const int64_t n = sizes[c];
        for (int rep = 0; rep < 3; rep++) {
            fill_logits(r, l, n, 0.0f, 3.0f, 0);
            if (rep == 1 && n > 4) {   /* a tie at the max: the lower id wins */
                l[n / 2] = l[ref_argmax(l, n)] + 1.0f;
                l[n - 1] = l[n / 2];
            }
            /* temp <= 0 ignores the other samplers */
            struct fy_sampler_params p = params(rep == 2 ? -1.0f : 0.0f, 5, 0.5f, 0.2f, 7);
            struct fy_sampler *s = NULL;
            FY_EXPECT(fy_sampler_new(&p, n, &s) == FY_OK);
            const int32_t got = fy_sampler_sample(s, l);
            if (got != ref_argmax(l, n)) {
                fprintf(stderr, "FAIL greedy n %lld rep %d: %d, want %lld\n", (long long)n, rep,
                        got, (long long)ref_argmax(l, n));
                failed++;
            }
            fy_sampler_free(s);
        }
    }
    /* -inf entries, all -inf (the first one), a lone finite value */
    struct fy_sampler *s = NULL;
    struct fy_sampler_params p = params(0.0f, 0, 1.0f, 0.0f, 7);
    FY_EXPECT(fy_sampler_new(&p, 1000, &s) == FY_OK);
    for (int64_t i = 0; i < 1000; i++)
        l[i] = -INFINITY;
    FY_EXPECT(fy_sampler_sample(s, l) == 0);
    l[777] = -3.0f;
    FY_EXPECT(fy_sampler_sample(s, l) == 777);
    fy_sampler_free(s);
    p.temp = 1.0f;
    FY_EXPECT(fy_sampler_new(&p, 1000, &s) == FY_OK);
    for (int i = 0; i < 20; i++)
        FY_EXPECT(fy_sampler_sample(s, l) == 777);
    l[777] = -INFINITY;
    FY_EXPECT(fy_sampler_sample(s, l) == 0);
    fy_sampler_free(s);
    if (!failed)
        printf("ok   greedy: arg-max, ties to the lowest id, -inf\n");
    return failed;
}

static int test_top_k1(struct fy_rng *r, float *l)
{
    int failed = 0;
    static const int64_t sizes[] = {8, 1000, N_BIG};
    static const float temps[] = {0.01f, 1.0f, 7.0f, 1000.0f};
    for (size_t c = 0; c < FY_ARRAY_LEN(sizes); c++) {
        const int64_t n = sizes[c];
        fill_logits(r, l, n, 0.0f, 1.0f, 0);
        l[n / 3] = l[ref_argmax(l, n)];   /* tied with the max, at a lower or higher id */
        const int64_t want = ref_argmax(l, n);
        for (size_t t = 0; t < FY_ARRAY_LEN(temps); t++) {
            struct fy_sampler_params p = params(temps[t], 1, 1.0f, 0.0f, 100 + t);
            struct fy_sampler *s = NULL;
            FY_EXPECT(fy_sampler_new(&p, n, &s) == FY_OK);
            for (int d = 0; d < 30; d++) {
                const int32_t got = fy_sampler_sample(s, l);
                if (got != want) {
                    fprintf(stderr, "FAIL top_k 1 n %lld temp %g: %d, want %lld\n",
                            (long long)n, temps[t], got, (long long)want);
                    failed++;
                    break;
                }
            }
            fy_sampler_free(s);
        }
    }
    if (!failed)
        printf("ok   top_k 1: arg-max at every temperature\n");
    return failed;
}

static int test_freq(struct fy_rng *r, float *l)
{
    int failed = 0;
    fill_logits(r, l, 8, 0.0f, 1.5f, 0);
    struct fy_sampler_params p = params(0.7f, 0, 1.0f, 0.0f, 11);
    failed += check_chain("freq n 8 T 0.7", &p, l, 8, 20000);
    p = params(1.5f, 0, 1.0f, 0.0f, 12);
    failed += check_chain("freq n 8 T 1.5", &p, l, 8, 20000);
    fill_logits(r, l, 300, 0.0f, 1.0f, 0);   /* whole blocks and a tail */
    p = params(1.0f, 0, 1.0f, 0.0f, 13);
    failed += check_chain("freq n 300 T 1", &p, l, 300, 60000);
    p = params(0.5f, 0, 1.0f, 0.0f, 14);
    failed += check_chain("freq n 300 T 0.5", &p, l, 300, 60000);
    return failed;
}

static int test_top_k(struct fy_rng *r, float *l)
{
    int failed = 0;
    struct fy_sampler_params p;
    fill_logits(r, l, 1000, 0.0f, 2.0f, 0);
    p = params(1.0f, 10, 1.0f, 0.0f, 21);
    failed += check_chain("top_k 10 n 1000 T 1", &p, l, 1000, 20000);
    p = params(50.0f, 10, 1.0f, 0.0f, 22);
    failed += check_chain("top_k 10 n 1000 T 50", &p, l, 1000, 5000);
    for (int64_t i = 0; i < 1000; i++)   /* ties: the cut falls inside a group of equal logits */
        l[i] = roundf(l[i] * 2.0f) * 0.5f;
    p = params(1000.0f, 37, 1.0f, 0.0f, 23);
    failed += check_chain("top_k 37 n 1000 tied T 1000", &p, l, 1000, 10000);

    /* k > 1024: the histogram path */
    fill_logits(r, l, 3000, 0.0f, 2.0f, 0);
    p = params(1000.0f, 1500, 1.0f, 0.0f, 24);
    failed += check_chain("top_k 1500 n 3000 T 1000", &p, l, 3000, 45000);
    for (int64_t i = 0; i < 3000; i++)
        l[i] = roundf(l[i] * 4.0f) * 0.25f;
    p = params(1000.0f, 1100, 1.0f, 0.0f, 25);
    failed += check_chain("top_k 1100 n 3000 tied T 1000", &p, l, 3000, 45000);
    for (int64_t i = 0; i < 3000; i++)   /* ascending: a bad case for naive pivots */
        l[i] = 0.001f * (float)i;
    p = params(1.0f, 2000, 1.0f, 0.0f, 26);
    failed += check_chain("top_k 2000 n 3000 ascending T 1", &p, l, 3000, 20000);

    fill_logits(r, l, N_BIG, 0.0f, 2.0f, 0);
    p = params(20.0f, 40, 1.0f, 0.0f, 27);
    failed += check_chain("top_k 40 n 201088 T 20", &p, l, N_BIG, 3000);
    p = params(1.0f, 2000, 1.0f, 0.0f, 28);
    failed += check_chain("top_k 2000 n 201088 T 1", &p, l, N_BIG, 300);
    return failed;
}

static int test_top_p(struct fy_rng *r, float *l)
{
    int failed = 0;
    struct fy_sampler_params p;
    fill_logits(r, l, 300, 0.0f, 1.5f, 0);
    p = params(1.0f, 0, 0.3f, 0.0f, 31);
    failed += check_chain("top_p 0.3 n 300 T 1", &p, l, 300, 20000);
    p = params(1000.0f, 0, 0.3f, 0.0f, 32);
    failed += check_chain("top_p 0.3 n 300 T 1000", &p, l, 300, 20000);
    p = params(1000.0f, 0, 0.9f, 0.0f, 33);
    failed += check_chain("top_p 0.9 n 300 T 1000", &p, l, 300, 20000);
    p = params(1000.0f, 0, 0.0f, 0.0f, 34);   /* p = 0 still keeps one token */
    failed += check_chain("top_p 0 n 300 T 1000", &p, l, 300, 200);
    p = params(1000.0f, 50, 0.7f, 0.0f, 35);   /* after top-k: over the top-k softmax */
    failed += check_chain("top_k 50 top_p 0.7 n 300 T 1000", &p, l, 300, 20000);
    for (int64_t i = 0; i < 300; i++)
        l[i] = roundf(l[i] * 2.0f) * 0.5f;
    p = params(1000.0f, 0, 0.5f, 0.0f, 36);
    failed += check_chain("top_p 0.5 n 300 tied T 1000", &p, l, 300, 20000);
    p = params(1000.0f, 200, 0.5f, 0.0f, 37);
    failed += check_chain("top_k 200 top_p 0.5 n 300 tied T 1000", &p, l, 300, 20000);

    fill_logits(r, l, 4000, 0.0f, 1.0f, 0);   /* flat: a large kept set */
    p = params(1000.0f, 0, 0.5f, 0.0f, 38);
    failed += check_chain("top_p 0.5 n 4000 flat T 1000", &p, l, 4000, 40000);
    p = params(1000.0f, 2000, 0.5f, 0.0f, 39);
    failed += check_chain("top_k 2000 top_p 0.5 n 4000 flat T 1000", &p, l, 4000, 40000);

    fill_logits(r, l, N_BIG, -5.0f, 2.0f, 30);
    p = params(1000.0f, 0, 0.9f, 0.0f, 40);
    failed += check_chain("top_p 0.9 n 201088 peaked T 1000", &p, l, N_BIG, 2000);
    p = params(1.0f, 0, 0.95f, 0.0f, 41);
    failed += check_chain("top_p 0.95 n 201088 peaked T 1", &p, l, N_BIG, 2000);
    return failed;
}

static int test_min_p(struct fy_rng *r, float *l)
{
    int failed = 0;
    struct fy_sampler_params p;
    fill_logits(r, l, 1000, 0.0f, 2.0f, 0);
    p = params(1000.0f, 0, 1.0f, 0.05f, 51);
    failed += check_chain("min_p 0.05 n 1000 T 1000", &p, l, 1000, 20000);
    p = params(1.0f, 0, 1.0f, 0.3f, 52);
    failed += check_chain("min_p 0.3 n 1000 T 1", &p, l, 1000, 20000);
    p = params(1000.0f, 0, 1.0f, 1.0f, 53);   /* keeps just the max */
    failed += check_chain("min_p 1 n 1000 T 1000", &p, l, 1000, 200);
    p = params(1000.0f, 20, 1.0f, 0.3f, 54);
    failed += check_chain("top_k 20 min_p 0.3 n 1000 T 1000", &p, l, 1000, 20000);

    /* the whole chain */
    p = params(1.0f, 0, 0.9f, 0.02f, 55);
    failed += check_chain("top_p 0.9 min_p 0.02 n 1000 T 1", &p, l, 1000, 20000);
    fill_logits(r, l, 5000, 0.0f, 1.5f, 0);
    p = params(2.0f, 2000, 0.9f, 0.01f, 56);
    failed += check_chain("top_k 2000 top_p 0.9 min_p 0.01 n 5000 T 2", &p, l, 5000, 40000);
    fill_logits(r, l, N_BIG, -5.0f, 2.0f, 30);
    p = params(0.8f, 40, 0.95f, 0.05f, 57);
    failed += check_chain("top_k 40 top_p 0.95 min_p 0.05 n 201088 T 0.8", &p, l, N_BIG, 3000);
    p = params(1.0f, 0, 1.0f, 0.001f, 58);
    failed += check_chain("min_p 0.001 n 201088 T 1", &p, l, N_BIG, 2000);
    return failed;
}

static int test_penalty(struct fy_rng *r, float *l)
{
    int failed = 0;
    const int64_t n = 100;
    float *keep = malloc((size_t)n * sizeof(*keep));
    struct fy_sampler *s = NULL;
    struct fy_sampler_params p = params(0.0f, 0, 1.0f, 0.0f, 61);
    p.repeat_penalty = 1.2f;
    p.repeat_last_n = 4;

    fill_logits(r, l, n, 0.0f, 1.0f, 0);
    for (int64_t i = 0; i < n; i++)
        l[i] = fminf(l[i], 3.0f);
    l[10] = 5.0f;   /* 5 / 1.2 = 4.17 < 4.5 */
    l[20] = 4.5f;
    memcpy(keep, l, (size_t)n * sizeof(*l));
    FY_EXPECT(fy_sampler_new(&p, n, &s) == FY_OK);
    FY_EXPECT(fy_sampler_sample(s, l) == 10);
    FY_EXPECT(fy_sampler_accept(s, 10) == FY_OK);
    FY_EXPECT(fy_sampler_sample(s, l) == 20);
    FY_EXPECT(fy_sampler_accept(s, 10) == FY_OK);   /* twice in the window: penalised once */
    FY_EXPECT(fy_sampler_sample(s, l) == 20);
    l[20] = 4.0f;
    FY_EXPECT(fy_sampler_sample(s, l) == 10);        /* 4.17 > 4.0 */
    l[20] = 4.5f;
    for (int32_t i = 0; i < 4; i++)                  /* 10 leaves the window of 4 */
        FY_EXPECT(fy_sampler_accept(s, 30 + i) == FY_OK);
    FY_EXPECT(fy_sampler_sample(s, l) == 10);
    FY_EXPECT(fy_sampler_accept(s, 10) == FY_OK);
    FY_EXPECT(fy_sampler_sample(s, l) == 20);
    fy_sampler_reset(s);
    FY_EXPECT(fy_sampler_sample(s, l) == 10);
    FY_EXPECT(memcmp(keep, l, (size_t)n * sizeof(*l)) == 0);   /* the caller's logits */
    fy_sampler_free(s);

    /* negative logits are multiplied */
    for (int64_t i = 0; i < n; i++)
        l[i] = -2.0f - fabsf(l[i]);
    l[10] = -1.0f;   /* -1.2 < -1.1 */
    l[20] = -1.1f;
    FY_EXPECT(fy_sampler_new(&p, n, &s) == FY_OK);
    FY_EXPECT(fy_sampler_sample(s, l) == 10);
    FY_EXPECT(fy_sampler_accept(s, 10) == FY_OK);
    FY_EXPECT(fy_sampler_sample(s, l) == 20);
    fy_sampler_free(s);

    /* a penalty below 1 boosts; top_k 1 at temp 1 sees the penalised logits too */
    l[10] = 5.0f;
    l[20] = 4.5f;
    p.repeat_penalty = 0.5f;
    p.temp = 1.0f;
    p.top_k = 1;
    FY_EXPECT(fy_sampler_new(&p, n, &s) == FY_OK);
    FY_EXPECT(fy_sampler_accept(s, 20) == FY_OK);
    FY_EXPECT(fy_sampler_sample(s, l) == 20);        /* 4.5 / 0.5 = 9 */
    fy_sampler_free(s);

    /* repeat_last_n 0: off */
    p.repeat_penalty = 1.2f;
    p.repeat_last_n = 0;
    FY_EXPECT(fy_sampler_new(&p, n, &s) == FY_OK);
    FY_EXPECT(fy_sampler_accept(s, 10) == FY_OK);
    FY_EXPECT(fy_sampler_sample(s, l) == 10);
    fy_sampler_free(s);

    /* the draw follows the penalised softmax */
    fill_logits(r, l, 8, 0.0f, 1.0f, 0);
    l[2] = 1.5f;
    l[5] = -0.5f;
    p = params(1.0f, 0, 1.0f, 0.0f, 62);
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 8;
    float pl[8];
    memcpy(pl, l, sizeof(pl));
    pl[2] = 1.0f;
    pl[5] = -0.75f;
    FY_EXPECT(fy_sampler_new(&p, 8, &s) == FY_OK);
    FY_EXPECT(fy_sampler_accept(s, 2) == FY_OK);
    FY_EXPECT(fy_sampler_accept(s, 5) == FY_OK);
    int64_t cnt[8] = {0};
    for (int d = 0; d < 20000; d++)
        cnt[fy_sampler_sample(s, l)]++;
    fy_sampler_free(s);
    double z = 0.0;
    for (int i = 0; i < 8; i++)
        z += exp(pl[i]);
    double chi2 = 0.0;
    for (int i = 0; i < 8; i++) {
        const double e = 20000.0 * exp(pl[i]) / z;
        chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
    }
    if (!(chi2 < 7.0 + 5.0 * sqrt(14.0) + 5.0)) {
        fprintf(stderr, "FAIL penalty: chi2 %.1f against the penalised softmax\n", chi2);
        failed++;
    }
    free(keep);
    if (!failed)
        printf("ok   repetition penalty: greedy flips, window, once per id, draw (chi2 %.1f)\n",
               chi2);
    return failed;
}

static int run_seq(int32_t *out, int64_t n_steps, struct fy_sampler *s, float *l, int64_t n,
                   uint64_t logit_seed)
{
    struct fy_rng r = {logit_seed};
    for (int64_t t = 0; t < n_steps; t++) {
        fill_logits(&r, l, n, 0.0f, 2.0f, 0);
        out[t] = fy_sampler_sample(s, l);
        if (fy_sampler_accept(s, out[t]) != FY_OK)
            return 1;
    }
    return 0;
}

static int test_seed(float *l)
{
    int failed = 0;
    enum { STEPS = 300 };
    const int64_t n = 1000;
    int32_t a[STEPS], b[STEPS], c[STEPS];
    static const struct {
        int32_t top_k;
        float top_p;
        float min_p;
    } cfg[] = {{0, 1.0f, 0.0f}, {40, 0.9f, 0.0f}, {0, 0.8f, 0.0f}, {0, 1.0f, 0.05f}};
    for (size_t k = 0; k < FY_ARRAY_LEN(cfg); k++) {
        struct fy_sampler_params p = params(1.0f, cfg[k].top_k, cfg[k].top_p, cfg[k].min_p, 1234);
        p.repeat_penalty = 1.1f;
        struct fy_sampler *s1 = NULL, *s2 = NULL, *s3 = NULL;
        FY_EXPECT(fy_sampler_new(&p, n, &s1) == FY_OK);
        FY_EXPECT(fy_sampler_new(&p, n, &s2) == FY_OK);
        p.seed = 1235;
        FY_EXPECT(fy_sampler_new(&p, n, &s3) == FY_OK);
        FY_EXPECT(fy_sampler_seed(s1) == 1234 && fy_sampler_seed(s3) == 1235);
        FY_EXPECT(run_seq(a, STEPS, s1, l, n, 9) == 0);
        FY_EXPECT(run_seq(b, STEPS, s2, l, n, 9) == 0);
        FY_EXPECT(run_seq(c, STEPS, s3, l, n, 9) == 0);
        FY_EXPECT(memcmp(a, b, sizeof(a)) == 0);
        FY_EXPECT(memcmp(a, c, sizeof(a)) != 0);
        fy_sampler_reset(s1);   /* history and random stream start over */
        FY_EXPECT(run_seq(b, STEPS, s1, l, n, 9) == 0);
        FY_EXPECT(memcmp(a, b, sizeof(a)) == 0);
        fy_sampler_free(s1);
        fy_sampler_free(s2);
        fy_sampler_free(s3);
    }
    struct fy_sampler_params p = fy_sampler_params_default();
    struct fy_sampler *s = NULL;
    FY_EXPECT(p.seed == FY_SAMPLER_SEED_RANDOM && p.temp == 1.0f && p.top_k == 0 &&
              p.top_p == 1.0f && p.min_p == 0.0f && p.repeat_penalty == 1.0f &&
              p.repeat_last_n == 64);
    FY_EXPECT(fy_sampler_new(&p, n, &s) == FY_OK);
    FY_EXPECT(fy_sampler_seed(s) != FY_SAMPLER_SEED_RANDOM);
    fy_sampler_free(s);
    if (!failed)
        printf("ok   seeds: same seed same samples (also after reset), another seed differs\n");
    return failed;
}

static int test_args(void)
{
    int failed = 0;
    struct fy_sampler_params p = fy_sampler_params_default();
    struct fy_sampler *ok = NULL;
    FY_EXPECT(fy_sampler_new(&p, 10, &ok) == FY_OK && ok);
    struct fy_sampler *s = ok;   /* a failed new must set *out to NULL */
    FY_EXPECT(fy_sampler_new(&p, 10, NULL) == FY_E_INVAL);
    FY_EXPECT(fy_sampler_new(NULL, 10, &s) == FY_E_INVAL && s == NULL);
    s = ok;
    FY_EXPECT(fy_sampler_new(&p, 0, &s) == FY_E_INVAL && s == NULL);
    FY_EXPECT(fy_sampler_new(&p, (int64_t)INT32_MAX + 1, &s) == FY_E_INVAL);
    p.temp = NAN;
    FY_EXPECT(fy_sampler_new(&p, 10, &s) == FY_E_INVAL);
    p = fy_sampler_params_default();
    p.top_p = NAN;
    FY_EXPECT(fy_sampler_new(&p, 10, &s) == FY_E_INVAL);
    p = fy_sampler_params_default();
    p.repeat_penalty = 0.0f;
    FY_EXPECT(fy_sampler_new(&p, 10, &s) == FY_E_INVAL);
    p.repeat_penalty = INFINITY;
    FY_EXPECT(fy_sampler_new(&p, 10, &s) == FY_E_INVAL);
    p = fy_sampler_params_default();
    p.repeat_last_n = -1;
    FY_EXPECT(fy_sampler_new(&p, 10, &s) == FY_E_INVAL);
    FY_EXPECT(fy_sampler_accept(ok, 10) == FY_E_INVAL);
    FY_EXPECT(fy_sampler_accept(ok, -1) == FY_E_INVAL);
    FY_EXPECT(fy_sampler_accept(ok, 9) == FY_OK);
    FY_EXPECT(fy_sampler_accept(NULL, 0) == FY_E_INVAL);
    FY_EXPECT(fy_sampler_sample(ok, NULL) == -1);
    FY_EXPECT(fy_sampler_sample(NULL, NULL) == -1);
    fy_sampler_free(ok);
    fy_sampler_free(NULL);
    fy_sampler_reset(NULL);
    if (!failed)
        printf("ok   argument checks\n");
    return failed;
}

int main(void)
{
    struct fy_rng r = {20240917};
    float *l = malloc(N_BIG * sizeof(*l));
    if (!l)
        return FY_TEST_HARD;
    int failed = 0;
    failed += test_args();
    failed += test_greedy(&r, l);
    failed += test_top_k1(&r, l);
    failed += test_freq(&r, l);
    failed += test_top_k(&r, l);
    failed += test_top_p(&r, l);
    failed += test_min_p(&r, l);
    failed += test_penalty(&r, l);
    failed += test_seed(l);
    free(l);
    printf("%s\n", failed ? "FAILED" : "all passed");
    return failed ? 1 : 0;
}
