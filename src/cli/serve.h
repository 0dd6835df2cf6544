/* `ferry serve`: an OpenAI-compatible HTTP server over one model and one session.
 *   serve_http.c  libmicrohttpd: routes, bodies, the API key, SSE, clients that go away, one
 *                 log line per request
 *   serve_req.c   request JSON -> a parsed request (harmony prompt tokens, sampling, stops)
 *   serve_gen.c   the engine: a generation thread over -np slots (sequences of one session,
 *                 each with its prompt cache) generating together, a queue in front
 *   serve_slot.c  a slot's work: choosing one for a request, its prompt, sampling
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

struct fy_serve_job;

/* A slot: sequence i of the session, the tokens it holds (its prompt cache) and the request it
 * runs. The generation thread's only. */
struct fy_serve_slot {
    struct fy_tokens cached;     /* the tokens the sequence holds, in order */
    struct fy_serve_job *job;    /* NULL: free */
    uint64_t last_used;          /* when it was last freed (the engine's count; 0: never) */
};

struct fy_serve_engine {
    struct fy_session *s;
    const struct fy_tokenizer *tok;
    int64_t n_vocab;
    int64_t n_ctx;               /* positions per slot (-c / -np) */
    const char *model_id;        /* the model's file name */
    int32_t stop_ids[3];         /* <|endoftext|>, <|return|>, <|call|> (-1: absent) */
    struct fy_tokens script;     /* a test hook: FY_SERVE_SCRIPT=FILE (harmony text, special
                                  * tokens parsed) replaces sampling: every answer is these
                                  * ids (the model still evaluates them), then <|endoftext|> */
    struct fy_serve_slot *slots; /* [n_slots]: one per sequence of the session (-np) */
    int n_slots;
    uint64_t n_freed;            /* slots freed so far (last_used) */
    /* the generation thread's step [n_slots]: its inputs, each one's job, whether it was
     * prompt tokens, and a failure of that job alone */
    struct fy_seq_input *in;
    struct fy_serve_job **in_job;
    bool *in_prompt;
    fy_status *in_st;
    /* the generation thread owns the session; connection threads hand it jobs */
    pthread_t thread;
    bool thread_on, sync_on;     /* the thread runs; mu and cv are initialised */
    pthread_mutex_t mu;          /* guards what follows and each job's shared part */
    pthread_cond_t cv;           /* the generation thread waits for work; fy_serve_stop waits
                                  * for the jobs to go */
    struct fy_serve_job *queue, *queue_tail; /* waiting for a slot, oldest first */
    int waiting;                 /* jobs in the queue */
    int busy;                    /* slots running a job */
    int n_jobs;                  /* jobs submitted and not yet freed */
    int queue_max;
    atomic_bool stopping;        /* shutdown: generation stops at the next token */
    /* /metrics */
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

/* One answer being generated (a job's, run by the generation thread). */
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
    struct fy_sampler *smp;      /* NULL: greedy */
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
    double t_prompt, t_gen;
    /* stream: the id and time of the response */
    char id[48];
    long long created;
};

/* A request in the engine: made and submitted by its connection's thread, run in a slot by the
 * generation thread, its output read back by the connection's thread. */
struct fy_serve_job {
    struct fy_serve_req rq;      /* filled by the caller (fy_serve_req_parse) before submitting */
    struct fy_serve_run run;     /* the generation thread's until the job is finished */
    struct fy_serve_job *next;   /* the queue */
    pthread_cond_t cv;           /* started, new output, finished */
    /* under e->mu */
    int refs;                    /* the connection's, and the engine's while submitted */
    bool submitted;              /* counted in e->n_jobs */
    bool started;                /* its prompt is evaluated: the response goes out */
    bool finished;               /* done (answer over, cancelled, failed or refused) */
    bool refused;                /* the server stopped before it started */
    bool cancel;                 /* the client went away */
    fy_status st;                /* a failure */
    struct fy_serve_text out;    /* streamed: SSE text not yet read (out.sent: read up to) */
    int64_t n_gen;               /* run.n_gen, for the log line */
    /* the generation thread's */
    int slot;                    /* -1: not in one */
    int64_t fed;                 /* prompt tokens the slot holds */
    int32_t pending;             /* the sampled id to evaluate next */
    bool began;                  /* the step that evaluated the last prompt token */
};

/* ---- serve_gen.c: the engine (a generation thread over the session's slots, a queue) ---- */
/* Starts the generation thread; one slot per sequence of s. */
fy_status fy_serve_engine_init(struct fy_serve_engine *e, struct fy_session *s,
                               const struct fy_tokenizer *tok, int64_t n_vocab,
                               const char *model_id, int queue_max);
/* Stops the generation thread (fy_serve_stop) if it runs, frees. */
void fy_serve_engine_free(struct fy_serve_engine *e);
/* A job without a request (FY_E_NOMEM); free it with fy_serve_job_drop. */
fy_status fy_serve_job_new(struct fy_serve_job **out);
/* Hands a job with its request filled to the engine (the answer prepared, id and created
 * set): 0 queued, -1 the queue is full, -2 the server is stopping, -3 out of memory. */
int fy_serve_submit(struct fy_serve_engine *e, struct fy_serve_job *job, bool chat);
enum fy_serve_wait {
    FY_SERVE_PENDING,   /* the time ran out */
    FY_SERVE_STARTED,   /* the prompt is evaluated (waiting for the start only) */
    FY_SERVE_FINISHED,  /* the answer is over (job->run holds it) */
    FY_SERVE_FAILED,    /* generation failed (job->st) or the client went away */
    FY_SERVE_REFUSED,   /* the server stopped before the job started */
};
/* Waits at most wait_s for the job to start (until_end: to finish). */
enum fy_serve_wait fy_serve_job_wait(struct fy_serve_engine *e, struct fy_serve_job *job,
                                     bool until_end, double wait_s);
/* A streamed job's SSE text: copies up to max bytes, waiting at most wait_s for some. Returns
 * the bytes copied, 0 none yet, -1 the end (all read), -2 failed. */
int64_t fy_serve_job_read(struct fy_serve_engine *e, struct fy_serve_job *job, char *out,
                          size_t max, double wait_s);
/* The connection is done with the job: one not finished is cancelled (its slot is freed at the
 * generation thread's next step); freed once the engine is done with it too. *n_gen (unless
 * NULL): the tokens it generated. NULL-safe. */
void fy_serve_job_drop(struct fy_serve_engine *e, struct fy_serve_job *job, int64_t *n_gen);
/* Refuses what waits, ends what runs at its next token (a stream with its last chunk and
 * [DONE]), stops the generation thread and waits (5 s at most) for the connections to let go
 * of their jobs. */
void fy_serve_stop(struct fy_serve_engine *e);
/* ---- serve_slot.c: a slot's part of a job ---- */
/* The connection's thread, before submitting: the sampler (temperature > 0), the answer's
 * parser, the response's id and time. */
fy_status fy_serve_job_prepare(struct fy_serve_engine *e, struct fy_serve_job *job, bool chat);
/* The generation thread's. The free slot for a prompt: the one whose cached tokens share the
 * longest prefix with it (at least a tenth of it), else the least recently used; -1 none. */
int fy_serve_slot_pick(const struct fy_serve_engine *e, const struct fy_tokens *prompt);
/* The job takes the slot: the common prefix of its cache and the prompt is kept (the rest
 * forgotten), the job's n_cached says how much. */
void fy_serve_slot_begin(struct fy_serve_engine *e, struct fy_serve_job *job, int slot);
/* The job's tokens for the next step: the last sampled id, or up to budget prompt tokens the
 * slot lacks. Returns how many. */
int64_t fy_serve_slot_input(const struct fy_serve_engine *e, const struct fy_serve_job *job,
                            int64_t budget, struct fy_seq_input *in);
/* After the step evaluated in: the slot's cache grows; once the whole prompt is in (job->began
 * set then), samples the next id from logits into the answer, or ends it (max_tokens, the
 * slot's context, the server stopping). */
fy_status fy_serve_slot_logits(struct fy_serve_engine *e, struct fy_serve_job *job,
                               const struct fy_seq_input *in, const float *logits);
/* Empties a slot (after a failed step). */
void fy_serve_slot_reset(struct fy_serve_engine *e, int slot);

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
/* Appends to out the SSE events of what the answer added since the last call (content past
 * what may still be cut by a stop string, reasoning); when it is done, its calls, the last
 * chunk, the usage (include_usage) and [DONE]. first: the role delta first (chat). */
fy_status fy_serve_sse_step(struct fy_serve_run *r, bool first, struct fy_serve_text *out);
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
