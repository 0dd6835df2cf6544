/* `ferry chat`: an interactive harmony chat (tokenizer.md section 7). The conversation is kept
 * as harmony messages; every turn is rendered whole and only the tokens after the prefix that
 * the KV cache already holds are evaluated. */
#include "args.h"
#include "cli_common.h"
#include "placement/placement.h"
#include "cli_signal.h"
#include "chat_file.h"
#include "chat_input.h"
#include "chat_view.h"
#include "cmd.h"
#include "generate.h"
#include "text/harmony.h"
#include "infile.h"
#include "outfile.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry chat -m MODEL [--reasoning low|medium|high] [--sys TEXT] [--show-reasoning]\n"
    "                  [options]\n\n"
    "An interactive chat in OpenAI's harmony format. Reads messages from the terminal or a\n"
    "pipe. End a line with \\ to continue the message on the next line, or enclose a\n"
    "multi-line message in lines holding only \"\"\". Ctrl-C stops an answer; Ctrl-C twice at\n"
    "the prompt exits. Commands: /help /reset /stats /save FILE /load FILE /exit\n"
    "At a terminal, lines are edited as in a shell (libedit: arrows, Ctrl-A/E/K/U/W, Up and\n"
    "Down through earlier messages, Ctrl-R to search them, Tab to complete a command;\n"
    "Ctrl-C clears the line).\n"
    "A message may hold at most 1 MiB. Piped input that is not text (a NUL byte, invalid\n"
    "UTF-8, a longer message) is refused; 8 such messages in a row, or one at the end of the\n"
    "input, end the chat with exit status 1.\n\n"
    "  --reasoning LEVEL      reasoning effort: low, medium (default), high\n"
    "  --sys TEXT             instructions (the developer message)\n"
    "  --show-reasoning       show the analysis channel, dimmed (hidden by default)\n"
    "  --date YYYY-MM-DD      current date in the system message (default: today)\n"
    "  -n, --n-predict N      most tokens per answer (default: until the context is full);\n"
    "                         --predict too\n"
    "  -p, --prompt TEXT      the first message, sent before reading input (-f FILE: from a\n"
    "                         file, at most 1 MiB)\n"
    "  -st, --single-turn     answer the first message (-p/-f) and exit\n"
    "  --history-file PATH    the history of messages typed at a terminal (default:\n"
    "                         $XDG_STATE_HOME/ferry/chat_history, else\n"
    "                         ~/.local/state/ferry/chat_history; the last 1000)\n"
    "  --no-history           read and write no history file\n"
    "  -cnv, -i, -if          accepted: chat is a conversation; -no-cnv runs `ferry run`\n"
    "                         (raw completion) with these flags\n"
    "  -r, --reverse-prompt T accepted: answers end at harmony's end tokens\n\n"
    "exit status: 0 done, 1 runtime error (or invalid input, above), 2 usage error\n";

/* -no-cnv: ferry run with the same flags, less the chat-only conversation switches */
static bool wants_run(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-no-cnv") || !strcmp(argv[i], "--no-conversation"))
            return true;
    return false;
}

static const char help_text[] =
    "/help        this help\n"
    "/reset       forget the conversation\n"
    "/stats       token counts and speeds\n"
    "/save FILE   write the conversation to FILE (JSON lines: one message a line)\n"
    "/load FILE   replace the conversation with the one /save wrote to FILE\n"
    "/exit        quit (also /quit, Ctrl-D, or Ctrl-C twice at the prompt)\n"
    "A line ending in \\ continues the message; \"\"\" on its own line starts or ends a block.\n";

struct chat {
    struct fy_tokenizer *tok;
    struct fy_session *s;
    struct fy_gen gen;
    struct fy_sampler *smp;
    struct fy_harmony_conv conv;
    struct fy_harmony_msgs hist;
    struct fy_tokens cached;     /* the tokens the KV cache holds, in order */
    int64_t n_ctx;
    int64_t n_predict;           /* -1: until the context is full */
    bool show_reasoning;
    bool color;                  /* stdout is a terminal */
    bool tty_in;                 /* stdin is a terminal */
    /* statistics */
    int64_t turns;
    int64_t total_prompt, total_gen;
    int64_t last_prompt, last_gen;
    double last_t_prompt, last_t_gen;
};

#define FY_CHAT_MAX_ERRORS 8 /* invalid messages in a row that end piped input */

/* What Tab completes at the prompt (a trailing space: the command takes an argument). */
static const char *const chat_commands[] = {"/help", "/reset", "/stats", "/save ", "/load ",
                                            "/exit", "/quit", NULL};

static const char *dim_on(const struct chat *c) { return c->color ? "\033[2m" : ""; }
static const char *dim_off(const struct chat *c) { return c->color ? "\033[0m" : ""; }

/* ---- commands ---- */

static void print_stats(const struct chat *c)
{
    printf("turns %lld | context %lld / %lld tokens | prompt %lld tokens total, last %lld at "
           "%.1f t/s | generated %lld tokens total, last %lld at %.1f t/s\n",
           (long long)c->turns, (long long)fy_session_n_past(c->s), (long long)c->n_ctx,
           (long long)c->total_prompt, (long long)c->last_prompt,
           c->last_t_prompt > 0 ? (double)c->last_prompt / c->last_t_prompt : 0.0,
           (long long)c->total_gen, (long long)c->last_gen,
           c->last_t_gen > 0 ? (double)c->last_gen / c->last_t_gen : 0.0);
}

static void reset_chat(struct chat *c)
{
    fy_harmony_msgs_clear(&c->hist);
    c->conv.msgs = c->hist.v;
    c->conv.n_msgs = 0;
    fy_session_reset(c->s);
    c->cached.n = 0;
    if (c->smp)
        fy_sampler_reset(c->smp);
}

static int save_chat(const struct chat *c, const char *path)
{
    struct fy_outfile *out = NULL;
    if (fy_outfile_open("/save", path, &out) != FY_OK) {
        printf("nothing saved (the message above says why)\n");
        return -1;
    }
    fy_status st = fy_chat_file_write(fy_outfile_fp(out), c->hist.v, c->hist.n);
    if (st != FY_OK)
        fy_outfile_fail(out, errno);
    int bad = fy_outfile_commit(out) != FY_OK;
    if (bad)
        printf("nothing saved (the message above says why)\n");
    else
        printf("saved %lld messages to %s\n", (long long)c->hist.n, path);
    return bad ? -1 : 0;
}

/* Replaces the conversation with the one in PATH; on any error it stays as it was. The KV
 * cache is kept: the next turn evaluates from where the two conversations differ. */
static int load_chat(struct chat *c, const char *path)
{
    struct fy_harmony_msgs msgs = {0};
    struct fy_tokens toks = {0};
    fy_status st = fy_chat_file_read("/load", path, &msgs);
    if (st == FY_OK) {
        struct fy_harmony_conv conv = c->conv;
        conv.msgs = msgs.v;
        conv.n_msgs = msgs.n;
        st = fy_harmony_render(c->tok, &conv, true, &toks);
        if (st != FY_OK)
            fy_log(FY_LOG_ERR, "/load %s: the conversation does not render: %s", path,
                   fy_status_str(st));
        else if (toks.n + 1 > c->n_ctx) {
            fy_log(FY_LOG_ERR, "/load %s: the conversation needs %lld tokens but the context "
                   "holds %lld", path, (long long)toks.n, (long long)c->n_ctx);
            st = FY_E_FULL;
        }
    }
    if (st != FY_OK) {
        printf("nothing loaded; the conversation is as it was (the message above says why)\n");
        fy_harmony_msgs_free(&msgs);
        fy_tokens_free(&toks);
        return -1;
    }
    fy_harmony_msgs_free(&c->hist);
    c->hist = msgs;
    c->conv.msgs = c->hist.v;
    c->conv.n_msgs = c->hist.n;
    printf("loaded %lld messages from %s (%lld tokens with the next prompt)\n",
           (long long)c->hist.n, path, (long long)toks.n);
    fy_tokens_free(&toks);
    return 0;
}

/* Returns 1 to exit, 0 otherwise. */
static int run_command(struct chat *c, const char *cmd)
{
    if (!strcmp(cmd, "/exit") || !strcmp(cmd, "/quit"))
        return 1;
    if (!strcmp(cmd, "/help"))
        fputs(help_text, stdout);
    else if (!strcmp(cmd, "/reset")) {
        reset_chat(c);
        printf("conversation cleared\n");
    } else if (!strcmp(cmd, "/stats"))
        print_stats(c);
    else if (!strncmp(cmd, "/save ", 6) && cmd[6])
        save_chat(c, cmd + 6);
    else if (!strncmp(cmd, "/load ", 6) && cmd[6])
        load_chat(c, cmd + 6);
    else if (!strcmp(cmd, "/save") || !strcmp(cmd, "/load") || !strcmp(cmd, "/save ") ||
             !strcmp(cmd, "/load "))
        printf("usage: %.5s FILE\n", cmd);
    else
        printf("unknown command %s (try /help)\n", cmd);
    return 0;
}

/* ---- one turn ---- */

/* Evaluates the rendered prompt after the prefix the cache already holds. */
static fy_status eval_prompt(struct chat *c, const struct fy_tokens *p, bool *interrupted)
{
    int64_t k = 0;
    while (k < c->cached.n && k < p->n && c->cached.ids[k] == p->ids[k])
        k++;
    if (k == p->n)
        k--; /* re-evaluate the last token so there are logits to sample from */
    k = fy_session_truncate(c->s, k); /* 0 when the sliding-window rings lost the prefix */
    c->cached.n = k;
    const int64_t chunk = 256;
    double t0 = fy_now();
    for (int64_t i = k; i < p->n; i += chunk) {
        if (fy_sigint_take()) {
            *interrupted = true;
            break;
        }
        int64_t n = p->n - i < chunk ? p->n - i : chunk;
        FY_TRY(fy_gen_eval(&c->gen, p->ids + i, n));
        for (int64_t j = 0; j < n; j++)
            FY_TRY(fy_tokens_push(&c->cached, p->ids[i + j]));
    }
    c->last_prompt = c->cached.n - k;
    c->last_t_prompt = fy_now() - t0;
    c->total_prompt += c->last_prompt;
    return FY_OK;
}

/* Renders the conversation plus the user message um; the message joins the history only once
 * it fits in the context. */
static fy_status render_with(struct chat *c, const struct fy_harmony_msg *um,
                             struct fy_tokens *prompt)
{
    struct fy_harmony_msg *all = malloc((size_t)(c->hist.n + 1) * sizeof(*all));
    if (!all)
        return FY_E_NOMEM;
    if (c->hist.n)
        memcpy(all, c->hist.v, (size_t)c->hist.n * sizeof(*all));
    all[c->hist.n] = *um;
    struct fy_harmony_conv conv = c->conv;
    conv.msgs = all;
    conv.n_msgs = c->hist.n + 1;
    fy_status st = fy_harmony_render(c->tok, &conv, true, prompt);
    free(all);
    return st;
}

static fy_status answer(struct chat *c, const struct fy_harmony_msg *um)
{
    struct fy_tokens prompt = {0};
    struct fy_chat_view view = {.out = stdout, .tok = c->tok,
                                .show_reasoning = c->show_reasoning, .color = c->color};
    bool interrupted = false, full = false;
    fy_status st = render_with(c, um, &prompt);
    if (st != FY_OK)
        goto out;
    if (prompt.n + 1 > c->n_ctx) {
        printf("context full: the conversation needs %lld tokens but the context holds %lld. "
               "Your message was not sent (it is above); /save FILE keeps the conversation, "
               "/reset starts over, or restart with a larger -c.\n", (long long)prompt.n,
               (long long)c->n_ctx);
        st = FY_E_FULL;
        goto out;
    }
    st = fy_harmony_msgs_push(&c->hist, um);
    if (st != FY_OK)
        goto out;
    c->conv.msgs = c->hist.v;
    c->conv.n_msgs = c->hist.n;
    st = eval_prompt(c, &prompt, &interrupted);
    if (st != FY_OK || interrupted)
        goto out;
    st = fy_chat_view_begin(&view);
    if (st != FY_OK)
        goto out;
    double t0 = fy_now();
    int64_t produced = 0;
    for (;;) {
        if (fy_sigint_take()) {
            interrupted = true;
            break;
        }
        if (c->n_predict >= 0 && produced >= c->n_predict)
            break;
        if (fy_session_n_past(c->s) >= c->n_ctx) {
            full = true;
            break;
        }
        int32_t id = fy_gen_sample(&c->gen);
        produced++;
        bool done = false;
        st = fy_chat_view_token(&view, id, &done);
        if (st != FY_OK || done)
            break;
        st = fy_gen_eval(&c->gen, &id, 1);
        if (st == FY_OK)
            st = fy_tokens_push(&c->cached, id);
        if (st != FY_OK)
            break;
    }
    c->last_gen = produced;
    c->last_t_gen = fy_now() - t0;
    c->total_gen += produced;
    /* show what is still unshown (a short answer that is not harmony), and keep what the model
     * said (also a partial answer) in the conversation */
    fy_chat_view_end(&view);
    if (st == FY_OK)
        st = fy_chat_view_reply(&view, &c->hist);
    c->conv.msgs = c->hist.v;
    c->conv.n_msgs = c->hist.n;
    c->turns++;
out:
    printf("\n");
    if (interrupted)
        printf("%s[interrupted]%s\n", dim_on(c), dim_off(c));
    if (full)
        printf("context full (%lld tokens): the answer was cut. /reset starts over, /save FILE "
               "keeps the conversation.\n", (long long)c->n_ctx);
    if (st == FY_OK && !interrupted)
        printf("%s[prompt %lld tokens, %.1f t/s | generation %lld tokens, %.1f t/s | context "
               "%lld/%lld]%s\n", dim_on(c), (long long)c->last_prompt,
               c->last_t_prompt > 0 ? (double)c->last_prompt / c->last_t_prompt : 0.0,
               (long long)c->last_gen,
               c->last_t_gen > 0 ? (double)c->last_gen / c->last_t_gen : 0.0,
               (long long)fy_session_n_past(c->s), (long long)c->n_ctx, dim_off(c));
    fflush(stdout);
    fy_chat_view_free(&view);
    fy_tokens_free(&prompt);
    return st;
}

/* ---- the command ---- */

/* Piped input (not a terminal) that keeps being invalid ends the chat. */
static bool too_many_errors(const struct chat *c, int errors)
{
    if (errors < FY_CHAT_MAX_ERRORS || c->tty_in)
        return false;
    fy_log(FY_LOG_ERR, "chat: %d invalid messages in a row on standard input; stopping", errors);
    return true;
}

static int parse_effort(const char *v, enum fy_harmony_effort *e)
{
    if (!strcmp(v, "low"))
        *e = FY_EFFORT_LOW;
    else if (!strcmp(v, "medium"))
        *e = FY_EFFORT_MEDIUM;
    else if (!strcmp(v, "high"))
        *e = FY_EFFORT_HIGH;
    else {
        fy_log(FY_LOG_ERR, "flag --reasoning: \"%s\" is not one of low, medium, high", v);
        return -1;
    }
    return 0;
}

int fy_cmd_chat(int argc, char **argv)
{
    struct fy_cli o;
    struct fy_sampler_params sp = fy_sampler_params_default();
    bool temp_set = false;
    struct chat c;
    struct fy_model *m = NULL;
    char date[16] = "";
    const char *date_arg = NULL, *first = NULL, *first_file = NULL;
    char *first_text = NULL;
    size_t first_len = 0;
    bool single_turn = false;
    struct fy_chat_input_opts in_opts = {.history = true};
    struct fy_chat_input *in = NULL;
    int rc = 2; /* usage errors until the flags are read */

    if (wants_run(argc, argv)) {
        argv[0] = "run";
        return fy_cmd_run(argc, argv);
    }
    memset(&c, 0, sizeof(c));
    c.n_predict = -1;
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
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--reasoning")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || parse_effort(v, &c.conv.system.effort))
                goto done;
        } else if (!strcmp(a, "--sys") || !strcmp(a, "-sys") || !strcmp(a, "--system-prompt")) {
            if (!(c.conv.developer.instructions = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "--show-reasoning")) {
            c.show_reasoning = true;
        } else if (!strcmp(a, "--date")) {
            if (!(date_arg = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict") || !strcmp(a, "--predict")) {
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(a, v, -1, INT32_MAX, &c.n_predict) != FY_OK)
                goto done;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(first = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(first_file = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "--no-history")) {
            in_opts.history = false;
        } else if (!strcmp(a, "--history-file")) {
            if (!(in_opts.history_file = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-st") || !strcmp(a, "--single-turn")) {
            single_turn = true;
        } else if (!strcmp(a, "-cnv") || !strcmp(a, "--conversation") || !strcmp(a, "-i") ||
                   !strcmp(a, "--interactive") || !strcmp(a, "-if") ||
                   !strcmp(a, "--interactive-first")) {
            /* chat is the conversation */
        } else if (!strcmp(a, "-r") || !strcmp(a, "--reverse-prompt") || !strcmp(a, "--in-prefix") ||
                   !strcmp(a, "--in-suffix")) {
            if (!(v = fy_arg_value(argc, argv, &i)))
                goto done;
            fy_log(FY_LOG_INFO, "flag %s: accepted; chat answers end at harmony's end tokens", a);
        } else {
            rc = fy_arg_help_or_unknown("chat", a, usage_text, fy_cli_help_sampling,
                                        fy_cli_help_common, fy_place_help);
            goto done;
        }
    }
    if (!o.model) {
        fy_log(FY_LOG_ERR, "chat: -m MODEL is required (see ferry chat -h)");
        goto done;
    }
    if (first && first_file) {
        fy_log(FY_LOG_ERR, "chat: give at most one of -p TEXT, -f FILE");
        goto done;
    }
    if (single_turn && !first && !first_file) {
        fy_log(FY_LOG_ERR, "chat: -st answers the first message: give it with -p TEXT or -f FILE");
        goto done;
    }
    rc = 1; /* runtime errors from here */
    if (first_file && !(first_text = fy_arg_read_file("-f", first_file, FY_MiB, &first_len)))
        goto done;
    if (first) {
        first_len = strlen(first);
        if (!(first_text = malloc(first_len + 1)))
            goto done;
        memcpy(first_text, first, first_len + 1);
    }
    if (date_arg) {
        snprintf(date, sizeof(date), "%s", date_arg);
    } else {
        time_t now = time(NULL);
        strftime(date, sizeof(date), "%Y-%m-%d", localtime(&now));
    }
    c.conv.system.current_date = date;
    if (fy_cli_load(&o, &m) != FY_OK || fy_tokenizer_load(m->gguf, &c.tok) != FY_OK)
        goto done;
    c.n_ctx = o.n_ctx ? o.n_ctx : (m->hp.n_ctx_train < 8192 ? m->hp.n_ctx_train : 8192);
    if (fy_cli_session(&o, m, c.n_ctx, &c.s) != FY_OK)
        goto done;
    c.n_ctx = fy_session_n_ctx(c.s);
    if (fy_sampler_new(&sp, m->hp.n_vocab, &c.smp) != FY_OK ||
        fy_gen_init(&c.gen, c.s, sp.temp > 0 ? c.smp : NULL, m->hp.n_vocab) != FY_OK)
        goto done;
    c.color = o.color >= 0 ? o.color : isatty(1);
    c.tty_in = isatty(0);
    fy_sigint_install();
    in_opts.tty = c.tty_in;
    in_opts.commands = chat_commands;
    if (!single_turn && fy_chat_input_open(&in_opts, &in) != FY_OK) /* -st reads no input */
        goto done;
    if (c.tty_in)
        printf("ferry chat: %s, context %lld tokens, reasoning %s. /help for commands.\n",
               o.model, (long long)c.n_ctx,
               c.conv.system.effort == FY_EFFORT_LOW    ? "low"
               : c.conv.system.effort == FY_EFFORT_HIGH ? "high"
                                                        : "medium");
    bool armed = false; /* a Ctrl-C at the prompt: the next one exits */
    int errors = 0;     /* invalid messages in a row */
    for (;;) {
        char *msg = NULL;
        size_t len = 0;
        enum fy_chat_in k;
        if (first_text) { /* -p/-f: the first message, as if typed */
            msg = first_text;
            len = first_len;
            first_text = NULL;
            k = FY_CHAT_IN_TEXT;
            if (c.tty_in)
                printf("> %s\n", msg);
        } else if (single_turn) {
            break;
        } else {
            k = fy_chat_input_read(in, &msg, &len);
        }
        if (k == FY_CHAT_IN_EOF)
            break;
        if (k == FY_CHAT_IN_BAD) {
            fy_log(FY_LOG_ERR, "chat: a line of standard input is longer than %zu MiB: the input "
                   "is not text; stopping", (size_t)(FY_CHAT_SKIP_MAX / FY_MiB));
            goto done;
        }
        if (k == FY_CHAT_IN_TOOLONG || (k == FY_CHAT_IN_TEXT && memchr(msg, '\0', len))) {
            printf("the message was not sent: %s\n",
                   k == FY_CHAT_IN_TOOLONG ? "it is longer than the limit of 1 MiB"
                                           : "it contains a NUL byte");
            free(msg);
            if (too_many_errors(&c, ++errors))
                goto done;
            continue;
        }
        if (k == FY_CHAT_IN_CLEARED) { /* Ctrl-C in a message being typed: dropped */
            armed = false;
            continue;
        }
        if (k == FY_CHAT_IN_INTERRUPT) {
            if (armed)
                break;
            armed = true;
            printf("\n(Ctrl-C again, /exit or Ctrl-D to quit)\n");
            continue;
        }
        armed = false;
        if (len == 0) {
            free(msg);
            continue;
        }
        if (msg[0] == '/' && !strchr(msg, '\n')) {
            errors = 0;
            int quit = run_command(&c, msg);
            free(msg);
            if (quit)
                break;
            continue;
        }
        struct fy_harmony_msg um = {.role = FY_ROLE_USER, .content = msg, .content_len = len,
                                    .end_token = -1};
        fy_status st = answer(&c, &um);
        free(msg);
        if (st == FY_E_INVAL) {
            printf("the message was not sent: it is not valid UTF-8\n");
            if (too_many_errors(&c, ++errors))
                goto done;
            continue;
        }
        if (st != FY_OK && st != FY_E_FULL)
            goto done;
        errors = 0;
    }
    if (c.tty_in)
        printf("\n");
    if (errors && !c.tty_in) {
        fy_log(FY_LOG_ERR, "chat: the input ended with %d invalid message%s", errors,
               errors > 1 ? "s" : "");
        goto done;
    }
    rc = 0;
done:
    fy_chat_input_close(in);
    fy_gen_free(&c.gen);
    fy_sampler_free(c.smp);
    fy_harmony_msgs_free(&c.hist);
    fy_tokens_free(&c.cached);
    fy_tokenizer_free(c.tok);
    fy_session_free(c.s);
    fy_cli_free(&o);
    fy_model_free(m);
    free(first_text);
    return rc;
}
