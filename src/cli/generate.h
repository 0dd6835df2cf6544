/* Token generation over a session: evaluate tokens, keep the last logits, sample the next. */
#ifndef FY_GENERATE_H
#define FY_GENERATE_H

#include "graph/session.h"
#include "text/sampler.h"

struct fy_gen {
    struct fy_session *s;
    struct fy_sampler *smp;  /* NULL: greedy */
    float *logits;           /* (n_vocab): logits after the last evaluated token */
    int64_t n_vocab;
    bool have_logits;
    int32_t next;            /* greedy (no sampler): the arg-max after the last evaluation */
    bool have_next;
};

fy_status fy_gen_init(struct fy_gen *g, struct fy_session *s, struct fy_sampler *smp,
                      int64_t n_vocab);
void fy_gen_free(struct fy_gen *g);

/* Evaluates n tokens after what the session holds; keeps the last row of logits, or without a
 * sampler only their arg-max (fy_session_eval_argmax). */
fy_status fy_gen_eval(struct fy_gen *g, const int32_t *ids, int64_t n);

/* Picks the next token from the kept logits (the sampler, or arg-max without one) and records
 * it in the sampler's history. -1 if nothing was evaluated yet. */
int32_t fy_gen_sample(struct fy_gen *g);

/* gpt-oss's stop set (tokenizer.md section 6): <|endoftext|>, <|return|>, <|call|> from the
 * tokenizer; without one, their o200k_harmony ids for a model of that vocabulary's size, else -1. */
struct fy_tokenizer;
void fy_gen_stop_ids(const struct fy_tokenizer *t, int64_t n_vocab, int32_t out[3]);

/* n random token ids in [0, n_normal) from a splitmix64 stream at *state (advanced): the
 * benchmarks' reproducible tokens (sweep-bench, batched-bench). */
void fy_gen_random_tokens(uint64_t *state, int32_t *t, int64_t n, int64_t n_normal);

/* Monotonic seconds. */
double fy_now(void);

#endif
