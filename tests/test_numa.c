/* NUMA (issue 17, src/cpu/numa.h): with the MoE split across pretend nodes (FY_NUMA_FAKE's
 * fy_numa_opts.fake) the results are the one-node results bit for bit, under whichever kernel set
 * runs (meson also runs this with FY_CPU=c and avx2):
 *   - split:  even expert splits, odd ones included (32 over 3: 11/11/10; 8 over 3: 3/3/2), and
 *             thread teams cut into node groups;
 *   - modes:  the --numa words and FY_NUMA_FAKE's values;
 *   - kernel: fy_cpu_moe_ffn_numa against fy_cpu_moe_ffn on random layers (MXFP4: the integer
 *             path, or the f32 path under FY_CPU=c; BF16: the f32 path), 2 and 3 nodes, experts
 *             and mirror mode, one token (decode) to 40 (prompt);
 *   - model:  a tiny model's logits, 32 experts (k 4) and 8 (k 2), 2 and 3 nodes, experts and
 *             mirror, prompt and decode, on the CPU alone and hybrid on the test device (below
 *             the offload threshold the experts run on the CPU, above it they are uploaded);
 *   - bound:  pretend nodes that bind (fake_bind: each is this machine's real node): the mapped
 *             model's experts relocated (copied under the same addresses), a --no-mmap model's
 *             pages moved, mirror copies bound; same logits, pages on their node;
 *   - pages:  an allocation bound to a node reports that node for every page (move_pages).
 * On a mismatch: the case and the first differing index. */
#include "cpu/ops.h"
#include "cpu/qdot.h"
#include "fy_config.h"
#include "fy_test_hybrid.h"
#include "graph/numa_place.h"
#include "placement/numa_layout.h"
#include "quant.h"

#include <fcntl.h>
#include <sys/mman.h>

enum { N = 24, VOCAB = 600, THRESHOLD = 4, FIRST = 5 };

static int failed;

/* 0 when a and b hold the same n floats, else 1 (reported with the first differing index) */
static int same_bits(const char *what, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            fprintf(stderr, "FAIL %s: index %lld: %.9g vs %.9g\n", what, (long long)i, a[i], b[i]);
            return 1;
        }
    }
    return 0;
}

static struct fy_numa *numa(enum fy_numa_mode mode, int fake, bool bind)
{
    struct fy_numa *nu = NULL;
    const struct fy_numa_opts o = {.mode = mode, .fake = fake, .fake_bind = bind};
    return fy_numa_new(&o, &nu) == FY_OK ? nu : NULL;
}

/* ---- split, teams, modes ---- */

static void test_split(void)
{
    static const struct {
        int64_t n;
        int parts;
        int64_t want[8];
    } c[] = {
        {32, 3, {11, 11, 10}},
        {8, 3, {3, 3, 2}},
        {32, 2, {16, 16}},
        {128, 3, {43, 43, 42}},
        {5, 8, {1, 1, 1, 1, 1, 0, 0, 0}},
        {4, 1, {4}},
    };
    for (size_t i = 0; i < FY_ARRAY_LEN(c); i++) {
        FY_EXPECT(fy_numa_split(c[i].n, c[i].parts, 0) == 0 &&
                  fy_numa_split(c[i].n, c[i].parts, c[i].parts) == c[i].n);
        for (int p = 0; p < c[i].parts; p++)
            FY_EXPECT(fy_numa_split(c[i].n, c[i].parts, p + 1) -
                          fy_numa_split(c[i].n, c[i].parts, p) ==
                      c[i].want[p]);
    }
    /* teams of 1..9 threads over 3 groups: at least one thread each, contiguous, covering the
     * team; fewer threads than groups: thread g % nt serves group g */
    struct fy_numa *nu = numa(FY_NUMA_EXPERTS, 3, false);
    FY_EXPECT(nu && nu->n_nodes == 3 && nu->fake && !nu->bind && fy_numa_groups(nu) == 3 &&
              fy_numa_splits_moe(nu));
    for (int nt = 1; nu && nt <= 9; nt++) {
        int prev = 0;
        for (int g = 0; g < 3; g++) {
            int t0, t1;
            fy_numa_team(nu, nt, g, &t0, &t1);
            if (nt < 3)
                FY_EXPECT(t0 == g % nt && t1 == t0 + 1);
            else
                FY_EXPECT(t0 == prev && t1 > t0 && (g < 2 || t1 == nt));
            prev = t1;
        }
    }
    fy_numa_free(nu);
    /* one pretend node, or off: one group, the MoE not split */
    nu = numa(FY_NUMA_MODE_COUNT, 1, false);
    FY_EXPECT(nu && nu->mode == FY_NUMA_OFF && fy_numa_groups(nu) == 1 && !fy_numa_splits_moe(nu));
    fy_numa_free(nu);
    nu = numa(FY_NUMA_MODE_COUNT, 2, false);
    FY_EXPECT(nu && nu->mode == FY_NUMA_EXPERTS); /* the default with two nodes */
    fy_numa_free(nu);
    nu = numa(FY_NUMA_DISTRIBUTE, 2, false);
    FY_EXPECT(nu && fy_numa_groups(nu) == 2 && !fy_numa_splits_moe(nu));
    fy_numa_free(nu);
}

static void test_modes(void)
{
    static const char *const names[] = {"off", "distribute", "isolate", "mirror", "experts"};
    for (int m = 0; m < FY_NUMA_MODE_COUNT; m++) {
        enum fy_numa_mode got = FY_NUMA_MODE_COUNT;
        FY_EXPECT(fy_numa_mode_parse(names[m], &got) == FY_OK && got == (enum fy_numa_mode)m &&
                  !strcmp(fy_numa_mode_name(got), names[m]));
    }
    enum fy_numa_mode got = FY_NUMA_OFF;
    FY_EXPECT(fy_numa_mode_parse("numactl", &got) == FY_OK && got == FY_NUMA_MODE_COUNT);
    FY_EXPECT(fy_numa_mode_parse("bogus", &got) == FY_E_INVAL);
    FY_EXPECT(fy_numa_mode_parse("", &got) == FY_E_INVAL);
    int n = -1;
    setenv("FY_NUMA_FAKE", "3", 1);
    FY_EXPECT(fy_numa_fake_env(&n) == FY_OK && n == 3);
    static const char *const bad[] = {"0", "65", "2x", "-1"};
    for (size_t i = 0; i < FY_ARRAY_LEN(bad); i++) {
        setenv("FY_NUMA_FAKE", bad[i], 1);
        FY_EXPECT(fy_numa_fake_env(&n) == FY_E_INVAL);
    }
    unsetenv("FY_NUMA_FAKE");
    FY_EXPECT(fy_numa_fake_env(&n) == FY_OK && n == 0);
}

/* ---- the MoE kernel ---- */

static uint8_t *make_stack(struct fy_rng *r, enum fy_dtype type, int64_t n_exp, int64_t n_out,
                           int64_t n_in, float scale, struct fy_mat *m)
{
    const size_t row_bytes = fy_dtype_row_bytes(type, n_in);
    const size_t mat_bytes = row_bytes * (size_t)n_out;
    uint8_t *data = malloc(mat_bytes * (size_t)n_exp);
    float *src = malloc((size_t)n_in * sizeof(float));
    for (int64_t e = 0; data && src && e < n_exp; e++)
        for (int64_t o = 0; o < n_out; o++) {
            fy_rng_fill(r, src, n_in, scale);
            fy_quant_row(type, src, data + e * mat_bytes + o * row_bytes, n_in);
        }
    free(src);
    *m = (struct fy_mat){.type = type,
                         .n_in = n_in,
                         .n_out = n_out,
                         .n_mat = n_exp,
                         .row_bytes = row_bytes,
                         .mat_bytes = mat_bytes,
                         .data = data};
    return data;
}

static void kernel_case(enum fy_dtype type, int64_t E, int k, uint64_t seed)
{
    struct fy_rng r = {seed};
    const int64_t d = 64, ff = 96, n_max = 40;
    struct fy_moe_layer L;
    uint8_t *wg = make_stack(&r, type, E, ff, d, 4.0f / 8, &L.gate);
    uint8_t *wu = make_stack(&r, type, E, ff, d, 4.0f / 8, &L.up);
    uint8_t *wd = make_stack(&r, type, E, d, ff, 1.0f / 10, &L.down);
    float *b = malloc((size_t)(3 * E * ff) * sizeof(float));
    float *x = malloc((size_t)(n_max * d) * sizeof(float));
    float *w = malloc((size_t)(n_max * k) * sizeof(float));
    float *ref = malloc((size_t)(n_max * d) * sizeof(float));
    float *got = malloc((size_t)(n_max * d) * sizeof(float));
    int32_t *ids = malloc((size_t)(n_max * k) * sizeof(int32_t));
    if (!wg || !wu || !wd || !b || !x || !w || !ref || !got || !ids) {
        failed++;
        goto done;
    }
    fy_rng_fill(&r, b, 3 * E * ff, 1.0f);
    fy_rng_fill(&r, x, n_max * d, 1.0f);
    L.gate_b = (struct fy_bias){b, ff};
    L.up_b = (struct fy_bias){b + E * ff, ff};
    L.down_b = (struct fy_bias){b + 2 * E * ff, d};
    L.alpha = 1.702f;
    L.limit = 7.0f;
    for (int64_t t = 0; t < n_max; t++) { /* k distinct experts per token */
        for (int j = 0; j < k; j++) {
            int32_t e;
            bool dup;
            do {
                e = (int32_t)(fy_rng_u64(&r) % (uint64_t)E);
                dup = false;
                for (int q = 0; q < j; q++)
                    dup |= ids[t * k + q] == e;
            } while (dup);
            ids[t * k + j] = e;
            w[t * k + j] = (float)fy_rng_unif(&r);
        }
    }
    static const int64_t toks[] = {1, 5, 40};
    for (size_t ti = 0; ti < FY_ARRAY_LEN(toks); ti++) {
        const int64_t n = toks[ti];
        FY_EXPECT(fy_cpu_moe_ffn(ref, x, n, ids, w, k, &L) == FY_OK);
        for (int fake = 2; fake <= 3; fake++) {
            for (int mi = 0; mi < 2; mi++) {
                const enum fy_numa_mode mode = mi ? FY_NUMA_MIRROR : FY_NUMA_EXPERTS;
                struct fy_numa *nu = numa(mode, fake, false);
                FY_EXPECT(nu != NULL);
                if (!nu)
                    continue;
                if (mode == FY_NUMA_MIRROR) {
                    FY_EXPECT(fy_numa_add_mirror(nu, wg, L.gate.mat_bytes * (size_t)E) == FY_OK);
                    FY_EXPECT(fy_numa_add_mirror(nu, wu, L.up.mat_bytes * (size_t)E) == FY_OK);
                    FY_EXPECT(fy_numa_add_mirror(nu, wd, L.down.mat_bytes * (size_t)E) == FY_OK);
                    FY_EXPECT(fy_numa_local(nu, wg + 7, 1) != wg + 7 &&
                              !memcmp(fy_numa_local(nu, wg + 7, 1), wg + 7, 1));
                }
                memset(got, 0xff, (size_t)(n * d) * sizeof(float));
                char what[96];
                snprintf(what, sizeof(what), "kernel %s E %lld k %d, %lld tokens, %d nodes %s",
                         fy_dtype_name(type), (long long)E, k, (long long)n, fake,
                         fy_numa_mode_name(mode));
                FY_EXPECT(fy_cpu_moe_ffn_numa(got, x, n, ids, w, k, &L, nu) == FY_OK);
                failed += same_bits(what, got, ref, n * d);
                fy_numa_free(nu);
            }
        }
    }
done:
    free(wg);
    free(wu);
    free(wd);
    free(b);
    free(x);
    free(w);
    free(ref);
    free(got);
    free(ids);
}

/* ---- a model's logits ---- */

/* Every row's logits of toks into out: prompt (one evaluation in micro-batches of ub) or decode
 * (FIRST tokens, then one evaluation per token). */
static fy_status eval(const struct fy_model *m, const int32_t *toks, int64_t ub, bool decode,
                      const struct fy_placement *pl, struct fy_device *gpu, struct fy_numa *nu,
                      float *out)
{
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = N;
    o.n_ubatch = ub;
    o.kv_type = FY_F32;
    o.placement = pl;
    o.gpu = gpu;
    o.numa = nu;
    FY_TRY(fy_session_new(m, &o, &s));
    fy_status rc = fy_session_eval(s, toks, decode ? FIRST : N, true, fy_hyb_keep, out);
    for (int64_t i = FIRST; decode && rc == FY_OK && i < N; i++)
        rc = fy_session_eval(s, toks + i, 1, true, fy_hyb_keep, out + i * VOCAB);
    fy_session_free(s);
    return rc;
}

struct model_refs {
    const struct fy_model *m;
    const int32_t *toks;
    float *prompt, *decode; /* N x VOCAB each: CPU only, no NUMA */
    struct fy_placement *cpu_pl, *hyb_pl;
    const char *name;
};

/* the logits of every way to run under nu equal the references */
static void check_runs(const struct model_refs *R, struct fy_numa *nu, const char *tag)
{
    float *got = malloc(sizeof(float) * N * VOCAB);
    const struct {
        const char *name;
        bool hyb;
        int64_t ub;
        bool decode;
    } runs[] = {
        {"CPU prompt", false, N, false},
        {"CPU decode", false, N, true},
        {"CPU -ub 3", false, 3, false},
        {"hybrid prompt (uploads)", true, N, false},
        {"hybrid -ub 3 (CPU experts)", true, 3, false},
        {"hybrid decode", true, N, true},
    };
    for (size_t i = 0; got && i < FY_ARRAY_LEN(runs); i++) {
        struct fy_device *dev = NULL;
        if (runs[i].hyb && fy_device_test_new(1, &dev) != FY_OK) {
            failed++;
            continue;
        }
        char what[160];
        snprintf(what, sizeof(what), "%s, %s: %s", R->name, tag, runs[i].name);
        memset(got, 0xff, sizeof(float) * N * VOCAB);
        fy_status st = eval(R->m, R->toks, runs[i].ub, runs[i].decode,
                            runs[i].hyb ? R->hyb_pl : NULL, dev, nu, got);
        if (st != FY_OK) {
            fprintf(stderr, "FAIL %s: %s\n", what, fy_status_str(st));
            failed++;
        } else {
            failed += same_bits(what, got, runs[i].decode ? R->decode : R->prompt, N * VOCAB);
        }
        fy_device_free(dev);
    }
    free(got);
}

#if FY_HAVE_NUMA
/* pages of the CPU-resident expert tensors of pl: all on the node nu's node 0 stands for */
static void check_expert_pages(const struct fy_numa *nu, const struct fy_placement *pl,
                               const char *what)
{
    int64_t on = 0, all = 0;
    for (int64_t i = 0; i < pl->n_tensors; i++) {
        const struct fy_place_tensor *t = &pl->t[i];
        int64_t count[FY_NUMA_MAX_NODES], absent;
        if (t->kind != FY_PK_EXP_WEIGHT || t->dev != FY_DEV_CPU)
            continue;
        if (fy_numa_query(t->t->data, t->t->size, 1, count, &absent) != FY_OK) {
            printf("skip %s: no move_pages here\n", what);
            return;
        }
        on += count[nu->node[0].os_id];
        for (int id = 0; id < FY_NUMA_MAX_NODES; id++)
            all += count[id];
        all += absent;
    }
    if (on != all || all == 0) {
        fprintf(stderr, "FAIL %s: %lld of %lld expert pages on node %d\n", what, (long long)on,
                (long long)all, nu->node[0].os_id);
        failed++;
    } else {
        printf("ok   %s: %lld expert pages on node %d\n", what, (long long)all, nu->node[0].os_id);
    }
}
#endif

static void test_model(int64_t E, int64_t k, uint64_t seed)
{
    struct fy_hyb_model hm;
    if (fy_hyb_model_new(&hm, "/tmp/fy-numa-XXXXXX", 16, E, k, VOCAB, seed) != FY_OK) {
        fprintf(stderr, "FAIL model E %lld: cannot write or load\n", (long long)E);
        failed++;
        return;
    }
    int32_t toks[N];
    fy_hyb_tokens(toks, N, VOCAB, seed + 1);
    char name[48];
    snprintf(name, sizeof(name), "%lld experts, k %lld", (long long)E, (long long)k);
    struct model_refs R = {
        hm.m, toks, malloc(sizeof(float) * N * VOCAB), malloc(sizeof(float) * N * VOCAB), NULL,
        NULL, name};
    static const char *const hyb[] = {"-ngl", "99", "-ot", "exps=CPU"};
    if (!R.prompt || !R.decode || eval(hm.m, toks, N, false, NULL, NULL, NULL, R.prompt) ||
        eval(hm.m, toks, N, true, NULL, NULL, NULL, R.decode) ||
        fy_hyb_place(hm.m, NULL, 0, THRESHOLD, &R.cpu_pl) ||
        fy_hyb_place(hm.m, hyb, 4, THRESHOLD, &R.hyb_pl)) {
        fprintf(stderr, "FAIL %s: the references\n", name);
        failed++;
        goto done;
    }
    for (int fake = 2; fake <= 3; fake++) {
        for (int mi = 0; mi < 2; mi++) {
            const enum fy_numa_mode mode = mi ? FY_NUMA_MIRROR : FY_NUMA_EXPERTS;
            struct fy_numa *nu = numa(mode, fake, false);
            char tag[64];
            snprintf(tag, sizeof(tag), "%d pretend nodes, %s", fake, fy_numa_mode_name(mode));
            struct fy_numa_layout lay;
            FY_EXPECT(nu && fy_numa_place(nu, R.cpu_pl, false) == FY_OK &&
                      fy_numa_layout_make(R.cpu_pl, nu, &lay) == FY_OK);
            if (!nu)
                continue;
            /* the layout: the experts split evenly, every CPU layer's experts counted */
            int64_t sum = 0;
            for (int g = 0; g < lay.n_nodes; g++) {
                sum += lay.experts[g];
                FY_EXPECT(lay.experts[g] ==
                          (mode == FY_NUMA_MIRROR
                               ? E
                               : fy_numa_split(E, fake, g + 1) - fy_numa_split(E, fake, g)));
            }
            FY_EXPECT(lay.n_nodes == fake && lay.cpu_layers == hm.c.n_layer &&
                      sum == (mode == FY_NUMA_MIRROR ? fake * E : E));
            FY_EXPECT(mode != FY_NUMA_MIRROR || nu->n_mirror == 3 * hm.c.n_layer ||
                      nu->n_mirror == 2 * hm.c.n_layer);
            check_runs(&R, nu, tag);
            fy_numa_free(nu);
        }
    }
done:
    fy_placement_free(R.cpu_pl);
    fy_placement_free(R.hyb_pl);
    free(R.prompt);
    free(R.decode);
    fy_hyb_model_free(&hm);
}

/* Pretend nodes that bind, each standing for this machine's node: the mapped model's experts
 * relocated, then a --no-mmap model's moved, then mirror copies bound. */
static void test_bound(void)
{
#if FY_HAVE_NUMA
    struct fy_hyb_model hm;
    if (fy_hyb_model_new(&hm, "/tmp/fy-numa-XXXXXX", 16, 8, 2, VOCAB, 41) != FY_OK) {
        failed++;
        return;
    }
    int32_t toks[N];
    fy_hyb_tokens(toks, N, VOCAB, 42);
    struct model_refs R = {hm.m,
                           toks,
                           malloc(sizeof(float) * N * VOCAB),
                           malloc(sizeof(float) * N * VOCAB),
                           NULL,
                           NULL,
                           "8 experts, bound"};
    static const char *const hyb[] = {"-ngl", "99", "-ot", "exps=CPU"};
    struct fy_numa *nu = numa(FY_NUMA_EXPERTS, 2, true);
    if (!nu || !nu->have_lib) {
        printf("skip bound: libnuma says NUMA is unavailable here\n");
        goto done;
    }
    FY_EXPECT(nu->bind);
    if (!R.prompt || !R.decode || eval(hm.m, toks, N, false, NULL, NULL, NULL, R.prompt) ||
        eval(hm.m, toks, N, true, NULL, NULL, NULL, R.decode) ||
        fy_hyb_place(hm.m, NULL, 0, THRESHOLD, &R.cpu_pl) ||
        fy_hyb_place(hm.m, hyb, 4, THRESHOLD, &R.hyb_pl)) {
        failed++;
        goto done;
    }
    /* the mapped file: relocated, same addresses, same bytes */
    const struct fy_gguf_tensor *t = R.cpu_pl->t[R.cpu_pl->layers[0].weight[FY_EXP_DOWN]].t;
    const void *before = t->data;
    uint8_t *copy = malloc(t->size);
    if (copy)
        memcpy(copy, t->data, t->size);
    FY_EXPECT(fy_numa_place(nu, R.cpu_pl, false) == FY_OK && nu->placed);
    FY_EXPECT(t->data == before && copy && !memcmp(copy, t->data, t->size));
    free(copy);
    check_expert_pages(nu, R.cpu_pl, "relocated mapped experts");
    check_runs(&R, nu, "2 bound pretend nodes (relocated)");
    fy_numa_free(nu);
    nu = NULL;

    /* --no-mmap: the model in anonymous memory, its pages moved */
    struct fy_model *m2 = NULL;
    struct fy_placement *pl2 = NULL, *hyb2 = NULL;
    const struct fy_gguf_load_opts anon = {.no_mmap = true}, mapped = {0};
    fy_gguf_set_load_opts(&anon);
    fy_status st = fy_model_load(hm.path, &m2);
    fy_gguf_set_load_opts(&mapped);
    nu = numa(FY_NUMA_EXPERTS, 3, true);
    FY_EXPECT(st == FY_OK && nu && fy_hyb_place(m2, NULL, 0, THRESHOLD, &pl2) == FY_OK &&
              fy_hyb_place(m2, hyb, 4, THRESHOLD, &hyb2) == FY_OK &&
              fy_numa_place(nu, pl2, true) == FY_OK);
    if (st == FY_OK && nu && pl2 && hyb2) {
        check_expert_pages(nu, pl2, "moved --no-mmap experts");
        struct model_refs R2 = R;
        R2.m = m2;
        R2.cpu_pl = pl2;
        R2.hyb_pl = hyb2;
        R2.name = "8 experts, --no-mmap, bound";
        check_runs(&R2, nu, "3 bound pretend nodes (moved)");
    }
    fy_numa_free(nu);
    nu = NULL;
    fy_placement_free(pl2);
    fy_placement_free(hyb2);
    fy_model_free(m2);

    /* mirror copies bound to their (pretend) nodes */
    nu = numa(FY_NUMA_MIRROR, 2, true);
    FY_EXPECT(nu && fy_numa_place(nu, R.cpu_pl, false) == FY_OK && nu->n_mirror > 0);
    if (nu && nu->n_mirror > 0) {
        int64_t count[FY_NUMA_MAX_NODES], absent;
        FY_EXPECT(fy_numa_query(nu->mirror[0].copy[1], nu->mirror[0].n, 1, count, &absent) ==
                      FY_OK &&
                  absent == 0 && count[nu->node[1].os_id] > 0);
        check_runs(&R, nu, "2 bound pretend nodes, mirror");
    }
done:
    fy_numa_free(nu);
    fy_placement_free(R.cpu_pl);
    fy_placement_free(R.hyb_pl);
    free(R.prompt);
    free(R.decode);
    fy_hyb_model_free(&hm);
#else
    printf("skip bound: built without libnuma\n");
#endif
}

/* ---- pages of a bound allocation ---- */

static void test_pages(void)
{
#if FY_HAVE_NUMA
    struct fy_numa *nu = numa(FY_NUMA_MODE_COUNT, 0, false);
    const size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = 32 * ps;
    if (!nu || !nu->have_lib) {
        printf("skip pages: libnuma says NUMA is unavailable here\n");
        fy_numa_free(nu);
        return;
    }
    for (int g = 0; g < nu->n_nodes; g++) {
        uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        FY_EXPECT(p != MAP_FAILED);
        if (p == MAP_FAILED)
            break;
        FY_EXPECT(fy_numa_bind(nu, p, n, g, false) == FY_OK);
        memset(p, 1, n); /* the first touch: on the bound node */
        int node[32];
        fy_status st = fy_numa_page_nodes(p, 32, node);
        if (st == FY_E_UNSUPPORTED) {
            printf("skip pages: move_pages is not allowed here\n");
            munmap(p, n);
            break;
        }
        int on = 0;
        for (int i = 0; i < 32; i++)
            on += node[i] == nu->node[g].os_id;
        if (st != FY_OK || on != 32) {
            fprintf(stderr, "FAIL pages: %d of 32 pages bound to node %d are there\n", on,
                    nu->node[g].os_id);
            failed++;
        } else {
            printf("ok   pages: 32 of 32 pages bound to node %d are there (%d node%s)\n",
                   nu->node[g].os_id, nu->n_nodes, nu->n_nodes == 1 ? "" : "s");
        }
        munmap(p, n);
    }
    fy_numa_free(nu);
#else
    printf("skip pages: built without libnuma\n");
#endif
}

int main(void)
{
    unsetenv("FY_NUMA_FAKE");
    fy_log_set_level(FY_LOG_WARN);
    test_split();
    test_modes();
    kernel_case(FY_MXFP4, 32, 4, 1);
    kernel_case(FY_MXFP4, 8, 2, 2);
    kernel_case(FY_BF16, 8, 3, 3);
    test_model(32, 4, 11);
    test_model(8, 2, 12);
    test_pages();
    test_bound(); /* last: pretend nodes that bind pin this process's threads */
    if (!failed)
        printf("ok   numa: every split gives the one-node bits (CPU kernels %s)\n",
               fy_cpu_set()->name);
    return failed ? 1 : 0;
}
