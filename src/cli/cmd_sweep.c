/* `ferry sweep-bench`: llama-sweep-bench's loop, table and JSONL (hybrid.md §9.1), plus a run
 * description for JSONL and an SVG plot of S_PP and S_TG against the KV depth.
 *
 * At each depth n_kv = 0, ub, 2 ub, ... < n_ctx: generate tg random tokens one at a time at
 * n_kv.. (timed: T_TG), forget them, then process one micro-batch of ub random tokens at n_kv..
 * in n_batch chunks (timed: T_PP); those stay in the cache, so the next row starts ub deeper. */
#include "benchinfo.h"
#include "cpu/qdot.h"
#include "args.h"
#include "cli_common.h"
#include "cmd.h"
#include "fy_config.h"
#include "generate.h"
#include "graph/device.h"
#include "graph/session.h"
#include "model/model.h"
#include "placement/placement.h"
#include "svg_plot.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif

#define SWEEP_SEED_DEFAULT 1234
#define SWEEP_BATCH_DEFAULT 2048
#define SWEEP_UBATCH_DEFAULT 512
#define SWEEP_CTX_DEFAULT 4096

static const char usage_text[] =
    "usage: ferry sweep-bench -m MODEL -c N_CTX -ub UB [-b B] [-n TG] [-t T] [placement flags]\n"
    "                         [--output md|jsonl] [--plot FILE.svg] [--sweep-memory]\n\n"
    "llama-sweep-bench's loop: at each depth N_KV = 0, UB, 2 UB, ... < N_CTX, generate TG random\n"
    "tokens one at a time (T_TG), then process one micro-batch of UB random tokens (T_PP), which\n"
    "stay in the KV cache. Rows are printed as they are measured. Make -c a multiple of -ub.\n\n"
    "  -n, --n-gen N          tokens generated per row (default UB/4)\n"
    "  -b, --batch-size N     tokens per eval call in the PP step (default 2048)\n"
    "  -s, --seed N           seed of the random tokens (default 1234)\n"
    "  --no-warmup            skip the warm-up (one micro-batch of -ub tokens, then one token)\n"
    "  --sweep-memory         add RSS HWM and VRAM delta columns (MiB)\n"
    "  --output md|jsonl      a markdown table (default) or one JSON object per line, the\n"
    "                         first describing the run (alias --output-format)\n"
    "  --plot FILE.svg        draw S_PP and S_TG against N_KV as an SVG chart (opened before\n"
    "                         the benchmark: a path that cannot be written fails at once)\n\n"
    "exit status: 0 done, 1 runtime error, 2 usage error\n";

struct sweep_opts {
    struct fy_cli cli;
    int64_t n_batch;
    int64_t n_gen;          /* -1: n_ubatch / 4 */
    uint64_t seed;
    bool warmup;
    bool memory;
    bool jsonl;
    const char *plot;
    const char **place_words;  /* placement flags and their values, as given (argc entries) */
    int n_place_words;
};

struct sweep_row {
    int pp, tg, n_kv;
    double t_pp, t_tg;
    double rss_mib;
    double vram_mib;        /* < 0: unknown */
};

/* The fixed numbers of every row (the header line and the JSONL prefix). */
struct sweep_hdr {
    int n_kv_max, n_batch, n_ubatch, flash_attn, n_gpu_layers;
    unsigned n_threads;
    unsigned n_threads_batch; /* -tb, else n_threads */
};

/* -1 error (logged), 0 not ours, 1 consumed. */
static int parse_own(struct sweep_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
#define VALUE() do { if (!(v = fy_arg_value(argc, argv, i))) return -1; } while (0)
    if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
        VALUE();
        if (fy_arg_int(a, v, 1, INT32_MAX, &o->n_batch) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
        VALUE();
        if (fy_arg_int(a, v, 1, INT32_MAX, &o->n_gen) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
        VALUE();
        if (fy_arg_u64(a, v, &o->seed) != FY_OK)
            return -1;
    } else if (!strcmp(a, "--no-warmup")) {
        o->warmup = false;
    } else if (!strcmp(a, "--sweep-memory")) {
        o->memory = true;
    } else if (!strcmp(a, "--output") || !strcmp(a, "--output-format")) {
        VALUE();
        if (!strcmp(v, "md")) {
            o->jsonl = false;
        } else if (!strcmp(v, "jsonl")) {
            o->jsonl = true;
        } else {
            fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not one of md, jsonl", a, v);
            return -1;
        }
    } else if (!strcmp(a, "--plot")) {
        VALUE();
        o->plot = v;
    } else {
        return 0;
    }
#undef VALUE
    return 1;
}

/* Returns 1 to run, 0 to exit 0 (help), else the exit code + 1 in *rc. */
static int parse_args(struct sweep_opts *o, int argc, char **argv, int *rc)
{
    *rc = 2; /* usage errors */
    for (int i = 1; i < argc; i++) {
        int start = i;
        int r = parse_own(o, argc, argv, &i);
        if (r == 0) {
            r = fy_place_parse_flag(o->cli.rules, argc, argv, &i);
            if (r > 0)
                o->cli.placement_given = true;
            if (r == 0 && !strcmp(argv[i], "--test-gpu"))
                o->place_words[o->n_place_words++] = argv[i];
            if (r > 0)
                for (int k = start; k <= i; k++)
                    o->place_words[o->n_place_words++] = argv[k];
        }
        if (r == 0 && (!strcmp(argv[i], "--tokens") || !strcmp(argv[i], "--tokens-file"))) {
            fy_log(FY_LOG_ERR, "sweep-bench: %s is not used (the tokens are random; see -s)",
                   argv[i]);
            return -1;
        }
        if (r == 0)
            r = fy_cli_parse_common(&o->cli, argc, argv, &i);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        *rc = fy_arg_help_or_unknown("sweep-bench", argv[i], usage_text, fy_cli_help_common,
                                     fy_place_help, NULL);
        return *rc == 0 ? 0 : -1;
    }
    if (!o->cli.model) {
        fy_log(FY_LOG_ERR, "sweep-bench: -m MODEL is required (see ferry sweep-bench -h)");
        return -1;
    }
    return 1;
}

/* ---- output ---- */

static void md_header(const struct sweep_hdr *h, bool memory)
{
    printf("main: n_kv_max = %d, n_batch = %d, n_ubatch = %d, flash_attn = %d, n_gpu_layers = %d, "
           "n_threads = %u, n_threads_batch = %u, cpu_kernels = %s\n\n", h->n_kv_max,
           h->n_batch, h->n_ubatch, h->flash_attn, h->n_gpu_layers, h->n_threads, h->n_threads_batch,
           fy_cpu_set()->name);
    printf("|    PP |     TG |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |");
    if (memory)
        printf(" %10s | %10s |", "RSS HWM", "VRAM delta");
    printf("\n|-------|--------|--------|----------|----------|----------|----------|");
    if (memory)
        printf("------------|------------|");
    printf("\n");
    fflush(stdout);
}

static void mib_str(char *buf, size_t cap, double mib)
{
    if (mib < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.1f", mib);
}

static void md_row(const struct sweep_row *r, bool memory)
{
    printf("|%6d | %6d | %6d | %8.3f | %8.2f | %8.3f | %8.2f |", r->pp, r->tg, r->n_kv, r->t_pp,
           r->pp / r->t_pp, r->t_tg, r->tg / r->t_tg);
    if (memory) {
        char a[32], b[32];
        mib_str(a, sizeof(a), r->rss_mib);
        mib_str(b, sizeof(b), r->vram_mib);
        printf(" %10s | %10s |", a, b);
    }
    printf("\n");
    fflush(stdout);
}

static void jsonl_row(const struct sweep_hdr *h, const struct sweep_row *r, bool memory)
{
    printf("{\"n_kv_max\": %d, \"n_batch\": %d, \"n_ubatch\": %d, \"flash_attn\": %d, "
           "\"n_gpu_layers\": %d, \"n_threads\": %u, \"n_threads_batch\": %u, \"pp\": %d, "
           "\"tg\": %d, \"n_kv\": %d, \"t_pp\": %f, \"speed_pp\": %f, \"t_tg\": %f, "
           "\"speed_tg\": %f", h->n_kv_max, h->n_batch, h->n_ubatch, h->flash_attn,
           h->n_gpu_layers, h->n_threads, h->n_threads_batch, r->pp, r->tg, r->n_kv, r->t_pp,
           r->pp / r->t_pp, r->t_tg, r->tg / r->t_tg);
    if (memory) {
        printf(", \"rss_hwm_mib\": %f, \"vram_delta_mib\": ", r->rss_mib);
        if (r->vram_mib < 0)
            printf("null");
        else
            printf("%f", r->vram_mib);
    }
    printf("}\n");
    fflush(stdout);
}

static void json_kv_str(const char *key, const char *val, bool comma)
{
    printf("\"%s\": ", key);
    fy_json_str(stdout, val ? val : "");
    if (comma)
        printf(", ");
}

/* The name for titles: general.name, else the file's base name. */
static void model_name(const struct fy_model *m, const char *path, char *buf, size_t cap)
{
    if (fy_gguf_get_str(m->gguf, "general.name", buf, cap) == FY_OK && buf[0])
        return;
    const char *b = strrchr(path, '/');
    snprintf(buf, cap, "%s", b ? b + 1 : path);
}

/* The first JSONL object: what ran, where, how. */
static fy_status jsonl_run(const struct sweep_opts *o, const struct sweep_hdr *h,
                           const struct fy_model *m, int tg, int argc, char **argv)
{
    struct fy_machine_info mi;
    struct fy_build_info bi;
    const struct fy_hparams *hp = &m->hp;
    char name[256];
    FY_TRY(fy_machine_info_get(&mi, true));
    fy_build_info_get(&bi);
    model_name(m, o->cli.model, name, sizeof(name));

    uint64_t wb[FY_DEV_COUNT] = {0}, dup[FY_DEV_COUNT] = {0};
    if (o->cli.placement) {
        for (int d = 0; d < FY_DEV_COUNT; d++) {
            wb[d] = o->cli.placement->weight_bytes[d];
            dup[d] = o->cli.placement->dup_bytes[d];
        }
    } else {
        for (int64_t i = 0; i < fy_gguf_n_tensors(m->gguf); i++)
            wb[FY_DEV_CPU] += fy_gguf_tensor_at(m->gguf, i)->size;
    }

    printf("{\"bench\": \"sweep-bench\", ");
    printf("\"model\": {");
    json_kv_str("path", o->cli.model, true);
    json_kv_str("name", name, true);
    printf("\"file_bytes\": %" PRIu64 ", \"n_layer\": %" PRId64 ", \"d_model\": %" PRId64
           ", \"n_head\": %" PRId64 ", \"n_head_kv\": %" PRId64 ", \"head_dim\": %" PRId64
           ", \"n_expert\": %" PRId64 ", \"n_expert_used\": %" PRId64 ", \"n_ff\": %" PRId64
           ", \"n_vocab\": %" PRId64 ", \"n_ctx_train\": %" PRId64 "}, ",
           fy_gguf_file_size(m->gguf), hp->n_layer, hp->d_model, hp->n_head, hp->n_head_kv,
           hp->head_dim, hp->n_expert, hp->n_expert_used, hp->n_ff, hp->n_vocab,
           hp->n_ctx_train);
    printf("\"placement\": {\"flags\": [");
    for (int i = 0; i < o->n_place_words; i++) {
        printf(i ? ", " : "");
        fy_json_str(stdout, o->place_words[i]);
    }
    printf("], \"weight_bytes\": {");
    for (int d = 0; d < FY_DEV_COUNT; d++)
        printf("%s\"%s\": %" PRIu64, d ? ", " : "", fy_device_name((enum fy_device_id)d), wb[d]);
    printf("}, \"dup_bytes\": {");
    for (int d = 0; d < FY_DEV_COUNT; d++)
        printf("%s\"%s\": %" PRIu64, d ? ", " : "", fy_device_name((enum fy_device_id)d), dup[d]);
    printf("}, ");
    json_kv_str("gpu", o->cli.gpu ? o->cli.gpu->name : "", false);
    printf("}, ");
    printf("\"n_ctx\": %d, \"n_batch\": %d, \"n_ubatch\": %d, \"n_gen\": %d, \"n_threads\": %u, "
           "\"n_gpu_layers\": %d, \"flash_attn\": %d, ", h->n_kv_max, h->n_batch, h->n_ubatch, tg,
           h->n_threads, h->n_gpu_layers, h->flash_attn);
    json_kv_str("kv_type", fy_kv_type_name(o->cli.kv_type), true);
    printf("\"seed\": %" PRIu64 ", \"warmup\": %s, \"bytes_per_token\": %" PRIu64 ", ", o->seed,
           o->warmup ? "true" : "false", fy_model_bytes_per_token(m));
    printf("\"build\": {");
    json_kv_str("version", bi.version, true);
    json_kv_str("git", bi.git, true);
    json_kv_str("compiler", bi.compiler, true);
    json_kv_str("backend", bi.backend, true);
    json_kv_str("cpu_kernels", bi.cpu_kernels, false);
    printf("}, \"machine\": {");
    json_kv_str("cpu", mi.cpu, true);
    printf("\"cores\": %d, \"numa_nodes\": %d, \"ram_bytes\": %" PRIu64 ", ", mi.cores,
           mi.numa_nodes, mi.ram_bytes);
    json_kv_str("gpu", mi.gpu, true);
    printf("\"gpu_mem_bytes\": %" PRIu64 ", \"mem_bw_gbps\": %f}, \"numa\": ", mi.gpu_mem_bytes,
           mi.mem_bw_gbps);
    FY_TRY(fy_cli_numa_json(stdout, &o->cli, m, false));
    printf(", ");
    printf("\"argv\": [");
    for (int i = 0; i < argc; i++) {
        printf(i ? ", " : "");
        fy_json_str(stdout, argv[i]);
    }
    printf("]}\n");
    fflush(stdout);
    return ferror(stdout) ? FY_E_IO : FY_OK;
}

static fy_status write_plot(struct fy_outfile *out, const char *name, const struct sweep_row *rows,
                            int n)
{
    fy_status st = FY_E_NOMEM;
    double *v = malloc(sizeof(double) * 3 * (size_t)(n > 0 ? n : 1));
    char title[320];
    if (!v) {
        fy_outfile_discard(out);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        v[i] = rows[i].n_kv;
        v[n + i] = rows[i].pp / rows[i].t_pp;
        v[2 * n + i] = rows[i].tg / rows[i].t_tg;
    }
    snprintf(title, sizeof(title), "ferry sweep-bench: %s", name);
    struct fy_plot p = {.title = title, .x_title = "N_KV (tokens in the KV cache)",
                        .y_title = {"S_PP t/s (prompt processing)", "S_TG t/s (generation)"},
                        .width = 800, .height = 500};
    struct fy_plot_series s[2] = {
        {.name = "S_PP t/s (left axis)", .x = v, .y = v + n, .n = n, .axis = 0},
        {.name = "S_TG t/s (right axis)", .x = v, .y = v + 2 * n, .n = n, .axis = 1},
    };
    st = fy_svg_plot_write(out, &p, s, 2);
fail:
    free(v);
    return st;
}

/* ---- the loop ---- */

/* The bandwidth test's buffers (hundreds of MiB) should not count in RSS HWM: Linux resets
 * VmHWM to the current RSS when "5" is written to /proc/self/clear_refs (best effort). */
static void reset_rss_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return;
    fputs("5", f);
    fclose(f);
}

static fy_status eval_timed(struct fy_session *s, const int32_t *t, int64_t n, int64_t chunk,
                            double *secs)
{
    double t0 = fy_now();
    for (int64_t i = 0; i < n; i += chunk)
        FY_TRY(fy_session_eval(s, t + i, n - i < chunk ? n - i : chunk, false, NULL, NULL));
    *secs = fy_now() - t0;
    return FY_OK;
}

/* As ferry bench warms up with its whole pp: one micro-batch of random tokens (every expert's
 * weights mapped and every buffer allocated before the first row, which a one-token warm-up
 * left to the first row's PP: 10-20% slower on the 20b), then one token; then forgotten. */
static fy_status warm_up(struct fy_session *s, const struct sweep_hdr *h, int64_t n_normal,
                         uint64_t seed)
{
    const int64_t n = h->n_ubatch < h->n_kv_max ? h->n_ubatch : h->n_kv_max;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    uint64_t rng = seed ^ 0x9e3779b97f4a7c15ull; /* not the rows' tokens */
    fy_status st = FY_E_NOMEM;
    if (!tok)
        return st;
    fy_gen_random_tokens(&rng, tok, n, n_normal);
    st = fy_session_eval(s, tok, n, false, NULL, NULL);
    if (st == FY_OK)
        st = fy_session_eval(s, tok, 1, false, NULL, NULL);
    fy_session_reset(s);
    free(tok);
    return st;
}

static fy_status sweep(const struct sweep_opts *o, const struct sweep_hdr *h,
                       struct fy_session *s, int64_t n_normal, int tg, struct sweep_row *rows,
                       int *n_rows)
{
    uint64_t rng = o->seed;
    int32_t *tok = NULL;
    fy_status st = FY_E_NOMEM;
    int64_t cap = h->n_ubatch > tg ? h->n_ubatch : tg;
    int total = (h->n_kv_max + h->n_ubatch - 1) / h->n_ubatch;
    bool progress = o->jsonl && isatty(2);
    *n_rows = 0;
    if (!(tok = malloc(sizeof(int32_t) * (size_t)cap)))
        goto fail;
    for (int n_kv = 0; n_kv < h->n_kv_max; n_kv += h->n_ubatch) {
        struct sweep_row *r = &rows[*n_rows];
        int room = h->n_kv_max - n_kv;
        r->n_kv = n_kv;
        r->pp = h->n_ubatch < room ? h->n_ubatch : room;
        r->tg = tg < room ? tg : room;
        if (progress)
            fprintf(stderr, "\rsweep-bench: row %d/%d (N_KV %d)", *n_rows + 1, total, n_kv);
        /* TG: one token at a time, forgotten afterwards */
        fy_session_truncate(s, n_kv);
        double t0 = fy_now();
        for (int j = 0; j < r->tg; j++) {
            fy_gen_random_tokens(&rng, tok, 1, n_normal);
            if ((st = fy_session_eval(s, tok, 1, false, NULL, NULL)) != FY_OK)
                goto fail;
        }
        r->t_tg = fy_now() - t0;
        /* PP: one micro-batch, kept */
        if (fy_session_truncate(s, n_kv) != n_kv) {
            fy_log(FY_LOG_ERR, "sweep-bench: -n %d tokens overwrote the sliding-window KV rings "
                   "(window + -ub slots); use -n <= -ub or --swa-full", tg);
            st = FY_E_INVAL;
            goto fail;
        }
        fy_gen_random_tokens(&rng, tok, r->pp, n_normal);
        if ((st = eval_timed(s, tok, r->pp, h->n_batch, &r->t_pp)) != FY_OK)
            goto fail;
        r->rss_mib = fy_rss_hwm_bytes() / 1048576.0;
        r->vram_mib = o->cli.gpu ? o->cli.gpu->stats.bytes_peak / 1048576.0 : -1;
        if (o->jsonl)
            jsonl_row(h, r, o->memory);
        else
            md_row(r, o->memory);
        (*n_rows)++;
    }
    st = FY_OK;
fail:
    if (progress)
        fprintf(stderr, "\n");
    if (st != FY_OK)
        fy_log(FY_LOG_ERR, "sweep-bench: evaluation failed at row %d: %s", *n_rows + 1,
               fy_status_str(st));
    free(tok);
    return st;
}

int fy_cmd_sweep_bench(int argc, char **argv)
{
    struct sweep_opts o = {.n_batch = SWEEP_BATCH_DEFAULT, .n_gen = -1,
                           .seed = SWEEP_SEED_DEFAULT, .warmup = true};
    struct fy_model *m = NULL;
    struct fy_session *s = NULL;
    struct sweep_row *rows = NULL;
    struct fy_outfile *plot = NULL;
    int rc = 1, n_rows = 0;
    bool cli_ok = false;

    if (fy_cli_init(&o.cli) != FY_OK)
        goto done;
    cli_ok = true;
    if (!(o.place_words = calloc((size_t)argc + 1, sizeof(char *))))
        goto done;
    int pr = parse_args(&o, argc, argv, &rc);
    if (pr <= 0) {
        rc = pr == 0 ? 0 : (rc ? rc : 1);
        goto done;
    }
    rc = 1;
    /* the chart's file first: a path that cannot be written fails before the benchmark */
    if (o.plot && fy_outfile_open("--plot", o.plot, &plot) != FY_OK)
        goto done;
    if (!o.cli.n_ubatch)
        o.cli.n_ubatch = SWEEP_UBATCH_DEFAULT;
    if (fy_cli_load(&o.cli, &m) != FY_OK)
        goto done;
    if (fy_cli_session(&o.cli, m, o.cli.n_ctx ? o.cli.n_ctx : SWEEP_CTX_DEFAULT, &s) != FY_OK)
        goto done;

    struct sweep_hdr h = {
        .n_kv_max = (int)fy_session_n_ctx(s), .n_batch = (int)o.n_batch,
        .n_ubatch = (int)o.cli.n_ubatch, .flash_attn = 1,
        .n_gpu_layers = o.cli.placement ? (int)o.cli.placement->ngl : 0,
        .n_threads = (unsigned)o.cli.n_threads,
    };
#if FY_HAVE_OPENMP
    if (!h.n_threads)
        h.n_threads = (unsigned)omp_get_max_threads();
#endif
    if (!h.n_threads)
        h.n_threads = 1;
    h.n_threads_batch = o.cli.n_threads_batch ? (unsigned)o.cli.n_threads_batch : h.n_threads;
    int tg = (int)(o.n_gen > 0 ? o.n_gen : (h.n_ubatch / 4 > 0 ? h.n_ubatch / 4 : 1));
    if (h.n_kv_max % h.n_ubatch)
        fy_log(FY_LOG_WARN, "sweep-bench: -c %d is not a multiple of -ub %d: the last row "
               "processes %d tokens", h.n_kv_max, h.n_ubatch, h.n_kv_max % h.n_ubatch);
    int64_t n_normal = m->hp.bos > 0 && m->hp.bos < m->hp.n_vocab ? m->hp.bos : m->hp.n_vocab;
    int max_rows = (h.n_kv_max + h.n_ubatch - 1) / h.n_ubatch;
    if (!(rows = calloc((size_t)max_rows, sizeof(*rows))))
        goto done;

    if (o.jsonl && jsonl_run(&o, &h, m, tg, argc, argv) != FY_OK)
        goto done;
    if (o.jsonl && o.memory)
        reset_rss_hwm();
    if (o.warmup && warm_up(s, &h, n_normal, o.seed) != FY_OK) {
        fy_log(FY_LOG_ERR, "sweep-bench: warm-up failed");
        goto done;
    }
    if (!o.jsonl)
        md_header(&h, o.memory);
    if (sweep(&o, &h, s, n_normal, tg, rows, &n_rows) != FY_OK)
        goto done;
    if (o.plot) {
        char name[256];
        model_name(m, o.cli.model, name, sizeof(name));
        struct fy_outfile *out = plot;
        plot = NULL;
        if (write_plot(out, name, rows, n_rows) != FY_OK) {
            fy_log(FY_LOG_ERR, "sweep-bench: --plot %s: cannot write the chart", o.plot);
            goto done;
        }
    }
    fy_cli_report(&o.cli, s);
    rc = 0;
done:
    fy_outfile_discard(plot);
    fy_session_free(s);
    if (cli_ok)
        fy_cli_free(&o.cli);
    fy_model_free(m);
    free(rows);
    free(o.place_words);
    return rc;
}
