/* fy_cpu_router_topk against a plain reference: top-k by value (ties to the lower index), then
 * a softmax over the k selected logits only (gpt-oss.md section 6). */
#include "cpu/ops.h"
#include "fy_test.h"

#include <string.h>

/* reference: k passes, each taking the largest remaining logit, lowest index on ties */
static void ref_topk(const float *l, int64_t n_exp, int k, int32_t *ids, double *w)
{
    char used[1024] = {0};
    for (int j = 0; j < k; j++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n_exp; i++)
            if (!used[i] && (best < 0 || l[i] > l[best]))
                best = i;
        used[best] = 1;
        ids[j] = (int32_t)best;
    }
    double z = 0;
    for (int j = 0; j < k; j++)
        z += exp((double)l[ids[j]] - l[ids[0]]);
    for (int j = 0; j < k; j++)
        w[j] = exp((double)l[ids[j]] - l[ids[0]]) / z;
}

static int check(const char *what, const float *logits, int64_t n_tok, int64_t n_exp, int k)
{
    int32_t *ids = malloc((size_t)n_tok * k * sizeof(int32_t));
    float *w = malloc((size_t)n_tok * k * sizeof(float));
    int32_t rid[1024];
    double *rw = malloc((size_t)n_tok * k * sizeof(double));
    int bad = 0;

    fy_cpu_router_topk(ids, w, logits, n_tok, n_exp, k);
    for (int64_t t = 0; t < n_tok; t++) {
        ref_topk(logits + t * n_exp, n_exp, k, rid, rw + t * k);
        double sum = 0;
        for (int j = 0; j < k; j++)
            sum += w[t * k + j];
        if (memcmp(rid, ids + t * k, (size_t)k * sizeof(int32_t)) != 0) {
            fprintf(stderr, "FAIL %s (n_exp=%lld k=%d): token %lld ids", what,
                    (long long)n_exp, k, (long long)t);
            for (int j = 0; j < k; j++)
                fprintf(stderr, " %d/%d", ids[t * k + j], rid[j]);
            fprintf(stderr, " (got/want)\n");
            bad++;
            break;
        }
        if (fabs(sum - 1.0) > 1e-6) {
            fprintf(stderr, "FAIL %s: token %lld weights sum to %.9f\n", what, (long long)t,
                    sum);
            bad++;
            break;
        }
    }
    char name[128];
    snprintf(name, sizeof(name), "router %s n_exp=%lld k=%d n_tok=%lld", what, (long long)n_exp,
             k, (long long)n_tok);
    bad += fy_check_nmse(name, w, rw, n_tok * k, 1e-12);
    free(ids);
    free(w);
    free(rw);
    return bad;
}

int main(void)
{
    static const int64_t n_exps[] = {8, 32, 128};
    int failed = 0;
    struct fy_rng r = {42};

    for (size_t ie = 0; ie < FY_ARRAY_LEN(n_exps); ie++) {
        int64_t n_exp = n_exps[ie], n_tok = 67;
        float *l = malloc((size_t)n_tok * n_exp * sizeof(float));
        fy_rng_fill(&r, l, n_tok * n_exp, 3.0f);
        failed += check("random", l, n_tok, n_exp, 4);
        failed += check("random", l, n_tok, n_exp, 1);
        failed += check("random large k", l, n_tok, n_exp, (int)(n_exp < 32 ? n_exp : 32));
        /* coarse logits: many exact ties */
        for (int64_t i = 0; i < n_tok * n_exp; i++)
            l[i] = (float)(int)(fy_rng_unif(&r) * 4) - 1.5f;
        failed += check("coarse ties", l, n_tok, n_exp, 4);
        free(l);
    }

    /* all equal: the 4 lowest indices, weight 1/4 each */
    float eq[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    int32_t ids[4];
    float w[4];
    fy_cpu_router_topk(ids, w, eq, 1, 8, 4);
    for (int j = 0; j < 4; j++) {
        FY_EXPECT(ids[j] == j);
        FY_EXPECT(fabsf(w[j] - 0.25f) < 1e-7f);
    }
    /* partial ties: {1, 3, 3, 2, 3, 0, 2, 3} -> 1, 2, 4, 7 */
    float pt[8] = {1, 3, 3, 2, 3, 0, 2, 3};
    fy_cpu_router_topk(ids, w, pt, 1, 8, 4);
    FY_EXPECT(ids[0] == 1 && ids[1] == 2 && ids[2] == 4 && ids[3] == 7);
    /* descending order with a large spread, no overflow in the softmax */
    float big[8] = {-100, 80, 3, 90, -5, 85, 2, 1};
    fy_cpu_router_topk(ids, w, big, 1, 8, 4);
    FY_EXPECT(ids[0] == 3 && ids[1] == 5 && ids[2] == 1 && ids[3] == 2);
    FY_EXPECT(w[0] > w[1] && w[1] > w[2] && w[2] > w[3] && w[3] >= 0.0f);
    FY_EXPECT(fabs((double)w[1] - exp(-5.0) / (1 + exp(-5.0) + exp(-10.0) + exp(-87.0))) < 1e-7);
    if (failed)
        fprintf(stderr, "%d failure(s)\n", failed);
    return failed ? 1 : 0;
}
