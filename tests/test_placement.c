/* Placement rules, bias duplication and the expert predicate, on sparse 20b/120b presets (toy
 * vocabulary, no tensor data on disk):
 *  1. devices, -ot parsing and its exact error messages (stderr captured), sizes, the flag parser;
 *  2. -ngl / --n-cpu-moe / --cpu-moe / -ot combinations and precedence, warnings;
 *  3. bias duplication bytes (hybrid.md §4: 26.5 MB for 20b, 159 MB for 120b) and totals;
 *  4. the predicate at both sides of the threshold, --no-offload, --offload-threshold, the
 *     uploads (hybrid.md §3 table) and the cost-model thresholds (34 / 135 with the defaults);
 *  5. the plan numbers (KV cache, steps). */
#include "fy_test.h"
#include "gguf/gguf.h"
#include "placement/placement.h"
#include "model/synth.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failed;
static char dir[64];

/* ---- stderr capture ---- */

static int cap_saved = -1;
static char cap_path[96];
static char cap_buf[8192];

static void cap_begin(void)
{
    fflush(stderr);
    snprintf(cap_path, sizeof(cap_path), "%s/stderr.txt", dir);
    int fd = open(cap_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    cap_saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Ends the capture; returns what was written to stderr. */
static const char *cap_end(void)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    FILE *f = fopen(cap_path, "rb");
    size_t n = f ? fread(cap_buf, 1, sizeof(cap_buf) - 1, f) : 0;
    if (f)
        fclose(f);
    cap_buf[n] = '\0';
    return cap_buf;
}

#define EXPECT_STR(got, want)                                                                      \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (strcmp(g_, w_)) {                                                                      \
            fprintf(stderr, "FAIL %s:%d:\n  got  [%s]\n  want [%s]\n", __FILE__, __LINE__, g_,   \
                    w_);                                                                           \
            failed++;                                                                              \
        }                                                                                          \
    } while (0)

/* ---- models ---- */

struct model {
    struct fy_gguf *g;
    struct fy_place_dims dims;
};

static int model_open(const char *preset, struct model *m)
{
    struct fy_synth_config c;
    char path[128];
    snprintf(path, sizeof(path), "%s/%s.gguf", dir, preset);
    if (fy_synth_preset(preset, &c) != FY_OK)
        return -1;
    c.toy_vocab = 1; /* keeps n_vocab: 256 bytes + specials + pads */
    c.sparse = 1;
    c.progress = 0;
    if (fy_synth_write(&c, NULL, path) != FY_OK || fy_gguf_open(path, &m->g) != FY_OK ||
        fy_place_dims_from_gguf(m->g, &m->dims) != FY_OK)
        return -1;
    return 0;
}

/* Builds rules from a command line (NULL-terminated), places m; NULL on error. */
static struct fy_placement *place(const struct model *m, const char *const *args)
{
    struct fy_place_rules *r = NULL;
    struct fy_placement *p = NULL;
    char *argv[32];
    int argc = 0;
    while (args[argc])
        argv[argc] = (char *)args[argc], argc++;
    if (fy_place_rules_new(&r) != FY_OK)
        return NULL;
    for (int i = 0; i < argc; i++) {
        if (fy_place_parse_flag(r, argc, argv, &i) != 1) {
            fprintf(stderr, "FAIL: flag %s not parsed\n", argv[i]);
            failed++;
            goto done;
        }
    }
    if (fy_placement_new(r, m->g, &m->dims, &p) != FY_OK)
        p = NULL;
done:
    fy_place_rules_free(r);
    return p;
}

static enum fy_device_id dev_of(const struct fy_placement *p, const char *name)
{
    const struct fy_place_tensor *t = fy_placement_find(p, name);
    if (!t) {
        fprintf(stderr, "FAIL: no tensor %s\n", name);
        failed++;
        return FY_DEV_COUNT;
    }
    return t->dev;
}

static int rule_of(const struct fy_placement *p, const char *name)
{
    const struct fy_place_tensor *t = fy_placement_find(p, name);
    return t ? t->rule : -99;
}

/* ---- 1. parsing ---- */

static void expect_ot_error(const char *value, const char *want)
{
    struct fy_place_rules *r = NULL;
    fy_place_rules_new(&r);
    FY_EXPECT(fy_place_rules_add_ot(r, "a=CPU", "a=CPU") == FY_OK);
    cap_begin();
    fy_status st = fy_place_rules_add_ot(r, "-ot", value);
    const char *err = cap_end();
    FY_EXPECT(st == FY_E_INVAL);
    EXPECT_STR(err, want);
    FY_EXPECT(fy_place_rules_n_ot(r) == 1); /* nothing of the bad value kept */
    fy_place_rules_free(r);
}

static void test_parsing(void)
{
    enum fy_device_id d = FY_DEV_COUNT;
    FY_EXPECT(fy_device_parse("CPU", &d) == FY_OK && d == FY_DEV_CPU);
    FY_EXPECT(fy_device_parse("GPU0", &d) == FY_OK && d == FY_DEV_GPU0);
    d = FY_DEV_CPU;
    FY_EXPECT(fy_device_parse("CUDA0", &d) == FY_OK && d == FY_DEV_GPU0);
    d = FY_DEV_CPU;
    FY_EXPECT(fy_device_parse("ROCm0", &d) == FY_OK && d == FY_DEV_GPU0);
    FY_EXPECT(fy_device_parse("cpu", &d) == FY_OK && d == FY_DEV_CPU);
    FY_EXPECT(fy_device_parse("CUDA1", &d) == FY_E_INVAL);
    FY_EXPECT(fy_device_parse("CUDA_Host", &d) == FY_E_INVAL);
    FY_EXPECT(fy_device_parse("", &d) == FY_E_INVAL);
    EXPECT_STR(fy_device_name(FY_DEV_GPU0), "GPU0");

    expect_ot_error("exps", "ferry: error: flag -ot: \"exps\" has no '=': expected "
                    "REGEX=DEVICE[,REGEX=DEVICE...]\n");
    expect_ot_error("=CPU", "ferry: error: flag -ot: empty pattern in \"=CPU\"\n");
    expect_ot_error("blk\\.(0|1=CPU", "ferry: error: flag -ot: bad regular expression "
                    "\"blk\\.(0|1\" at offset 9: missing closing parenthesis\n");
    expect_ot_error("x=CPU,[a-=GPU0", "ferry: error: flag -ot: bad regular expression \"[a-\" "
                    "at offset 3: missing terminating ] for character class\n");
    expect_ot_error("exps=CUDA1", "ferry: error: flag -ot: unknown device \"CUDA1\" in "
                    "\"exps=CUDA1\"; valid devices: CPU, GPU0 (aliases CUDA0, ROCm0)\n");
    expect_ot_error("a=CPU,b=", "ferry: error: flag -ot: unknown device \"\" in \"b=\"; valid "
                    "devices: CPU, GPU0 (aliases CUDA0, ROCm0)\n");
    expect_ot_error("a=CPU,", "ferry: error: flag -ot: empty rule in \"a=CPU,\": expected "
                    "REGEX=DEVICE[,REGEX=DEVICE...]\n");
    expect_ot_error("", "ferry: error: flag -ot: empty value: expected "
                    "REGEX=DEVICE[,REGEX=DEVICE...]\n");

    /* a value with several rules, split on ',' then on the first '=' */
    struct fy_place_rules *r = NULL;
    const char *pat = NULL;
    fy_place_rules_new(&r);
    FY_EXPECT(fy_place_rules_add_ot(r, NULL, "exps=CPU,blk\\.1\\.=CUDA0") == FY_OK);
    FY_EXPECT(fy_place_rules_add_ot(r, NULL, "output=ROCm0") == FY_OK);
    FY_EXPECT(fy_place_rules_n_ot(r) == 3);
    FY_EXPECT(fy_place_rules_ot_at(r, 1, &pat, &d) == FY_OK && d == FY_DEV_GPU0);
    EXPECT_STR(pat, "blk\\.1\\.");
    FY_EXPECT(fy_place_rules_ot_at(r, 2, &pat, &d) == FY_OK && d == FY_DEV_GPU0);

    /* the flag parser: consumed / not ours / errors naming the flag */
    char *argv[] = {"-ngl", "x", "--temp", "-ot", "--n-cpu-moe", "-1", "--link-bw", "0",
                    "--offload-threshold", "0", "-ngl"};
    int i = 0;
    cap_begin();
    FY_EXPECT(fy_place_parse_flag(r, 2, argv, &i) == -1);
    i = 2;
    FY_EXPECT(fy_place_parse_flag(r, 3, argv, &i) == 0 && i == 2);
    i = 3;
    FY_EXPECT(fy_place_parse_flag(r, 4, argv, &i) == -1);
    i = 4;
    FY_EXPECT(fy_place_parse_flag(r, 6, argv, &i) == -1);
    i = 6;
    FY_EXPECT(fy_place_parse_flag(r, 8, argv, &i) == -1);
    i = 8;
    FY_EXPECT(fy_place_parse_flag(r, 10, argv, &i) == -1);
    EXPECT_STR(cap_end(),
               "ferry: error: flag -ngl: \"x\" is not an integer in [0, 2147483647]\n"
               "ferry: error: flag -ot needs a value\n"
               "ferry: error: flag --n-cpu-moe: \"-1\" is not an integer in [0, 2147483647]\n"
               "ferry: error: flag --link-bw: \"0\" is not a number in [0.01, 100000]\n"
               "ferry: error: flag --offload-threshold: \"0\" is not an integer in "
               "[1, 2147483647]\n");
    char *ok[] = {"-ot", "a=CPU", "--cpu-moe", "--no-offload", "-ngl", "99", "-cmoe", "-nopo"};
    int flags = 0;
    for (int k = 0; k < 8; k++, flags++)
        FY_EXPECT(fy_place_parse_flag(r, 8, ok, &k) == 1);
    FY_EXPECT(flags == 6); /* -ot and -ngl took their values */
    fy_place_rules_free(r);

    /* sizes */
    uint64_t s = 0;
    FY_EXPECT(fy_place_parse_size("--vram", "24G", &s) == FY_OK && s == 24ull << 30);
    FY_EXPECT(fy_place_parse_size("--vram", "24GiB", &s) == FY_OK && s == 24ull << 30);
    FY_EXPECT(fy_place_parse_size("--vram", "24000M", &s) == FY_OK && s == 24000ull << 20);
    FY_EXPECT(fy_place_parse_size("--vram", "25.5GB", &s) == FY_OK && s == 25500000000ull);
    FY_EXPECT(fy_place_parse_size("--vram", "80gib", &s) == FY_OK && s == 80ull << 30);
    FY_EXPECT(fy_place_parse_size("--vram", "1024", &s) == FY_OK && s == 1024);
    cap_begin();
    FY_EXPECT(fy_place_parse_size("--vram", "24X", &s) == FY_E_INVAL);
    FY_EXPECT(fy_place_parse_size("--vram", "-1G", &s) == FY_E_INVAL);
    FY_EXPECT(fy_place_parse_size("--vram", "1.5", &s) == FY_E_INVAL);
    const char *e = cap_end();
    FY_EXPECT(strstr(e, "ferry: error: flag --vram: \"24X\" is not a size (e.g. 24G, 24GiB, "
                        "24000M, 25.5GB, 25769803776)\n") == e);
    FY_EXPECT(strstr(e, "\"-1G\" is not a size") && strstr(e, "\"1.5\" is not a size"));
}

/* ---- 2. rules on a model ---- */

static void test_rules(const struct model *m)
{
    struct fy_placement *p;

    /* no flags: everything on the CPU */
    p = place(m, (const char *[]){NULL});
    FY_EXPECT(p && p->weight_bytes[FY_DEV_GPU0] == 0 && p->n_dup == 0 && p->n_warnings == 0);
    FY_EXPECT(dev_of(p, "blk.23.attn_q.weight") == FY_DEV_CPU);
    FY_EXPECT(rule_of(p, "output.weight") == FY_PLACE_BY_NGL);
    fy_placement_free(p);

    /* -ngl 10: blk.14-23 on GPU0, the rest on the CPU */
    p = place(m, (const char *[]){"-ngl", "10", NULL});
    FY_EXPECT(dev_of(p, "blk.13.attn_q.weight") == FY_DEV_CPU);
    FY_EXPECT(dev_of(p, "blk.14.attn_q.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "blk.14.ffn_down_exps.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "blk.23.ffn_down_exps.bias") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "output.weight") == FY_DEV_CPU);
    FY_EXPECT(dev_of(p, "token_embd.weight") == FY_DEV_CPU);
    FY_EXPECT(p->layers[13].kv_dev == FY_DEV_CPU && p->layers[14].kv_dev == FY_DEV_GPU0);
    fy_placement_free(p);

    /* -ngl L: every layer, not the output; -ngl L+1 / 99: the output too; token_embd never */
    p = place(m, (const char *[]){"-ngl", "24", NULL});
    FY_EXPECT(dev_of(p, "blk.0.attn_norm.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "output.weight") == FY_DEV_CPU);
    FY_EXPECT(dev_of(p, "output_norm.weight") == FY_DEV_CPU);
    fy_placement_free(p);
    p = place(m, (const char *[]){"-ngl", "25", NULL});
    FY_EXPECT(dev_of(p, "output.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "output_norm.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "token_embd.weight") == FY_DEV_CPU);
    FY_EXPECT(p->weight_bytes[FY_DEV_CPU] == fy_placement_find(p, "token_embd.weight")->t->size);
    fy_placement_free(p);

    /* -ngl 99 -ot exps=CPU: weights AND biases of the experts (unanchored search), no copies */
    p = place(m, (const char *[]){"-ngl", "99", "-ot", "exps=CPU", NULL});
    FY_EXPECT(dev_of(p, "blk.5.ffn_up_exps.weight") == FY_DEV_CPU);
    FY_EXPECT(dev_of(p, "blk.5.ffn_up_exps.bias") == FY_DEV_CPU);
    FY_EXPECT(rule_of(p, "blk.5.ffn_up_exps.bias") == 0);
    FY_EXPECT(dev_of(p, "blk.5.ffn_gate_inp.weight") == FY_DEV_GPU0);
    FY_EXPECT(p->n_dup == 0 && p->dup_bytes[0] + p->dup_bytes[1] == 0);
    FY_EXPECT(p->rules[0].matched == 144 && p->rules[0].won == 144);
    fy_placement_free(p);

    /* first matching rule wins, in command-line order */
    p = place(m, (const char *[]){"-ot", "blk\\.1\\.=GPU0", "-ot", "exps=CPU", "-ngl", "99",
                                  NULL});
    FY_EXPECT(dev_of(p, "blk.1.ffn_up_exps.weight") == FY_DEV_GPU0);
    FY_EXPECT(rule_of(p, "blk.1.ffn_up_exps.weight") == 0);
    FY_EXPECT(dev_of(p, "blk.2.ffn_up_exps.weight") == FY_DEV_CPU);
    FY_EXPECT(rule_of(p, "blk.2.ffn_up_exps.weight") == 1);
    FY_EXPECT(p->rules[1].matched == 144 && p->rules[1].won == 138);
    fy_placement_free(p);
    p = place(m, (const char *[]){"-ot", "exps=CPU,blk\\.1\\.=GPU0", "-ngl", "99", NULL});
    FY_EXPECT(dev_of(p, "blk.1.ffn_up_exps.weight") == FY_DEV_CPU);
    FY_EXPECT(dev_of(p, "blk.1.attn_q.weight") == FY_DEV_GPU0 &&
              rule_of(p, "blk.1.attn_q.weight") == 1);
    fy_placement_free(p);

    /* anchors work; aliases place on GPU0 */
    p = place(m, (const char *[]){"-ot", "^output=CUDA0", "-ot", "attn_k=ROCm0", NULL});
    FY_EXPECT(dev_of(p, "output.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "output_norm.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "blk.0.attn_output.weight") == FY_DEV_CPU);
    FY_EXPECT(dev_of(p, "blk.7.attn_k.bias") == FY_DEV_GPU0);
    FY_EXPECT(p->layers[7].kv_dev == FY_DEV_GPU0); /* the KV cache follows attn_k.weight */
    fy_placement_free(p);

    /* --n-cpu-moe: weights of the FIRST N layers, biases stay; -ot still wins over it */
    p = place(m, (const char *[]){"-ngl", "99", "--n-cpu-moe", "10", NULL});
    FY_EXPECT(dev_of(p, "blk.9.ffn_gate_exps.weight") == FY_DEV_CPU);
    FY_EXPECT(rule_of(p, "blk.9.ffn_gate_exps.weight") == FY_PLACE_BY_CPU_MOE);
    FY_EXPECT(dev_of(p, "blk.9.ffn_gate_exps.bias") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "blk.10.ffn_gate_exps.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "blk.0.attn_q.weight") == FY_DEV_GPU0);
    FY_EXPECT(p->n_dup == 30);
    fy_placement_free(p);
    p = place(m, (const char *[]){"-ngl", "99", "--n-cpu-moe", "24", "-ot",
                                  "blk\\.(0|1)\\.ffn_.*_exps=GPU0", NULL});
    FY_EXPECT(dev_of(p, "blk.1.ffn_down_exps.weight") == FY_DEV_GPU0);
    FY_EXPECT(rule_of(p, "blk.1.ffn_down_exps.weight") == 0);
    FY_EXPECT(dev_of(p, "blk.2.ffn_down_exps.weight") == FY_DEV_CPU);
    FY_EXPECT(p->n_dup == 66);
    fy_placement_free(p);

    /* --cpu-moe and --n-cpu-moe: the last one given wins; N > n_layer means all */
    p = place(m, (const char *[]){"--cpu-moe", "--n-cpu-moe", "5", "-ngl", "99", NULL});
    FY_EXPECT(p->n_cpu_moe == 5 && dev_of(p, "blk.5.ffn_up_exps.weight") == FY_DEV_GPU0);
    fy_placement_free(p);
    p = place(m, (const char *[]){"--n-cpu-moe", "5", "--cpu-moe", "-ngl", "99", NULL});
    FY_EXPECT(p->n_cpu_moe == 24 && dev_of(p, "blk.23.ffn_up_exps.weight") == FY_DEV_CPU);
    fy_placement_free(p);
    p = place(m, (const char *[]){"--n-cpu-moe", "100", NULL});
    FY_EXPECT(p->n_cpu_moe == 24);
    fy_placement_free(p);

    /* -ngl 0 with -ot: only what the rules name goes to GPU0 */
    p = place(m, (const char *[]){"-ot", "blk\\.2[0-3]\\.=GPU0", NULL});
    FY_EXPECT(dev_of(p, "blk.19.attn_q.weight") == FY_DEV_CPU);
    FY_EXPECT(dev_of(p, "blk.20.ffn_up_exps.weight") == FY_DEV_GPU0);
    FY_EXPECT(dev_of(p, "blk.2.attn_q.weight") == FY_DEV_CPU);
    fy_placement_free(p);

    /* warnings: no match, shadowed, split layer */
    cap_begin();
    p = place(m, (const char *[]){"-ot", "exps=CPU", "-ot", "ffn_up_exps=GPU0,nomatch=CUDA0",
                                  NULL});
    EXPECT_STR(cap_end(), "ferry: warning: flag -ot: rule 2 \"ffn_up_exps=GPU0\" matches 48 "
               "tensors, all placed by earlier rules\n"
               "ferry: warning: flag -ot: rule 3 \"nomatch=CUDA0\" matches no tensor\n");
    FY_EXPECT(p && p->n_warnings == 2);
    fy_placement_free(p);
    cap_begin();
    p = place(m, (const char *[]){"-ngl", "99", "-ot", "blk\\.3\\.ffn_up_exps\\.weight=CPU",
                                  NULL});
    EXPECT_STR(cap_end(), "ferry: warning: blk.3: expert weights split across devices "
               "(ffn_gate_exps GPU0, ffn_up_exps CPU, ffn_down_exps GPU0): the layer runs on "
               "GPU0 and uploads the experts of its CPU-resident weights at every micro-batch\n");
    FY_EXPECT(p && p->n_dup == 1);
    const struct fy_place_tensor *b = fy_placement_find(p, "blk.3.ffn_up_exps.bias");
    FY_EXPECT(b && b->dev == FY_DEV_GPU0 && b->dup && b->dup_dev == FY_DEV_CPU);
    fy_placement_free(p);
}

/* ---- 3. duplication and totals ---- */

static void check_totals(const struct model *m, const struct fy_placement *p)
{
    uint64_t sum = 0;
    for (int64_t i = 0; i < fy_gguf_n_tensors(m->g); i++)
        sum += fy_gguf_tensor_at(m->g, i)->size;
    FY_EXPECT(p->file_tensor_bytes == sum);
    FY_EXPECT(p->weight_bytes[FY_DEV_CPU] + p->weight_bytes[FY_DEV_GPU0] == sum);
}

static void test_dup(const struct model *m, uint64_t want_dup, uint64_t want_bias_layer)
{
    const uint64_t E = (uint64_t)m->dims.n_expert, d = (uint64_t)m->dims.d_model;
    const int64_t L = m->dims.n_layer;
    struct fy_placement *p = place(m, (const char *[]){"-ngl", "99", "--cpu-moe", NULL});
    FY_EXPECT(p != NULL);
    if (!p)
        return;
    /* all experts on the CPU, biases on GPU0: the CPU keeps copies, 3 x d x E x 4 B per layer */
    FY_EXPECT(3 * d * E * 4 == want_bias_layer);
    FY_EXPECT(p->dup_bytes[FY_DEV_CPU] == want_dup && p->dup_bytes[FY_DEV_GPU0] == 0);
    FY_EXPECT(p->dup_bytes[FY_DEV_CPU] == (uint64_t)L * want_bias_layer);
    FY_EXPECT(p->n_dup == 3 * L);
    for (int64_t l = 0; l < L; l++)
        FY_EXPECT(p->layers[l].dup_bytes == want_bias_layer && p->layers[l].has_cpu_bias &&
                  p->layers[l].has_gpu_bias && p->layers[l].bias_upload_bytes == 0);
    check_totals(m, p);
    printf("ok   %lld layers, E %lld: duplicated biases %.1f MB\n", (long long)L, (long long)E,
           (double)want_dup / 1e6);
    fy_placement_free(p);

    /* the other way round: experts on GPU0, biases sent to the CPU: copies on GPU0 */
    p = place(m, (const char *[]){"-ngl", "99", "-ot", "exps\\.bias=CPU", NULL});
    FY_EXPECT(p && p->dup_bytes[FY_DEV_GPU0] == want_dup && p->dup_bytes[FY_DEV_CPU] == 0);
    check_totals(m, p);
    fy_placement_free(p);
}

/* ---- 4. the predicate ---- */

/* The cost model recomputed here from its definition (placement.h), with pow. */
static double gain(const struct fy_place_dims *d, double eb, double fixed, double link,
                   double cpu, int64_t n)
{
    const double E = (double)d->n_expert, k = (double)d->n_expert_used;
    double act = E * (1 - pow(1 - k / E, (double)n));
    return 2.0 * (double)n * k * 3 * (double)d->d_model * (double)d->n_ff / (cpu * 1e9) -
           (act * eb + fixed) / (link * 1e9);
}

static void test_predicate(const struct model *m, int64_t want_threshold)
{
    const struct fy_place_dims *dm = &m->dims;
    const int64_t E = dm->n_expert, k = dm->n_expert_used;
    const uint64_t one = 3ull * 4406400; /* gate + up + down of one expert (gpt-oss.md §4) */
    struct fy_expert_path e;
    struct fy_placement *p = place(m, (const char *[]){"-ngl", "99", "--cpu-moe", NULL});
    if (!p) {
        failed++;
        return;
    }
    const int64_t t = p->layers[0].threshold;
    FY_EXPECT(p->layers[0].cpu_expert_bytes == one);
    FY_EXPECT(t == want_threshold && p->threshold == want_threshold);
    FY_EXPECT(t >= FY_PLACE_MIN_OFFLOAD);
    FY_EXPECT(gain(dm, (double)one, 0, 25, 400, t) > 0);
    FY_EXPECT(gain(dm, (double)one, 0, 25, 400, t - 1) <= 0);
    printf("ok   E %lld: offload threshold %lld tokens\n", (long long)E, (long long)t);

    /* just below: the CPU with the CPU copies; at the threshold: GPU0, GPU copies, uploads */
    FY_EXPECT(fy_place_experts(p, 5, t - 1, &e) == FY_OK);
    FY_EXPECT(e.dev == FY_DEV_CPU && e.bias_dev == FY_DEV_CPU && !e.upload && e.resident);
    FY_EXPECT(e.upload_bytes == 0 && e.experts == 0 && e.threshold == t);
    FY_EXPECT(fy_place_experts(p, 5, t, &e) == FY_OK);
    FY_EXPECT(e.dev == FY_DEV_GPU0 && e.bias_dev == FY_DEV_GPU0 && e.upload && !e.resident);
    double act = (double)E * (1 - pow(1 - (double)k / (double)E, (double)t));
    FY_EXPECT(fabs(e.experts - act) < 1e-9);
    FY_EXPECT(e.upload_bytes == (uint64_t)llround(act * (double)one));
    FY_EXPECT(e.bias_upload_bytes == 0);
    FY_EXPECT(e.upload_bytes_max == (uint64_t)(t * k < E ? t * k : E) * one);
    FY_EXPECT(fy_place_experts(p, 0, 1, &e) == FY_OK && e.dev == FY_DEV_CPU);
    fy_placement_free(p);

    /* hybrid.md §3: distinct experts for n = 16, 32, 64, 128 */
    static const int64_t ns[] = {16, 32, 64, 128};
    static const double t120[] = {51, 82, 111, 126}, t20[] = {28, 31.6, 32, 32};
    for (int i = 0; i < 4; i++) {
        double x = fy_place_active_experts(E, k, ns[i]);
        double want = E == 128 ? t120[i] : t20[i];
        FY_EXPECT(fabs(x - want) < 0.6);
    }
    FY_EXPECT(fabs(fy_place_active_experts(E, k, 1) - 4.0) < 1e-9);

    /* --no-offload: the CPU at any n; --offload-threshold N: exactly N */
    p = place(m, (const char *[]){"-ngl", "99", "--cpu-moe", "--no-offload", NULL});
    FY_EXPECT(fy_place_experts(p, 3, 65536, &e) == FY_OK && e.dev == FY_DEV_CPU &&
              e.bias_dev == FY_DEV_CPU && !e.upload);
    fy_placement_free(p);
    p = place(m, (const char *[]){"--cpu-moe", "-ngl", "99", "--offload-threshold", "100", NULL});
    FY_EXPECT(p->threshold == 100 && p->threshold_set);
    FY_EXPECT(fy_place_experts(p, 3, 99, &e) == FY_OK && e.dev == FY_DEV_CPU);
    FY_EXPECT(fy_place_experts(p, 3, 100, &e) == FY_OK && e.dev == FY_DEV_GPU0 && e.upload);
    FY_EXPECT(e.threshold == 100);
    fy_placement_free(p);

    /* a faster link offloads sooner; a faster CPU later */
    p = place(m, (const char *[]){"--cpu-moe", "--link-bw", "50", NULL});
    FY_EXPECT(p->threshold <= want_threshold);
    fy_placement_free(p);
    p = place(m, (const char *[]){"--cpu-moe", "--cpu-gflops", "1600", NULL});
    FY_EXPECT(p->threshold > want_threshold);
    FY_EXPECT(gain(dm, (double)one, 0, 25, 1600, p->threshold) > 0);
    FY_EXPECT(gain(dm, (double)one, 0, 25, 1600, p->threshold - 1) <= 0);
    fy_placement_free(p);

    /* resident on GPU0: always there, nothing uploaded */
    p = place(m, (const char *[]){"-ngl", "99", NULL});
    FY_EXPECT(fy_place_experts(p, 0, 1, &e) == FY_OK && e.dev == FY_DEV_GPU0 && e.resident &&
              !e.upload && e.upload_bytes == 0 && e.bias_dev == FY_DEV_GPU0);
    fy_placement_free(p);

    /* biases on the CPU only (-ot exps=CPU): offloading uploads them whole */
    p = place(m, (const char *[]){"-ngl", "99", "-ot", "exps=CPU", NULL});
    const uint64_t bias3 = 3ull * (uint64_t)dm->d_model * (uint64_t)E * 4;
    FY_EXPECT(p->layers[2].bias_upload_bytes == bias3);
    const int64_t t2 = p->layers[2].threshold;
    FY_EXPECT(gain(dm, (double)one, (double)bias3, 25, 400, t2) > 0);
    FY_EXPECT(t2 == FY_PLACE_MIN_OFFLOAD ||
              gain(dm, (double)one, (double)bias3, 25, 400, t2 - 1) <= 0);
    FY_EXPECT(fy_place_experts(p, 2, 4096, &e) == FY_OK && e.dev == FY_DEV_GPU0 && e.upload);
    FY_EXPECT(e.bias_upload_bytes == bias3 && e.bias_dev == FY_DEV_GPU0);
    FY_EXPECT(e.upload_bytes == (uint64_t)llround(e.experts * (double)one) + bias3);
    FY_EXPECT(fy_place_experts(p, 2, 1, &e) == FY_OK && e.dev == FY_DEV_CPU);
    fy_placement_free(p);

    /* a split layer: GPU0 at n = 1, uploading the CPU-resident up experts only */
    cap_begin();
    p = place(m, (const char *[]){"-ngl", "99", "-ot", "blk\\.3\\.ffn_up_exps\\.weight=CPU",
                                  NULL});
    cap_end();
    FY_EXPECT(fy_place_experts(p, 3, 1, &e) == FY_OK && e.dev == FY_DEV_GPU0 && e.upload);
    FY_EXPECT(e.upload_bytes == 4 * 4406400ull && e.bias_dev == FY_DEV_GPU0);
    FY_EXPECT(fy_place_experts(p, 4, 1, &e) == FY_OK && e.resident);

    /* bad calls */
    FY_EXPECT(fy_place_experts(p, -1, 1, &e) == FY_E_INVAL);
    FY_EXPECT(fy_place_experts(p, (int)dm->n_layer, 1, &e) == FY_E_INVAL);
    FY_EXPECT(fy_place_experts(p, 0, 0, &e) == FY_E_INVAL);
    FY_EXPECT(fy_place_experts(NULL, 0, 1, &e) == FY_E_INVAL);
    fy_placement_free(p);

    /* over many recipes and sizes the bias copy always sits with the experts */
    const char *const recipes[][8] = {
        {NULL}, {"-ngl", "99", NULL}, {"-ngl", "99", "--cpu-moe", NULL},
        {"-ngl", "7", "--n-cpu-moe", "3", NULL}, {"-ngl", "99", "-ot", "exps=CPU", NULL},
        {"-ot", "exps\\.bias=GPU0", NULL}, {"-ngl", "99", "-ot", "exps\\.bias=CPU", NULL},
    };
    for (size_t r = 0; r < FY_ARRAY_LEN(recipes); r++) {
        p = place(m, recipes[r]);
        for (int l = 0; p && l < dm->n_layer; l++) {
            for (int64_t n = 1; n <= 8192; n *= 2) {
                FY_EXPECT(fy_place_experts(p, l, n, &e) == FY_OK && e.bias_dev == e.dev);
                bool copy = e.dev == FY_DEV_GPU0 ? p->layers[l].has_gpu_bias
                                                 : p->layers[l].has_cpu_bias;
                FY_EXPECT(copy || (e.upload && e.bias_upload_bytes > 0));
            }
        }
        fy_placement_free(p);
    }
}

/* ---- 5. plan numbers ---- */

static void test_plan(const struct model *m)
{
    struct fy_plan_opts o;
    struct fy_plan pl;
    struct fy_placement *p = place(m, (const char *[]){"-ngl", "99", "--cpu-moe", NULL});
    fy_plan_opts_default(&o);
    o.n_ctx = 8192;
    o.n_ubatch = 100;
    o.vram = 24ull << 30;
    FY_EXPECT(fy_plan_make(p, &o, &pl) == FY_OK);
    /* full layers: 8192 slots; sliding-window layers (the even half): a ring of 128 + 100
     * rounded up to 32 = 256 slots */
    const uint64_t row = 512 * 2, n_swa = (uint64_t)(m->dims.n_layer + 1) / 2;
    const uint64_t kv = 2 * row * (((uint64_t)m->dims.n_layer - n_swa) * 8192 + n_swa * 256);
    FY_EXPECT(m->dims.n_swa == 128);
    FY_EXPECT(pl.dev[FY_DEV_GPU0].kv == kv && pl.dev[FY_DEV_CPU].kv == 0);
    struct fy_plan full;
    o.swa_full = true;
    FY_EXPECT(fy_plan_make(p, &o, &full) == FY_OK);
    FY_EXPECT(full.dev[FY_DEV_GPU0].kv == 2 * row * (uint64_t)m->dims.n_layer * 8192);
    /* -c 131072 -ub 512: the rings keep the KV cache under 55% of the full caches' */
    o.n_ctx = 131072;
    o.n_ubatch = 512;
    FY_EXPECT(fy_plan_make(p, &o, &full) == FY_OK);
    o.swa_full = false;
    struct fy_plan ring;
    FY_EXPECT(fy_plan_make(p, &o, &ring) == FY_OK);
    printf("plan -c 131072: KV %llu B with rings, %llu B full (%.3f)\n",
           (unsigned long long)ring.dev[FY_DEV_GPU0].kv,
           (unsigned long long)full.dev[FY_DEV_GPU0].kv,
           (double)ring.dev[FY_DEV_GPU0].kv / (double)full.dev[FY_DEV_GPU0].kv);
    FY_EXPECT(ring.dev[FY_DEV_GPU0].kv * 100 <= full.dev[FY_DEV_GPU0].kv * 55);
    FY_EXPECT(pl.dev[FY_DEV_CPU].weights + pl.dev[FY_DEV_GPU0].weights == p->file_tensor_bytes);
    FY_EXPECT(pl.dev[FY_DEV_CPU].dup_bias == p->dup_bytes[FY_DEV_CPU]);
    FY_EXPECT(pl.n_steps == 5 && pl.steps[0].n == 1 && pl.steps[3].n == 64 &&
              pl.steps[4].n == 100);
    FY_EXPECT(pl.logits_bytes == 100ull * 201088 * 4);
    for (int i = 0; i < FY_DEV_COUNT; i++)
        FY_EXPECT(pl.dev[i].total ==
                  pl.dev[i].weights + pl.dev[i].dup_bias + pl.dev[i].kv + pl.dev[i].compute);
    FY_EXPECT(pl.fits == (pl.dev[FY_DEV_GPU0].total <= o.vram));
    FY_EXPECT(pl.steps[0].cpu == m->dims.n_layer && pl.steps[0].upload_bytes == 0);
    fy_placement_free(p);
}

int main(void)
{
    struct model m20 = {0}, m120 = {0};
    strcpy(dir, "/tmp/fy-place-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return FY_TEST_HARD;
    }
    test_parsing();
    if (model_open("20b", &m20) || model_open("120b", &m120)) {
        fprintf(stderr, "FAIL: cannot write the sparse presets in %s\n", dir);
        return FY_TEST_HARD;
    }
    test_rules(&m20);
    test_dup(&m20, 26542080, 1105920);
    test_dup(&m120, 159252480, 4423680);
    test_predicate(&m20, 34);
    test_predicate(&m120, 135);
    test_plan(&m20);
    test_plan(&m120);

    fy_gguf_close(m20.g);
    fy_gguf_close(m120.g);
    char path[128];
    const char *files[] = {"20b.gguf", "120b.gguf", "stderr.txt"};
    for (size_t i = 0; i < FY_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    if (failed)
        fprintf(stderr, "%d check(s) failed\n", failed);
    else
        printf("placement: all checks passed\n");
    return failed ? 1 : 0;
}
