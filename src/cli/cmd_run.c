/* `ferry run`: complete raw text (-p/-f, streamed) or token ids (--tokens), with sampling. */
#include "args.h"
#include "infile.h"
#include "cli_common.h"
#include "placement/placement.h"
#include "cli_signal.h"
#include "cmd.h"
#include "generate.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry run -m MODEL (-p TEXT | -f FILE | --tokens IDS) [-n N] [options]\n\n"
    "Completes raw text and streams it (or, with --tokens, prints generated token ids).\n"
    "Without --temp, --tokens runs greedy; text uses the sampler defaults.\n\n"
    "  -p, --prompt TEXT      prompt text\n"
    "  -f, --file FILE        prompt text from a file (\"-\": standard input; at most 64 MiB)\n"
    "  -n, --n-predict N      tokens to generate (default 128; 16 with --tokens); --predict\n"
    "                         too. At the end of the context (-c) generation stops (exit 0)\n"
    "  --context-shift        at the end of the context keep going: keep the first --keep\n"
    "                         tokens and the newer half of the rest, and evaluate them again\n"
    "  --keep N               tokens of the prompt a context shift keeps (default 0; -1: all)\n"
    "  -r, --reverse-prompt T stop when the output ends with T (text mode)\n"
    "  -cnv, -i, -st          conversation: ferry chat with these flags (-p/-f: the first\n"
    "                         message; -st/--single-turn: answer it and exit); -no-cnv: raw\n"
    "                         completion (the default)\n"
    "  --special              parse special-token strings (<|start|>...) in the prompt\n"
    "  --ids                  print generated token ids instead of text\n"
    "  --no-display-prompt    do not echo the prompt text\n"
    "  --ignore-eos           do not stop at end-of-generation tokens\n\n"
    "exit status: 0 done (also at the end of the context, or on Ctrl-C), 1 runtime error,\n"
    "2 usage error\n";

/* -cnv, -i, -st and their long forms: the run is a conversation (ferry chat) */
static bool wants_chat(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-cnv") || !strcmp(a, "--conversation") || !strcmp(a, "-i") ||
            !strcmp(a, "--interactive") || !strcmp(a, "-if") || !strcmp(a, "--interactive-first") ||
            !strcmp(a, "-st") || !strcmp(a, "--single-turn"))
            return true;
        if (!strcmp(a, "-no-cnv") || !strcmp(a, "--no-conversation"))
            return false;
    }
    return false;
}

/* the last bytes of the output, for --reverse-prompt */
struct tail {
    char b[256];
    size_t n;
};

static bool tail_push_ends(struct tail *t, const char *s, size_t n, const char *rp)
{
    for (size_t i = 0; i < n; i++) {
        if (t->n == sizeof(t->b)) {
            memmove(t->b, t->b + sizeof(t->b) / 2, sizeof(t->b) / 2);
            t->n = sizeof(t->b) / 2;
        }
        t->b[t->n++] = s[i];
    }
    const size_t k = rp ? strlen(rp) : 0;
    if (!k || k > t->n)
        return false;
    /* anywhere in the newest output: a token may carry the reverse prompt and more */
    for (size_t at = t->n >= k + n ? t->n - k - n : 0; at + k <= t->n; at++)
        if (!memcmp(t->b + at, rp, k))
            return true;
    return false;
}

/* run -cnv/-i/-st ...: ferry chat with the same flags, less the conversation switches */
static int chat_from_run(int argc, char **argv)
{
    char **av = malloc((size_t)(argc + 2) * sizeof(*av));
    int n = 0;
    if (!av)
        return 1;
    av[n++] = "chat";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-cnv") || !strcmp(a, "--conversation") || !strcmp(a, "-i") ||
            !strcmp(a, "--interactive") || !strcmp(a, "-if") || !strcmp(a, "--interactive-first"))
            continue;
        av[n++] = argv[i];
    }
    av[n] = NULL;
    const int rc = fy_cmd_chat(n, av);
    free(av);
    return rc;
}

int fy_cmd_run(int argc, char **argv)
{
    struct fy_cli o;
    struct fy_sampler_params sp = fy_sampler_params_default();
    bool temp_set = false, special = false, print_ids = false, echo = true, ignore_eos = false;
    const char *prompt = NULL, *prompt_file = NULL, *reverse = NULL;
    int64_t n_gen = -1, n_keep = 0;
    bool shift = false;
    int32_t *hist = NULL;
    char *file_text = NULL;
    size_t file_len = 0;
    struct fy_model *m = NULL;
    struct fy_session *s = NULL;
    struct fy_tokenizer *tok = NULL;
    struct fy_sampler *smp = NULL;
    struct fy_tokens ptoks = {0};
    struct fy_gen gen = {0};
    int rc = 2; /* usage errors until the flags are read */

    if (wants_chat(argc, argv))
        return chat_from_run(argc, argv);
    if (fy_cli_init(&o) != FY_OK) {
        rc = 1;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        int r = fy_cli_parse_gen(&o, &sp, &temp_set, argc, argv, &i);
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(prompt_file = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict") || !strcmp(a, "--predict")) {
            const char *v = fy_arg_value(argc, argv, &i);
            if (!v || fy_arg_int(a, v, -1, INT32_MAX, &n_gen) != FY_OK)
                goto done;
            if (n_gen < 0)
                n_gen = INT32_MAX; /* llama.cpp's -1: until the end (of the context) */
        } else if (!strcmp(a, "--context-shift")) {
            shift = true;
        } else if (!strcmp(a, "--no-context-shift")) {
            shift = false;
        } else if (!strcmp(a, "--keep")) {
            const char *v = fy_arg_value(argc, argv, &i);
            if (!v || fy_arg_int(a, v, -1, INT32_MAX, &n_keep) != FY_OK)
                goto done;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--reverse-prompt")) {
            if (!(reverse = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-no-cnv") || !strcmp(a, "--no-conversation")) {
            /* raw completion: what run does */
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else if (!strcmp(a, "--ids")) {
            print_ids = true;
        } else if (!strcmp(a, "--no-display-prompt")) {
            echo = false;
        } else if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = true;
        } else {
            rc = fy_arg_help_or_unknown("run", a, usage_text, fy_cli_help_sampling,
                                        fy_cli_help_common, fy_place_help);
            goto done;
        }
    }
    if (!o.model) {
        fy_log(FY_LOG_ERR, "run: -m MODEL is required (see ferry run -h)");
        goto done;
    }
    if (!!prompt + !!prompt_file + !!o.tokens != 1) {
        fy_log(FY_LOG_ERR, "run: give exactly one of -p TEXT, -f FILE, --tokens IDS");
        goto done;
    }
    const bool text_mode = !o.tokens;
    rc = 1; /* runtime errors from here */
    if (text_mode && prompt_file &&
        !(file_text = fy_arg_read_file("-f", prompt_file, FY_LIMIT_PROMPT_FILE, &file_len)))
        goto done;
    if (n_gen < 0)
        n_gen = text_mode ? 128 : 16;
    if (!text_mode && !temp_set)
        sp.temp = 0; /* token-id mode is greedy unless asked otherwise */
    print_ids = print_ids || !text_mode;

    /* load the model and (for text) its tokenizer; tokenize before sizing the context */
    if (fy_cli_load(&o, &m) != FY_OK)
        goto done;
    const int32_t *ids = o.tokens;
    int64_t n_ids = o.n_tokens;
    fy_status st = fy_tokenizer_load(m->gguf, &tok);
    if (st != FY_OK && text_mode)
        goto done;
    if (text_mode) {
        const char *text = file_text ? file_text : prompt;
        size_t len = file_text ? file_len : strlen(prompt);
        if (fy_tokenize(tok, text, len, special, &ptoks) != FY_OK)
            goto done;
        if (ptoks.n == 0) {
            fy_log(FY_LOG_ERR, "run: the prompt is empty");
            goto done;
        }
        ids = ptoks.ids;
        n_ids = ptoks.n;
        if (echo && !print_ids) {
            fwrite(text, 1, len, stdout);
            fflush(stdout);
        }
    }
    if (fy_cli_session(&o, m, n_gen > INT32_MAX - n_ids ? m->hp.n_ctx_train : n_ids + n_gen,
                       &s) != FY_OK)
        goto done;
    const int64_t n_ctx = fy_session_n_ctx(s);
    if (n_ids > n_ctx) {
        fy_log(FY_LOG_ERR, "run: the prompt is %lld tokens, more than the context (-c %lld)",
               (long long)n_ids, (long long)n_ctx);
        goto done;
    }
    if (n_keep < 0 || n_keep > n_ids)
        n_keep = n_ids;
    if (n_keep > n_ctx - 2)
        n_keep = n_ctx - 2 > 0 ? n_ctx - 2 : 0;
    if (!(hist = malloc((size_t)n_ctx * sizeof(*hist))))
        goto done;
    memcpy(hist, ids, (size_t)n_ids * sizeof(*hist));
    int64_t n_hist = n_ids, n_shifts = 0;
    bool full = false;
    struct tail tl = {0};
    if (fy_sampler_new(&sp, m->hp.n_vocab, &smp) != FY_OK ||
        fy_gen_init(&gen, s, sp.temp > 0 ? smp : NULL, m->hp.n_vocab) != FY_OK)
        goto done;
    int32_t stop[3];
    fy_gen_stop_ids(tok, m->hp.n_vocab, stop);

    fy_sigint_install();
    double t0 = fy_now();
    st = fy_gen_eval(&gen, ids, n_ids);
    double t1 = fy_now(), t2 = t1;
    int64_t produced = 0;
    struct fy_detok dt = {0};
    char buf[512];
    bool interrupted = false;
    while (st == FY_OK && produced < n_gen) {
        if (fy_sigint_take()) {
            interrupted = true;
            break;
        }
        int32_t id = fy_gen_sample(&gen);
        size_t n_out = 0;
        bool eog = !ignore_eos && (id == stop[0] || id == stop[1] || id == stop[2]);
        if (print_ids) {
            printf("%s%d", produced ? "," : "", id);
        } else if (!eog) {
            n_out = fy_detok_push(&dt, tok, id, buf, sizeof(buf));
            fwrite(buf, 1, n_out, stdout);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fy_log(FY_LOG_ERR, "run: writing standard output failed: %s", strerror(errno));
            st = FY_E_IO; /* a full disk: no point in generating more */
            break;
        }
        produced++;
        if (eog || produced == n_gen)
            break;
        if (reverse && !print_ids && tail_push_ends(&tl, buf, n_out, reverse))
            break;
        if (n_hist == n_ctx) {
            if (!shift) {
                full = true;
                break;
            }
            /* keep hist[0, n_keep) and the newer half of the rest; evaluate the rest again */
            const int64_t n_discard = (n_hist - n_keep) / 2 > 0 ? (n_hist - n_keep) / 2 : 1;
            memmove(hist + n_keep, hist + n_keep + n_discard,
                    (size_t)(n_hist - n_keep - n_discard) * sizeof(*hist));
            n_hist -= n_discard;
            fy_session_truncate(s, n_keep);
            st = fy_gen_eval(&gen, hist + n_keep, n_hist - n_keep);
            n_shifts++;
            if (st != FY_OK)
                break;
        }
        hist[n_hist++] = id;
        st = fy_gen_eval(&gen, &id, 1);
        t2 = fy_now();
    }
    if (!print_ids) {
        size_t n = fy_detok_flush(&dt, buf, sizeof(buf));
        fwrite(buf, 1, n, stdout);
    }
    printf("\n");
    fflush(stdout);
    if (st != FY_OK)
        goto done;
    if (interrupted)
        fy_log(FY_LOG_INFO, "interrupted");
    if (full)
        fy_log(FY_LOG_INFO, "the context is full (-c %lld): stopped after %lld tokens "
               "(--context-shift keeps going, -c sets a larger context)", (long long)n_ctx,
               (long long)produced);
    if (n_shifts)
        fy_log(FY_LOG_INFO, "context shifts: %lld (kept the first %lld tokens each time)",
               (long long)n_shifts, (long long)n_keep);
    fy_cli_report(&o, s);
    if (gen.smp)
        fy_log(FY_LOG_INFO, "sampling seed %llu (-s to repeat)",
               (unsigned long long)fy_sampler_seed(smp));
    fy_log(FY_LOG_INFO, "prompt: %lld tokens in %.3f s (%.2f t/s); generation: %lld tokens in "
           "%.3f s (%.2f t/s)", (long long)n_ids, t1 - t0,
           (double)n_ids / (t1 - t0 > 0 ? t1 - t0 : 1e-9), (long long)produced, t2 - t1,
           produced > 1 ? (double)(produced - 1) / (t2 - t1 > 0 ? t2 - t1 : 1e-9) : 0.0);
    rc = 0;
done:
    fy_gen_free(&gen);
    fy_sampler_free(smp);
    fy_tokens_free(&ptoks);
    fy_tokenizer_free(tok);
    fy_session_free(s);
    fy_cli_free(&o);
    fy_model_free(m);
    free(file_text);
    free(hist);
    return rc;
}
