/* The hybrid flow without a GPU: the test device stands in for GPU0 (separate memory, every
 * byte counted, foreign pointers refused). For each placement recipe and micro-batch sizes on
 * both sides of the offload threshold, the logits equal the all-CPU logits exactly, and the
 * bytes moved add up: weights at load, only the selected experts per offloaded layer. Cross-layer
 * prefetch (a layer that selected every expert uploads the next one whole, speculatively) gives
 * the same logits and is accounted for; it stays off for batches too small. */
#include "fy_test_hybrid.h"

enum { N = 40, VOCAB = 600, E = 16, THRESHOLD = 4 };

static int g_attn_on_gpu; /* attention nodes placed on GPU0 in the last evaluated batch */
static uint64_t g_pinned;   /* the device's pinned bytes while the session was open */

/* fy_hyb_inspect_fn: records the pinned bytes and where the last micro-batch's attention ran */
static void inspect(const struct fy_session *s, const struct fy_device *gpu, void *ud)
{
    (void)ud;
    g_pinned = gpu ? gpu->stats.bytes_pinned : 0;
    const struct fy_graph *g = fy_session_graph(s);
    for (int64_t i = 0; g && i < g->n_nodes; i++)
        if (g->nodes[i].op == FY_OP_ATTENTION)
            g_attn_on_gpu += g->nodes[i].backend == 1;
}

int main(void)
{
    int failed = 0;
    struct fy_hyb_model hm;
    if (fy_hyb_model_new(&hm, "/tmp/fy-hybrid-XXXXXX", 16, E, 2, VOCAB, 21) != FY_OK)
        return FY_TEST_HARD;
    const struct fy_model *m = hm.m;

    int32_t toks[N];
    fy_hyb_tokens(toks, N, VOCAB, 9);
    const struct fy_hyb_run run = {m, toks, N, FY_F32, inspect, NULL};
    float *ref = malloc(sizeof(float) * N * VOCAB), *got = malloc(sizeof(float) * N * VOCAB);
    FY_EXPECT(ref && got && fy_hyb_eval(&run, NULL, NULL, N, ref, NULL) == FY_OK);

    static const struct fy_hyb_recipe recipes[] = {
        {"all CPU", {0}, 0},
        {"-ngl 99", {"-ngl", "99"}, 2},
        {"-ngl 99 -ot exps=CPU", {"-ngl", "99", "-ot", "exps=CPU"}, 4},
        {"-ngl 99 -ot ffn_(up|gate|down)_exps\\.weight=CPU",
         {"-ngl", "99", "-ot", "ffn_(up|gate|down)_exps\\.weight=CPU"}, 4},
        {"-ngl 99 --n-cpu-moe 2", {"-ngl", "99", "--n-cpu-moe", "2"}, 4},
        {"-ngl 2", {"-ngl", "2"}, 2},
        {"-ngl 99 --cpu-moe -ot blk\\.1\\.attn_norm=CPU",
         {"-ngl", "99", "--cpu-moe", "-ot", "blk\\.1\\.attn_norm=CPU"}, 5},
    };
    const int64_t ubs[] = {THRESHOLD - 1, 2 * THRESHOLD}; /* CPU experts below, GPU above */
    for (size_t ri = 0; ri < FY_ARRAY_LEN(recipes); ri++) {
        const struct fy_hyb_recipe *rc = &recipes[ri];
        struct fy_placement *pl = NULL;
        if (fy_hyb_place(m, rc->words, rc->n, THRESHOLD, &pl) != FY_OK) {
            fprintf(stderr, "FAIL %s: placement\n", rc->name);
            failed++;
            continue;
        }
        /* experts of a layer whose weights are all on the CPU: bytes of one expert */
        size_t cpu_expert;
        const int64_t cpu_layers = fy_hyb_cpu_layers(pl, hm.c.n_layer, &cpu_expert);
        for (size_t u = 0; u < FY_ARRAY_LEN(ubs); u++) {
            struct fy_device *dev = NULL;
            struct fy_sched_stats st = {0};
            FY_EXPECT(fy_device_test_new(1, &dev) == FY_OK);
            g_attn_on_gpu = 0;
            fy_status rc_eval = fy_hyb_eval(&run, pl, dev, ubs[u], got, &st);
            const int64_t n_batches = (N + ubs[u] - 1) / ubs[u];
            bool same = rc_eval == FY_OK && !memcmp(got, ref, sizeof(float) * N * VOCAB);
            bool bytes = fy_hyb_bytes_add_up(dev, &st, pl, cpu_expert);
            /* below the threshold, CPU experts stay on the CPU; above it they are uploaded,
             * only those selected */
            bool paths = fy_hyb_paths_ok(&st, hm.c.n_layer, cpu_layers, n_batches,
                                         ubs[u] < THRESHOLD);
            /* uploads went in chunks through the staged hook (counted in bytes); the host pages
             * they read were pinned while the session was open (whole pages), and unpinned
             * after */
            bool chunks = (st.expert_bytes == 0) == (st.upload_chunks == 0) &&
                          st.pinned_bytes == g_pinned && dev->stats.bytes_pinned == 0 &&
                          (ubs[u] < THRESHOLD ? st.pinned_bytes == 0
                                              : st.pinned_bytes >= (uint64_t)cpu_layers * E *
                                                                       cpu_expert);
            if (ubs[u] >= THRESHOLD && cpu_layers)
                paths = paths && st.experts_uploaded <= cpu_layers * n_batches * ubs[u] * 2 &&
                        st.experts_uploaded < cpu_layers * n_batches * E;
            printf("%s %-46s ub=%-2lld logits %s | load %llu B, experts %lld (%llu B), biases "
                   "%llu B, act in %llu B out %llu B | moe gpu %lld cpu %lld, %lld segments\n",
                   same && bytes && paths && chunks ? "ok  " : "FAIL", rc->name,
                   (long long)ubs[u],
                   same ? "equal" : "DIFFER", (unsigned long long)st.load_bytes,
                   (long long)st.experts_uploaded, (unsigned long long)st.expert_bytes,
                   (unsigned long long)st.bias_bytes, (unsigned long long)st.act_bytes_in,
                   (unsigned long long)st.act_bytes_out, (long long)st.moe_gpu,
                   (long long)st.moe_cpu, (long long)st.segments);
            printf("     upload chunks %lld, pinned %llu B\n", (long long)st.upload_chunks,
                   (unsigned long long)st.pinned_bytes);
            failed += !(same && bytes && paths && chunks);
            int64_t gpu_layers = 0; /* layers whose KV cache (and so attention) is on GPU0 */
            for (int64_t l = 0; l < hm.c.n_layer; l++)
                gpu_layers += pl->layers[l].kv_dev == FY_DEV_GPU0;
            FY_EXPECT(g_attn_on_gpu == gpu_layers);
            FY_EXPECT(dev->stats.bytes_live == 0); /* the session freed all it allocated */
            fy_device_free(dev);
        }
        fy_placement_free(pl);
    }

    /* the prefetch rule, as a pure function */
    FY_EXPECT(fy_sched_prefetch_rule(16, 16, 16, 2, true));         /* n*k == 2E */
    FY_EXPECT(!fy_sched_prefetch_rule(16, 16, 15, 2, true));        /* batch too small */
    FY_EXPECT(!fy_sched_prefetch_rule(15, 16, 40, 2, true));        /* not every expert */
    FY_EXPECT(!fy_sched_prefetch_rule(16, 16, 40, 2, false));       /* next layer resident/CPU */
    FY_EXPECT(fy_sched_prefetch_rule(8, 8, 512, 4, true));
    FY_EXPECT(!fy_sched_prefetch_rule(0, 0, 512, 4, true));

    /* cross-layer prefetch on the test device: -ot exps=CPU (every layer uploads), a batch of
     * N tokens (every expert selected) triggers it; 8 tokens (n*k < 2E) do not. Logits equal
     * the CPU's and the run without prefetch, bit for bit; every byte is accounted for. */
    {
        const char *const w[] = {"-ngl", "99", "-ot", "exps=CPU"};
        struct fy_placement *pl = NULL;
        FY_EXPECT(fy_hyb_place(m, w, 4, THRESHOLD, &pl) == FY_OK);
        const size_t expert = pl ? pl->layers[0].cpu_expert_bytes : 0;
        const int64_t pf_ubs[] = {N, 2 * THRESHOLD};
        for (size_t u = 0; pl && u < FY_ARRAY_LEN(pf_ubs); u++) {
            struct fy_sched_stats st[2] = {{0}, {0}};
            bool same[2] = {false, false}, bytes[2] = {false, false};
            for (int on = 0; on < 2; on++) {
                struct fy_device *dev = NULL;
                FY_EXPECT(fy_device_test_new(1, &dev) == FY_OK);
                fy_sched_set_prefetch(on);
                memset(got, 0, sizeof(float) * N * VOCAB);
                fy_status rc_eval = fy_hyb_eval(&run, pl, dev, pf_ubs[u], got, &st[on]);
                same[on] = rc_eval == FY_OK && !memcmp(got, ref, sizeof(float) * N * VOCAB);
                bytes[on] = fy_hyb_uploads_add_up(dev, &st[on], expert) &&
                            st[on].prefetch_wasted_bytes <= st[on].prefetch_bytes &&
                            st[on].prefetch_bytes <= st[on].expert_bytes + st[on].bias_bytes &&
                            dev->stats.bytes_live == 0;
                fy_device_free(dev);
            }
            fy_sched_set_prefetch(-1);
            const bool big = pf_ubs[u] * 2 >= 2 * E;
            bool ok = same[0] && same[1] && bytes[0] && bytes[1] && st[0].prefetch_bytes == 0 &&
                      (big ? st[1].prefetch_bytes > 0 &&
                                 st[1].experts_uploaded >= st[0].experts_uploaded
                           : st[1].prefetch_bytes == 0 &&
                                 st[1].expert_bytes == st[0].expert_bytes);
            printf("%s prefetch, -ngl 99 -ot exps=CPU ub=%-2lld logits %s | experts %lld "
                   "(off: %lld), prefetched %llu B, wasted %llu B\n", ok ? "ok  " : "FAIL",
                   (long long)pf_ubs[u], same[0] && same[1] ? "equal" : "DIFFER",
                   (long long)st[1].experts_uploaded, (long long)st[0].experts_uploaded,
                   (unsigned long long)st[1].prefetch_bytes,
                   (unsigned long long)st[1].prefetch_wasted_bytes);
            failed += !ok;
        }
        fy_placement_free(pl);
    }

    /* a placement the scheduler cannot run (attention on GPU0, its sinks on the CPU) fails with
     * a message, not a crash */
    {
        const char *const w[] = {"-ngl", "99", "-ot", "attn_sinks=CPU"};
        struct fy_placement *pl = NULL;
        struct fy_device *dev = NULL;
        FY_EXPECT(fy_hyb_place(m, w, 4, THRESHOLD, &pl) == FY_OK &&
                  fy_device_test_new(1, &dev) == FY_OK);
        FY_EXPECT(fy_hyb_eval(&run, pl, dev, 8, got, NULL) == FY_E_UNSUPPORTED);
        fy_device_free(dev);
        fy_placement_free(pl);
    }

    /* out of device memory at load and at run time: FY_E_NOMEM with a message naming what did
     * not fit (logged), no crash, and everything the session allocated is freed */
    {
        const char *const w[] = {"-ngl", "99", "-ot", "exps=CPU"};
        struct fy_placement *pl = NULL;
        struct fy_device *dev = NULL;
        struct fy_session *s = NULL;
        struct fy_session_opts o;
        fy_session_opts_default(&o);
        o.n_ctx = N;
        o.n_ubatch = 8;
        o.placement = NULL;
        FY_EXPECT(fy_hyb_place(m, w, 4, THRESHOLD, &pl) == FY_OK &&
                  fy_device_test_new(1, &dev) == FY_OK);
        o.placement = pl;
        o.gpu = dev;
        FY_EXPECT(fy_session_new(m, &o, &s) == FY_OK);
        const uint64_t at_load = dev->stats.bytes_live;
        FY_EXPECT(fy_session_eval(s, toks, N, false, NULL, NULL) == FY_OK);
        const uint64_t peak = dev->stats.bytes_peak;
        fy_session_free(s);
        s = NULL;
        FY_EXPECT(at_load > 0 && peak > at_load && dev->stats.bytes_live == 0);
        fy_device_test_set_limit(dev, at_load / 2); /* the weights do not fit */
        FY_EXPECT(fy_session_new(m, &o, &s) == FY_E_NOMEM && !s);
        FY_EXPECT(dev->stats.bytes_live == 0);
        fy_device_test_set_limit(dev, peak - 1); /* the last buffer of the first batch does not */
        FY_EXPECT(fy_session_new(m, &o, &s) == FY_OK);
        FY_EXPECT(s && fy_session_eval(s, toks, N, false, NULL, NULL) == FY_E_NOMEM);
        fy_session_free(s);
        FY_EXPECT(dev->stats.bytes_live == 0 && dev->stats.bytes_pinned == 0);
        printf("%s out of memory at load and at run time: FY_E_NOMEM, all freed\n",
               failed ? "FAIL" : "ok  ");
        fy_device_free(dev);
        fy_placement_free(pl);
    }

    free(ref);
    free(got);
    fy_hyb_model_free(&hm);
    printf("%s\n", failed ? "test_hybrid: FAILED" : "test_hybrid: ok");
    return failed ? 1 : 0;
}
