/* `ferry logits` (all rows of logits to a file) and `ferry run` (greedy token ids). */
#include "cli_args.h"
#include "cmd.h"
#include "fy_config.h"
#include "graph/session.h"
#include "model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif

struct common_opts {
    const char *model;
    int32_t *tokens;
    int64_t n_tokens;
    int64_t n_ctx;       /* 0: fit the job */
    int64_t n_ubatch;
    int64_t n_threads;   /* 0: OpenMP default */
    enum fy_dtype kv_type;
    bool yarn_unrounded;
};

static const char *const common_help =
    "  -m, --model FILE       gpt-oss GGUF (first shard of a split model)\n"
    "  --tokens IDS           comma-separated token ids, e.g. 1,2,3\n"
    "  --tokens-file FILE     token ids from a file (comma or whitespace separated)\n"
    "  -c, --ctx-size N       KV cache size in tokens (default: what the job needs)\n"
    "  -ub, --ubatch-size N   tokens per micro-batch (default 512)\n"
    "  -b, --batch-size N     accepted for llama.cpp compatibility; micro-batches rule\n"
    "  -t, --threads N        CPU threads (default: all cores)\n"
    "  --kv-type f16|f32      KV cache type (default f16)\n"
    "  -h, --help             this help\n";

/* Parses one common flag at argv[*i]. Returns 1 if consumed, 0 if not ours, -1 on error. */
static int parse_common(struct common_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    int64_t x;
#define VALUE() do { if (!(v = fy_arg_value(argc, argv, i))) return -1; } while (0)
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        VALUE();
        o->model = v;
    } else if (!strcmp(a, "--tokens") || !strcmp(a, "--tokens-file")) {
        VALUE();
        free(o->tokens);
        o->tokens = NULL;
        fy_status st = !strcmp(a, "--tokens") ? fy_arg_tokens(a, v, &o->tokens, &o->n_tokens)
                                              : fy_arg_tokens_file(a, v, &o->tokens, &o->n_tokens);
        if (st != FY_OK)
            return -1;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
        VALUE();
        if (fy_arg_int(a, v, 1, INT32_MAX, &o->n_ctx) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-ub") || !strcmp(a, "--ubatch-size")) {
        VALUE();
        if (fy_arg_int(a, v, 1, 1 << 16, &o->n_ubatch) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
        VALUE();
        if (fy_arg_int(a, v, 1, INT32_MAX, &x) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        VALUE();
        if (fy_arg_int(a, v, 1, 4096, &o->n_threads) != FY_OK)
            return -1;
    } else if (!strcmp(a, "--kv-type")) {
        VALUE();
        if (!strcmp(v, "f16"))
            o->kv_type = FY_F16;
        else if (!strcmp(v, "f32"))
            o->kv_type = FY_F32;
        else {
            fy_log(FY_LOG_ERR, "flag --kv-type: \"%s\" is not one of f16, f32", v);
            return -1;
        }
    } else if (!strcmp(a, "--yarn-unrounded")) {
        o->yarn_unrounded = true; /* test-only: OpenAI/HF YaRN correction range */
    } else {
        return 0;
    }
#undef VALUE
    return 1;
}

static int check_common(const struct common_opts *o, const char *cmd)
{
    if (!o->model) {
        fy_log(FY_LOG_ERR, "%s: -m MODEL is required (see ferry %s -h)", cmd, cmd);
        return 0;
    }
    if (!o->tokens) {
        fy_log(FY_LOG_ERR, "%s: --tokens or --tokens-file is required", cmd);
        return 0;
    }
    return 1;
}

static fy_status open_session(const struct common_opts *o, int64_t need_ctx,
                              struct fy_model **m_out, struct fy_session **s_out)
{
#if FY_HAVE_OPENMP
    if (o->n_threads > 0)
        omp_set_num_threads((int)o->n_threads);
#endif
    FY_TRY(fy_model_load(o->model, m_out));
    struct fy_model *m = *m_out;
    m->hp.rope.unrounded = o->yarn_unrounded;
    struct fy_session_opts so;
    fy_session_opts_default(&so);
    so.n_ctx = o->n_ctx ? o->n_ctx : need_ctx;
    if (so.n_ctx > m->hp.n_ctx_train)
        fy_log(FY_LOG_WARN, "context %lld exceeds the model's training context %lld",
               (long long)so.n_ctx, (long long)m->hp.n_ctx_train);
    if (o->n_ubatch)
        so.n_ubatch = o->n_ubatch;
    so.kv_type = o->kv_type;
    return fy_session_new(m, &so, s_out);
}

/* ---- logits ---- */

struct logits_out {
    FILE *f;
    const char *path;
    int64_t done, total;
    bool tty;
};

static fy_status write_rows(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                            int64_t n_vocab)
{
    struct logits_out *w = ud;
    (void)row0;
    size_t n = (size_t)n_rows * (size_t)n_vocab;
    if (fwrite(logits, sizeof(float), n, w->f) != n) {
        fy_log(FY_LOG_ERR, "%s: write failed: %s", w->path, strerror(errno));
        return FY_E_IO;
    }
    w->done += n_rows;
    if (w->tty)
        fprintf(stderr, "\rferry: logits %lld/%lld tokens", (long long)w->done,
                (long long)w->total);
    return FY_OK;
}

int fy_cmd_logits(int argc, char **argv)
{
    struct common_opts o = {.kv_type = FY_F16};
    const char *out_path = NULL;
    struct fy_model *m = NULL;
    struct fy_session *s = NULL;
    char *tmp = NULL;
    struct logits_out w = {0};
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        int r = parse_common(&o, argc, argv, &i);
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (!(out_path = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ferry logits -m MODEL (--tokens IDS | --tokens-file F) -o FILE "
                   "[options]\n\nEvaluates the tokens as one sequence and writes n_tokens x "
                   "n_vocab float32 (little-endian)\nlogits to FILE; row i = logits after token "
                   "i.\n\n  -o, --output FILE      output file\n%s", common_help);
            rc = 0;
            goto done;
        } else {
            fy_log(FY_LOG_ERR, "logits: unknown flag %s (see ferry logits -h)", argv[i]);
            rc = 2;
            goto done;
        }
    }
    if (!check_common(&o, "logits"))
        goto done;
    if (!out_path) {
        fy_log(FY_LOG_ERR, "logits: -o FILE is required");
        goto done;
    }
    if (open_session(&o, o.n_tokens, &m, &s) != FY_OK)
        goto done;
    size_t len = strlen(out_path) + 8;
    tmp = malloc(len);
    if (!tmp)
        goto done;
    snprintf(tmp, len, "%s.part", out_path);
    w = (struct logits_out){.f = fopen(tmp, "wb"), .path = tmp, .total = o.n_tokens,
                            .tty = isatty(2)};
    if (!w.f) {
        fy_log(FY_LOG_ERR, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    fy_status st = fy_session_eval(s, o.tokens, o.n_tokens, true, write_rows, &w);
    if (w.tty)
        fputc('\n', stderr);
    if (fclose(w.f) != 0 && st == FY_OK) {
        fy_log(FY_LOG_ERR, "%s: %s", tmp, strerror(errno));
        st = FY_E_IO;
    }
    w.f = NULL;
    if (st == FY_OK && rename(tmp, out_path) != 0) {
        fy_log(FY_LOG_ERR, "cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
        st = FY_E_IO;
    }
    if (st != FY_OK)
        remove(tmp);
    else
        rc = 0;
done:
    fy_session_free(s);
    fy_model_free(m);
    free(o.tokens);
    free(tmp);
    return rc;
}

/* ---- run: greedy generation of token ids ---- */

struct argmax {
    int32_t id;
};

static fy_status take_argmax(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                             int64_t n_vocab)
{
    struct argmax *a = ud;
    const float *row = logits + (n_rows - 1) * n_vocab;
    int64_t best = 0;
    (void)row0;
    for (int64_t i = 1; i < n_vocab; i++)
        if (row[i] > row[best])
            best = i;
    a->id = (int32_t)best;
    return FY_OK;
}

static bool is_eog(const struct fy_model *m, int32_t id)
{
    /* gpt-oss stops on <|endoftext|>, <|return|>, <|call|> (tokenizer.md section 6) */
    static const int32_t eog[] = {199999, 200002, 200012};
    if (m->hp.n_vocab != 201088)
        return false;
    for (size_t i = 0; i < FY_ARRAY_LEN(eog); i++)
        if (id == eog[i])
            return true;
    return false;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int fy_cmd_run(int argc, char **argv)
{
    struct common_opts o = {.kv_type = FY_F16};
    int64_t n_gen = 16;
    bool ignore_eos = false;
    struct fy_model *m = NULL;
    struct fy_session *s = NULL;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        int r = parse_common(&o, argc, argv, &i);
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        const char *v;
        if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--n-predict")) {
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(argv[i - 1], v, 0, INT32_MAX, &n_gen) != FY_OK)
                goto done;
        } else if (!strcmp(argv[i], "--ignore-eos")) {
            ignore_eos = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ferry run -m MODEL (--tokens IDS | --tokens-file F) [-n N] "
                   "[options]\n\nGreedily generates N token ids after the prompt and prints "
                   "them, comma-separated.\n\n  -n, --n-predict N      tokens to generate "
                   "(default 16)\n  --ignore-eos           do not stop at end-of-generation "
                   "tokens\n%s", common_help);
            rc = 0;
            goto done;
        } else {
            fy_log(FY_LOG_ERR, "run: unknown flag %s (see ferry run -h)", argv[i]);
            rc = 2;
            goto done;
        }
    }
    if (!check_common(&o, "run"))
        goto done;
    if (open_session(&o, o.n_tokens + n_gen, &m, &s) != FY_OK)
        goto done;

    struct argmax a = {0};
    double t0 = now_s();
    fy_status st = fy_session_eval(s, o.tokens, o.n_tokens, false, take_argmax, &a);
    double t1 = now_s(), t2 = t1;
    int64_t produced = 0;
    while (st == FY_OK && produced < n_gen) {
        int32_t id = a.id;
        printf("%s%d", produced ? "," : "", id);
        fflush(stdout);
        produced++;
        if (!ignore_eos && is_eog(m, id))
            break;
        if (produced == n_gen)
            break;
        st = fy_session_eval(s, &id, 1, false, take_argmax, &a);
        t2 = now_s();
    }
    printf("\n");
    if (st != FY_OK)
        goto done;
    fy_log(FY_LOG_INFO, "prompt: %lld tokens in %.3f s (%.2f t/s); generation: %lld tokens in "
           "%.3f s (%.2f t/s)", (long long)o.n_tokens, t1 - t0,
           (double)o.n_tokens / (t1 - t0 > 0 ? t1 - t0 : 1e-9), (long long)produced, t2 - t1,
           produced > 1 ? (double)(produced - 1) / (t2 - t1 > 0 ? t2 - t1 : 1e-9) : 0.0);
    rc = 0;
done:
    fy_session_free(s);
    fy_model_free(m);
    free(o.tokens);
    return rc;
}
