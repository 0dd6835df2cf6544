/* Shared by tests/test_session_seq.c (CPU, the test device) and tests/test_gpu_seqs.c (the GPU
 * device or the emulator): continuous batching of several sequences in one session against
 * each sequence run alone.
 *
 * A schedule of jobs (a prompt of its own length, then tokens one at a time) runs through a
 * session of a few sequence slots: each step evaluates, in one fy_session_eval_seqs call, the
 * whole prompt of every job that joins and the next token of every running job; a job that has
 * its tokens ends and frees its slot, which the next waiting job takes (its slot reset). Every
 * logits row a job receives (after its prompt, after each token) is kept and compared with the
 * rows of the same job evaluated alone, in a session of its own (fy_session_eval: the prompt in
 * one call, then a token per call). */
#ifndef FY_TEST_SEQS_H
#define FY_TEST_SEQS_H

#include "fy_test_hybrid.h"

#include <stdlib.h>

#define FY_SEQ_JOBS_MAX 32

struct fy_seq_job {
    int64_t n_prompt, n_gen;  /* rows of logits: 1 + n_gen */
    int32_t *toks;            /* n_prompt + n_gen */
    float *rows;              /* (1 + n_gen) x n_vocab: from the batched run */
};

struct fy_seq_sched {
    int64_t n_jobs;
    struct fy_seq_job job[FY_SEQ_JOBS_MAX];
    int64_t n_ctx;            /* per sequence: the longest job */
    int64_t n_vocab;
};

/* n_jobs jobs with prompts of 1 .. max_prompt tokens and 2 .. max_gen more, from a seed */
static inline fy_status fy_seq_sched_new(struct fy_seq_sched *q, int64_t n_jobs,
                                         int64_t max_prompt, int64_t max_gen, int64_t n_vocab,
                                         uint64_t seed)
{
    memset(q, 0, sizeof(*q));
    if (n_jobs > FY_SEQ_JOBS_MAX)
        return FY_E_INVAL;
    struct fy_rng rng = {seed};
    q->n_jobs = n_jobs;
    q->n_vocab = n_vocab;
    for (int64_t j = 0; j < n_jobs; j++) {
        struct fy_seq_job *b = &q->job[j];
        b->n_prompt = 1 + (int64_t)(fy_rng_u64(&rng) % (uint64_t)max_prompt);
        b->n_gen = 2 + (int64_t)(fy_rng_u64(&rng) % (uint64_t)(max_gen - 1));
        b->toks = malloc(sizeof(int32_t) * (size_t)(b->n_prompt + b->n_gen));
        b->rows = malloc(sizeof(float) * (size_t)((1 + b->n_gen) * n_vocab));
        if (!b->toks || !b->rows)
            return FY_E_NOMEM;
        fy_hyb_tokens(b->toks, b->n_prompt + b->n_gen, n_vocab, seed * 131 + (uint64_t)j);
        q->n_ctx = b->n_prompt + b->n_gen > q->n_ctx ? b->n_prompt + b->n_gen : q->n_ctx;
    }
    return FY_OK;
}

static inline void fy_seq_sched_free(struct fy_seq_sched *q)
{
    for (int64_t j = 0; j < q->n_jobs; j++) {
        free(q->job[j].toks);
        free(q->job[j].rows);
    }
}

struct fy_seq_keep {
    struct fy_seq_sched *q;
    const int64_t *job_of;   /* [input] */
    const int64_t *row_of;   /* [input] */
};

static inline fy_status fy_seq_keep_fn(void *ud, int64_t i, const float *logits, int64_t n_vocab)
{
    struct fy_seq_keep *k = ud;
    struct fy_seq_job *b = &k->q->job[k->job_of[i]];
    memcpy(b->rows + k->row_of[i] * n_vocab, logits, sizeof(float) * (size_t)n_vocab);
    return FY_OK;
}

/* Runs the schedule with n_slots sequences, micro-batches of ub, placement pl on gpu (both NULL:
 * the CPU); *max_batch: the most inputs one step had. */
static inline fy_status fy_seq_sched_run(struct fy_seq_sched *q, const struct fy_model *m,
                                         int n_slots, int64_t ub, const struct fy_placement *pl,
                                         struct fy_device *gpu, int64_t *max_batch)
{
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = q->n_ctx;
    o.n_ubatch = ub;
    o.n_seq = n_slots;
    o.placement = pl;
    o.gpu = gpu;
    FY_TRY(fy_session_new(m, &o, &s));
    int64_t slot_job[64], done[FY_SEQ_JOBS_MAX] = {0}, next = 0, finished = 0;
    struct fy_seq_input in[64];
    int64_t job_of[64], row_of[64];
    fy_status st = FY_OK;
    *max_batch = 0;
    for (int i = 0; i < n_slots; i++)
        slot_job[i] = -1;
    while (st == FY_OK && finished < q->n_jobs) {
        int64_t n_in = 0;
        for (int i = 0; i < n_slots; i++) {
            if (slot_job[i] < 0 && next < q->n_jobs) { /* joins: its whole prompt */
                slot_job[i] = next++;
                fy_session_seq_reset(s, i);
                const struct fy_seq_job *b = &q->job[slot_job[i]];
                in[n_in] = (struct fy_seq_input){i, b->toks, b->n_prompt};
                row_of[n_in] = 0;
            } else if (slot_job[i] >= 0) { /* its next token */
                const int64_t j = slot_job[i];
                in[n_in] = (struct fy_seq_input){i, q->job[j].toks + q->job[j].n_prompt + done[j],
                                                 1};
                row_of[n_in] = 1 + done[j];
                done[j]++;
            } else {
                continue;
            }
            job_of[n_in++] = slot_job[i];
        }
        *max_batch = n_in > *max_batch ? n_in : *max_batch;
        struct fy_seq_keep k = {q, job_of, row_of};
        st = fy_session_eval_seqs(s, in, n_in, fy_seq_keep_fn, &k);
        for (int i = 0; i < n_slots; i++) { /* a job with all its rows ends */
            const int64_t j = slot_job[i];
            if (j >= 0 && done[j] == q->job[j].n_gen) {
                slot_job[i] = -1;
                finished++;
            }
        }
    }
    fy_session_free(s);
    return st;
}

/* fy_logits_fn keeping the one row it gets (the last token's) at ud */
static inline fy_status fy_seq_last_fn(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                                       int64_t n_vocab)
{
    (void)row0;
    memcpy(ud, logits, sizeof(float) * (size_t)(n_rows * n_vocab));
    return FY_OK;
}

/* fy_seq_logits_fn keeping input i's row at ud + i * n_vocab */
static inline fy_status fy_seq_keep_all(void *ud, int64_t i, const float *logits, int64_t n_vocab)
{
    memcpy((float *)ud + i * n_vocab, logits, sizeof(float) * (size_t)n_vocab);
    return FY_OK;
}

/* Over rows rows of n_vocab logits: the worst relative L2 error (fy_hyb_row_err; a NaN is the
 * worst), and in *same how many rows have the same arg-max. */
static inline double fy_seq_rows_err(const float *got, const float *ref, int64_t rows,
                                     int64_t n_vocab, int64_t *same)
{
    double worst = 0;
    *same = 0;
    for (int64_t r = 0; r < rows; r++) {
        bool sm;
        const double e = fy_hyb_row_err(got + r * n_vocab, ref + r * n_vocab, n_vocab, &sm);
        worst = e > worst || e != e ? e : worst;
        *same += sm;
    }
    return worst;
}

/* Job j alone (a session of its own, micro-batches of ub, same placement) into ref
 * ((1 + n_gen) x n_vocab). */
static inline fy_status fy_seq_job_alone(const struct fy_seq_sched *q, int64_t j,
                                         const struct fy_model *m, int64_t ub,
                                         const struct fy_placement *pl, struct fy_device *gpu,
                                         float *ref)
{
    const struct fy_seq_job *b = &q->job[j];
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = q->n_ctx;
    o.n_ubatch = ub;
    o.placement = pl;
    o.gpu = gpu;
    FY_TRY(fy_session_new(m, &o, &s));
    fy_status st = fy_session_eval(s, b->toks, b->n_prompt, false, fy_seq_last_fn, ref);
    for (int64_t g = 0; st == FY_OK && g < b->n_gen; g++)
        st = fy_session_eval(s, b->toks + b->n_prompt + g, 1, false, fy_seq_last_fn,
                             ref + (1 + g) * q->n_vocab);
    fy_session_free(s);
    return st;
}

#endif
