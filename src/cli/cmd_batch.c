/* `ferry batch`: a file of prompts through N sequences decoding together (continuous batching:
 * a finished sequence's slot takes the next prompt), outputs in input order as JSON lines. */
#include "args.h"
#include "cli_common.h"
#include "cli_signal.h"
#include "cmd.h"
#include "fy_config.h"
#include "generate.h"
#include "infile.h"
#include "outfile.h"
#include "placement/placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry batch -m MODEL -f PROMPTS.jsonl [-o OUT.jsonl] [-np N] [-n N] [options]\n\n"
    "Runs every prompt of a file, N sequences decoding together in shared micro-batches (each\n"
    "expert's weights read once per step for all of them); a finished sequence's slot takes the\n"
    "next prompt. One output line per prompt, in input order.\n\n"
    "  -f, --file FILE        prompts, one per line (\"-\": standard input): plain text, or JSON\n"
    "                         {\"prompt\": TEXT} / {\"messages\": [{\"role\", \"content\"}...]} (a\n"
    "                         harmony chat) with optional \"max_tokens\", \"reasoning_effort\", \"id\"\n"
    "  -o, --output FILE      JSON lines out (default \"-\": standard output): index, id, text,\n"
    "                         tokens, prompt_tokens, completion_tokens, finish_reason (stop,\n"
    "                         length, interrupted), prompt_ms, gen_ms; a chat also content and\n"
    "                         reasoning_content\n"
    "  -np, --parallel N      sequences decoding together (default 4); -c is shared: each has\n"
    "                         c/N positions (default: the longest prompt + -n)\n"
    "  -n, --n-predict N      tokens per prompt unless its line says (default 128)\n"
    "  --ignore-eos           do not stop at end-of-generation tokens\n\n"
    "At --temp 0 (the default here) each output is the text `ferry run --temp 0` gives for the\n"
    "prompt alone. Ctrl-C stops: finished outputs and the partial ones are written.\n"
    "exit status: 0 done (also after Ctrl-C), 1 runtime error, 2 usage error\n";

#if FY_HAVE_CJSON
#include "batch_input.h"
#include "cpu/ops.h"
#include "text/harmony.h"

#include <cjson/cJSON.h>

struct job {
    const struct fy_batch_prompt *p;
    int64_t max;              /* tokens to generate */
    int32_t *gen;             /* generated ids */
    int64_t n_gen, cap;
    const char *finish;       /* NULL: not finished */
    double t_join, t_first, t_end;
    int slot;
    struct fy_sampler *smp;   /* NULL: greedy */
};

struct run {
    struct fy_session *s;
    const struct fy_tokenizer *tok;
    struct job *jobs;
    int64_t n_jobs;
    int32_t stop[3];
    bool ignore_eos;
    int64_t n_ctx;            /* per sequence */
    int64_t *in_job;          /* [np]: the job of each input of the step */
    int64_t produced;
    int64_t prompt_tokens;
};

static fy_status push_gen(struct job *j, int32_t id)
{
    if (j->n_gen == j->cap) {
        const int64_t cap = j->cap ? 2 * j->cap : 64;
        int32_t *g = realloc(j->gen, (size_t)cap * sizeof(*g));
        if (!g)
            return FY_E_NOMEM;
        j->gen = g;
        j->cap = cap;
    }
    j->gen[j->n_gen++] = id;
    return FY_OK;
}

/* fy_seq_logits_fn: the next token of input i's job */
static fy_status on_logits(void *ud, int64_t i, const float *logits, int64_t n_vocab)
{
    struct run *r = ud;
    struct job *j = &r->jobs[r->in_job[i]];
    int32_t id;
    if (j->smp) {
        id = fy_sampler_sample(j->smp, logits);
        fy_sampler_accept(j->smp, id);
    } else {
        fy_cpu_argmax(&id, logits, 1, n_vocab); /* what `run --temp 0` takes: ties to the lowest */
    }
    FY_TRY(push_gen(j, id));
    r->produced++;
    if (j->n_gen == 1)
        j->t_first = fy_now();
    const bool eog = !r->ignore_eos && (id == r->stop[0] || id == r->stop[1] || id == r->stop[2]);
    if (eog)
        j->finish = "stop";
    else if (j->n_gen >= j->max ||
             fy_session_seq_n_past(r->s, j->slot) + 1 > r->n_ctx)
        j->finish = "length";
    if (j->finish)
        j->t_end = fy_now();
    return FY_OK;
}

/* the chat's final and analysis text (harmony parse of the completion) */
static void add_chat_fields(cJSON *o, const struct fy_tokenizer *t, const struct job *j)
{
    struct fy_harmony_parser *hp = NULL;
    if (fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &hp) != FY_OK)
        return;
    fy_status st = FY_OK;
    for (int64_t k = 0; k < j->n_gen && st == FY_OK && !fy_harmony_parser_done(hp); k++)
        st = fy_harmony_parser_push(hp, j->gen[k], NULL);
    if (st == FY_OK && !fy_harmony_parser_done(hp))
        st = fy_harmony_parser_finish(hp, NULL);
    int64_t n = 0;
    const struct fy_harmony_msg *m = fy_harmony_parser_messages(hp, &n);
    for (int64_t k = 0; k < n; k++) {
        const char *key = m[k].channel && !strcmp(m[k].channel, "final")      ? "content"
                          : m[k].channel && !strcmp(m[k].channel, "analysis") ? "reasoning_content"
                                                                               : NULL;
        if (key && !cJSON_GetObjectItemCaseSensitive(o, key)) {
            char *s = strndup(m[k].content ? m[k].content : "",
                              m[k].content_len ? m[k].content_len
                                               : strlen(m[k].content ? m[k].content : ""));
            if (s)
                cJSON_AddStringToObject(o, key, s);
            free(s);
        }
    }
    if (st != FY_OK)
        cJSON_AddStringToObject(o, "harmony_error", fy_harmony_parser_error(hp));
    fy_harmony_parser_free(hp);
}

/* one output line */
static fy_status write_job(FILE *f, const struct run *r, int64_t idx)
{
    const struct job *j = &r->jobs[idx];
    cJSON *o = cJSON_CreateObject();
    char *text = NULL, *line = NULL;
    size_t n_text = 0, cap = 0;
    struct fy_detok dt = {0};
    char buf[512];
    fy_status st = o ? FY_OK : FY_E_NOMEM;
    /* the text: every generated id decoded, special tokens as their strings, stops left out */
    for (int64_t k = 0; k <= j->n_gen && st == FY_OK; k++) {
        size_t n;
        if (k == j->n_gen)
            n = fy_detok_flush(&dt, buf, sizeof(buf));
        else if (!strcmp(j->finish ? j->finish : "", "stop") && k == j->n_gen - 1)
            n = 0;
        else
            n = fy_detok_push(&dt, r->tok, j->gen[k], buf, sizeof(buf));
        if (n_text + n + 1 > cap) {
            cap = 2 * (n_text + n + 1) + 256;
            char *x = realloc(text, cap);
            if (!x) {
                st = FY_E_NOMEM;
                break;
            }
            text = x;
        }
        memcpy(text + n_text, buf, n);
        n_text += n;
        text[n_text] = 0;
    }
    if (st == FY_OK) {
        cJSON_AddNumberToObject(o, "index", (double)idx);
        if (j->p->id)
            cJSON_AddItemToObject(o, "id", cJSON_Parse(j->p->id));
        cJSON_AddStringToObject(o, "text", text ? text : "");
        if (j->p->chat)
            add_chat_fields(o, r->tok, j);
        cJSON *ids = cJSON_AddArrayToObject(o, "tokens");
        for (int64_t k = 0; ids && k < j->n_gen; k++)
            cJSON_AddItemToArray(ids, cJSON_CreateNumber(j->gen[k]));
        cJSON_AddNumberToObject(o, "prompt_tokens", (double)j->p->toks.n);
        cJSON_AddNumberToObject(o, "completion_tokens", (double)j->n_gen);
        cJSON_AddStringToObject(o, "finish_reason", j->finish ? j->finish : "interrupted");
        cJSON_AddNumberToObject(o, "prompt_ms", j->n_gen ? (j->t_first - j->t_join) * 1e3 : 0);
        cJSON_AddNumberToObject(o, "gen_ms",
                                j->n_gen > 1 ? (j->t_end - j->t_first) * 1e3 : 0);
        cJSON_AddNumberToObject(o, "seq", j->slot);
        if (!(line = cJSON_PrintUnformatted(o)))
            st = FY_E_NOMEM;
    }
    if (st == FY_OK && (fputs(line, f) == EOF || fputc('\n', f) == EOF))
        st = FY_E_IO;
    cJSON_free(line);
    cJSON_Delete(o);
    free(text);
    return st;
}

static void progress(bool tty, int64_t done, int64_t total, int64_t produced, double t0)
{
    if (!tty)
        return;
    const double dt = fy_now() - t0;
    char bar[31];
    const int fill = total ? (int)(30 * done / total) : 30;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r[%s] %lld/%lld prompts, %lld tokens, %.1f t/s ", bar, (long long)done,
            (long long)total, (long long)produced, dt > 0 ? (double)produced / dt : 0.0);
    fflush(stderr);
}

/* Runs every job through np slots; writes the outputs in order as they are ready. */
static fy_status run_jobs(struct run *r, int np, struct fy_outfile *out, bool *interrupted)
{
    struct fy_seq_input *in = calloc((size_t)np, sizeof(*in));
    int64_t *slot_job = malloc((size_t)np * sizeof(*slot_job));
    r->in_job = malloc((size_t)np * sizeof(*r->in_job));
    fy_status st = in && slot_job && r->in_job ? FY_OK : FY_E_NOMEM;
    int64_t next = 0, written = 0, done = 0;
    const bool tty = isatty(2);
    const double t0 = fy_now();
    for (int i = 0; i < np && slot_job; i++)
        slot_job[i] = -1;
    while (st == FY_OK && done < r->n_jobs) {
        if (fy_sigint_take()) {
            *interrupted = true;
            break;
        }
        int64_t n_in = 0;
        for (int i = 0; i < np; i++) {
            if (slot_job[i] < 0 && next < r->n_jobs) { /* a new prompt takes the slot */
                struct job *j = &r->jobs[next];
                slot_job[i] = next++;
                j->slot = i;
                j->t_join = fy_now();
                fy_session_seq_reset(r->s, i);
                in[n_in] = (struct fy_seq_input){i, j->p->toks.ids, j->p->toks.n};
                r->prompt_tokens += j->p->toks.n;
            } else if (slot_job[i] >= 0) {
                struct job *j = &r->jobs[slot_job[i]];
                in[n_in] = (struct fy_seq_input){i, &j->gen[j->n_gen - 1], 1};
            } else {
                continue;
            }
            r->in_job[n_in++] = slot_job[i];
        }
        st = fy_session_eval_seqs(r->s, in, n_in, on_logits, r);
        for (int i = 0; i < np && st == FY_OK; i++) {
            if (slot_job[i] >= 0 && r->jobs[slot_job[i]].finish) {
                slot_job[i] = -1;
                done++;
            }
        }
        while (st == FY_OK && written < r->n_jobs && r->jobs[written].finish)
            st = write_job(fy_outfile_fp(out), r, written++);
        progress(tty, done, r->n_jobs, r->produced, t0);
    }
    if (tty)
        fputc('\n', stderr);
    /* what was not finished (Ctrl-C, an error): partial outputs, in order */
    for (; written < r->n_jobs && written < next; written++) {
        const fy_status w = write_job(fy_outfile_fp(out), r, written);
        st = st == FY_OK ? w : st;
    }
    free(in);
    free(slot_job);
    free(r->in_job);
    r->in_job = NULL;
    return st;
}

int fy_cmd_batch(int argc, char **argv)
{
    struct fy_cli o;
    struct fy_sampler_params sp = fy_sampler_params_default();
    bool temp_set = false, ignore_eos = false, interrupted = false;
    const char *in_path = NULL, *out_path = "-";
    int64_t np = 4, n_pred = 128;
    char *text = NULL;
    size_t len = 0;
    struct fy_model *m = NULL;
    struct fy_tokenizer *tok = NULL;
    struct fy_batch_input input = {0};
    struct fy_outfile *out = NULL;
    struct run r = {0};
    int rc = 2;

    if (fy_cli_init(&o) != FY_OK)
        return 1;
    for (int i = 1; i < argc; i++) {
        int k = fy_cli_parse_gen(&o, &sp, &temp_set, argc, argv, &i);
        if (k < 0)
            goto done;
        if (k > 0)
            continue;
        const char *a = argv[i], *v;
        if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(in_path = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out_path = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_arg_int(a, v, 1, 256, &np) != FY_OK)
                goto done;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict") || !strcmp(a, "--predict")) {
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(a, v, 1, INT32_MAX, &n_pred) != FY_OK)
                goto done;
        } else if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = true;
        } else {
            rc = fy_arg_help_or_unknown("batch", a, usage_text, fy_cli_help_sampling,
                                        fy_cli_help_common, fy_place_help);
            goto done;
        }
    }
    if (!o.model || !in_path) {
        fy_log(FY_LOG_ERR, "batch: -m MODEL and -f PROMPTS are required (see ferry batch -h)");
        goto done;
    }
    if (!temp_set)
        sp.temp = 0; /* reproducible by default: greedy */
    rc = 1;
    if (!(text = fy_arg_read_file("-f", in_path, FY_LIMIT_PROMPT_FILE, &len)) ||
        fy_cli_load(&o, &m) != FY_OK || fy_tokenizer_load(m->gguf, &tok) != FY_OK ||
        fy_batch_input_read(tok, in_path, text, len, &input) != FY_OK)
        goto done;
    /* each sequence's context: -c shared by the N, else the longest prompt + its tokens */
    int64_t need = 1;
    for (int64_t i = 0; i < input.n; i++) {
        const int64_t mx = input.p[i].max_tokens > 0 ? input.p[i].max_tokens : n_pred;
        need = input.p[i].toks.n + mx > need ? input.p[i].toks.n + mx : need;
    }
    need = need < m->hp.n_ctx_train ? need : m->hp.n_ctx_train;
    if (o.n_ctx) {
        if (o.n_ctx / np < 2) {
            fy_log(FY_LOG_ERR, "batch: -c %lld leaves fewer than 2 positions to each of -np %lld "
                   "sequences", (long long)o.n_ctx, (long long)np);
            goto done;
        }
        o.n_ctx /= np;
    }
    o.n_seq = (int32_t)np;
    if (fy_cli_session(&o, m, need, &r.s) != FY_OK)
        goto done;
    r.n_ctx = fy_session_n_ctx(r.s);
    r.tok = tok;
    r.ignore_eos = ignore_eos;
    r.n_jobs = input.n;
    fy_gen_stop_ids(tok, m->hp.n_vocab, r.stop);
    if (!(r.jobs = calloc((size_t)input.n, sizeof(*r.jobs))))
        goto done;
    for (int64_t i = 0; i < input.n; i++) {
        struct job *j = &r.jobs[i];
        j->p = &input.p[i];
        j->max = input.p[i].max_tokens > 0 ? input.p[i].max_tokens : n_pred;
        if (j->p->toks.n >= r.n_ctx) {
            fy_log(FY_LOG_ERR, "%s:%lld: the prompt is %lld tokens; each sequence holds %lld "
                   "(-c / -np)", in_path, (long long)j->p->line, (long long)j->p->toks.n,
                   (long long)r.n_ctx);
            goto done;
        }
        if (sp.temp > 0) { /* a stream per prompt: seed + index */
            struct fy_sampler_params q = sp;
            if (q.seed != FY_SAMPLER_SEED_RANDOM)
                q.seed += (uint64_t)i;
            if (fy_sampler_new(&q, m->hp.n_vocab, &j->smp) != FY_OK)
                goto done;
        }
    }
    if (fy_outfile_open("-o", out_path, &out) != FY_OK)
        goto done;
    fy_sigint_install();
    const double t0 = fy_now();
    fy_status st = run_jobs(&r, (int)np, out, &interrupted);
    const double dt = fy_now() - t0;
    const fy_status cs = fy_outfile_commit(out);
    out = NULL;
    if (st != FY_OK || cs != FY_OK)
        goto done;
    if (interrupted)
        fy_log(FY_LOG_INFO, "interrupted: the finished outputs and the partial ones are written");
    fy_cli_report(&o, r.s);
    fy_log(FY_LOG_INFO, "%lld prompts (%lld tokens) with %lld sequences together: %lld tokens "
           "generated in %.2f s (%.2f t/s in all)", (long long)input.n,
           (long long)r.prompt_tokens, (long long)np, (long long)r.produced, dt,
           dt > 0 ? (double)r.produced / dt : 0.0);
    rc = 0;
done:
    fy_outfile_discard(out);
    for (int64_t i = 0; r.jobs && i < r.n_jobs; i++) {
        free(r.jobs[i].gen);
        fy_sampler_free(r.jobs[i].smp);
    }
    free(r.jobs);
    fy_session_free(r.s);
    fy_batch_input_free(&input);
    fy_tokenizer_free(tok);
    fy_cli_free(&o);
    fy_model_free(m);
    free(text);
    return rc;
}
#else
int fy_cmd_batch(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
    }
    fy_log(FY_LOG_ERR, "batch: this ferry was built without cJSON (Debian: libcjson-dev); "
           "install it and rebuild");
    return 1;
}
#endif
