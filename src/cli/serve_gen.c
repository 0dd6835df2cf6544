/* ferry serve's engine: one request at a time over the session (a bounded queue), the prompt
 * cache (the common prefix of the held tokens and the new prompt is kept), and generation, with
 * the answer split into content (the final channel) and reasoning (analysis, commentary); output
 * that is not harmony (a synthetic model) is the content as raw text, as in chat_view.c. */
#include "serve.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FY_SERVE_MAX_HEADER 32 /* tokens without a message before output counts as raw */

fy_status fy_serve_engine_init(struct fy_serve_engine *e, struct fy_session *s,
                               const struct fy_tokenizer *tok, int64_t n_vocab,
                               const char *model_id, int queue_max)
{
    static const char *const names[3] = {"<|endoftext|>", "<|return|>", "<|call|>"};
    memset(e, 0, sizeof(*e));
    e->s = s;
    e->tok = tok;
    e->n_vocab = n_vocab;
    e->n_ctx = fy_session_n_ctx(s);
    e->model_id = model_id;
    e->queue_max = queue_max;
    for (int i = 0; i < 3; i++)
        e->stop_ids[i] = fy_tokenizer_special(tok, names[i]);
    atomic_init(&e->stopping, false);
    if (pthread_mutex_init(&e->mu, NULL))
        return FY_E_NOMEM;
    if (pthread_cond_init(&e->cv, NULL)) {
        pthread_mutex_destroy(&e->mu);
        return FY_E_NOMEM;
    }
    return FY_OK;
}

void fy_serve_engine_free(struct fy_serve_engine *e)
{
    fy_tokens_free(&e->cached);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
}

int fy_serve_acquire(struct fy_serve_engine *e)
{
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    if (e->busy && e->waiting >= e->queue_max) {
        e->n_rejected++;
        rc = -1;
    } else {
        e->waiting++;
        while (e->busy && !atomic_load(&e->stopping))
            pthread_cond_wait(&e->cv, &e->mu);
        e->waiting--;
        if (atomic_load(&e->stopping))
            rc = -2;
        else
            e->busy = true;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void fy_serve_release(struct fy_serve_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->busy = false;
    pthread_cond_broadcast(&e->cv); /* the next waiter, or fy_serve_stop's wait */
    pthread_mutex_unlock(&e->mu);
}

void fy_serve_stop(struct fy_serve_engine *e)
{
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->stopping, true);
    pthread_cond_broadcast(&e->cv);
    /* the request in flight ends at its next token (a stream with its last chunk and [DONE]);
     * wait for that, a few seconds at most (a client that stopped reading) */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (e->busy && pthread_cond_timedwait(&e->cv, &e->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&e->mu);
}

/* ---- the answer's text ---- */

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

static fy_status harmony_event(struct fy_serve_run *r, const struct fy_harmony_event *ev)
{
    if ((ev->events & FY_HARMONY_EV_DELTA) && ev->msg && ev->delta_len) {
        bool final = !ev->msg->channel || !strcmp(ev->msg->channel, "final");
        if (final)
            FY_TRY(content_add(r, ev->delta, ev->delta_len));
        else
            FY_TRY(text_add(&r->reasoning, ev->delta, ev->delta_len));
    }
    if (ev->events & FY_HARMONY_EV_DONE) {
        r->done = true;
        r->finish = "stop";
    }
    return FY_OK;
}

/* One sampled id into the answer. */
static fy_status answer_token(struct fy_serve_run *r, int32_t id)
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
static fy_status answer_end(struct fy_serve_run *r)
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
    FY_TRY(text_add(&r->content, "", 0));
    return text_add(&r->reasoning, "", 0);
}

/* ---- a run ---- */

static fy_status eval_prompt(struct fy_serve_run *r)
{
    struct fy_serve_engine *e = r->e;
    const struct fy_tokens *p = &r->rq->prompt;
    int64_t k = 0;
    while (k < e->cached.n && k < p->n && e->cached.ids[k] == p->ids[k])
        k++;
    if (k == p->n)
        k--; /* evaluate the last token again: logits to sample from */
    if (k > fy_session_n_past(e->s))
        k = fy_session_n_past(e->s);
    k = fy_session_truncate(e->s, k); /* 0 when the sliding-window rings lost the prefix */
    e->cached.n = k;
    r->n_cached = k;
    double t0 = fy_now();
    const int64_t chunk = 256;
    for (int64_t i = k; i < p->n; i += chunk) {
        int64_t n = p->n - i < chunk ? p->n - i : chunk;
        fy_status st = fy_gen_eval(&r->gen, p->ids + i, n);
        if (st != FY_OK) {
            fy_session_reset(e->s);
            e->cached.n = 0;
            return st;
        }
        for (int64_t j = 0; j < n; j++)
            FY_TRY(fy_tokens_push(&e->cached, p->ids[i + j]));
    }
    r->n_eval = p->n - k;
    r->t_prompt = fy_now() - t0;
    return FY_OK;
}

fy_status fy_serve_run_start(struct fy_serve_run *r, struct fy_serve_engine *e,
                             struct fy_serve_req *rq)
{
    memset(r, 0, sizeof(*r));
    r->e = e;
    r->rq = rq;
    r->t_start = fy_now();
    r->n_prompt = rq->prompt.n;
    r->finish = "length";
    for (int i = 0; i < rq->n_stop; i++) {
        size_t n = strlen(rq->stop[i]);
        if (n > r->max_stop_len)
            r->max_stop_len = n;
    }
    if (rq->sp.temp > 0)
        FY_TRY(fy_sampler_new(&rq->sp, e->n_vocab, &r->smp));
    FY_TRY(fy_gen_init(&r->gen, e->s, r->smp, e->n_vocab));
    r->gen_init = true;
    if (rq->chat)
        FY_TRY(fy_harmony_parser_new(e->tok, FY_ROLE_ASSISTANT, &r->p));
    else
        r->mode = FY_SERVE_RAW;
    return eval_prompt(r);
}

fy_status fy_serve_run_step(struct fy_serve_run *r)
{
    struct fy_serve_engine *e = r->e;
    if (r->done)
        return FY_OK;
    double t0 = fy_now();
    fy_status st = FY_OK;
    if (atomic_load(&e->stopping) || (r->rq->max_tokens >= 0 && r->n_gen >= r->rq->max_tokens) ||
        fy_session_n_past(e->s) >= e->n_ctx) {
        r->done = true;
        r->finish = atomic_load(&e->stopping) ? "stop" : "length";
    } else {
        int32_t id = fy_gen_sample(&r->gen);
        r->n_gen++;
        st = answer_token(r, id);
        if (st == FY_OK && !r->done) {
            st = fy_gen_eval(&r->gen, &id, 1);
            if (st == FY_OK)
                st = fy_tokens_push(&e->cached, id);
            else {
                fy_session_reset(e->s);
                e->cached.n = 0;
            }
        }
        if (st != FY_OK)
            r->done = true;
    }
    if (r->done && st == FY_OK)
        st = answer_end(r);
    r->t_gen += fy_now() - t0;
    return st;
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

void fy_serve_run_free(struct fy_serve_run *r)
{
    if (!r->e)
        return;
    pthread_mutex_lock(&r->e->mu);
    r->e->n_requests++;
    r->e->n_prompt_tokens += r->n_eval;
    r->e->n_gen_tokens += r->n_gen;
    r->e->t_gen += r->t_gen;
    pthread_mutex_unlock(&r->e->mu);
    if (r->gen_init)
        fy_gen_free(&r->gen);
    fy_sampler_free(r->smp);
    fy_harmony_parser_free(r->p);
    fy_tokens_free(&r->said);
    free(r->content.v);
    free(r->reasoning.v);
    memset(r, 0, sizeof(*r));
}
