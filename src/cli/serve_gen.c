/* ferry serve's engine: one request at a time over the session (a bounded queue), the prompt
 * cache (the common prefix of the held tokens and the new prompt is kept), and generation (the
 * sampled ids go to serve_answer.c). */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* FY_SERVE_SCRIPT (tests only): the file's text, special tokens parsed, as e->script. */
static fy_status load_script(struct fy_serve_engine *e)
{
    const char *path = getenv("FY_SERVE_SCRIPT");
    if (!path || !path[0])
        return FY_OK;
    FILE *f = fopen(path, "rb");
    char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
        fclose(f);
    if (!f || n == 0 || n == sizeof(buf)) {
        fy_log(FY_LOG_ERR, "serve: FY_SERVE_SCRIPT %s: cannot read it (or empty, or over 64 KiB)",
               path);
        return FY_E_IO;
    }
    fy_log(FY_LOG_WARN, "serve: FY_SERVE_SCRIPT %s: answers are scripted, not sampled", path);
    return fy_tokenize(e->tok, buf, n, true, &e->script);
}

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
    FY_TRY(load_script(e));
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
    fy_tokens_free(&e->script);
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
    if (rq->sp.temp > 0)
        FY_TRY(fy_sampler_new(&rq->sp, e->n_vocab, &r->smp));
    FY_TRY(fy_gen_init(&r->gen, e->s, r->smp, e->n_vocab));
    r->gen_init = true;
    FY_TRY(fy_serve_answer_begin(r));
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
        int32_t id;
        if (e->script.n > 0) /* the test hook */
            id = r->n_gen < e->script.n ? e->script.ids[r->n_gen] : e->stop_ids[0];
        else
            id = fy_gen_sample(&r->gen);
        r->n_gen++;
        st = fy_serve_answer_token(r, id);
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
        st = fy_serve_answer_end(r);
    r->t_gen += fy_now() - t0;
    return st;
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
    fy_serve_answer_free(r);
    memset(r, 0, sizeof(*r));
}
