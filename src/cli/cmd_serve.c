/* `ferry serve`: an OpenAI-compatible HTTP server (serve.h). Flags, the model and session, the
 * listening daemon, and SIGINT/SIGTERM: stop accepting, stop what is in flight at its next
 * token, exit 0. Without libmicrohttpd and cJSON at build time it says so and exits 1. */
#include "cmd.h"
#include "fy_config.h"

#include <stdio.h>

#if !FY_HAVE_SERVE

int fy_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ferry serve: this build lacks libmicrohttpd/libcjson (install "
            "libmicrohttpd-dev and libcjson-dev, then run meson setup again)\n");
    return 1;
}

#else

#include "args.h"
#include "cli_common.h"
#include "placement/placement.h"
#include "serve.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry serve -m MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY] [-c N]\n"
    "                   [-np N] [--queue N] [options]\n\n"
    "An OpenAI-compatible HTTP server: GET /health, GET /v1/models, POST /v1/chat/completions\n"
    "(harmony; streamed with \"stream\": true), POST /v1/completions (raw text), GET /metrics.\n"
    "Up to -np requests generate together, each in a slot with its own prompt cache; the others\n"
    "wait in a queue. Point any OpenAI client at http://HOST:PORT/v1. SIGINT or SIGTERM stops\n"
    "the server (exit 0).\n\n"
    "  --host ADDR            address to listen on (default 127.0.0.1: this machine only)\n"
    "  --port N               port (default 8080)\n"
    "  --api-key KEY          require \"Authorization: Bearer KEY\" (not on /health)\n"
    "  -np, --parallel N      slots: requests generating together, in one batch (default 1).\n"
    "                         -c is the context of all slots together: each holds c/N\n"
    "                         positions (default -c: the model's training context, 8192 at\n"
    "                         most). A request goes to the free slot whose cache shares the\n"
    "                         longest prefix with its prompt\n"
    "  --queue N              requests waiting for a slot at most (default 8); more: 503\n\n"
    "exit status: 0 stopped by a signal, 1 runtime error, 2 usage error\n";

/* The model's file name, for /v1/models. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int fy_cmd_serve(int argc, char **argv)
{
    struct fy_cli o;
    struct fy_serve_http_opts ho = {.host = "127.0.0.1", .port = 8080};
    int64_t queue = 8, port = 8080, np = 1;
    struct fy_model *m = NULL;
    struct fy_session *s = NULL;
    struct fy_tokenizer *tok = NULL;
    struct fy_serve_engine e;
    bool engine = false;
    struct fy_serve_http *h = NULL;
    int rc = 2;
    if (fy_cli_init(&o) != FY_OK)
        return 1;
    for (int i = 1; i < argc; i++) {
        int r = fy_cli_parse_common(&o, argc, argv, &i);
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--host")) {
            if (!(ho.host = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "--port")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_arg_int(a, v, 1, 65535, &port) != FY_OK)
                goto done;
        } else if (!strcmp(a, "--api-key")) {
            if (!(ho.api_key = fy_arg_value(argc, argv, &i)))
                goto done;
            if (!ho.api_key[0]) {
                fy_log(FY_LOG_ERR, "flag --api-key: the key must not be empty");
                goto done;
            }
        } else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_arg_int(a, v, 1, 256, &np) != FY_OK)
                goto done;
        } else if (!strcmp(a, "--queue")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_arg_int(a, v, 0, 4096, &queue) != FY_OK)
                goto done;
        } else {
            rc = fy_arg_help_or_unknown("serve", a, usage_text, fy_cli_help_common, fy_place_help,
                                        NULL);
            goto done;
        }
    }
    if (!o.model) {
        fy_log(FY_LOG_ERR, "serve: -m MODEL is required (see ferry serve -h)");
        goto done;
    }
    ho.port = (int)port;
    rc = 1;
    /* the daemon's threads inherit this mask: the signals reach sigwait below only */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (fy_cli_load(&o, &m) != FY_OK || fy_tokenizer_load(m->gguf, &tok) != FY_OK)
        goto done;
    /* -c is shared by the slots (as llama-server's): each holds c / np positions */
    int64_t total = o.n_ctx ? o.n_ctx : (m->hp.n_ctx_train < 8192 ? m->hp.n_ctx_train : 8192);
    if (total / np < 2) {
        fy_log(FY_LOG_ERR, "serve: a context of %lld leaves fewer than 2 positions to each of "
               "-np %lld slots", (long long)total, (long long)np);
        goto done;
    }
    o.n_ctx = total / np;
    o.n_seq = (int32_t)np;
    if (fy_cli_session(&o, m, o.n_ctx, &s) != FY_OK)
        goto done;
    if (fy_serve_engine_init(&e, s, tok, m->hp.n_vocab, base_name(o.model), (int)queue) != FY_OK)
        goto done;
    engine = true;
    if (fy_serve_http_start(&e, &ho, &h) != FY_OK)
        goto done;
    if (!ho.api_key && strcmp(ho.host, "127.0.0.1") && strcmp(ho.host, "localhost") &&
        strcmp(ho.host, "::1"))
        fy_log(FY_LOG_WARN, "serve: listening on %s without --api-key: anyone who can reach "
               "this address can use the model", ho.host);
    printf("ferry serve: listening on http://%s:%d (OpenAI API at http://%s:%d/v1, model %s, "
           "context %lld", ho.host, ho.port, ho.host, ho.port, e.model_id, (long long)e.n_ctx);
    if (np > 1)
        printf(" per slot, %lld slots", (long long)np);
    printf(")\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    fy_log(FY_LOG_INFO, "serve: %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    fy_serve_http_stop(h);
    rc = 0;
done:
    if (engine)
        fy_serve_engine_free(&e);
    fy_tokenizer_free(tok);
    fy_session_free(s);
    fy_cli_free(&o);
    fy_model_free(m);
    return rc;
}

#endif
