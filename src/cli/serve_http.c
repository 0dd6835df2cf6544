/* ferry serve's HTTP layer (libmicrohttpd, a thread per connection): routes, request bodies (at
 * most FY_SERVE_BODY_MAX bytes), the API key, non-streamed answers, SSE streams generated from
 * the content-reader callback (a client that goes away ends the stream at the next token: the
 * free callback hands the session back; a non-streamed answer watches the socket between tokens
 * for the same), and one log line per request. */
#include "serve.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FY_SERVE_CONN_MAX 256 /* connections at once besides the queue; more are refused */

struct fy_serve_http {
    struct MHD_Daemon *d;
    struct fy_serve_engine *e;
    const char *api_key;
};

/* One request. */
struct conn {
    char *body;
    size_t n, cap;
    bool too_big;
    bool streamed; /* the stream logs it */
    double t0;
    int status;
    int64_t n_prompt, n_gen;
    char method[16];
    char path[96];
};

/* A streamed answer, owned by its MHD response. */
struct stream {
    struct fy_serve_http *h;
    struct fy_serve_req rq;
    struct fy_serve_run run;
    char *buf;
    size_t n, off, cap;
    bool first, finished, ended, failed;
    double t0;
    char path[96];
};

static void log_request(const char *method, const char *path, int status, int64_t n_prompt,
                        int64_t n_gen, double t0)
{
    fy_log(FY_LOG_INFO, "serve: %s %s %d prompt %lld gen %lld tokens %.0f ms", method, path,
           status, (long long)n_prompt, (long long)n_gen, 1e3 * (fy_now() - t0));
}

static enum MHD_Result send_body(struct MHD_Connection *mc, struct conn *c, int status,
                                 char *body, const char *type, bool retry)
{
    if (!body) {
        status = 500;
        body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}");
        if (!body)
            return MHD_NO;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    if (retry)
        MHD_add_response_header(r, "Retry-After", "1");
    if (status == 405)
        MHD_add_response_header(r, "Allow", !strcmp(c->path, "/health") || !strcmp(c->path, "/") ||
                                            strstr(c->path, "models") ||
                                            !strcmp(c->path, "/metrics") ? "GET" : "POST");
    c->status = status;
    enum MHD_Result ret = MHD_queue_response(mc, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *mc, struct conn *c, int status,
                                  const char *msg, const char *code)
{
    const char *type = status == 401   ? "authentication_error"
                       : status == 404 ? "not_found_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    if (status == 503)
        type = "unavailable_error";
    return send_body(mc, c, status, fy_serve_json_error(msg, type, code), "application/json",
                     status == 503);
}

/* ---- SSE ---- */

static fy_status out_add(struct stream *s, char *text)
{
    if (!text)
        return FY_E_NOMEM;
    size_t n = strlen(text);
    if (s->n + n > s->cap) {
        size_t cap = (s->n + n) * 2;
        char *b = realloc(s->buf, cap);
        if (!b) {
            free(text);
            return FY_E_NOMEM;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->n, text, n);
    s->n += n;
    free(text);
    return FY_OK;
}

/* Generates one token and queues what it adds to the stream. */
static fy_status stream_fill(struct stream *s)
{
    struct fy_serve_run *r = &s->run;
    if (s->finished) {
        if (s->rq.include_usage)
            FY_TRY(out_add(s, fy_serve_sse_usage(r)));
        FY_TRY(out_add(s, strdup("data: [DONE]\n\n")));
        s->ended = true;
        return FY_OK;
    }
    if (s->first && s->rq.chat) {
        FY_TRY(out_add(s, fy_serve_sse_chunk(r, "", 0, NULL, 0, true, false)));
        s->first = false;
        return FY_OK;
    }
    fy_status st = fy_serve_run_step(r);
    if (st != FY_OK) {
        s->failed = true;
        return st;
    }
    size_t safe = fy_serve_run_safe(r);
    size_t nc = safe - r->content.sent, nr = r->reasoning.n - r->reasoning.sent;
    bool calls = r->done && r->n_calls; /* each call: id and name, then its arguments */
    if (nc || nr || (r->done && !calls))
        FY_TRY(out_add(s, fy_serve_sse_chunk(r, r->content.v + r->content.sent, nc,
                                             r->reasoning.v + r->reasoning.sent, nr, false,
                                             r->done && !calls)));
    for (int i = 0; calls && i < r->n_calls; i++) {
        FY_TRY(out_add(s, fy_serve_sse_tool(r, i, 1, false)));
        FY_TRY(out_add(s, fy_serve_sse_tool(r, i, 2, i == r->n_calls - 1)));
    }
    r->content.sent += nc;
    r->reasoning.sent += nr;
    s->finished = r->done;
    return FY_OK;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *s = cls;
    (void)pos;
    while (s->off == s->n) {
        s->off = s->n = 0;
        if (s->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (stream_fill(s) != FY_OK)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t k = s->n - s->off < max ? s->n - s->off : max;
    memcpy(out, s->buf + s->off, k);
    s->off += k;
    return (ssize_t)k;
}

/* The response is done with (sent, or the client went away): hand the session back. */
static void stream_free(void *cls)
{
    struct stream *s = cls;
    struct fy_serve_engine *e = s->h->e;
    log_request("POST", s->path, s->ended ? 200 : 499, s->run.n_prompt, s->run.n_gen, s->t0);
    fy_serve_run_free(&s->run);
    fy_serve_req_free(&s->rq);
    fy_serve_release(e);
    free(s->buf);
    free(s);
}

/* ---- generation requests ---- */

static void run_ids(struct fy_serve_run *r, bool chat)
{
    static atomic_uint_fast64_t counter;
    unsigned long long k = (unsigned long long)atomic_fetch_add(&counter, 1);
    r->created = (long long)time(NULL);
    snprintf(r->id, sizeof(r->id), "%s-%llx%llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)r->created, k);
}

/* A non-streamed answer is generated inside the request's callback, where libmicrohttpd cannot
 * tell that the client went away; this looks at the socket instead: end of stream (the client
 * closed it) or an error (reset). A client that only shut down its sending side while it waits
 * for the answer looks the same (HTTP clients do not do that). */
static bool client_gone(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static enum MHD_Result generate(struct fy_serve_http *h, struct MHD_Connection *mc,
                                struct conn *c, bool chat)
{
    char msg[512];
    const char *code = NULL;
    struct stream *s = calloc(1, sizeof(*s));
    if (!s)
        return send_error(mc, c, 500, "out of memory", NULL);
    int status = fy_serve_req_parse(h->e, chat, c->body ? c->body : "", c->n, &s->rq, msg,
                                    sizeof(msg), &code);
    if (status != 200) {
        free(s);
        return send_error(mc, c, status, msg, code);
    }
    int q = fy_serve_acquire(h->e);
    if (q) {
        fy_serve_req_free(&s->rq);
        free(s);
        return send_error(mc, c, 503, q == -1 ? "the server is busy: the queue is full"
                                              : "the server is shutting down", "server_busy");
    }
    if (client_gone(mc)) { /* it gave up while it waited in the queue */
        fy_serve_release(h->e);
        fy_serve_req_free(&s->rq);
        free(s);
        c->status = 499;
        return MHD_NO;
    }
    fy_status st = fy_serve_run_start(&s->run, h->e, &s->rq);
    run_ids(&s->run, chat);
    if (st == FY_OK && s->rq.stream) {
        s->h = h;
        s->first = true;
        s->t0 = c->t0;
        snprintf(s->path, sizeof(s->path), "%s", c->path);
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
        if (!r) {
            stream_free(s);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        c->streamed = true;
        enum MHD_Result ret = MHD_queue_response(mc, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    bool gone = false; /* the client went away: stop at the next token, free the model */
    while (st == FY_OK && !s->run.done && !(gone = client_gone(mc)))
        st = fy_serve_run_step(&s->run);
    char *body = st == FY_OK && !gone ? fy_serve_json_full(&s->run) : NULL;
    c->n_prompt = s->run.n_prompt;
    c->n_gen = s->run.n_gen;
    fy_serve_run_free(&s->run);
    fy_serve_req_free(&s->rq);
    fy_serve_release(h->e);
    free(s);
    if (gone) {
        c->status = 499; /* logged so (nginx's "client closed request"); nothing is sent */
        return MHD_NO;
    }
    if (st != FY_OK) {
        snprintf(msg, sizeof(msg), "generation failed: %s", fy_status_str(st));
        return send_error(mc, c, 500, msg, NULL);
    }
    return send_body(mc, c, 200, body, "application/json", false);
}

/* ---- routing ---- */

static bool authorized(const struct fy_serve_http *h, struct MHD_Connection *mc)
{
    if (!h->api_key)
        return true;
    const char *v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    if (!v || strncmp(v, "Bearer ", 7))
        return false;
    return !strcmp(v + 7, h->api_key);
}

enum route { R_NONE, R_PAGE, R_HEALTH, R_MODELS, R_CHAT, R_COMPLETIONS, R_METRICS };

static enum route route_of(const char *path)
{
    if (!strcmp(path, "/"))
        return R_PAGE;
    if (!strncmp(path, "/v1/", 4))
        path += 3;
    if (!strcmp(path, "/health"))
        return R_HEALTH;
    if (!strcmp(path, "/models"))
        return R_MODELS;
    if (!strcmp(path, "/chat/completions"))
        return R_CHAT;
    if (!strcmp(path, "/completions"))
        return R_COMPLETIONS;
    if (!strcmp(path, "/metrics"))
        return R_METRICS;
    return R_NONE;
}

static enum MHD_Result respond(struct fy_serve_http *h, struct MHD_Connection *mc,
                               struct conn *c)
{
    enum route rt = route_of(c->path);
    bool post = rt == R_CHAT || rt == R_COMPLETIONS;
    if (!strcmp(c->method, "OPTIONS")) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        c->status = 204;
        enum MHD_Result ret = MHD_queue_response(mc, 204, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (rt == R_NONE) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no such path: %.100s", c->path);
        return send_error(mc, c, 404, msg, "not_found");
    }
    if (strcmp(c->method, post ? "POST" : "GET"))
        return send_error(mc, c, 405, post ? "use POST" : "use GET", "method_not_allowed");
    if (rt != R_HEALTH && rt != R_PAGE && !authorized(h, mc)) /* the page asks for the key */
        return send_error(mc, c, 401, "invalid or missing API key (Authorization: Bearer KEY)",
                          "invalid_api_key");
    if (c->too_big)
        return send_error(mc, c, 413, "the request body is larger than 1 MiB",
                          "request_too_large");
    switch (rt) {
    case R_PAGE:
        return send_body(mc, c, 200, fy_serve_page_html(), "text/html; charset=utf-8", false);
    case R_HEALTH:
        return send_body(mc, c, 200, fy_serve_json_health(), "application/json", false);
    case R_MODELS:
        return send_body(mc, c, 200, fy_serve_json_models(h->e), "application/json", false);
    case R_METRICS:
        return send_body(mc, c, 200, fy_serve_metrics(h->e), "text/plain; version=0.0.4", false);
    default:
        return generate(h, mc, c, rt == R_CHAT);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct fy_serve_http *h = cls;
    struct conn *c = *con_cls;
    (void)version;
    if (!c) {
        if (!(c = calloc(1, sizeof(*c))))
            return MHD_NO;
        c->t0 = fy_now();
        snprintf(c->method, sizeof(c->method), "%s", method);
        snprintf(c->path, sizeof(c->path), "%s", url);
        *con_cls = c;
        /* a body announced over the limit is refused before it is read */
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > FY_SERVE_BODY_MAX) {
            c->too_big = true;
            return respond(h, mc, c);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->too_big || c->n + n > FY_SERVE_BODY_MAX) {
            c->too_big = true; /* the rest is read and dropped */
            free(c->body);
            c->body = NULL;
            c->n = c->cap = 0;
            return MHD_YES;
        }
        if (c->n + n + 1 > c->cap) {
            size_t cap = (c->n + n + 1) * 2;
            char *b = realloc(c->body, cap);
            if (!b)
                return MHD_NO;
            c->body = b;
            c->cap = cap;
        }
        memcpy(c->body + c->n, upload_data, n);
        c->n += n;
        c->body[c->n] = '\0';
        return MHD_YES;
    }
    return respond(h, mc, c);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *c = *con_cls;
    (void)cls;
    (void)mc;
    (void)toe;
    if (!c)
        return;
    if (!c->streamed && c->status)
        log_request(c->method, c->path, c->status, c->n_prompt, c->n_gen, c->t0);
    free(c->body);
    free(c);
    *con_cls = NULL;
}

/* libmicrohttpd's own messages (a client that went away mid-stream, ...): debug level (-v);
 * what matters to the user is logged by this file. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    fy_log(FY_LOG_DEBUG, "serve: libmicrohttpd: %s", buf);
}

fy_status fy_serve_http_start(struct fy_serve_engine *e, const struct fy_serve_http_opts *o,
                              struct fy_serve_http **out)
{
    *out = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", o->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gr = getaddrinfo(o->host, port, &hints, &ai);
    if (gr) {
        fy_log(FY_LOG_ERR, "serve: --host %s: %s", o->host, gai_strerror(gr));
        return FY_E_INVAL;
    }
    struct fy_serve_http *h = calloc(1, sizeof(*h));
    if (!h) {
        freeaddrinfo(ai);
        return FY_E_NOMEM;
    }
    h->e = e;
    h->api_key = o->api_key;
    /* a thread per connection (a waiting request blocks its thread in fy_serve_acquire), poll()
     * rather than select() (no FD_SETSIZE limit), no per-address limit; the connection limit
     * leaves room for the queue plus many clients that get their 503 at once */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(FY_SERVE_CONN_MAX + e->queue_max),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        fy_log(FY_LOG_ERR, "serve: cannot listen on %s:%d (in use, or not an address of this "
               "machine)", o->host, o->port);
        free(h);
        return FY_E_IO;
    }
    *out = h;
    return FY_OK;
}

void fy_serve_http_stop(struct fy_serve_http *h)
{
    if (!h)
        return;
    MHD_socket fd = MHD_quiesce_daemon(h->d); /* no new connections */
    fy_serve_stop(h->e);                      /* in-flight generation stops at its next token */
    MHD_stop_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    free(h);
}
