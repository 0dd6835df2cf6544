/* ferry serve: the sampled ids of an answer -> its text. A chat answer goes through the harmony
 * parser: the final channel is the content, analysis and commentary the reasoning. Output that
 * is not harmony (a parser error, or FY_SERVE_MAX_HEADER tokens without a message, or an answer
 * that ends before any message began: a synthetic model) is the content as raw text, as
 * chat_view.c shows it. Stop strings cut the content. Messages to "functions.NAME" are function
 * calls (r->calls), reported when the answer ends with <|call|>. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FY_SERVE_MAX_HEADER 32 /* tokens without a message before output counts as raw */

static fy_status text_add(struct fy_serve_text *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        size_t cap = (t->n + n + 1) * 2;
        char *v = realloc(t->v, cap);
        if (!v)
            return FY_E_NOMEM;
        t->v = v;
        t->cap = cap;
    }
    if (n)
        memcpy(t->v + t->n, s, n);
    t->n += n;
    t->v[t->n] = '\0';
    return FY_OK;
}

/* Content grew: cut it at the first stop string, if one is there now. */
static fy_status content_add(struct fy_serve_run *r, const char *s, size_t n)
{
    size_t from = r->content.n;
    FY_TRY(text_add(&r->content, s, n));
    if (!r->rq->n_stop)
        return FY_OK;
    from = from >= r->max_stop_len ? from - r->max_stop_len + 1 : 0;
    size_t cut = r->content.n + 1;
    for (int i = 0; i < r->rq->n_stop; i++) {
        const char *hit = strstr(r->content.v + from, r->rq->stop[i]);
        if (hit && (size_t)(hit - r->content.v) < cut)
            cut = (size_t)(hit - r->content.v);
    }
    if (cut <= r->content.n) {
        r->content.n = cut;
        r->content.v[cut] = '\0';
        r->done = true;
        r->finish = "stop";
    }
    return FY_OK;
}

static bool is_stop(const struct fy_serve_run *r, int32_t id)
{
    for (int i = 0; i < 3; i++)
        if (id >= 0 && id == r->e->stop_ids[i])
            return true;
    return false;
}

static fy_status raw_token(struct fy_serve_run *r, int32_t id)
{
    char buf[1024];
    if (is_stop(r, id)) {
        r->done = true;
        r->finish = "stop";
        return FY_OK;
    }
    size_t n = fy_detok_push(&r->dt, r->e->tok, id, buf, sizeof(buf));
    return content_add(r, buf, n);
}

/* Not harmony: the ids so far become raw text. */
static fy_status go_raw(struct fy_serve_run *r)
{
    char buf[1024];
    r->mode = FY_SERVE_RAW;
    memset(&r->dt, 0, sizeof(r->dt));
    for (int64_t i = 0; i < r->said.n && !r->done; i++) {
        size_t n = fy_detok_push(&r->dt, r->e->tok, r->said.ids[i], buf, sizeof(buf));
        FY_TRY(content_add(r, buf, n));
    }
    return FY_OK;
}

/* An assistant message to "functions.NAME": a function call, its content the arguments. */
static const char *call_name(const struct fy_harmony_msg *m)
{
    const char *to = m ? m->recipient : NULL;
    return to && !strncmp(to, "functions.", 10) && to[10] ? to + 10 : NULL;
}

static fy_status harmony_event(struct fy_serve_run *r, const struct fy_harmony_event *ev)
{
    const char *call = call_name(ev->msg);
    if ((ev->events & FY_HARMONY_EV_START) && call) {
        r->in_call = -1;
        if (r->n_calls < FY_SERVE_MAX_CALLS) { /* more: dropped (the content is not shown) */
            r->in_call = r->n_calls++;
            snprintf(r->calls[r->in_call].name, sizeof(r->calls[0].name), "%s", call);
        }
    }
    if ((ev->events & FY_HARMONY_EV_DELTA) && ev->msg && ev->delta_len) {
        bool final = !ev->msg->channel || !strcmp(ev->msg->channel, "final");
        if (call) {
            if (r->in_call >= 0)
                FY_TRY(text_add(&r->calls[r->in_call].args, ev->delta, ev->delta_len));
        } else if (final) {
            FY_TRY(content_add(r, ev->delta, ev->delta_len));
        } else {
            FY_TRY(text_add(&r->reasoning, ev->delta, ev->delta_len));
        }
    }
    if ((ev->events & FY_HARMONY_EV_END) && call && r->in_call >= 0) {
        r->calls[r->in_call].complete = ev->msg->end_token >= 0; /* -1: cut by the limit */
        r->in_call = -1;
    }
    if ((ev->events & FY_HARMONY_EV_DONE) && ev->stop_token >= 0) { /* not the length limit */
        r->done = true;
        r->finish = "stop";
        if (ev->stop_token == r->e->stop_ids[2] && r->n_calls > 0)
            r->finish = "tool_calls"; /* <|call|> */
    }
    return FY_OK;
}

/* One sampled id into the answer. */
fy_status fy_serve_answer_token(struct fy_serve_run *r, int32_t id)
{
    if (r->mode == FY_SERVE_RAW)
        return raw_token(r, id);
    struct fy_harmony_event ev = {0};
    if (fy_harmony_parser_push(r->p, id, &ev) != FY_OK) {
        /* not harmony: what came so far is raw text (undecided), or the text goes on raw */
        if (r->mode == FY_SERVE_UNDECIDED)
            FY_TRY(go_raw(r));
        r->mode = FY_SERVE_RAW;
        return r->done ? FY_OK : raw_token(r, id);
    }
    bool inside = fy_harmony_parser_current(r->p) || (ev.events & FY_HARMONY_EV_START);
    if (inside)
        r->mode = FY_SERVE_HARMONY;
    r->header_run = inside ? 0 : r->header_run + 1;
    if (r->mode == FY_SERVE_UNDECIDED) {
        FY_TRY(fy_tokens_push(&r->said, id));
        if (r->header_run > FY_SERVE_MAX_HEADER)
            return go_raw(r);
        if (ev.events & FY_HARMONY_EV_DONE) {
            r->done = true;
            r->finish = "stop";
        }
        return FY_OK;
    }
    return harmony_event(r, &ev);
}

/* The end of the answer however it ended: what is held back is written. */
fy_status fy_serve_answer_end(struct fy_serve_run *r)
{
    char buf[64];
    if (r->mode == FY_SERVE_UNDECIDED && r->said.n > 0) {
        r->done = false; /* go_raw stops at a stop string only */
        FY_TRY(go_raw(r));
        r->done = true;
    }
    if (r->mode == FY_SERVE_RAW) {
        FY_TRY(text_add(&r->content, buf, fy_detok_flush(&r->dt, buf, sizeof(buf))));
    } else if (r->p && !fy_harmony_parser_done(r->p)) {
        struct fy_harmony_event ev = {0};
        if (fy_harmony_parser_finish(r->p, &ev) == FY_OK)
            FY_TRY(harmony_event(r, &ev));
    }
    /* calls only in an answer that ends with <|call|>, and only complete ones */
    int n = 0;
    for (int i = 0; i < r->n_calls; i++) {
        struct fy_serve_call c = r->calls[i];
        if (!strcmp(r->finish, "tool_calls") && c.complete) {
            r->calls[i] = r->calls[n];
            r->calls[n++] = c;
        }
    }
    r->n_calls = n;
    if (!n && !strcmp(r->finish, "tool_calls"))
        r->finish = "stop";
    for (int i = 0; i < r->n_calls; i++)
        FY_TRY(text_add(&r->calls[i].args, "", 0));
    FY_TRY(text_add(&r->content, "", 0));
    return text_add(&r->reasoning, "", 0);
}

fy_status fy_serve_answer_begin(struct fy_serve_run *r)
{
    r->finish = "length";
    r->in_call = -1;
    r->max_stop_len = 0;
    for (int i = 0; i < r->rq->n_stop; i++) {
        size_t n = strlen(r->rq->stop[i]);
        if (n > r->max_stop_len)
            r->max_stop_len = n;
    }
    if (!r->rq->chat) {
        r->mode = FY_SERVE_RAW;
        return FY_OK;
    }
    r->mode = FY_SERVE_UNDECIDED;
    return fy_harmony_parser_new(r->e->tok, FY_ROLE_ASSISTANT, &r->p);
}

size_t fy_serve_run_safe(const struct fy_serve_run *r)
{
    size_t n = r->content.n;
    if (r->done || r->max_stop_len < 2)
        return n;
    size_t hold = r->max_stop_len - 1;
    n = n > hold ? n - hold : 0;
    while (n > 0 && ((unsigned char)r->content.v[n] & 0xC0) == 0x80)
        n--; /* not inside a character */
    return n < r->content.sent ? r->content.sent : n;
}

void fy_serve_answer_free(struct fy_serve_run *r)
{
    fy_harmony_parser_free(r->p);
    r->p = NULL;
    fy_tokens_free(&r->said);
    free(r->content.v);
    free(r->reasoning.v);
    for (int i = 0; i < FY_SERVE_MAX_CALLS; i++)
        free(r->calls[i].args.v);
    memset(&r->content, 0, sizeof(r->content));
    memset(&r->reasoning, 0, sizeof(r->reasoning));
    memset(r->calls, 0, sizeof(r->calls));
    r->n_calls = 0;
}
