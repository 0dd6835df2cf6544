/* Several sequences in one session (src/graph/session_seq.c), on the CPU and on the test device
 * (hybrid placements, micro-batches on both sides of the offload threshold):
 *   - continuous batching (fy_test_seqs.h): 14 jobs through 5 slots, prompts of 1..40 tokens in
 *     micro-batches of 8 (split across micro-batches, sliding-window rings of 32 slots), joining
 *     and finishing mid-way: every row equals the job's rows run alone, bit for bit with the
 *     reference kernel set ("c") and the test device, else within the fast sets' tolerance
 *     (relative L2 per row <= 2e-3: int8 activations quantized per token, the same numbers;
 *     only the blocking of the sums differs with the batch's size);
 *   - fork (fy_session_seq_copy) and truncate: a prefix copied into another sequence and
 *     continued equals the prefix and continuation run alone; a fork whose window the rings
 *     no longer hold says so (0);
 *   - errors: a sequence twice in one call, one out of range, a context overflow (nothing
 *     evaluated, the sequences unchanged). */
#include "fy_test_seqs.h"
#include "cpu/qdot.h"

enum { VOCAB = 600, E = 16, THRESHOLD = 4, UB = 8, SLOTS = 5, JOBS = 14 };

static int failed;

/* exact: memcmp; else the worst relative L2 error of a row <= 2e-3 and the same arg-max on all
 * rows but at most one in 20 */
static void compare(const char *what, const float *got, const float *ref, int64_t rows,
                    bool exact)
{
    int64_t same;
    const double worst = fy_seq_rows_err(got, ref, rows, VOCAB, &same);
    const bool ok = exact ? !memcmp(got, ref, sizeof(float) * (size_t)(rows * VOCAB))
                          : worst <= 2e-3 && same * 20 >= rows * 19;
    printf("%s %-52s %3lld rows, worst rel err %.2e, arg-max %lld/%lld%s\n", ok ? "ok  " : "FAIL",
           what, (long long)rows, worst, (long long)same, (long long)rows,
           exact ? " (bit for bit)" : "");
    failed += !ok;
}

/* the schedule with placement pl on gpu against the jobs alone on the CPU */
static void batched(const char *what, struct fy_seq_sched *q, const struct fy_model *m,
                    const struct fy_placement *pl, struct fy_device *gpu, bool exact)
{
    int64_t max_batch = 0;
    fy_status st = fy_seq_sched_run(q, m, SLOTS, UB, pl, gpu, &max_batch);
    if (st != FY_OK || max_batch != SLOTS) {
        printf("FAIL %s: %s, largest step %lld inputs\n", what, fy_status_str(st),
               (long long)max_batch);
        failed++;
        return;
    }
    for (int64_t j = 0; j < q->n_jobs; j++) {
        const struct fy_seq_job *b = &q->job[j];
        float *ref = malloc(sizeof(float) * (size_t)((1 + b->n_gen) * VOCAB));
        char name[96];
        snprintf(name, sizeof(name), "%s: job %lld (prompt %lld, +%lld)", what, (long long)j,
                 (long long)b->n_prompt, (long long)b->n_gen);
        if (!ref || fy_seq_job_alone(q, j, m, UB, NULL, NULL, ref) != FY_OK) {
            printf("FAIL %s: alone\n", name);
            failed++;
        } else {
            compare(name, b->rows, ref, 1 + b->n_gen, exact);
        }
        free(ref);
    }
}

/* logits of the last token of toks[0..n) evaluated alone in one session */
static fy_status alone(const struct fy_model *m, const int32_t *toks, int64_t n, int64_t n_ctx,
                       float *out)
{
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = n_ctx;
    o.n_ubatch = UB;
    FY_TRY(fy_session_new(m, &o, &s));
    fy_status st = fy_session_eval(s, toks, n, false, fy_seq_last_fn, out);
    fy_session_free(s);
    return st;
}

static void fork_truncate(const struct fy_model *m, bool exact)
{
    enum { P = 40, C = 6, CTX = 64 };
    int32_t p[P + C], c[C];
    fy_hyb_tokens(p, P + C, VOCAB, 77);
    fy_hyb_tokens(c, C, VOCAB, 78);
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = CTX;
    o.n_ubatch = UB;
    o.n_seq = 3;
    float got[3 * VOCAB], ref[VOCAB];
    int32_t cat[P + C];
    if (fy_session_new(m, &o, &s) != FY_OK) {
        printf("FAIL fork: session\n");
        failed++;
        return;
    }
    struct fy_seq_input in0 = {0, p, P};
    FY_EXPECT(fy_session_eval_seqs(s, &in0, 1, fy_seq_keep_all, got) == FY_OK);
    /* seq 0 holds P positions, its rings (window 8 + ub 8, rounded up to 32 slots) 8 .. 39:
     * a fork at 20 needs 13 .. 19; one at 10 would need 3 .. 9 */
    FY_EXPECT(fy_session_seq_copy(s, 0, 1, 20) == 20 && fy_session_seq_n_past(s, 1) == 20);
    FY_EXPECT(fy_session_seq_copy(s, 0, 2, 10) == 0 && fy_session_seq_n_past(s, 2) == 0);
    FY_EXPECT(fy_session_seq_copy(s, 0, 0, 2) < 0 && fy_session_seq_copy(s, 0, 1, P + 1) < 0);
    /* the fork after 20 positions continues with c, seq 0 with the rest of p, seq 2 anew */
    struct fy_seq_input in[3] = {{1, c, C}, {0, p + P, C}, {2, c, 3}};
    FY_EXPECT(fy_session_eval_seqs(s, in, 3, fy_seq_keep_all, got) == FY_OK);
    memcpy(cat, p, sizeof(int32_t) * 20);
    memcpy(cat + 20, c, sizeof(int32_t) * C);
    if (alone(m, cat, 20 + C, CTX, ref) == FY_OK)
        compare("fork at 20, then 6 tokens", got, ref, 1, exact);
    if (alone(m, p, P + C, CTX, ref) == FY_OK)
        compare("the forked sequence goes on", got + VOCAB, ref, 1, exact);
    if (alone(m, c, 3, CTX, ref) == FY_OK)
        compare("a sequence the fork could not fill, anew", got + 2 * VOCAB, ref, 1, exact);
    /* truncate seq 0 (46 positions) to 44 and go on with c: rings hold 14 .. 45, need 37 ..;
     * to 10 they cannot (0: evaluate again) */
    FY_EXPECT(fy_session_seq_truncate(s, 0, 44) == 44);
    struct fy_seq_input tr = {0, c, 2};
    FY_EXPECT(fy_session_eval_seqs(s, &tr, 1, fy_seq_keep_all, got) == FY_OK);
    memcpy(cat, p, sizeof(int32_t) * 44);
    memcpy(cat + 44, c, sizeof(int32_t) * 2);
    if (alone(m, cat, 46, CTX, ref) == FY_OK)
        compare("truncated to 44, then 2 tokens", got, ref, 1, exact);
    FY_EXPECT(fy_session_seq_truncate(s, 2, 1) == 1 && fy_session_seq_n_past(s, 2) == 1);
    FY_EXPECT(fy_session_seq_truncate(s, 1, 10) == 0 && fy_session_seq_n_past(s, 1) == 0);

    /* errors leave every sequence as it was */
    const int64_t past0 = fy_session_seq_n_past(s, 0), past1 = fy_session_seq_n_past(s, 1);
    struct fy_seq_input dup[2] = {{1, c, 1}, {1, c, 1}}, bad = {3, c, 1}, big = {0, p, CTX};
    FY_EXPECT(fy_session_eval_seqs(s, dup, 2, fy_seq_keep_all, got) == FY_E_INVAL);
    FY_EXPECT(fy_session_eval_seqs(s, &bad, 1, fy_seq_keep_all, got) == FY_E_INVAL);
    struct fy_seq_input two[2] = {{1, c, 1}, big};
    FY_EXPECT(fy_session_eval_seqs(s, two, 2, fy_seq_keep_all, got) == FY_E_FULL);
    FY_EXPECT(fy_session_seq_n_past(s, 0) == past0 && fy_session_seq_n_past(s, 1) == past1);
    fy_session_free(s);
}

int main(void)
{
    struct fy_hyb_model hm;
    if (fy_hyb_model_new(&hm, "/tmp/fy-seqs-XXXXXX", 16, E, 2, VOCAB, 41) != FY_OK)
        return FY_TEST_HARD;
    const struct fy_model *m = hm.m;
    const bool exact = !strcmp(fy_cpu_set()->name, "c");
    printf("kernel set %s\n", fy_cpu_set()->name);

    struct fy_seq_sched q;
    if (fy_seq_sched_new(&q, JOBS, 40, 8, VOCAB, 5) != FY_OK)
        return FY_TEST_HARD;
    batched("CPU", &q, m, NULL, NULL, exact);

    static const struct fy_hyb_recipe recipes[] = {
        {"-ngl 99", {"-ngl", "99"}, 2},
        {"-ngl 99 -ot exps=CPU", {"-ngl", "99", "-ot", "exps=CPU"}, 4},
    };
    for (size_t ri = 0; ri < FY_ARRAY_LEN(recipes); ri++) {
        struct fy_placement *pl = NULL;
        struct fy_device *dev = NULL;
        if (fy_hyb_place(m, recipes[ri].words, recipes[ri].n, THRESHOLD, &pl) != FY_OK ||
            fy_device_test_new(1, &dev) != FY_OK) {
            printf("FAIL %s: placement or device\n", recipes[ri].name);
            failed++;
        } else {
            char what[64];
            snprintf(what, sizeof(what), "test device %s", recipes[ri].name);
            batched(what, &q, m, pl, dev, exact);
            FY_EXPECT(dev->stats.bytes_live == 0); /* every device byte freed */
        }
        fy_device_free(dev);
        fy_placement_free(pl);
    }
    fork_truncate(m, exact);
    fy_seq_sched_free(&q);
    fy_hyb_model_free(&hm);
    return failed ? 1 : 0;
}
