/* fy_gpu_router_topk against fy_cpu_router_topk: n_exp 32 and 128 (gpt-oss 20b / 120b), k 4, on
 * n_tok 1, 7, 33, 512, 4096; plus k 1 and 8, odd n_exp 7 and 33 (partial lanes) and the maximum
 * n_exp 256. Rows mix random logits with exact ties: a whole row of one value, rows quantized to
 * a few levels (ties across the k-th place), +0 / -0, -inf entries, and the largest value
 * repeated. The ids must equal the CPU's exactly. Weights: |gpu - cpu| <= 1e-6 (both compute
 * the same double softmax, rounded to f32; only the device's double exp differs, by an ulp of a
 * double, so in practice the weights are bit-identical). */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"

#define WTOL 1e-6

static void fill_row(struct fy_rng *rng, float *l, int64_t n_exp, int kind)
{
    switch (kind) {
    case 0:   /* all equal: ids 0..k-1, uniform weights */
        for (int64_t i = 0; i < n_exp; i++)
            l[i] = 0.75f;
        break;
    case 1:   /* few levels: many ties, across the k-th place too */
        for (int64_t i = 0; i < n_exp; i++)
            l[i] = (float)(fy_rng_u64(rng) % 4) * 0.5f - 1.0f;
        break;
    case 2:   /* signed zeros and -inf around a few positives */
        for (int64_t i = 0; i < n_exp; i++) {
            const uint64_t r = fy_rng_u64(rng) % 5;
            l[i] = r == 0 ? 0.0f : r == 1 ? -0.0f : r == 2 ? -INFINITY
                                                          : fy_rng_range(rng, -2.0f, 2.0f);
        }
        break;
    case 3:   /* the maximum repeated at scattered places */
        for (int64_t i = 0; i < n_exp; i++)
            l[i] = (float)fy_rng_normal(rng);
        for (int j = 0; j < 3; j++)
            l[fy_rng_u64(rng) % n_exp] = 9.0f;
        break;
    default:  /* random, wide range */
        for (int64_t i = 0; i < n_exp; i++)
            l[i] = (float)(fy_rng_normal(rng) * 4.0);
        break;
    }
}

static int run_case(fy_gpu_stream s, int64_t n_tok, int64_t n_exp, int k, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const size_t lbytes = (size_t)(n_tok * n_exp) * sizeof(float);
    const size_t ibytes = (size_t)(n_tok * k) * sizeof(int32_t);
    const size_t wbytes = (size_t)(n_tok * k) * sizeof(float);
    struct fy_bufs b = { .s = s };
    float *l = fy_bufs_host(&b, lbytes), *rw = fy_bufs_host(&b, wbytes);
    float *gw = fy_bufs_host(&b, wbytes);
    int32_t *rid = fy_bufs_host(&b, ibytes), *gid = fy_bufs_host(&b, ibytes);
    int bad = 1;

    if (b.err)
        goto done;
    for (int64_t t = 0; t < n_tok; t++)
        fill_row(&rng, l + t * n_exp, n_exp, (int)(t % 8));
    fy_cpu_router_topk(rid, rw, l, n_tok, n_exp, k);

    float *dl = fy_bufs_up(&b, l, lbytes, "logits");
    int32_t *did = fy_bufs_dev(&b, ibytes, "ids");
    float *dw = fy_bufs_dev(&b, wbytes, "weights");
    if (b.err || fy_gpu_router_topk(did, dw, dl, n_tok, n_exp, k, s) != FY_OK ||
        fy_bufs_down(&b, gid, did, ibytes) || fy_bufs_down(&b, gw, dw, wbytes))
        goto done;
    int64_t first_id = -1, first_w = -1;
    double max_err = 0.0;
    for (int64_t i = 0; i < n_tok * k; i++) {
        const double e = fabs((double)gw[i] - rw[i]);
        if (!(e <= max_err))
            max_err = e;
        if (gid[i] != rid[i] && first_id < 0)
            first_id = i;
        if (!(e <= WTOL) && first_w < 0)
            first_w = i;
    }
    bad = first_id >= 0 || first_w >= 0;
    printf("%s router n_tok %lld n_exp %lld k %d: ids %s, max weight err %.3g (tol %g)\n",
           bad ? "FAIL" : "PASS", (long long)n_tok, (long long)n_exp, k,
           first_id < 0 ? "equal" : "DIFFER", max_err, WTOL);
    if (first_id >= 0) {
        const int64_t t = first_id / k;
        printf("  token %lld ids (gpu/cpu):", (long long)t);
        for (int j = 0; j < k; j++)
            printf(" %d/%d", gid[t * k + j], rid[t * k + j]);
        printf("\n");
    }
    if (first_w >= 0)
        printf("  first bad weight %lld: %.9g vs %.9g\n", (long long)first_w,
               (double)gw[first_w], (double)rw[first_w]);
done:
    fy_bufs_free(&b);
    return bad;
}

int main(void)
{
    static const int64_t ntoks[] = { 1, 7, 33, 512, 4096 };
    static const int64_t nexps[] = { 32, 128 };
    fy_gpu_stream s = NULL;
    int failed = 0, rc = fy_test_gpu_start(NULL, &s);

    if (rc)
        return rc;
    for (size_t e = 0; e < FY_ARRAY_LEN(nexps); e++)
        for (size_t i = 0; i < FY_ARRAY_LEN(ntoks); i++)
            failed += run_case(s, ntoks[i], nexps[e], 4, 10 * e + i);
    failed += run_case(s, 33, 128, 1, 100);
    failed += run_case(s, 33, 128, 8, 101);
    failed += run_case(s, 33, 32, 8, 102);
    failed += run_case(s, 33, 7, 4, 103);
    failed += run_case(s, 33, 33, 8, 104);
    failed += run_case(s, 33, 256, 8, 105);
    failed += run_case(s, 9, 8, 8, 106);   /* k == n_exp: everything, sorted */
    FY_EXPECT(fy_gpu_router_topk(NULL, NULL, NULL, 0, 128, 4, s) == FY_OK);
    return fy_test_gpu_end(s, failed, "router");
}
