/* ferry serve: the response bodies, built with cJSON (OpenAI's shapes; reasoning_content and
 * timings as llama-server writes them), and /metrics in Prometheus' text format. */
#include "serve.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints and frees root. */
static char *print(cJSON *root)
{
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

/* A string of n bytes (the text may hold NUL-free UTF-8 only; it does). */
static cJSON *str_n(const char *s, size_t n)
{
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    memcpy(t, s ? s : "", n);
    t[n] = '\0';
    cJSON *v = cJSON_CreateString(t);
    free(t);
    return v;
}

char *fy_serve_json_error(const char *msg, const char *type, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "type", type);
    if (code)
        cJSON_AddStringToObject(err, "code", code);
    else
        cJSON_AddNullToObject(err, "code");
    return print(root);
}

char *fy_serve_json_health(void)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", "ok");
    return print(root);
}

char *fy_serve_json_models(const struct fy_serve_engine *e)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", e->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "ferry");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddNumberToObject(meta, "n_ctx", (double)e->n_ctx);
    cJSON_AddNumberToObject(meta, "n_vocab", (double)e->n_vocab);
    cJSON_AddItemToArray(data, m);
    return print(root);
}

static void add_usage(cJSON *root, const struct fy_serve_run *r)
{
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)r->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(r->n_prompt + r->n_gen));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)r->n_cached);
    cJSON *t = cJSON_AddObjectToObject(root, "timings");
    cJSON_AddNumberToObject(t, "prompt_n", (double)r->n_eval);
    cJSON_AddNumberToObject(t, "prompt_ms", 1e3 * r->t_prompt);
    cJSON_AddNumberToObject(t, "predicted_n", (double)r->n_gen);
    cJSON_AddNumberToObject(t, "predicted_ms", 1e3 * r->t_gen);
}

/* The id of call i: "call_" + the response id's suffix + "_" + i (unique per server run). */
static void call_id(const struct fy_serve_run *r, int i, char *out, size_t cap)
{
    const char *dash = strrchr(r->id, '-');
    snprintf(out, cap, "call_%s_%d", dash ? dash + 1 : r->id, i);
}

/* Call i as a tool_calls entry. part 0 (the message): id, type, function {name, arguments};
 * part 1 (streamed, first): index, id, type, name and arguments ""; part 2 (streamed, then):
 * index and the arguments. */
static cJSON *tool_call(const struct fy_serve_run *r, int i, int part)
{
    char id[80];
    const struct fy_serve_call *c = &r->calls[i];
    call_id(r, i, id, sizeof(id));
    cJSON *t = cJSON_CreateObject();
    if (part)
        cJSON_AddNumberToObject(t, "index", i);
    if (part != 2) {
        cJSON_AddStringToObject(t, "id", id);
        cJSON_AddStringToObject(t, "type", "function");
    }
    cJSON *f = cJSON_AddObjectToObject(t, "function");
    if (part != 2)
        cJSON_AddStringToObject(f, "name", c->name);
    if (part == 1)
        cJSON_AddStringToObject(f, "arguments", "");
    else
        cJSON_AddItemToObject(f, "arguments", str_n(c->args.v, c->args.n));
    return t;
}

static cJSON *head(const struct fy_serve_run *r, const char *object)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", r->id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)r->created);
    cJSON_AddStringToObject(root, "model", r->e->model_id);
    cJSON_AddStringToObject(root, "system_fingerprint", "ferry-" FY_VERSION);
    return root;
}

char *fy_serve_json_full(const struct fy_serve_run *r)
{
    bool chat = r->rq->chat;
    cJSON *root = head(r, chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        if (r->n_calls && !r->content.n)
            cJSON_AddNullToObject(m, "content");
        else
            cJSON_AddItemToObject(m, "content", str_n(r->content.v, r->content.n));
        if (r->n_calls) {
            cJSON *a = cJSON_AddArrayToObject(m, "tool_calls");
            for (int i = 0; i < r->n_calls; i++)
                cJSON_AddItemToArray(a, tool_call(r, i, 0));
        }
        if (r->reasoning.n)
            cJSON_AddItemToObject(m, "reasoning_content", str_n(r->reasoning.v, r->reasoning.n));
    } else {
        cJSON_AddItemToObject(c, "text", str_n(r->content.v, r->content.n));
        cJSON_AddNullToObject(c, "logprobs");
    }
    cJSON_AddStringToObject(c, "finish_reason", r->finish);
    cJSON_AddItemToArray(choices, c);
    add_usage(root, r);
    return print(root);
}

/* "data: JSON\n\n" from a printed JSON string (freed). */
static char *sse(char *json)
{
    if (!json)
        return NULL;
    size_t n = strlen(json);
    char *s = malloc(n + 9);
    if (s)
        snprintf(s, n + 9, "data: %s\n\n", json);
    free(json);
    return s;
}

/* A chunk: its root and choices[0] (chunk_end adds finish_reason and prints it). */
static cJSON *chunk_head(const struct fy_serve_run *r, cJSON **choice)
{
    cJSON *root = head(r, r->rq->chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON_AddItemToArray(choices, c);
    *choice = c;
    return root;
}

static char *chunk_end(cJSON *root, cJSON *c, const struct fy_serve_run *r, bool finish)
{
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", r->finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    return sse(print(root));
}

char *fy_serve_sse_chunk(const struct fy_serve_run *r, const char *content, size_t content_len,
                         const char *reasoning, size_t reasoning_len, bool first, bool finish)
{
    cJSON *c;
    cJSON *root = chunk_head(r, &c);
    if (r->rq->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (first)
            cJSON_AddStringToObject(d, "role", "assistant");
        if (content_len || (first && !reasoning_len))
            cJSON_AddItemToObject(d, "content", str_n(content, content_len));
        if (reasoning_len)
            cJSON_AddItemToObject(d, "reasoning_content", str_n(reasoning, reasoning_len));
    } else {
        cJSON_AddItemToObject(c, "text", str_n(content, content_len));
        cJSON_AddNullToObject(c, "logprobs");
    }
    return chunk_end(root, c, r, finish);
}

char *fy_serve_sse_tool(const struct fy_serve_run *r, int call, int part, bool finish)
{
    cJSON *c;
    cJSON *root = chunk_head(r, &c);
    cJSON *d = cJSON_AddObjectToObject(c, "delta");
    cJSON *a = cJSON_AddArrayToObject(d, "tool_calls");
    cJSON_AddItemToArray(a, tool_call(r, call, part));
    return chunk_end(root, c, r, finish);
}

char *fy_serve_sse_usage(const struct fy_serve_run *r)
{
    cJSON *root = head(r, r->rq->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddArrayToObject(root, "choices");
    add_usage(root, r);
    return sse(print(root));
}

/* Appends text (freed) to out. */
static fy_status out_add(struct fy_serve_text *out, char *text)
{
    if (!text)
        return FY_E_NOMEM;
    size_t n = strlen(text);
    if (out->n + n + 1 > out->cap) {
        size_t cap = (out->n + n + 1) * 2;
        char *v = realloc(out->v, cap);
        if (!v) {
            free(text);
            return FY_E_NOMEM;
        }
        out->v = v;
        out->cap = cap;
    }
    memcpy(out->v + out->n, text, n + 1);
    out->n += n;
    free(text);
    return FY_OK;
}

fy_status fy_serve_sse_step(struct fy_serve_run *r, bool first, struct fy_serve_text *out)
{
    if (first && r->rq->chat)
        FY_TRY(out_add(out, fy_serve_sse_chunk(r, "", 0, NULL, 0, true, false)));
    size_t safe = fy_serve_run_safe(r);
    size_t nc = safe - r->content.sent, nr = r->reasoning.n - r->reasoning.sent;
    bool calls = r->done && r->n_calls; /* each call: id and name, then its arguments */
    if (nc || nr || (r->done && !calls))
        FY_TRY(out_add(out, fy_serve_sse_chunk(r, r->content.v + r->content.sent, nc,
                                               r->reasoning.v + r->reasoning.sent, nr, false,
                                               r->done && !calls)));
    for (int i = 0; calls && i < r->n_calls; i++) {
        FY_TRY(out_add(out, fy_serve_sse_tool(r, i, 1, false)));
        FY_TRY(out_add(out, fy_serve_sse_tool(r, i, 2, i == r->n_calls - 1)));
    }
    r->content.sent += nc;
    r->reasoning.sent += nr;
    if (r->done && r->rq->include_usage)
        FY_TRY(out_add(out, fy_serve_sse_usage(r)));
    if (r->done)
        FY_TRY(out_add(out, strdup("data: [DONE]\n\n")));
    return FY_OK;
}

char *fy_serve_metrics(struct fy_serve_engine *e)
{
    pthread_mutex_lock(&e->mu);
    int64_t req = e->n_requests, pt = e->n_prompt_tokens, gt = e->n_gen_tokens;
    int64_t rej = e->n_rejected;
    double tg = e->t_gen;
    int busy = e->busy, waiting = e->waiting, slots = e->n_slots;
    pthread_mutex_unlock(&e->mu);
    char *s = malloc(4096);
    if (!s)
        return NULL;
    snprintf(s, 4096,
             "# HELP ferry_requests_total Completed generation requests.\n"
             "# TYPE ferry_requests_total counter\nferry_requests_total %lld\n"
             "# HELP ferry_requests_rejected_total Requests refused with 503 (queue full).\n"
             "# TYPE ferry_requests_rejected_total counter\nferry_requests_rejected_total %lld\n"
             "# HELP ferry_prompt_tokens_total Prompt tokens evaluated (cached ones excluded).\n"
             "# TYPE ferry_prompt_tokens_total counter\nferry_prompt_tokens_total %lld\n"
             "# HELP ferry_tokens_predicted_total Generated tokens.\n"
             "# TYPE ferry_tokens_predicted_total counter\nferry_tokens_predicted_total %lld\n"
             "# HELP ferry_predicted_tokens_seconds Average generation speed (tokens/s).\n"
             "# TYPE ferry_predicted_tokens_seconds gauge\nferry_predicted_tokens_seconds %.3f\n"
             "# HELP ferry_requests_processing Requests generating (in a slot).\n"
             "# TYPE ferry_requests_processing gauge\nferry_requests_processing %d\n"
             "# HELP ferry_requests_deferred Requests waiting in the queue.\n"
             "# TYPE ferry_requests_deferred gauge\nferry_requests_deferred %d\n"
             "# HELP ferry_slots_busy Slots running a request.\n"
             "# TYPE ferry_slots_busy gauge\nferry_slots_busy %d\n"
             "# HELP ferry_slots_total Slots (-np: requests generating together at most).\n"
             "# TYPE ferry_slots_total gauge\nferry_slots_total %d\n",
             (long long)req, (long long)rej, (long long)pt, (long long)gt,
             tg > 0 ? (double)gt / tg : 0.0, busy, waiting, busy, slots);
    return s;
}
