/* Several sequences on the GPU device (or the emulator): continuous batching (fy_test_seqs.h:
 * 8 jobs through 4 slots, prompts of 1..40 tokens in micro-batches of 8, the sliding-window
 * rings, sequences joining and finishing mid-way) all-GPU (-ngl 99) and with the experts on the
 * CPU (-ngl 99 -ot exps=CPU; decode steps of 4 sequences cross the offload threshold of 4, so
 * some steps upload the selected experts), against each job alone on the same device and
 * placement. The GPU's kernels for one token and for several differ in their sums' order, so:
 * relative L2 error per row <= 1e-2 and the same arg-max on >= 95% of rows. A fork on the
 * device (rows copied in device memory) continues as the prefix would. */
#include "fy_test_seqs.h"
#include "graph/device_gpu.h"

enum { VOCAB = 600, E = 16, KUSED = 2, THRESHOLD = 4, UB = 8, SLOTS = 4, JOBS = 8 };

static int failed;

static void compare(const char *what, const float *got, const float *ref, int64_t rows)
{
    int64_t same;
    const double worst = fy_seq_rows_err(got, ref, rows, VOCAB, &same);
    const bool ok = worst <= 1e-2 && same * 100 >= rows * 95;
    printf("%s %-60s %3lld rows, worst rel err %.2e, arg-max %lld/%lld\n", ok ? "ok  " : "FAIL",
           what, (long long)rows, worst, (long long)same, (long long)rows);
    failed += !ok;
}

/* seq 0: P tokens; fork 20 into seq 1, which goes on with c; against alone on the device */
static void fork_on_device(const struct fy_model *m, const struct fy_placement *pl,
                           struct fy_device *dev, const char *name)
{
    enum { P = 40, C = 5, CTX = 64 };
    int32_t p[P], c[C], cat[20 + C];
    fy_hyb_tokens(p, P, VOCAB, 91);
    fy_hyb_tokens(c, C, VOCAB, 92);
    memcpy(cat, p, sizeof(int32_t) * 20);
    memcpy(cat + 20, c, sizeof(int32_t) * C);
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = CTX;
    o.n_ubatch = UB;
    o.n_seq = 2;
    o.placement = pl;
    o.gpu = dev;
    float got[VOCAB], ref[VOCAB];
    struct fy_seq_input a = {0, p, P}, b = {1, c, C};
    bool ok = fy_session_new(m, &o, &s) == FY_OK &&
              fy_session_eval_seqs(s, &a, 1, fy_seq_keep_all, got) == FY_OK &&
              fy_session_seq_copy(s, 0, 1, 20) == 20 &&
              fy_session_eval_seqs(s, &b, 1, fy_seq_keep_all, got) == FY_OK;
    fy_session_free(s);
    s = NULL;
    o.n_seq = 1;
    ok = ok && fy_session_new(m, &o, &s) == FY_OK &&
         fy_session_eval(s, cat, 20 + C, false, fy_seq_last_fn, ref) == FY_OK;
    fy_session_free(s);
    char what[96];
    snprintf(what, sizeof(what), "%s: fork at 20 on the device, then 5", name);
    if (!ok) {
        printf("FAIL %s\n", what);
        failed++;
        return;
    }
    compare(what, got, ref, 1);
}

int main(void)
{
#ifndef FY_TEST_EMU
    const int n_gpu = fy_device_gpu_count();
    if (n_gpu < 0)
        return FY_TEST_HARD;
    if (n_gpu < 1) {
        printf("test_gpu_seqs: no GPU (%s build): skipped\n", fy_device_gpu_platform());
        return FY_TEST_SKIP;
    }
#endif
    struct fy_hyb_model hm; /* head_dim 64: the one the GPU attention implements */
    if (fy_hyb_model_new(&hm, "/tmp/fy-gpu-seqs-XXXXXX", 64, E, KUSED, VOCAB, 43) != FY_OK)
        return FY_TEST_HARD;
    const struct fy_model *m = hm.m;
    struct fy_seq_sched q;
    if (fy_seq_sched_new(&q, JOBS, 40, 6, VOCAB, 7) != FY_OK)
        return FY_TEST_HARD;
    static const struct fy_hyb_recipe recipes[] = {
        {"-ngl 99", {"-ngl", "99"}, 2},
        {"-ngl 99 -ot exps=CPU", {"-ngl", "99", "-ot", "exps=CPU"}, 4},
    };
    struct fy_device_gpu_opts go;
    fy_device_gpu_opts_default(&go);
    for (size_t ri = 0; ri < FY_ARRAY_LEN(recipes); ri++) {
        struct fy_placement *pl = NULL;
        struct fy_device *dev = NULL;
        int64_t max_batch = 0;
        if (fy_hyb_place(m, recipes[ri].words, recipes[ri].n, THRESHOLD, &pl) != FY_OK ||
            fy_device_gpu_new(1, &go, &dev) != FY_OK ||
            fy_seq_sched_run(&q, m, SLOTS, UB, pl, dev, &max_batch) != FY_OK ||
            max_batch != SLOTS) {
            printf("FAIL %s: placement, device or the batched run\n", recipes[ri].name);
            failed++;
        } else {
            for (int64_t j = 0; j < q.n_jobs; j++) {
                const struct fy_seq_job *b = &q.job[j];
                float *ref = malloc(sizeof(float) * (size_t)((1 + b->n_gen) * VOCAB));
                char what[96];
                snprintf(what, sizeof(what), "%s: job %lld (prompt %lld, +%lld)",
                         recipes[ri].name, (long long)j, (long long)b->n_prompt,
                         (long long)b->n_gen);
                if (!ref || fy_seq_job_alone(&q, j, m, UB, pl, dev, ref) != FY_OK) {
                    printf("FAIL %s: alone\n", what);
                    failed++;
                } else {
                    compare(what, b->rows, ref, 1 + b->n_gen);
                }
                free(ref);
            }
            fork_on_device(m, pl, dev, recipes[ri].name);
        }
        fy_device_free(dev);
        fy_placement_free(pl);
    }
    fy_seq_sched_free(&q);
    fy_hyb_model_free(&hm);
    return failed ? 1 : 0;
}
