/* ferry serve: a slot's part of a request. Preparing the answer (sampler, parser, id), choosing
 * the free slot whose cached tokens share the longest prefix with the prompt (as llama-server
 * does), the prompt tokens the cache lacks, and sampling each step's logits into the answer. The
 * generation thread (serve_gen.c) calls all but fy_serve_job_prepare. */
#include "serve.h"

#include "cpu/ops.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A slot whose cache shares less than this part of the prompt counts as sharing nothing (then
 * the least recently used free slot is taken): llama-server's --slot-prompt-similarity. */
#define FY_SERVE_SIMILARITY 0.1

fy_status fy_serve_job_prepare(struct fy_serve_engine *e, struct fy_serve_job *job, bool chat)
{
    static atomic_uint_fast64_t counter;
    struct fy_serve_run *r = &job->run;
    memset(r, 0, sizeof(*r));
    r->e = e;
    r->rq = &job->rq;
    r->n_prompt = job->rq.prompt.n;
    r->finish = "length";
    unsigned long long k = (unsigned long long)atomic_fetch_add(&counter, 1);
    r->created = (long long)time(NULL);
    snprintf(r->id, sizeof(r->id), "%s-%llx%llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)r->created, k);
    job->slot = -1;
    if (job->rq.sp.temp > 0)
        FY_TRY(fy_sampler_new(&job->rq.sp, e->n_vocab, &r->smp));
    return fy_serve_answer_begin(r);
}

static int64_t common_prefix(const struct fy_tokens *a, const struct fy_tokens *b)
{
    int64_t k = 0;
    while (k < a->n && k < b->n && a->ids[k] == b->ids[k])
        k++;
    return k;
}

int fy_serve_slot_pick(const struct fy_serve_engine *e, const struct fy_tokens *prompt)
{
    int best = -1, lru = -1;
    int64_t best_k = 0;
    for (int i = 0; i < e->n_slots; i++) {
        const struct fy_serve_slot *sl = &e->slots[i];
        if (sl->job)
            continue;
        const int64_t k = common_prefix(&sl->cached, prompt);
        if (k > best_k && (double)k > FY_SERVE_SIMILARITY * (double)prompt->n) {
            best = i;
            best_k = k;
        }
        if (lru < 0 || sl->last_used < e->slots[lru].last_used)
            lru = i;
    }
    return best >= 0 ? best : lru;
}

void fy_serve_slot_begin(struct fy_serve_engine *e, struct fy_serve_job *job, int slot)
{
    struct fy_serve_slot *sl = &e->slots[slot];
    const struct fy_tokens *p = &job->rq.prompt;
    int64_t k = common_prefix(&sl->cached, p);
    if (k == p->n)
        k--; /* evaluate the last token again: logits to sample from */
    const int64_t past = fy_session_seq_n_past(e->s, slot);
    if (k > past)
        k = past;
    k = fy_session_seq_truncate(e->s, slot, k); /* 0: the sliding-window rings lost the prefix */
    sl->cached.n = k;
    sl->job = job;
    job->slot = slot;
    job->fed = k;
    job->run.n_cached = k;
}

int64_t fy_serve_slot_input(const struct fy_serve_engine *e, const struct fy_serve_job *job,
                            int64_t budget, struct fy_seq_input *in)
{
    (void)e;
    const struct fy_tokens *p = &job->rq.prompt;
    if (job->fed == p->n) { /* generating: the last sampled id */
        *in = (struct fy_seq_input){job->slot, &job->pending, 1};
        return 1;
    }
    int64_t n = p->n - job->fed;
    n = n < budget ? n : budget;
    *in = (struct fy_seq_input){job->slot, p->ids + job->fed, n};
    return n;
}

void fy_serve_slot_reset(struct fy_serve_engine *e, int slot)
{
    fy_session_seq_reset(e->s, slot);
    e->slots[slot].cached.n = 0;
}

/* The next id: the script (a test hook), the sampler, or the arg-max (ties to the lowest id, as
 * fy_session_eval_argmax). */
static int32_t next_id(const struct fy_serve_engine *e, struct fy_serve_run *r,
                       const float *logits)
{
    int32_t id;
    if (e->script.n > 0)
        return r->n_gen < e->script.n ? e->script.ids[r->n_gen] : e->stop_ids[0];
    if (r->smp) {
        id = fy_sampler_sample(r->smp, logits);
        fy_sampler_accept(r->smp, id);
    } else {
        fy_cpu_argmax(&id, logits, 1, e->n_vocab);
    }
    return id;
}

fy_status fy_serve_slot_logits(struct fy_serve_engine *e, struct fy_serve_job *job,
                               const struct fy_seq_input *in, const float *logits)
{
    struct fy_serve_slot *sl = &e->slots[job->slot];
    struct fy_serve_run *r = &job->run;
    for (int64_t j = 0; j < in->n; j++)
        FY_TRY(fy_tokens_push(&sl->cached, in->tokens[j]));
    if (job->fed < job->rq.prompt.n) {
        job->fed += in->n;
        if (job->fed < job->rq.prompt.n)
            return FY_OK; /* more of the prompt next step */
        r->n_eval = job->rq.prompt.n - r->n_cached;
        job->began = true;
    }
    const bool stopping = atomic_load(&e->stopping);
    if (stopping || (job->rq.max_tokens >= 0 && r->n_gen >= job->rq.max_tokens) ||
        fy_session_seq_n_past(e->s, job->slot) >= e->n_ctx) {
        r->done = true;
        r->finish = stopping ? "stop" : "length";
    } else {
        const int32_t id = next_id(e, r, logits);
        r->n_gen++;
        FY_TRY(fy_serve_answer_token(r, id));
        job->pending = id;
    }
    return r->done ? fy_serve_answer_end(r) : FY_OK;
}
