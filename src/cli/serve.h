/* `ferry serve`: an OpenAI-compatible HTTP server over one model and one session.
 *   serve_http.c  libmicrohttpd: routes, bodies, the API key, SSE, clients that go away, one
 *                 log line per request
 *   serve_req.c   request JSON -> a parsed request (harmony prompt tokens, sampling, stops)
 *   serve_gen.c   the engine: one request at a time (a queue), the prompt cache, generation
 *   serve_tools.c  a request's function tools -> harmony function definitions
 *   serve_answer.c  the answer split into content, reasoning and function calls (harmony) or
 *                   raw text
 *   serve_resp.c  response JSON: completions, SSE chunks, errors, models, metrics
 *   serve_page.c  the web chat's page (GET /, serve_page.html embedded at build time)
 * All JSON is built and parsed with cJSON. */
#ifndef FY_SERVE_H
#define FY_SERVE_H

#include "generate.h"
#include "text/harmony.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FY_SERVE_BODY_MAX (1024 * 1024) /* bytes of a request body; more: 413 */
#define FY_SERVE_MAX_STOP 16            /* stop strings per request */
#define FY_SERVE_MAX_CALLS 16           /* function calls per answer; more are dropped */

struct fy_serve_engine {
    struct fy_session *s;
    const struct fy_tokenizer *tok;
    int64_t n_vocab;
    int64_t n_ctx;
    const char *model_id;        /* the model's file name */
    struct fy_tokens cached;     /* the tokens the session holds, in order */
    int32_t stop_ids[3];         /* <|endoftext|>, <|return|>, <|call|> (-1: absent) */
    struct fy_tokens script;     /* a test hook: FY_SERVE_SCRIPT=FILE (harmony text, special
                                  * tokens parsed) replaces sampling: every answer is these
                                  * ids (the model still evaluates them), then <|endoftext|> */
    /* one request at a time: busy holds the session, waiting are queued for it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool busy;
    int waiting;
    int queue_max;
    atomic_bool stopping;        /* shutdown: generation stops at the next token */
    /* /metrics (under mu) */
    int64_t n_requests, n_prompt_tokens, n_gen_tokens, n_rejected;
    double t_gen;
};

/* A parsed request. */
struct fy_serve_req {
    bool chat;                   /* /v1/chat/completions (harmony) or /v1/completions (raw) */
    bool stream, include_usage;
    struct fy_tokens prompt;
    int64_t max_tokens;          /* -1: until the context is full */
    struct fy_sampler_params sp; /* temp <= 0: greedy */
    char *stop[FY_SERVE_MAX_STOP];
    int n_stop;
};

/* One answer being generated; holds the engine from fy_serve_run_start to fy_serve_run_free. */
enum fy_serve_mode { FY_SERVE_UNDECIDED, FY_SERVE_HARMONY, FY_SERVE_RAW };

struct fy_serve_text {
    char *v;
    size_t n, cap;
    size_t sent; /* bytes already streamed */
};

struct fy_serve_call {
    char name[128];              /* NAME of "functions.NAME" */
    struct fy_serve_text args;   /* the message's content: the arguments as JSON text */
    bool complete;               /* the message ended (<|end|> or <|call|>) */
};

struct fy_serve_run {
    struct fy_serve_engine *e;
    struct fy_serve_req *rq;
    struct fy_gen gen;
    struct fy_sampler *smp;
    bool gen_init;
    /* the answer */
    enum fy_serve_mode mode;
    struct fy_harmony_parser *p;
    struct fy_tokens said; /* undecided: the ids so far */
    struct fy_detok dt;
    int64_t header_run;
    struct fy_serve_text content, reasoning;
    size_t max_stop_len;
    bool done;
    const char *finish;          /* "stop", "length", "tool_calls" */
    /* function calls: the assistant messages to "functions.NAME" of the answer, in order. An
     * answer that ends with <|call|> reports every complete one (ended by <|end|> or <|call|>;
     * gpt-oss writes one and stops); any other end reports none (n_calls 0). */
    struct fy_serve_call calls[FY_SERVE_MAX_CALLS];
    int n_calls;
    int in_call; /* the call whose message is being read, or -1 */
    /* counts */
    int64_t n_prompt, n_cached, n_eval, n_gen;
    double t_prompt, t_gen, t_start;
    /* stream: the id and time of the response */
    char id[48];
    long long created;
};

/* ---- serve_gen.c ---- */
fy_status fy_serve_engine_init(struct fy_serve_engine *e, struct fy_session *s,
                               const struct fy_tokenizer *tok, int64_t n_vocab,
                               const char *model_id, int queue_max);
void fy_serve_engine_free(struct fy_serve_engine *e);
/* Waits for the session: 0 held, -1 the queue is full, -2 the server is stopping. */
int fy_serve_acquire(struct fy_serve_engine *e);
void fy_serve_release(struct fy_serve_engine *e);
/* Wakes every waiter (they get -2), makes generation stop at the next token and waits (5 s at
 * most) for the request in flight to hand the session back. */
void fy_serve_stop(struct fy_serve_engine *e);

/* With the session held: evaluates the prompt after the prefix the cache holds and prepares
 * sampling. */
fy_status fy_serve_run_start(struct fy_serve_run *r, struct fy_serve_engine *e,
                             struct fy_serve_req *rq);
/* Generates one token; r->done once the answer is over (r->finish says why). */
fy_status fy_serve_run_step(struct fy_serve_run *r);
/* Adds the run's counts to the engine's metrics and frees it (not the request). */
void fy_serve_run_free(struct fy_serve_run *r);

/* ---- serve_answer.c: ids -> content and reasoning (r->e->tok, r->e->stop_ids, r->rq) ---- */
fy_status fy_serve_answer_begin(struct fy_serve_run *r);
/* One sampled id; sets r->done (and r->finish "stop") at a stop token or stop string. */
fy_status fy_serve_answer_token(struct fy_serve_run *r, int32_t id);
/* However the answer ended: what is held back is written; content and reasoning are strings. */
fy_status fy_serve_answer_end(struct fy_serve_run *r);
/* The streamable part of r->content now (stop strings may still cut the rest). */
size_t fy_serve_run_safe(const struct fy_serve_run *r);
/* Frees what the answer holds (parser, text, calls); the run's other parts stay. */
void fy_serve_answer_free(struct fy_serve_run *r);

/* ---- serve_req.c ---- */
/* Parses a request body: 200 with rq filled (free it with fy_serve_req_free), or an HTTP status
 * (400, 500) with the message written to msg and *code set to OpenAI's error code. */
int fy_serve_req_parse(const struct fy_serve_engine *e, bool chat, const char *body, size_t len,
                       struct fy_serve_req *rq, char *msg, size_t msg_cap, const char **code);
void fy_serve_req_free(struct fy_serve_req *rq);

/* ---- serve_tools.c ---- */
struct cJSON;
struct fy_serve_tools {
    struct fy_harmony_tool *v; /* names and descriptions point into the request's JSON */
    int64_t n;
};
/* "tools" and "tool_choice" of a chat request: 0 (ts filled; none with "none"), 400 (msg says
 * why) or 500. */
int fy_serve_tools_parse(const struct cJSON *root, struct fy_serve_tools *ts, char *msg,
                         size_t cap);
void fy_serve_tools_free(struct fy_serve_tools *ts);
/* A JSON schema -> the TypeScript-like argument type ("" for no argument); NULL: no memory. */
char *fy_serve_tool_params(const struct cJSON *schema);

/* ---- serve_resp.c ---- (malloc'd strings; NULL: out of memory) */
char *fy_serve_json_error(const char *msg, const char *type, const char *code);
char *fy_serve_json_health(void);
char *fy_serve_json_models(const struct fy_serve_engine *e);
char *fy_serve_json_full(const struct fy_serve_run *r);
/* One SSE event "data: {...}\n\n" of the new text; first: the role delta (chat). finish:
 * the last chunk with finish_reason. */
char *fy_serve_sse_chunk(const struct fy_serve_run *r, const char *content, size_t content_len,
                         const char *reasoning, size_t reasoning_len, bool first, bool finish);
/* One SSE event with call number `call` of r->calls in delta.tool_calls (finish: with
 * finish_reason). part 1: the call's index, id, type, name and arguments ""; part 2: its index
 * and the arguments. A streamed answer with calls sends part 1 then part 2 of each, in order. */
char *fy_serve_sse_tool(const struct fy_serve_run *r, int call, int part, bool finish);
char *fy_serve_sse_usage(const struct fy_serve_run *r);
char *fy_serve_metrics(struct fy_serve_engine *e);

/* ---- serve_page.c ---- */
/* The web chat's HTML page, malloc'd (NULL: out of memory). */
char *fy_serve_page_html(void);

/* ---- serve_http.c ---- */
struct fy_serve_http;
struct fy_serve_http_opts {
    const char *host;
    int port;
    const char *api_key;
};
fy_status fy_serve_http_start(struct fy_serve_engine *e, const struct fy_serve_http_opts *o,
                              struct fy_serve_http **out);
/* Stops accepting, finishes (or cancels) what is in flight, frees. */
void fy_serve_http_stop(struct fy_serve_http *h);

#endif
