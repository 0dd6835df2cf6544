/* `ferry batched-bench`: llama-batched-bench's table for B sequences decoding together.
 *
 * For each PP in -npp, TG in -ntg and B in -npl: a session of B sequences of PP + TG positions;
 * the B prompts of PP random tokens in one fy_session_eval_seqs call (their tokens share
 * micro-batches: T_PP), then TG steps of one random token per sequence (T_TG). Besides
 * llama-batched-bench's columns: decode t/s per sequence, and the weight bytes read per
 * generated token (the dense weights once per step, each distinct expert the step's tokens
 * selected once: measured by the CPU MoE layers), which fall as B grows. */
#include "args.h"
#include "benchinfo.h"
#include "cli_common.h"
#include "cmd.h"
#include "cpu/qdot.h"
#include "generate.h"
#include "gguf/gguf.h"
#include "graph/device.h"
#include "placement/placement.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry batched-bench -m MODEL [-npp 128] [-ntg 32] [-npl 1,2,4,8,16,32,64] [-r N]\n"
    "                           [-o md|jsonl] [placement and session flags]\n\n"
    "llama-batched-bench: B sequences each process PP prompt tokens (T_PP, their tokens sharing\n"
    "micro-batches) and then generate TG tokens together (T_TG: one micro-batch of B tokens per\n"
    "step). S_TG is the aggregate decode t/s, S_TG/seq each sequence's; W/tok the weight bytes\n"
    "read per generated token (dense weights once per step, each distinct expert once).\n\n"
    "  -npp LIST              prompt tokens per sequence (default 128)\n"
    "  -ntg LIST              generated tokens per sequence (default 32)\n"
    "  -npl LIST              sequences decoding together (default 1,2,4,8,16,32,64)\n"
    "  -r, --repetitions N    runs of each row; times are medians (default 1)\n"
    "  -s, --seed N           seed of the random tokens (default 1234)\n"
    "  -o, --output md|jsonl  a markdown table (default) or JSON lines, the first describing\n"
    "                         the run\n\n"
    "exit status: 0 done, 1 runtime error, 2 usage error\n";

#define LIST_MAX 32

struct bb_opts {
    struct fy_cli cli;
    int64_t npp[LIST_MAX], ntg[LIST_MAX], npl[LIST_MAX];
    int n_npp, n_ntg, n_npl;
    int64_t reps;
    uint64_t seed;
    bool jsonl;
};

struct bb_row {
    int64_t pp, tg, b;
    double t_pp, t_tg;
    double w_tok;           /* weight bytes read per generated token */
    double experts;         /* distinct experts per CPU MoE layer per decode step */
};

/* "1,2,4" into v (at most LIST_MAX values in [1, max]) */
static int parse_list(const char *flag, const char *s, int64_t max, int64_t *v, int *n)
{
    char buf[256];
    *n = 0;
    if (strlen(s) >= sizeof(buf)) {
        fy_log(FY_LOG_ERR, "flag %s: the list is too long", flag);
        return -1;
    }
    strcpy(buf, s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == LIST_MAX || fy_arg_int(flag, t, 1, max, &v[*n]) != FY_OK) {
            if (*n == LIST_MAX)
                fy_log(FY_LOG_ERR, "flag %s: at most %d values", flag, LIST_MAX);
            return -1;
        }
        (*n)++;
    }
    if (*n == 0) {
        fy_log(FY_LOG_ERR, "flag %s: \"%s\" has no values", flag, s);
        return -1;
    }
    return 1;
}

/* -1 error (logged), 0 not ours, 1 consumed */
static int parse_own(struct bb_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    const bool list = !strcmp(a, "-npp") || !strcmp(a, "-ntg") || !strcmp(a, "-npl");
    if (!list && strcmp(a, "-r") && strcmp(a, "--repetitions") && strcmp(a, "-s") &&
        strcmp(a, "--seed") && strcmp(a, "-o") && strcmp(a, "--output"))
        return 0;
    if (!(v = fy_arg_value(argc, argv, i)))
        return -1;
    if (!strcmp(a, "-npp"))
        return parse_list(a, v, 1 << 20, o->npp, &o->n_npp);
    if (!strcmp(a, "-ntg"))
        return parse_list(a, v, 1 << 20, o->ntg, &o->n_ntg);
    if (!strcmp(a, "-npl"))
        return parse_list(a, v, FY_SEQ_MAX, o->npl, &o->n_npl);
    if (!strcmp(a, "-r") || !strcmp(a, "--repetitions"))
        return fy_arg_int(a, v, 1, 1000, &o->reps) == FY_OK ? 1 : -1;
    if (!strcmp(a, "-s") || !strcmp(a, "--seed"))
        return fy_arg_u64(a, v, &o->seed) == FY_OK ? 1 : -1;
    if (!strcmp(v, "md") || !strcmp(v, "jsonl")) {
        o->jsonl = v[0] == 'j';
        return 1;
    }
    fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not one of md, jsonl", a, v);
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The weight bytes one token reads besides its experts (fy_model_bytes_per_token less the k
 * experts of each layer). */
static uint64_t dense_bytes(const struct fy_model *m)
{
    uint64_t exp_k = 0;
    const int64_t n_exp = m->hp.n_expert > 0 ? m->hp.n_expert : 1;
    for (int64_t i = 0; i < fy_gguf_n_tensors(m->gguf); i++) {
        const struct fy_gguf_tensor *t = fy_gguf_tensor_at(m->gguf, i);
        if (strstr(t->name, "_exps."))
            exp_k += t->size / (uint64_t)n_exp * (uint64_t)m->hp.n_expert_used;
    }
    return fy_model_bytes_per_token(m) - exp_k;
}

static fy_status ignore_logits(void *ud, int64_t i, const float *l, int64_t n)
{
    (void)ud, (void)i, (void)l, (void)n;
    return FY_OK;
}

/* One row: B sequences, PP prompt tokens each, then TG steps; medians over the repetitions. */
static fy_status run_row(struct bb_opts *o, const struct fy_model *m, struct bb_row *r)
{
    struct fy_session *s = NULL;
    const int64_t b = r->b, n_normal = m->hp.n_vocab < 199998 ? m->hp.n_vocab : 199998;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(b * (r->pp + r->tg)));
    struct fy_seq_input *in = malloc(sizeof(*in) * (size_t)b);
    double t_pp[1000], t_tg[1000], w[1000], ex[1000];
    fy_status st = tok && in ? FY_OK : FY_E_NOMEM;
    o->cli.n_seq = (int32_t)b;
    o->cli.n_ctx = r->pp + r->tg;
    if (st == FY_OK)
        st = fy_cli_session(&o->cli, m, r->pp + r->tg, &s);
    uint64_t seed = o->seed;
    if (st == FY_OK)
        fy_gen_random_tokens(&seed, tok, b * (r->pp + r->tg), n_normal);
    const uint64_t dense = dense_bytes(m);
    for (int64_t rep = -1; st == FY_OK && rep < o->reps; rep++) { /* rep -1: warm-up */
        for (int64_t q = 0; q < b; q++) {
            fy_session_seq_reset(s, (int32_t)q);
            in[q] = (struct fy_seq_input){(int32_t)q, tok + q * (r->pp + r->tg), r->pp};
        }
        const double t0 = fy_now();
        st = fy_session_eval_seqs(s, in, b, ignore_logits, NULL);
        const double t1 = fy_now();
        const struct fy_moe_reads r0 = *fy_session_moe_reads(s);
        for (int64_t g = 0; st == FY_OK && g < r->tg; g++) {
            for (int64_t q = 0; q < b; q++)
                in[q] = (struct fy_seq_input){(int32_t)q, tok + q * (r->pp + r->tg) + r->pp + g, 1};
            st = fy_session_eval_seqs(s, in, b, ignore_logits, NULL);
        }
        const double t2 = fy_now();
        const struct fy_moe_reads *r1 = fy_session_moe_reads(s);
        if (rep < 0)
            continue;
        t_pp[rep] = t1 - t0;
        t_tg[rep] = t2 - t1;
        const int64_t layers = r1->layers - r0.layers;
        w[rep] = ((double)dense * (double)r->tg + (double)(r1->bytes - r0.bytes)) /
                 (double)(b * r->tg);
        ex[rep] = layers ? (double)(r1->experts - r0.experts) / (double)layers : 0;
    }
    if (st == FY_OK) {
        qsort(t_pp, (size_t)o->reps, sizeof(double), cmp_double);
        qsort(t_tg, (size_t)o->reps, sizeof(double), cmp_double);
        r->t_pp = t_pp[o->reps / 2];
        r->t_tg = t_tg[o->reps / 2];
        r->w_tok = w[0];
        r->experts = ex[0];
    }
    fy_session_free(s);
    /* the next row makes its own placement and device */
    fy_placement_free(o->cli.placement);
    o->cli.placement = NULL;
    fy_device_free(o->cli.gpu);
    o->cli.gpu = NULL;
    free(tok);
    free(in);
    return st;
}

static void md_header(const struct bb_opts *o)
{
    int64_t ub = o->cli.n_ubatch ? o->cli.n_ubatch : 512;
    printf("main: n_ubatch = %lld, n_threads = %lld, n_threads_batch = %lld, cpu_kernels = %s, "
           "kv = %s\n\n", (long long)ub, (long long)o->cli.n_threads,
           (long long)(o->cli.n_threads_batch ? o->cli.n_threads_batch : o->cli.n_threads),
           fy_cpu_set()->name, fy_kv_type_name(o->cli.kv_type));
    printf("|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s | "
           "S_TG/seq |      T s |    S t/s |  W/tok MiB | exp/layer |\n");
    printf("|-------|--------|------|--------|----------|----------|----------|----------|"
           "----------|----------|----------|------------|-----------|\n");
    fflush(stdout);
}

static void md_row(const struct bb_row *r)
{
    const double ntg = (double)(r->b * r->tg), npp = (double)(r->b * r->pp);
    printf("|%6lld | %6lld | %4lld | %6lld | %8.3f | %8.2f | %8.3f | %8.2f | %8.2f | %8.3f | "
           "%8.2f | %10.2f | %9.2f |\n", (long long)r->pp, (long long)r->tg, (long long)r->b,
           (long long)(r->b * (r->pp + r->tg)), r->t_pp, npp / r->t_pp, r->t_tg, ntg / r->t_tg,
           ntg / r->t_tg / (double)r->b, r->t_pp + r->t_tg, (npp + ntg) / (r->t_pp + r->t_tg),
           r->w_tok / (1024.0 * 1024.0), r->experts);
    fflush(stdout);
}

static void jsonl_row(const struct bb_opts *o, const struct bb_row *r)
{
    const double ntg = (double)(r->b * r->tg), npp = (double)(r->b * r->pp);
    printf("{\"pp\": %lld, \"tg\": %lld, \"pl\": %lld, \"n_kv\": %lld, \"t_pp\": %f, "
           "\"speed_pp\": %f, \"t_tg\": %f, \"speed_tg\": %f, \"speed_tg_per_seq\": %f, "
           "\"t\": %f, \"speed\": %f, \"weight_bytes_per_token\": %.0f, "
           "\"experts_per_layer_step\": %f, \"reps\": %lld}\n", (long long)r->pp,
           (long long)r->tg, (long long)r->b, (long long)(r->b * (r->pp + r->tg)), r->t_pp,
           npp / r->t_pp, r->t_tg, ntg / r->t_tg, ntg / r->t_tg / (double)r->b,
           r->t_pp + r->t_tg, (npp + ntg) / (r->t_pp + r->t_tg), r->w_tok, r->experts,
           (long long)o->reps);
    fflush(stdout);
}

static fy_status jsonl_header(const struct bb_opts *o, const struct fy_model *m)
{
    struct fy_machine_info mi;
    struct fy_build_info bi;
    FY_TRY(fy_machine_info_get(&mi, true));
    fy_build_info_get(&bi);
    printf("{\"bench\": \"batched-bench\", \"model\": ");
    fy_json_str(stdout, o->cli.model);
    printf(", \"n_expert\": %lld, \"n_expert_used\": %lld, \"bytes_per_token\": %" PRIu64
           ", \"dense_bytes\": %" PRIu64 ", \"n_ubatch\": %lld, \"n_threads\": %lld, "
           "\"cpu_kernels\": ", (long long)m->hp.n_expert, (long long)m->hp.n_expert_used,
           fy_model_bytes_per_token(m), dense_bytes(m),
           (long long)(o->cli.n_ubatch ? o->cli.n_ubatch : 512), (long long)o->cli.n_threads);
    fy_json_str(stdout, bi.cpu_kernels);
    printf(", \"git\": ");
    fy_json_str(stdout, bi.git);
    printf(", \"cpu\": ");
    fy_json_str(stdout, mi.cpu);
    printf(", \"cores\": %d, \"numa_nodes\": %d, \"mem_bw_gbps\": %f, \"numa\": ", mi.cores,
           mi.numa_nodes, mi.mem_bw_gbps);
    FY_TRY(fy_cli_numa_json(stdout, &o->cli, m, false));
    printf("}\n");
    fflush(stdout);
    return ferror(stdout) ? FY_E_IO : FY_OK;
}

int fy_cmd_batched_bench(int argc, char **argv)
{
    struct bb_opts o = {.npp = {128}, .ntg = {32}, .npl = {1, 2, 4, 8, 16, 32, 64},
                        .n_npp = 1, .n_ntg = 1, .n_npl = 7, .reps = 1, .seed = 1234};
    struct fy_model *m = NULL;
    int rc = 2;
    if (fy_cli_init(&o.cli) != FY_OK)
        return 1;
    for (int i = 1; i < argc; i++) {
        int r = parse_own(&o, argc, argv, &i);
        if (r == 0) {
            r = fy_place_parse_flag(o.cli.rules, argc, argv, &i);
            o.cli.placement_given |= r > 0;
        }
        if (r == 0)
            r = fy_cli_parse_common(&o.cli, argc, argv, &i);
        if (r < 0)
            goto done;
        if (r == 0) {
            rc = fy_arg_help_or_unknown("batched-bench", argv[i], usage_text,
                                        fy_cli_help_common, fy_place_help, NULL);
            goto done;
        }
    }
    if (!o.cli.model) {
        fy_log(FY_LOG_ERR, "batched-bench: -m MODEL is required (see ferry batched-bench -h)");
        goto done;
    }
    if (o.cli.n_ctx)
        fy_log(FY_LOG_WARN, "batched-bench: -c is not used (each sequence holds PP + TG)");
    rc = 1;
    if (fy_cli_load(&o.cli, &m) != FY_OK)
        goto done;
    if (o.jsonl ? jsonl_header(&o, m) != FY_OK : (md_header(&o), false))
        goto done;
    for (int a = 0; a < o.n_npp; a++) {
        for (int c = 0; c < o.n_ntg; c++) {
            for (int k = 0; k < o.n_npl; k++) {
                struct bb_row r = {.pp = o.npp[a], .tg = o.ntg[c], .b = o.npl[k]};
                if (run_row(&o, m, &r) != FY_OK)
                    goto done;
                if (o.jsonl)
                    jsonl_row(&o, &r);
                else
                    md_row(&r);
            }
        }
    }
    rc = ferror(stdout) ? 1 : 0;
done:
    fy_cli_free(&o.cli);
    fy_model_free(m);
    return rc;
}
