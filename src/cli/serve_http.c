/* ferry serve's HTTP layer (libmicrohttpd, a thread per connection): routes, request bodies (at
 * most FY_SERVE_BODY_MAX bytes), the API key, non-streamed answers, SSE streams read from the
 * job's output in the content-reader callback (a client that goes away cancels its job: the
 * free callback drops it, or a look at the socket while a request waits), and one log line per
 * request. */
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
    struct fy_serve_job *job;
    int fd;      /* the connection's socket (-1: unknown) */
    bool ended;  /* [DONE] went out */
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

/* The client closed its socket (end of stream) or it failed (reset). A client that only shut
 * down its sending side while it waits for the answer looks the same (HTTP clients do not do
 * that). */
static bool fd_gone(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int conn_fd(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* ---- SSE: the generation thread writes a job's events, the connection's thread sends them ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *s = cls;
    (void)pos;
    for (;;) {
        int64_t k = fy_serve_job_read(s->h->e, s->job, out, max, 0.1);
        if (k > 0)
            return (ssize_t)k;
        if (k == -1) {
            s->ended = true;
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (k == -2 || (s->fd >= 0 && fd_gone(s->fd)))
            return MHD_CONTENT_READER_END_WITH_ERROR; /* failed, or the client went away */
    }
}

/* The response is done with (sent, or the client went away): the job is cancelled if it still
 * runs, and its slot freed. */
static void stream_free(void *cls)
{
    struct stream *s = cls;
    int64_t n_gen = 0;
    const int64_t n_prompt = s->job->rq.prompt.n;
    fy_serve_job_drop(s->h->e, s->job, &n_gen);
    log_request("POST", s->path, s->ended ? 200 : 499, n_prompt, n_gen, s->t0);
    free(s);
}

/* ---- generation requests ---- */

/* The job (parsed, submitted) has started (streamed) or finished: the response. */
static enum MHD_Result answer(struct fy_serve_http *h, struct MHD_Connection *mc, struct conn *c,
                              struct fy_serve_job *job)
{
    if (job->rq.stream) {
        struct stream *s = calloc(1, sizeof(*s));
        struct MHD_Response *r = s ? MHD_create_response_from_callback(
                                         MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free)
                                   : NULL;
        if (!r) {
            free(s);
            fy_serve_job_drop(h->e, job, NULL);
            return MHD_NO;
        }
        s->h = h;
        s->job = job;
        s->fd = conn_fd(mc);
        s->t0 = c->t0;
        snprintf(s->path, sizeof(s->path), "%s", c->path);
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        c->streamed = true;
        enum MHD_Result ret = MHD_queue_response(mc, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    char *body = fy_serve_json_full(&job->run);
    c->n_prompt = job->run.n_prompt;
    c->n_gen = job->run.n_gen;
    fy_serve_job_drop(h->e, job, NULL);
    return send_body(mc, c, 200, body, "application/json", false);
}

/* A request is parsed and handed to the engine; this thread waits for its start (streamed) or
 * its end, watching the socket: a client that goes away meanwhile (waiting in the queue, or
 * for a non-streamed answer) cancels it. */
static enum MHD_Result generate(struct fy_serve_http *h, struct MHD_Connection *mc,
                                struct conn *c, bool chat)
{
    char msg[512];
    const char *code = NULL;
    struct fy_serve_job *job = NULL;
    if (fy_serve_job_new(&job) != FY_OK)
        return send_error(mc, c, 500, "out of memory", NULL);
    int status = fy_serve_req_parse(h->e, chat, c->body ? c->body : "", c->n, &job->rq, msg,
                                    sizeof(msg), &code);
    if (status != 200) {
        fy_serve_job_drop(h->e, job, NULL);
        return send_error(mc, c, status, msg, code);
    }
    int q = fy_serve_submit(h->e, job, chat);
    if (q) {
        fy_serve_job_drop(h->e, job, NULL);
        if (q == -3)
            return send_error(mc, c, 500, "out of memory", NULL);
        return send_error(mc, c, 503, q == -1 ? "the server is busy: the queue is full"
                                              : "the server is shutting down", "server_busy");
    }
    const int fd = conn_fd(mc);
    enum fy_serve_wait w;
    while ((w = fy_serve_job_wait(h->e, job, !job->rq.stream, 0.05)) == FY_SERVE_PENDING) {
        if (fd >= 0 && fd_gone(fd)) {
            c->n_prompt = job->rq.prompt.n;
            fy_serve_job_drop(h->e, job, &c->n_gen);
            c->status = 499; /* logged so (nginx's "client closed request"); nothing is sent */
            return MHD_NO;
        }
    }
    if (w == FY_SERVE_REFUSED || w == FY_SERVE_FAILED) {
        if (w == FY_SERVE_REFUSED)
            snprintf(msg, sizeof(msg), "the server is shutting down");
        else
            snprintf(msg, sizeof(msg), "generation failed: %s", fy_status_str(job->st));
        fy_serve_job_drop(h->e, job, NULL);
        return send_error(mc, c, w == FY_SERVE_REFUSED ? 503 : 500, msg,
                          w == FY_SERVE_REFUSED ? "server_busy" : NULL);
    }
    return answer(h, mc, c, job);
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
    /* a thread per connection (a request's thread waits for its job), poll()
     * rather than select() (no FD_SETSIZE limit), no per-address limit; the connection limit
     * leaves room for the queue plus many clients that get their 503 at once */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(FY_SERVE_CONN_MAX + e->n_slots + e->queue_max),
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
