/* `ferry bench`: llama-bench-style fixed tests (hybrid.md §9.2): pp<P> and tg<N> at each depth,
 * repeated, reported as the median and the spread, in md, csv, json or jsonl. */
#include "benchinfo.h"
#include "args.h"
#include "cli_common.h"
#include "cmd.h"
#include "fy_config.h"
#include "generate.h"
#include "graph/session.h"
#include "model/model.h"
#include "placement/placement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif

static const char usage_text[] =
    "usage: ferry bench -m MODEL [-p 512] [-n 128] [-d 0] [-r 5] [-o md|csv|json|jsonl]\n"
    "                   [--no-warmup] [options]\n\n"
    "Fixed tests as llama-bench runs them: pp<P> evaluates P random tokens in micro-batches of\n"
    "-ub (t/s = P / time); tg<N> evaluates N random tokens one at a time (t/s = N / time). Each\n"
    "test runs at every depth of -d: the first D positions are filled untimed before each rep\n"
    "(kept in the cache and reused). One warm-up (the whole pp, one tg token), then -r timed\n"
    "reps; reported: the median t/s and the spread (stddev, min, max). Lists are comma\n"
    "separated, each item N, A-B, A-B+STEP or A-B*MULT (-p 64,128 or -d 0-4096*2).\n\n"
    "  -p, --n-prompt LIST    prompt sizes (default 512; 0: no pp test)\n"
    "  -n, --n-gen LIST       generated tokens (default 128; 0: no tg test)\n"
    "  -d, --n-depth LIST     depths (default 0)\n"
    "  -r, --repetitions N    timed reps per test (default 5)\n"
    "  -o, --output FMT       md (default), csv, json (an array), jsonl (a run object, then\n"
    "                         one object per test; what ferry bench-compare reads)\n"
    "  --no-warmup            no warm-up run\n"
    "For tg tests json/jsonl also give bytes_per_token (weights read per token), achieved_gbps\n"
    "(median t/s x bytes_per_token / 1e9) and bw_fraction (achieved / the host memory bandwidth\n"
    "measured before and after the tests, the larger of the two): the machine-independent\n"
    "figure.\n\n"
    "exit status: 0 done, 1 runtime error, 2 usage error\n\n";

enum bench_fmt { FMT_MD, FMT_CSV, FMT_JSON, FMT_JSONL };

struct bench_list {
    int64_t *v;
    int64_t n;
};

struct bench_test {
    char name[64];
    int64_t n_prompt, n_gen, n_depth;
    double *ts; /* t/s of each rep */
    double median, mean, stddev, min, max;
};

struct bench {
    struct fy_cli o;
    struct bench_list p, n, d;
    int64_t reps;
    enum bench_fmt fmt;
    bool warmup;
    char place[512]; /* the placement flags as given */
    struct bench_test *tests;
    int64_t n_tests;
    /* filled when running */
    struct fy_model *m;
    struct fy_session *s;
    int32_t *depth_tok; /* max depth random tokens, the cached prefix */
    int32_t *tok;       /* test tokens */
    int64_t prefix_ok;  /* cache positions that hold depth_tok[0..prefix_ok) */
    uint64_t rng;
    bool tty;
    int64_t n_threads, n_ubatch, n_ctx;
    struct fy_machine_info mi;
    struct fy_build_info bi;
    uint64_t bytes_per_token;
    double load_start; /* /proc/loadavg (1 min) before the tests; -1 unknown */
    /* the bandwidth probe before and after the tests (0: not measured); mi.mem_bw_gbps is the
     * larger: on a shared host the probe moves by a quarter between minutes, and the larger
     * one makes bw_fraction the conservative figure */
    double bw_start, bw_end;
};

/* ---- flags ---- */

static fy_status list_add(struct bench_list *l, int64_t x)
{
    int64_t *nv = realloc(l->v, (size_t)(l->n + 1) * sizeof(*nv));
    if (!nv)
        return FY_E_NOMEM;
    l->v = nv;
    l->v[l->n++] = x;
    return FY_OK;
}

static fy_status bad_list(const char *flag, const char *val)
{
    fy_log(FY_LOG_ERR,
           "flag %s: \"%s\" is not a list of integers in [0, %d] (N, A-B, "
           "A-B+STEP, A-B*MULT, comma separated)",
           flag, val, INT32_MAX);
    return FY_E_INVAL;
}

static fy_status num_at(const char *flag, const char *val, const char **p, int64_t *out)
{
    char *end;
    if (!(**p >= '0' && **p <= '9'))
        return bad_list(flag, val);
    long long x = strtoll(*p, &end, 10);
    if (end == *p || x > INT32_MAX)
        return bad_list(flag, val);
    *p = end;
    *out = x;
    return FY_OK;
}

/* "N,A-B,A-B+S,A-B*M": replaces l. */
static fy_status parse_list(const char *flag, const char *val, struct bench_list *l)
{
    const char *p = val;
    l->n = 0;
    for (;;) {
        int64_t a, b, step = 1;
        char op = '+';
        FY_TRY(num_at(flag, val, &p, &a));
        b = a;
        if (*p == '-') {
            p++;
            FY_TRY(num_at(flag, val, &p, &b));
            if (*p == '+' || *p == '*') {
                op = *p++;
                FY_TRY(num_at(flag, val, &p, &step));
            }
            if (b < a || (op == '+' && step < 1) || (op == '*' && (step < 2 || a < 1))) {
                fy_log(FY_LOG_ERR,
                       "flag %s: bad range in \"%s\" (A-B needs A <= B, +STEP >= 1, "
                       "*MULT >= 2 from A >= 1)",
                       flag, val);
                return FY_E_INVAL;
            }
        }
        if (*p != ',' && *p != '\0')
            return bad_list(flag, val);
        for (int64_t x = a; x <= b; x = op == '+' ? x + step : x * step) {
            if (l->n >= 1024) {
                fy_log(FY_LOG_ERR, "flag %s: more than 1024 values in \"%s\"", flag, val);
                return FY_E_INVAL;
            }
            FY_TRY(list_add(l, x));
        }
        if (*p == '\0')
            return FY_OK;
        p++;
    }
}

static void place_append(struct bench *b, int argc, char **argv, int i0, int i1)
{
    for (int k = i0; k <= i1 && k < argc; k++) {
        size_t len = strlen(b->place);
        snprintf(b->place + len, sizeof(b->place) - len, "%s%s", len ? " " : "", argv[k]);
    }
}

/* 1 parsed, 0 help printed, -1 error (rc in *rc). */
static int parse_args(struct bench *b, int argc, char **argv, int *rc)
{
    *rc = 2; /* usage errors */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int i0 = i;
        bool was = b->o.placement_given;
        b->o.placement_given = false;
        int r = fy_cli_parse_common(&b->o, argc, argv, &i);
        if (r > 0 && (b->o.placement_given || !strcmp(a, "--test-gpu")))
            place_append(b, argc, argv, i0, i);
        b->o.placement_given |= was;
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (!strcmp(a, "--no-warmup")) {
            b->warmup = false;
            continue;
        }
        bool is_p = !strcmp(a, "-p") || !strcmp(a, "--n-prompt");
        bool is_n = !strcmp(a, "-n") || !strcmp(a, "--n-gen");
        bool is_d = !strcmp(a, "-d") || !strcmp(a, "--n-depth");
        bool is_r = !strcmp(a, "-r") || !strcmp(a, "--repetitions");
        bool is_o = !strcmp(a, "-o") || !strcmp(a, "--output");
        if (!(is_p || is_n || is_d || is_r || is_o)) {
            *rc = fy_arg_help_or_unknown("bench", a, usage_text, fy_cli_help_common, fy_place_help,
                                         NULL);
            return *rc == 0 ? 0 : -1;
        }
        if (!(v = fy_arg_value(argc, argv, &i)))
            return -1;
        if (is_p || is_n || is_d) {
            if (parse_list(a, v, is_p ? &b->p : is_n ? &b->n : &b->d) != FY_OK)
                return -1;
        } else if (is_r) {
            if (fy_arg_int(a, v, 1, 100000, &b->reps) != FY_OK)
                return -1;
        } else {
            static const char *const names[] = {"md", "csv", "json", "jsonl"};
            int k = 0;
            while (k < 4 && strcmp(v, names[k]))
                k++;
            if (k == 4) {
                fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not one of md, csv, json, jsonl", a, v);
                return -1;
            }
            b->fmt = (enum bench_fmt)k;
        }
    }
    if (!b->o.model) {
        fy_log(FY_LOG_ERR, "bench: -m MODEL is required (see ferry bench -h)");
        return -1;
    }
    return 1;
}

static fy_status add_test(struct bench *b, int64_t np, int64_t ng, int64_t nd)
{
    struct bench_test *nt = realloc(b->tests, (size_t)(b->n_tests + 1) * sizeof(*nt));
    if (!nt)
        return FY_E_NOMEM;
    b->tests = nt;
    struct bench_test *t = &b->tests[b->n_tests];
    memset(t, 0, sizeof(*t));
    t->ts = calloc((size_t)b->reps, sizeof(double));
    if (!t->ts)
        return FY_E_NOMEM;
    b->n_tests++;
    t->n_prompt = np;
    t->n_gen = ng;
    t->n_depth = nd;
    int len =
        snprintf(t->name, sizeof(t->name), np ? "pp%lld" : "tg%lld", (long long)(np ? np : ng));
    if (nd > 0)
        snprintf(t->name + len, sizeof(t->name) - (size_t)len, " @ d%lld", (long long)nd);
    return FY_OK;
}

/* Depth outermost, then the pp tests, then the tg tests (llama-bench's order). */
static fy_status make_tests(struct bench *b, int64_t *need_ctx)
{
    int64_t max_d = 0, max_t = 0;
    for (int64_t k = 0; k < b->d.n; k++) {
        for (int64_t i = 0; i < b->p.n; i++)
            if (b->p.v[i] > 0)
                FY_TRY(add_test(b, b->p.v[i], 0, b->d.v[k]));
        for (int64_t i = 0; i < b->n.n; i++)
            if (b->n.v[i] > 0)
                FY_TRY(add_test(b, 0, b->n.v[i], b->d.v[k]));
        max_d = b->d.v[k] > max_d ? b->d.v[k] : max_d;
    }
    for (int64_t i = 0; i < b->n_tests; i++) {
        int64_t len = b->tests[i].n_prompt + b->tests[i].n_gen;
        max_t = len > max_t ? len : max_t;
    }
    *need_ctx = max_d + max_t;
    return FY_OK;
}

/* ---- running ---- */

static int32_t rand_token(struct bench *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return (int32_t)(b->rng % (uint64_t)b->m->hp.n_vocab);
}

/* Leaves the cache holding exactly depth_tok[0..d) (evaluated untimed when not cached, or when
 * the sliding-window rings no longer hold what precedes d: fy_session_truncate). */
static fy_status set_depth(struct bench *b, int64_t d)
{
    const int64_t have = fy_session_truncate(b->s, b->prefix_ok < d ? b->prefix_ok : d);
    if (have < d)
        FY_TRY(fy_session_eval(b->s, b->depth_tok + have, d - have, false, NULL, NULL));
    b->prefix_ok = d;
    return FY_OK;
}

/* One run: pp (n_prompt tokens at once) or tg (n_gen tokens one by one) at depth d; seconds. */
static fy_status run_once(struct bench *b, int64_t np, int64_t ng, int64_t d, double *secs)
{
    FY_TRY(set_depth(b, d));
    b->prefix_ok = d;
    int64_t n = np ? np : ng;
    for (int64_t i = 0; i < n; i++)
        b->tok[i] = rand_token(b);
    double t0 = fy_now();
    if (np) {
        FY_TRY(fy_session_eval(b->s, b->tok, np, false, NULL, NULL));
    } else {
        for (int64_t i = 0; i < ng; i++)
            FY_TRY(fy_session_eval(b->s, b->tok + i, 1, false, NULL, NULL));
    }
    *secs = fy_now() - t0;
    return FY_OK;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

static void test_stats(struct bench_test *t, int64_t n)
{
    double *s = malloc((size_t)n * sizeof(*s));
    double sum = 0, ss = 0;
    t->min = t->max = t->ts[0];
    for (int64_t i = 0; i < n; i++) {
        sum += t->ts[i];
        t->min = t->ts[i] < t->min ? t->ts[i] : t->min;
        t->max = t->ts[i] > t->max ? t->ts[i] : t->max;
    }
    t->mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++)
        ss += (t->ts[i] - t->mean) * (t->ts[i] - t->mean);
    t->stddev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    if (!s) {
        t->median = t->mean;
        return;
    }
    memcpy(s, t->ts, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    t->median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
}

static fy_status run_test(struct bench *b, struct bench_test *t)
{
    double secs;
    if (b->warmup) {
        if (b->tty)
            fprintf(stderr, "\r\033[Kferry bench: %s warm-up", t->name);
        FY_TRY(run_once(b, t->n_prompt, t->n_gen ? 1 : 0, t->n_depth, &secs));
    }
    for (int64_t r = 0; r < b->reps; r++) {
        if (b->tty)
            fprintf(stderr, "\r\033[Kferry bench: %s rep %lld/%lld", t->name, (long long)r + 1,
                    (long long)b->reps);
        FY_TRY(run_once(b, t->n_prompt, t->n_gen, t->n_depth, &secs));
        t->ts[r] = (double)(t->n_prompt + t->n_gen) / (secs > 1e-9 ? secs : 1e-9);
    }
    if (b->tty)
        fputs("\r\033[K", stderr);
    test_stats(t, b->reps);
    return FY_OK;
}

/* ---- output ---- */

static uint64_t model_n_params(const struct fy_model *m)
{
    uint64_t n = 0;
    for (int64_t i = 0; i < fy_gguf_n_tensors(m->gguf); i++) {
        const struct fy_gguf_tensor *t = fy_gguf_tensor_at(m->gguf, i);
        uint64_t e = 1;
        for (int k = 0; k < 4; k++)
            e *= (uint64_t)(t->ne[k] > 0 ? t->ne[k] : 1);
        n += e;
    }
    return n;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static const char *backend_name(const struct bench *b)
{
    return b->o.gpu ? "cpu+test-gpu" : b->bi.backend;
}

/* A JSON number: finite, 10 significant digits. */
static void jnum(FILE *f, double x)
{
    fprintf(f, "%.10g", isfinite(x) ? x : 0.0);
}

static void jkey(FILE *f, bool *first, const char *k)
{
    fprintf(f, "%s\"%s\": ", *first ? "" : ", ", k);
    *first = false;
}

static void jkv_str(FILE *f, bool *first, const char *k, const char *v)
{
    jkey(f, first, k);
    fy_json_str(f, v);
}

static void jkv_int(FILE *f, bool *first, const char *k, long long v)
{
    jkey(f, first, k);
    fprintf(f, "%lld", v);
}

static void jkv_num(FILE *f, bool *first, const char *k, double v)
{
    jkey(f, first, k);
    jnum(f, v);
}

static bool is_tg(const struct bench_test *t)
{
    return t->n_gen > 0 && t->n_prompt == 0;
}

static double achieved_gbps(const struct bench *b, const struct bench_test *t)
{
    return t->median * (double)b->bytes_per_token / 1e9;
}

static void json_test_fields(FILE *f, bool *first, const struct bench *b,
                             const struct bench_test *t)
{
    jkv_str(f, first, "name", t->name);
    jkv_str(f, first, "model", base_name(b->o.model));
    jkv_int(f, first, "n_prompt", t->n_prompt);
    jkv_int(f, first, "n_gen", t->n_gen);
    jkv_int(f, first, "n_depth", t->n_depth);
    jkv_int(f, first, "n_ubatch", b->n_ubatch);
    jkv_int(f, first, "n_threads", b->n_threads);
    jkv_int(f, first, "reps", b->reps);
    jkey(f, first, "samples");
    fputc('[', f);
    for (int64_t r = 0; r < b->reps; r++) {
        fputs(r ? ", " : "", f);
        jnum(f, t->ts[r]);
    }
    fputc(']', f);
    jkv_num(f, first, "median_ts", t->median);
    jkv_num(f, first, "mean_ts", t->mean);
    jkv_num(f, first, "stddev_ts", t->stddev);
    jkv_num(f, first, "min_ts", t->min);
    jkv_num(f, first, "max_ts", t->max);
    if (is_tg(t)) {
        double g = achieved_gbps(b, t);
        jkv_int(f, first, "bytes_per_token", (long long)b->bytes_per_token);
        jkv_num(f, first, "achieved_gbps", g);
        jkv_num(f, first, "bw_fraction", b->mi.mem_bw_gbps > 0 ? g / b->mi.mem_bw_gbps : 0);
    }
}

/* The 1-minute load average when the run started: other work on the machine skews timings. */
static double load_avg(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double x = -1;
    if (f) {
        if (fscanf(f, "%lf", &x) != 1)
            x = -1;
        fclose(f);
    }
    return x;
}

static void write_run_object(FILE *f, const struct bench *b)
{
    const struct fy_hparams *hp = &b->m->hp;
    const struct fy_placement *pl = b->o.placement;
    char when[32];
    time_t now = time(NULL);
    struct tm tmv;
    bool first = true;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    fputc('{', f);
    jkv_str(f, &first, "type", "run");
    jkv_str(f, &first, "time", when);
    jkv_str(f, &first, "model_file", b->o.model);
    jkv_int(f, &first, "model_file_bytes", (long long)fy_gguf_file_size(b->m->gguf));
    jkv_int(f, &first, "model_size", (long long)fy_model_weight_bytes(b->m));
    jkv_int(f, &first, "model_n_params", (long long)model_n_params(b->m));
    jkv_int(f, &first, "n_layer", hp->n_layer);
    jkv_int(f, &first, "d_model", hp->d_model);
    jkv_int(f, &first, "n_head", hp->n_head);
    jkv_int(f, &first, "n_head_kv", hp->n_head_kv);
    jkv_int(f, &first, "head_dim", hp->head_dim);
    jkv_int(f, &first, "n_expert", hp->n_expert);
    jkv_int(f, &first, "n_expert_used", hp->n_expert_used);
    jkv_int(f, &first, "n_ff", hp->n_ff);
    jkv_int(f, &first, "n_vocab", hp->n_vocab);
    jkv_str(f, &first, "placement", b->place);
    jkv_int(f, &first, "weight_bytes_cpu",
            (long long)(pl ? pl->weight_bytes[FY_DEV_CPU] : fy_model_weight_bytes(b->m)));
    jkv_int(f, &first, "weight_bytes_gpu0", (long long)(pl ? pl->weight_bytes[FY_DEV_GPU0] : 0));
    jkv_int(f, &first, "n_threads", b->n_threads);
    jkv_int(f, &first, "n_ubatch", b->n_ubatch);
    jkv_int(f, &first, "n_ctx", b->n_ctx);
    jkv_str(f, &first, "kv_type", fy_dtype_name(b->o.kv_type));
    jkv_int(f, &first, "kv_bytes", (long long)fy_session_kv_bytes(b->s));
    jkv_int(f, &first, "swa_full", b->o.swa_full);
    jkv_int(f, &first, "reps", b->reps);
    jkv_int(f, &first, "warmup", b->warmup);
    jkv_str(f, &first, "build_version", b->bi.version);
    jkv_str(f, &first, "build_git", b->bi.git);
    jkv_str(f, &first, "build_compiler", b->bi.compiler);
    jkv_str(f, &first, "build_backend", backend_name(b));
    jkv_str(f, &first, "cpu_kernels", b->bi.cpu_kernels);
    jkv_str(f, &first, "omp_wait", fy_omp_wait_desc());
    jkv_str(f, &first, "cpu", b->mi.cpu);
    jkv_int(f, &first, "cores", b->mi.cores);
    jkv_int(f, &first, "numa_nodes", b->mi.numa_nodes);
    jkv_int(f, &first, "ram_bytes", (long long)b->mi.ram_bytes);
    jkv_str(f, &first, "gpu", b->mi.gpu);
    jkv_int(f, &first, "gpu_mem_bytes", (long long)b->mi.gpu_mem_bytes);
    jkv_num(f, &first, "mem_bw_gbps", b->mi.mem_bw_gbps);
    jkv_num(f, &first, "mem_bw_gbps_start", b->bw_start);
    jkv_num(f, &first, "mem_bw_gbps_end", b->bw_end);
    jkv_int(f, &first, "mem_bw_probe_bytes", (long long)fy_mem_bandwidth_bytes());
    jkv_int(f, &first, "bytes_per_token", (long long)b->bytes_per_token);
    jkv_num(f, &first, "load_avg_start", b->load_start);
    fputs(", ", f); /* "numa_mode", ...: placement/numa_layout.h */
    fy_cli_numa_json(f, &b->o, b->m, true);
    fputs("}\n", f);
}

static void write_jsonl(FILE *f, const struct bench *b)
{
    write_run_object(f, b);
    for (int64_t i = 0; i < b->n_tests; i++) {
        bool first = true;
        fputc('{', f);
        jkv_str(f, &first, "type", "test");
        json_test_fields(f, &first, b, &b->tests[i]);
        fputs("}\n", f);
    }
}

static void write_json(FILE *f, const struct bench *b)
{
    fputs("[\n", f);
    for (int64_t i = 0; i < b->n_tests; i++) {
        bool first = true;
        fputs("  {", f);
        jkv_str(f, &first, "build_commit", b->bi.git);
        jkv_str(f, &first, "build_version", b->bi.version);
        jkv_str(f, &first, "cpu", b->mi.cpu);
        jkv_str(f, &first, "gpu", b->mi.gpu);
        jkv_str(f, &first, "backend", backend_name(b));
        jkv_str(f, &first, "cpu_kernels", b->bi.cpu_kernels);
        jkv_str(f, &first, "model_file", b->o.model);
        jkv_int(f, &first, "model_size", (long long)fy_model_weight_bytes(b->m));
        jkv_int(f, &first, "model_n_params", (long long)model_n_params(b->m));
        jkv_str(f, &first, "placement", b->place);
        jkv_num(f, &first, "mem_bw_gbps", b->mi.mem_bw_gbps);
        json_test_fields(f, &first, b, &b->tests[i]);
        fprintf(f, "}%s\n", i + 1 < b->n_tests ? "," : "");
    }
    fputs("]\n", f);
}

static void csv_str(FILE *f, const char *s, const char *sep)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fprintf(f, "\"%s", sep);
}

static void write_csv(FILE *f, const struct bench *b)
{
    static const char *const cols[] = {
        "build_commit",   "build_version", "model_file",      "model_size",
        "model_n_params", "backend",       "n_threads",       "n_ubatch",
        "test",           "n_prompt",      "n_gen",           "n_depth",
        "reps",           "median_ts",     "mean_ts",         "stddev_ts",
        "min_ts",         "max_ts",        "bytes_per_token", "achieved_gbps",
        "bw_fraction"};
    const size_t nc = FY_ARRAY_LEN(cols);
    for (size_t c = 0; c < nc; c++)
        fprintf(f, "%s%s", cols[c], c + 1 < nc ? "," : "\n");
    for (int64_t i = 0; i < b->n_tests; i++) {
        const struct bench_test *t = &b->tests[i];
        char v[10][48];
        double g = is_tg(t) ? achieved_gbps(b, t) : 0;
        snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)fy_model_weight_bytes(b->m));
        snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)model_n_params(b->m));
        snprintf(v[2], sizeof(v[2]), "%lld", (long long)b->n_threads);
        snprintf(v[3], sizeof(v[3]), "%lld", (long long)b->n_ubatch);
        csv_str(f, b->bi.git, ",");
        csv_str(f, b->bi.version, ",");
        csv_str(f, b->o.model, ",");
        csv_str(f, v[0], ",");
        csv_str(f, v[1], ",");
        csv_str(f, backend_name(b), ",");
        csv_str(f, v[2], ",");
        csv_str(f, v[3], ",");
        csv_str(f, t->name, ",");
        snprintf(v[4], sizeof(v[4]), "%lld\",\"%lld\",\"%lld\",\"%lld", (long long)t->n_prompt,
                 (long long)t->n_gen, (long long)t->n_depth, (long long)b->reps);
        fprintf(f, "\"%s\",", v[4]);
        fprintf(f, "\"%.4f\",\"%.4f\",\"%.4f\",\"%.4f\",\"%.4f\",", t->median, t->mean, t->stddev,
                t->min, t->max);
        if (is_tg(t))
            fprintf(f, "\"%llu\",\"%.4f\",\"%.4f\"\n", (unsigned long long)b->bytes_per_token, g,
                    b->mi.mem_bw_gbps > 0 ? g / b->mi.mem_bw_gbps : 0);
        else
            fputs("\"\",\"\",\"\"\n", f);
    }
}

#define MD_COLS 8

/* Display columns of a UTF-8 string (continuation bytes take none). */
static int disp_width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void md_row(FILE *f, char cells[][96], const int *w, const bool *right)
{
    for (int c = 0; c < MD_COLS; c++) {
        int pad = w[c] - disp_width(cells[c]);
        fprintf(f, "| %*s%s%*s ", right[c] ? pad : 0, "", cells[c], right[c] ? 0 : pad, "");
    }
    fputs("|\n", f);
}

static fy_status write_md(FILE *f, const struct bench *b)
{
    static const char *const head[MD_COLS] = {"model",   "size", "params", "backend",
                                              "threads", "ub",   "test",   "t/s"};
    static const bool right[MD_COLS] = {false, true, true, false, true, true, false, true};
    char(*cells)[MD_COLS][96] = calloc((size_t)b->n_tests + 1, sizeof(*cells));
    int w[MD_COLS] = {0};
    if (!cells)
        return FY_E_NOMEM;
    uint64_t size = fy_model_weight_bytes(b->m), np = model_n_params(b->m);
    for (int c = 0; c < MD_COLS; c++)
        snprintf(cells[0][c], 96, "%s", head[c]);
    for (int64_t i = 0; i < b->n_tests; i++) {
        char(*r)[96] = cells[i + 1];
        const struct bench_test *t = &b->tests[i];
        snprintf(r[0], 96, "%.95s", base_name(b->o.model));
        if (size < (1ull << 30))
            snprintf(r[1], 96, "%.2f MiB", (double)size / (1 << 20));
        else
            snprintf(r[1], 96, "%.2f GiB", (double)size / (1 << 30));
        if (np < 1000000000ull)
            snprintf(r[2], 96, "%.2f M", (double)np / 1e6);
        else
            snprintf(r[2], 96, "%.2f B", (double)np / 1e9);
        snprintf(r[3], 96, "%s", backend_name(b));
        snprintf(r[4], 96, "%lld", (long long)b->n_threads);
        snprintf(r[5], 96, "%lld", (long long)b->n_ubatch);
        snprintf(r[6], 96, "%s", t->name);
        snprintf(r[7], 96, "%.2f ± %.2f", t->median, t->stddev);
    }
    for (int64_t i = 0; i <= b->n_tests; i++)
        for (int c = 0; c < MD_COLS; c++) {
            int len = disp_width(cells[i][c]);
            w[c] = len > w[c] ? len : w[c];
        }
    md_row(f, cells[0], w, right);
    for (int c = 0; c < MD_COLS; c++) {
        fputs("| ", f);
        for (int k = 0; k < w[c] - (right[c] ? 1 : 0); k++)
            fputc('-', f);
        fputs(right[c] ? ": " : " ", f);
    }
    fputs("|\n", f);
    for (int64_t i = 1; i <= b->n_tests; i++)
        md_row(f, cells[i], w, right);
    fprintf(f, "\nbuild: %s (%s)\n", b->bi.git, b->bi.version);
    free(cells);
    return FY_OK;
}

/* ---- the command ---- */

static fy_status bench_run(struct bench *b, int64_t need_ctx)
{
    b->load_start = load_avg();
    FY_TRY(fy_cli_load(&b->o, &b->m));
#if FY_HAVE_OPENMP
    b->n_threads = omp_get_max_threads();
#else
    b->n_threads = 1;
#endif
    if (b->o.n_ctx && b->o.n_ctx < need_ctx) {
        fy_log(FY_LOG_ERR,
               "flag -c: %lld positions, the tests need %lld (largest depth + "
               "largest test)",
               (long long)b->o.n_ctx, (long long)need_ctx);
        return FY_E_INVAL;
    }
    fy_build_info_get(&b->bi);
    FY_TRY(fy_machine_info_get(&b->mi, b->fmt != FMT_MD));
    b->bytes_per_token = fy_model_bytes_per_token(b->m);
    FY_TRY(fy_cli_session(&b->o, b->m, need_ctx, &b->s));
    b->n_ctx = fy_session_n_ctx(b->s);
    struct fy_session_opts so;
    fy_session_opts_default(&so);
    b->n_ubatch = b->o.n_ubatch ? b->o.n_ubatch : so.n_ubatch;
    int64_t max_d = 0, max_t = 1;
    for (int64_t i = 0; i < b->n_tests; i++) {
        const struct bench_test *t = &b->tests[i];
        max_d = t->n_depth > max_d ? t->n_depth : max_d;
        max_t = t->n_prompt + t->n_gen > max_t ? t->n_prompt + t->n_gen : max_t;
    }
    b->depth_tok = malloc((size_t)(max_d + 1) * sizeof(int32_t));
    b->tok = malloc((size_t)max_t * sizeof(int32_t));
    if (!b->depth_tok || !b->tok)
        return FY_E_NOMEM;
    for (int64_t i = 0; i < max_d; i++)
        b->depth_tok[i] = rand_token(b);
    for (int64_t i = 0; i < b->n_tests; i++) {
        fy_status st = run_test(b, &b->tests[i]);
        if (st != FY_OK) {
            if (b->tty)
                fputs("\r\033[K", stderr);
            fy_log(FY_LOG_ERR, "bench: test %s failed: %s", b->tests[i].name, fy_status_str(st));
            return st;
        }
    }
    b->bw_start = b->mi.mem_bw_gbps;
    if (b->bw_start > 0) {
        b->bw_end = fy_mem_bandwidth_gbps();
        b->mi.mem_bw_gbps = b->bw_end > b->bw_start ? b->bw_end : b->bw_start;
    }
    return FY_OK;
}

int fy_cmd_bench(int argc, char **argv)
{
    struct bench b;
    int rc = 1;
    int64_t need_ctx = 0;

    memset(&b, 0, sizeof(b));
    b.reps = 5;
    b.warmup = true;
    b.rng = 0x9e3779b97f4a7c15ull;
    b.tty = isatty(2);
    if (fy_cli_init(&b.o) != FY_OK)
        goto done;
    if (list_add(&b.p, 512) != FY_OK || list_add(&b.n, 128) != FY_OK || list_add(&b.d, 0) != FY_OK)
        goto done;
    int r = parse_args(&b, argc, argv, &rc);
    if (r <= 0)
        goto done;
    rc = 1;
    if (make_tests(&b, &need_ctx) != FY_OK)
        goto done;
    if (b.n_tests == 0) {
        fy_log(FY_LOG_ERR, "bench: no test to run (-p and -n are both 0)");
        goto done;
    }
    if (bench_run(&b, need_ctx) != FY_OK)
        goto done;
    switch (b.fmt) {
    case FMT_MD:
        if (write_md(stdout, &b) != FY_OK)
            goto done;
        break;
    case FMT_CSV:
        write_csv(stdout, &b);
        break;
    case FMT_JSON:
        write_json(stdout, &b);
        break;
    case FMT_JSONL:
        write_jsonl(stdout, &b);
        break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fy_log(FY_LOG_ERR, "bench: writing the results to stdout failed");
        goto done;
    }
    fy_cli_report(&b.o, b.s);
    rc = 0;
done:
    fy_session_free(b.s);
    fy_cli_free(&b.o);
    fy_model_free(b.m);
    for (int64_t i = 0; i < b.n_tests; i++)
        free(b.tests[i].ts);
    free(b.tests);
    free(b.p.v);
    free(b.n.v);
    free(b.d.v);
    free(b.depth_tok);
    free(b.tok);
    return rc;
}
