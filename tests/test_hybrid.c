/* The hybrid flow without a GPU: the test device stands in for GPU0 (separate memory, every
 * byte counted, foreign pointers refused). For each placement recipe and micro-batch sizes on
 * both sides of the offload threshold, the logits equal the all-CPU logits exactly, and the
 * bytes moved add up: weights at load, only the selected experts per offloaded layer. Cross-layer
 * prefetch (a layer that selected every expert uploads the next one whole, speculatively) gives
 * the same logits and is accounted for; it stays off for batches too small. */
#include "fy_test.h"
#include "graph/device.h"
#include "graph/sched.h"
#include "graph/session.h"
#include "model.h"
#include "placement/placement.h"
#include "synth.h"

#include <string.h>
#include <unistd.h>

enum { N = 40, VOCAB = 600, E = 16, THRESHOLD = 4 };

static int g_attn_on_gpu; /* attention nodes placed on GPU0 in the last evaluated batch */
static uint64_t g_pinned;   /* the device's pinned bytes while the session was open */

struct rows {
    float *data;
};

static fy_status keep(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                      int64_t n_vocab)
{
    struct rows *r = ud;
    memcpy(r->data + row0 * n_vocab, logits, (size_t)(n_rows * n_vocab) * sizeof(float));
    return FY_OK;
}

static fy_status eval(const struct fy_model *m, const struct fy_placement *pl,
                      struct fy_device *gpu, int64_t ub, const int32_t *toks, float *out,
                      struct fy_sched_stats *st)
{
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    struct rows r = {out};
    fy_session_opts_default(&o);
    o.n_ctx = N;
    o.n_ubatch = ub;
    o.kv_type = FY_F32;
    o.placement = pl;
    o.gpu = gpu;
    FY_TRY(fy_session_new(m, &o, &s));
    fy_status rc = fy_session_eval(s, toks, N, true, keep, &r);
    if (st && fy_session_sched_stats(s))
        *st = *fy_session_sched_stats(s);
    g_pinned = gpu ? gpu->stats.bytes_pinned : 0;
    /* where the last micro-batch's attention nodes ran */
    const struct fy_graph *g = fy_session_graph(s);
    for (int64_t i = 0; g && i < g->n_nodes; i++)
        if (g->nodes[i].op == FY_OP_ATTENTION)
            g_attn_on_gpu += g->nodes[i].backend == 1;
    fy_session_free(s);
    return rc;
}

/* Builds the placement of a recipe (command-line words) for model m. */
static fy_status place(const struct fy_model *m, const char *const *words, int n_words,
                       struct fy_placement **out)
{
    struct fy_place_rules *r = NULL;
    struct fy_place_dims dims;
    char *argv[16];
    fy_status st = fy_place_rules_new(&r);
    for (int i = 0; i < n_words; i++)
        argv[i] = (char *)words[i];
    for (int i = 0; st == FY_OK && i < n_words; i++)
        if (fy_place_parse_flag(r, n_words, argv, &i) != 1)
            st = FY_E_INVAL;
    if (st == FY_OK)
        st = fy_place_rules_set_offload_threshold(r, THRESHOLD);
    if (st == FY_OK)
        st = fy_place_dims_from_gguf(m->gguf, &dims);
    if (st == FY_OK)
        st = fy_placement_new(r, m->gguf, &dims, out);
    fy_place_rules_free(r);
    return st;
}

struct recipe {
    const char *name;
    const char *words[8];
    int n;
};

int main(void)
{
    int failed = 0;
    char dir[] = "/tmp/fy-hybrid-XXXXXX", path[64];
    struct fy_synth_config c;
    struct fy_model *m = NULL;
    if (!mkdtemp(dir))
        return FY_TEST_HARD;
    fy_synth_preset("tiny", &c);
    c.n_layer = 4;
    c.d_model = 64;
    c.n_head = 4;
    c.n_head_kv = 2;
    c.head_dim = 16;
    c.n_expert = E;
    c.n_expert_used = 2;
    c.n_ff_exp = 64;
    c.n_vocab = VOCAB;
    c.toy_vocab = 1;
    c.sliding_window = 8;
    c.seed = 21;
    c.progress = 0;
    snprintf(path, sizeof(path), "%s/m.gguf", dir);
    if (fy_synth_write(&c, NULL, path) != FY_OK || fy_model_load(path, &m) != FY_OK)
        return FY_TEST_HARD;

    int32_t toks[N];
    struct fy_rng rng = {9};
    for (int i = 0; i < N; i++)
        toks[i] = (int32_t)(fy_rng_u64(&rng) % VOCAB);
    float *ref = malloc(sizeof(float) * N * VOCAB), *got = malloc(sizeof(float) * N * VOCAB);
    FY_EXPECT(ref && got && eval(m, NULL, NULL, N, toks, ref, NULL) == FY_OK);

    static const struct recipe recipes[] = {
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
        const struct recipe *rc = &recipes[ri];
        struct fy_placement *pl = NULL;
        if (place(m, rc->words, rc->n, &pl) != FY_OK) {
            fprintf(stderr, "FAIL %s: placement\n", rc->name);
            failed++;
            continue;
        }
        /* experts of a layer whose weights are all on the CPU: bytes of one expert */
        size_t cpu_expert = 0;
        int64_t cpu_layers = 0;
        for (int64_t l = 0; l < c.n_layer; l++) {
            if (pl->layers[l].n_weights_gpu == 0) {
                cpu_expert = pl->layers[l].cpu_expert_bytes;
                cpu_layers++;
            }
        }
        for (size_t u = 0; u < FY_ARRAY_LEN(ubs); u++) {
            struct fy_device *dev = NULL;
            struct fy_sched_stats st = {0};
            FY_EXPECT(fy_device_test_new(1, &dev) == FY_OK);
            g_attn_on_gpu = 0;
            fy_status rc_eval = eval(m, pl, dev, ubs[u], toks, got, &st);
            const int64_t n_batches = (N + ubs[u] - 1) / ubs[u];
            bool same = rc_eval == FY_OK && !memcmp(got, ref, sizeof(float) * N * VOCAB);
            bool bytes = dev->stats.bytes_in == st.load_bytes + st.expert_bytes + st.bias_bytes +
                                                    st.act_bytes_in &&
                         dev->stats.bytes_out == st.act_bytes_out &&
                         st.load_bytes == pl->weight_bytes[FY_DEV_GPU0] +
                                              pl->dup_bytes[FY_DEV_GPU0] &&
                         st.expert_bytes == (uint64_t)st.experts_uploaded * cpu_expert;
            bool paths = st.moe_gpu + st.moe_cpu == c.n_layer * n_batches;
            /* uploads went in chunks through the staged hook; the host pages they read were
             * pinned while the session was open (whole pages), and unpinned after */
            bool chunks = (uint64_t)st.upload_chunks == dev->stats.n_chunks &&
                          (st.expert_bytes == 0) == (st.upload_chunks == 0) &&
                          st.pinned_bytes == g_pinned && dev->stats.bytes_pinned == 0 &&
                          (ubs[u] < THRESHOLD ? st.pinned_bytes == 0
                                              : st.pinned_bytes >= (uint64_t)cpu_layers * E *
                                                                       cpu_expert);
            if (ubs[u] < THRESHOLD) /* below the threshold, CPU experts stay on the CPU */
                paths = paths && st.experts_uploaded == 0 &&
                        st.moe_cpu == cpu_layers * n_batches;
            else if (cpu_layers) /* above it they are uploaded, only those selected */
                paths = paths && st.experts_uploaded > 0 &&
                        st.experts_uploaded <= cpu_layers * n_batches * ubs[u] * 2 &&
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
            for (int64_t l = 0; l < c.n_layer; l++)
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
        FY_EXPECT(place(m, w, 4, &pl) == FY_OK);
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
                fy_status rc_eval = eval(m, pl, dev, pf_ubs[u], toks, got, &st[on]);
                same[on] = rc_eval == FY_OK && !memcmp(got, ref, sizeof(float) * N * VOCAB);
                bytes[on] = dev->stats.bytes_in == st[on].load_bytes + st[on].expert_bytes +
                                                       st[on].bias_bytes + st[on].act_bytes_in &&
                            st[on].expert_bytes == (uint64_t)st[on].experts_uploaded * expert &&
                            (uint64_t)st[on].upload_chunks == dev->stats.n_chunks &&
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
        FY_EXPECT(place(m, w, 4, &pl) == FY_OK && fy_device_test_new(1, &dev) == FY_OK);
        FY_EXPECT(eval(m, pl, dev, 8, toks, got, NULL) == FY_E_UNSUPPORTED);
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
        FY_EXPECT(place(m, w, 4, &pl) == FY_OK && fy_device_test_new(1, &dev) == FY_OK);
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
    fy_model_free(m);
    unlink(path);
    rmdir(dir);
    printf("%s\n", failed ? "test_hybrid: FAILED" : "test_hybrid: ok");
    return failed ? 1 : 0;
}
