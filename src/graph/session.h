/* A session: one sequence evaluated on a model, with its KV cache, activation buffers and the
 * per-batch gpt-oss graph. */
#ifndef FY_SESSION_H
#define FY_SESSION_H

#include "../model.h"
#include "graph.h"
#include "kvcache.h"

#include <stdbool.h>

struct fy_session_opts {
    int64_t n_ctx;          /* KV cache positions (default: 4096, capped at n_ctx_train) */
    int64_t n_ubatch;       /* tokens per graph evaluation (default 512) */
    enum fy_dtype kv_type;  /* FY_F16 (default) or FY_F32 */
};

void fy_session_opts_default(struct fy_session_opts *o);

/* Receives logits rows: row0 is the index (within the evaluated tokens) of the first row. */
typedef fy_status (*fy_logits_fn)(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                                  int64_t n_vocab);

struct fy_session;

fy_status fy_session_new(const struct fy_model *m, const struct fy_session_opts *o,
                         struct fy_session **out);
void fy_session_free(struct fy_session *s);

/* Evaluates n tokens continuing the sequence, in micro-batches of n_ubatch. If all_logits, every
 * row's logits are passed to fn; otherwise only the last token's. FY_E_FULL (nothing evaluated)
 * if the tokens do not fit in the cache; FY_E_INVAL for a token id outside the vocabulary. */
fy_status fy_session_eval(struct fy_session *s, const int32_t *tokens, int64_t n, bool all_logits,
                          fy_logits_fn fn, void *ud);

int64_t fy_session_n_past(const struct fy_session *s);
int64_t fy_session_n_ctx(const struct fy_session *s);
void fy_session_reset(struct fy_session *s);
/* Forgets every position from n on (n <= n_past): the next eval continues at position n. Used
 * when a re-rendered conversation shares only a prefix with what the cache holds. */
void fy_session_truncate(struct fy_session *s, int64_t n);

/* The graph of the last evaluated micro-batch (for inspection and tests). */
const struct fy_graph *fy_session_graph(const struct fy_session *s);

#endif
