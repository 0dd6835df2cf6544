/* ferry serve's engine. One generation thread owns the session and its slots (-np sequences,
 * each with its prompt cache) and loops: waiting jobs go into free slots (serve_slot.c picks
 * which), every running job's tokens are evaluated in one fy_session_eval_seqs call (a new job
 * its uncached prompt tokens, a running one its last sampled id), each job samples its next id
 * (its own sampler, stops and max_tokens), streamed jobs get their SSE text, and finished or
 * cancelled jobs free their slots. Connection threads submit jobs (a bounded queue in front:
 * refused beyond it), wait on their job's condition variable and read its output. */
#include "serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* prompt tokens per step, all jobs together (each step takes at least one): a long prompt joins
 * in parts, so the answers streaming meanwhile keep coming */
#define FY_SERVE_STEP_PROMPT 512

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

/* ---- jobs ---- */

fy_status fy_serve_job_new(struct fy_serve_job **out)
{
    *out = NULL;
    struct fy_serve_job *j = calloc(1, sizeof(*j));
    if (!j)
        return FY_E_NOMEM;
    if (pthread_cond_init(&j->cv, NULL)) {
        free(j);
        return FY_E_NOMEM;
    }
    j->refs = 1;
    j->slot = -1;
    *out = j;
    return FY_OK;
}

/* Under e->mu: one reference less; the last frees the job. */
static void job_unref(struct fy_serve_engine *e, struct fy_serve_job *j)
{
    if (--j->refs > 0)
        return;
    if (j->submitted) {
        e->n_jobs--;
        pthread_cond_broadcast(&e->cv); /* fy_serve_stop waits for none */
    }
    fy_sampler_free(j->run.smp);
    if (j->run.e)
        fy_serve_answer_free(&j->run);
    fy_serve_req_free(&j->rq);
    free(j->out.v);
    pthread_cond_destroy(&j->cv);
    free(j);
}

int fy_serve_submit(struct fy_serve_engine *e, struct fy_serve_job *job, bool chat)
{
    if (fy_serve_job_prepare(e, job, chat) != FY_OK)
        return -3;
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    if (atomic_load(&e->stopping)) {
        rc = -2;
    } else if (e->busy + e->waiting >= e->n_slots + e->queue_max) {
        e->n_rejected++;
        rc = -1;
    } else {
        job->refs++;
        job->submitted = true;
        e->n_jobs++;
        e->waiting++;
        if (e->queue_tail)
            e->queue_tail->next = job;
        else
            e->queue = job;
        e->queue_tail = job;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static void deadline(struct timespec *t, double wait_s)
{
    clock_gettime(CLOCK_REALTIME, t);
    long long ns = (long long)t->tv_nsec + (long long)(wait_s * 1e9);
    t->tv_sec += (time_t)(ns / 1000000000LL);
    t->tv_nsec = (long)(ns % 1000000000LL);
}

enum fy_serve_wait fy_serve_job_wait(struct fy_serve_engine *e, struct fy_serve_job *job,
                                     bool until_end, double wait_s)
{
    struct timespec until;
    deadline(&until, wait_s);
    pthread_mutex_lock(&e->mu);
    while (!job->finished && (until_end || !job->started))
        if (pthread_cond_timedwait(&job->cv, &e->mu, &until) == ETIMEDOUT)
            break;
    enum fy_serve_wait w = job->refused                                    ? FY_SERVE_REFUSED
                           : job->finished && (job->st || !job->run.done) ? FY_SERVE_FAILED
                           : job->finished                                 ? FY_SERVE_FINISHED
                           : job->started && !until_end                    ? FY_SERVE_STARTED
                                                                           : FY_SERVE_PENDING;
    pthread_mutex_unlock(&e->mu);
    return w;
}

int64_t fy_serve_job_read(struct fy_serve_engine *e, struct fy_serve_job *job, char *out,
                          size_t max, double wait_s)
{
    struct timespec until;
    deadline(&until, wait_s);
    pthread_mutex_lock(&e->mu);
    struct fy_serve_text *t = &job->out;
    while (t->sent == t->n && !job->finished)
        if (pthread_cond_timedwait(&job->cv, &e->mu, &until) == ETIMEDOUT)
            break;
    int64_t rc = 0;
    if (t->sent < t->n) {
        size_t k = t->n - t->sent < max ? t->n - t->sent : max;
        memcpy(out, t->v + t->sent, k);
        t->sent += k;
        if (t->sent == t->n)
            t->sent = t->n = 0;
        rc = (int64_t)k;
    } else if (job->finished) {
        rc = job->st == FY_OK && job->run.done ? -1 : -2;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void fy_serve_job_drop(struct fy_serve_engine *e, struct fy_serve_job *job, int64_t *n_gen)
{
    if (!job)
        return;
    pthread_mutex_lock(&e->mu);
    if (n_gen)
        *n_gen = job->n_gen;
    if (!job->finished && job->submitted) {
        job->cancel = true;
        pthread_cond_broadcast(&e->cv);
    }
    job_unref(e, job);
    pthread_mutex_unlock(&e->mu);
}

/* ---- the generation thread (what follows runs there) ---- */

/* Under e->mu: the job is over (done, failed, cancelled or refused); its slot is free. */
static void job_end(struct fy_serve_engine *e, struct fy_serve_job *j)
{
    if (j->slot >= 0) {
        struct fy_serve_slot *sl = &e->slots[j->slot];
        sl->job = NULL;
        sl->last_used = ++e->n_freed;
        e->busy--;
        j->slot = -1;
        if (!j->refused) {
            e->n_requests++;
            e->n_prompt_tokens += j->run.n_eval;
            e->n_gen_tokens += j->run.n_gen;
            e->t_gen += j->run.t_gen;
        }
    }
    j->n_gen = j->run.n_gen;
    j->finished = true;
    pthread_cond_broadcast(&j->cv);
    job_unref(e, j);
}

/* Under e->mu: a running job ends now ("stop": the server is stopping). */
static void job_stop(struct fy_serve_engine *e, struct fy_serve_job *j)
{
    struct fy_serve_run *r = &j->run;
    r->done = true;
    r->finish = "stop";
    fy_status st = fy_serve_answer_end(r);
    if (st == FY_OK && j->rq.stream)
        st = fy_serve_sse_step(r, false, &j->out);
    j->st = st;
    job_end(e, j);
}

/* Under e->mu: cancelled jobs leave the queue and their slots; stopping, the queue is refused,
 * jobs still on their prompt too, and running ones end at once. */
static void settle(struct fy_serve_engine *e, bool stopping)
{
    struct fy_serve_job **pp = &e->queue, *prev = NULL;
    while (*pp) {
        struct fy_serve_job *j = *pp;
        if (!j->cancel && !stopping) {
            prev = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        if (e->queue_tail == j)
            e->queue_tail = prev;
        e->waiting--;
        j->refused = !j->cancel;
        job_end(e, j);
    }
    for (int i = 0; i < e->n_slots; i++) {
        struct fy_serve_job *j = e->slots[i].job;
        if (!j || (!j->cancel && !stopping))
            continue;
        if (j->cancel) {
            job_end(e, j);
        } else if (!j->started) {
            j->refused = true;
            job_end(e, j);
        } else {
            job_stop(e, j);
        }
    }
}

/* Under e->mu: waiting jobs, oldest first, into free slots. */
static void admit(struct fy_serve_engine *e)
{
    while (e->queue && e->busy < e->n_slots) {
        struct fy_serve_job *j = e->queue;
        e->queue = j->next;
        if (!e->queue)
            e->queue_tail = NULL;
        j->next = NULL;
        e->waiting--;
        fy_serve_slot_begin(e, j, fy_serve_slot_pick(e, &j->rq.prompt));
        e->busy++;
    }
}

/* The step's inputs: each running job's (prompt tokens within FY_SERVE_STEP_PROMPT). */
static int64_t gather(struct fy_serve_engine *e)
{
    int64_t n = 0, budget = FY_SERVE_STEP_PROMPT;
    for (int i = 0; i < e->n_slots; i++) {
        struct fy_serve_job *j = e->slots[i].job;
        if (!j)
            continue;
        const bool prompt = j->fed < j->rq.prompt.n;
        if (prompt && budget <= 0)
            continue;
        const int64_t k = fy_serve_slot_input(e, j, prompt ? budget : 1, &e->in[n]);
        if (prompt)
            budget -= k;
        e->in_job[n] = j;
        e->in_prompt[n] = prompt;
        e->in_st[n] = FY_OK;
        n++;
    }
    return n;
}

/* fy_seq_logits_fn: input i's job takes its logits (a failure ends that job alone) */
static fy_status on_logits(void *ud, int64_t i, const float *logits, int64_t n_vocab)
{
    struct fy_serve_engine *e = ud;
    (void)n_vocab;
    e->in_st[i] = fy_serve_slot_logits(e, e->in_job[i], &e->in[i], logits);
    return FY_OK;
}

/* Under e->mu, after the step (st: how it went, dt: seconds it took): timings, streamed text,
 * started and finished jobs. */
static void after_step(struct fy_serve_engine *e, int64_t n, fy_status st, double dt)
{
    for (int64_t k = 0; k < n; k++) {
        struct fy_serve_job *j = e->in_job[k];
        struct fy_serve_run *r = &j->run;
        if (e->in_prompt[k])
            r->t_prompt += dt;
        else
            r->t_gen += dt;
        if (st != FY_OK)
            fy_serve_slot_reset(e, j->slot); /* what it holds is unknown */
        fy_status js = st != FY_OK ? st : e->in_st[k];
        const bool began = j->began;
        j->began = false;
        j->started |= began;
        if (js == FY_OK && j->rq.stream && j->started)
            js = fy_serve_sse_step(r, began, &j->out);
        j->n_gen = r->n_gen;
        if (js != FY_OK)
            j->st = js;
        if (js != FY_OK || r->done)
            job_end(e, j);
        else if (began || j->rq.stream)
            pthread_cond_broadcast(&j->cv);
    }
}

static void *gen_main(void *arg)
{
    struct fy_serve_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        const bool stopping = atomic_load(&e->stopping);
        settle(e, stopping);
        admit(e);
        if (!e->busy) {
            if (stopping)
                break;
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        const int64_t n = gather(e);
        pthread_mutex_unlock(&e->mu);
        const double t0 = fy_now();
        fy_status st = fy_session_eval_seqs(e->s, e->in, n, on_logits, e);
        const double dt = fy_now() - t0;
        if (st != FY_OK)
            fy_log(FY_LOG_ERR, "serve: a step of %lld requests failed: %s", (long long)n,
                   fy_status_str(st));
        pthread_mutex_lock(&e->mu);
        after_step(e, n, st, dt);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- the engine ---- */

fy_status fy_serve_engine_init(struct fy_serve_engine *e, struct fy_session *s,
                               const struct fy_tokenizer *tok, int64_t n_vocab,
                               const char *model_id, int queue_max)
{
    fy_status st = FY_E_NOMEM;
    memset(e, 0, sizeof(*e));
    e->s = s;
    e->tok = tok;
    e->n_vocab = n_vocab;
    e->n_ctx = fy_session_n_ctx(s);
    e->model_id = model_id;
    e->queue_max = queue_max;
    e->n_slots = (int)fy_session_n_seq(s);
    fy_gen_stop_ids(tok, n_vocab, e->stop_ids);
    atomic_init(&e->stopping, false);
    const size_t ns = (size_t)e->n_slots;
    e->slots = calloc(ns, sizeof(*e->slots));
    e->in = calloc(ns, sizeof(*e->in));
    e->in_job = calloc(ns, sizeof(*e->in_job));
    e->in_prompt = calloc(ns, sizeof(*e->in_prompt));
    e->in_st = calloc(ns, sizeof(*e->in_st));
    if (!e->slots || !e->in || !e->in_job || !e->in_prompt || !e->in_st)
        goto fail;
    st = load_script(e);
    if (st != FY_OK)
        goto fail;
    st = FY_E_NOMEM;
    if (pthread_mutex_init(&e->mu, NULL))
        goto fail;
    if (pthread_cond_init(&e->cv, NULL)) {
        pthread_mutex_destroy(&e->mu);
        goto fail;
    }
    e->sync_on = true;
    if (pthread_create(&e->thread, NULL, gen_main, e)) {
        fy_log(FY_LOG_ERR, "serve: cannot start the generation thread");
        goto fail;
    }
    e->thread_on = true;
    return FY_OK;
fail:
    fy_serve_engine_free(e);
    return st;
}

void fy_serve_stop(struct fy_serve_engine *e)
{
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->stopping, true);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->thread_on) {
        pthread_join(e->thread, NULL);
        e->thread_on = false;
    }
    /* the streams send their last chunk and [DONE]: wait for that, a few seconds at most (a
     * client that stopped reading) */
    struct timespec until;
    deadline(&until, 5);
    pthread_mutex_lock(&e->mu);
    while (e->n_jobs > 0 && pthread_cond_timedwait(&e->cv, &e->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&e->mu);
}

void fy_serve_engine_free(struct fy_serve_engine *e)
{
    if (e->thread_on)
        fy_serve_stop(e);
    if (e->sync_on) {
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
    }
    for (int i = 0; e->slots && i < e->n_slots; i++)
        fy_tokens_free(&e->slots[i].cached);
    free(e->slots);
    free(e->in);
    free(e->in_job);
    free(e->in_prompt);
    free(e->in_st);
    fy_tokens_free(&e->script);
    memset(e, 0, sizeof(*e));
}
