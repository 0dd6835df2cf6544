/* The sliding-window KV rings on the GPU device: a tiny model with a window of 8 over 40 tokens
 * (5 windows) gives the same logits, bit for bit (memcmp), with rings (kv_store, the fused rope +
 * KV store and attention reading position p at slot p % ring) as with full caches (--swa-full):
 * in one micro-batch, token by token (the decode step graphs), in micro-batches of 7 and 16, and
 * a prompt then single-token evaluations; all on GPU0 (-ngl 99), its experts on the CPU, and
 * the ring layers split between the CPU and GPU0 (-ngl 2). The CPU side: tests/test_kvcache.c. */
#include "fy_test_hybrid.h"
#include "graph/device_gpu.h"
#include "hip/fy_gpu.h"

enum { N = 40, VOCAB = 600, E = 8, N_CTX = 96, THRESHOLD = 4 };

static int failed;

int main(void)
{
#ifndef FY_TEST_EMU
    const int n_gpu = fy_device_gpu_count();
    if (n_gpu < 0)
        return FY_TEST_HARD;
    if (n_gpu < 1) {
        printf("test_gpu_kvcache: no GPU (%s build): skipped\n", fy_device_gpu_platform());
        return FY_TEST_SKIP;
    }
#endif
    struct fy_hyb_model hm; /* head_dim 64: the one the GPU attention implements */
    if (fy_hyb_model_new(&hm, "/tmp/fy-gpu-kvcache-XXXXXX", 64, E, 2, VOCAB, 17) != FY_OK)
        return FY_TEST_HARD;
    const struct fy_model *m = hm.m;
    int32_t toks[N];
    fy_hyb_tokens(toks, N, VOCAB, 3);
    float *full = malloc(sizeof(float) * N * VOCAB), *ring = malloc(sizeof(float) * N * VOCAB);
    if (!full || !ring)
        return FY_TEST_HARD;

    static const struct fy_hyb_recipe recipes[] = {
        {"-ngl 99", {"-ngl", "99"}, 2},
        {"-ngl 99 -ot exps=CPU", {"-ngl", "99", "-ot", "exps=CPU"}, 4},
        {"-ngl 2", {"-ngl", "2"}, 2}, /* ring layer 0 on the CPU, ring layer 2 on GPU0 */
    };
    static const struct {
        int64_t ub, n_first;
        const char *what;
    } cases[] = {
        {N, N, "one micro-batch"},
        {1, 0, "token by token"},
        {7, N, "micro-batches of 7"},
        {16, N, "micro-batches of 16 (wraps inside a batch)"},
        {24, 24, "a prompt of 24, then 16 single evaluations"},
    };
    struct fy_device_gpu_opts go;
    fy_device_gpu_opts_default(&go);
    for (size_t ri = 0; ri < FY_ARRAY_LEN(recipes); ri++) {
        struct fy_placement *pl = NULL;
        FY_EXPECT(fy_hyb_place(m, recipes[ri].words, recipes[ri].n, THRESHOLD, &pl) == FY_OK);
        for (size_t c = 0; pl && c < FY_ARRAY_LEN(cases); c++) {
            size_t kv_full = 0, kv_ring = 0;
            fy_status st[2];
            for (int r = 0; r < 2; r++) {
                struct fy_device *dev = NULL;
                if (fy_device_gpu_new(1, &go, &dev) != FY_OK)
                    return FY_TEST_HARD;
                memset(r ? ring : full, 0, sizeof(float) * N * VOCAB);
                st[r] = fy_hyb_eval_swa(m, toks, N, N_CTX, cases[c].ub, cases[c].n_first, r == 0,
                                        pl, dev, r ? ring : full, r ? &kv_ring : &kv_full);
                FY_EXPECT(dev->stats.bytes_live == 0);
                fy_device_free(dev);
            }
            const bool same = st[0] == FY_OK && st[1] == FY_OK &&
                              !memcmp(full, ring, sizeof(float) * N * VOCAB);
            const bool bytes = kv_ring < kv_full &&
                               kv_ring == fy_hyb_kv_bytes_expected(m, N_CTX, cases[c].ub, false);
            printf("%s %-22s ub %2lld, %-44s logits %s, KV %zu B (full %zu B)\n",
                   same && bytes ? "ok  " : "FAIL", recipes[ri].name, (long long)cases[c].ub,
                   cases[c].what, same ? "equal" : "DIFFER", kv_ring, kv_full);
            failed += !(same && bytes);
        }
        fy_placement_free(pl);
    }
    free(full);
    free(ring);
    fy_hyb_model_free(&hm);
    if (failed)
        fprintf(stderr, "%d check(s) failed\n", failed);
    return failed ? 1 : 0;
}
