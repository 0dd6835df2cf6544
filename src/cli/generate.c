/* Token generation over a session. */
#include "generate.h"

#include "text/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

fy_status fy_gen_init(struct fy_gen *g, struct fy_session *s, struct fy_sampler *smp,
                      int64_t n_vocab)
{
    memset(g, 0, sizeof(*g));
    g->s = s;
    g->smp = smp;
    g->n_vocab = n_vocab;
    g->logits = malloc((size_t)n_vocab * sizeof(float));
    return g->logits ? FY_OK : FY_E_NOMEM;
}

void fy_gen_free(struct fy_gen *g)
{
    free(g->logits);
    g->logits = NULL;
}

static fy_status keep_last(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                           int64_t n_vocab)
{
    struct fy_gen *g = ud;
    (void)row0;
    memcpy(g->logits, logits + (n_rows - 1) * n_vocab, (size_t)n_vocab * sizeof(float));
    g->have_logits = true;
    return FY_OK;
}

fy_status fy_gen_eval(struct fy_gen *g, const int32_t *ids, int64_t n)
{
    if (!g->smp) { /* greedy: the arg-max is taken where the logits are (one id from a GPU) */
        g->have_logits = false;
        FY_TRY(fy_session_eval_argmax(g->s, ids, n, &g->next));
        g->have_next = true;
        return FY_OK;
    }
    return fy_session_eval(g->s, ids, n, false, keep_last, g);
}

int32_t fy_gen_sample(struct fy_gen *g)
{
    if (!g->smp && g->have_next)
        return g->next;
    if (!g->have_logits)
        return -1;
    int32_t id;
    if (g->smp) {
        id = fy_sampler_sample(g->smp, g->logits);
        fy_sampler_accept(g->smp, id);
    } else {
        int64_t best = 0;
        for (int64_t i = 1; i < g->n_vocab; i++)
            if (g->logits[i] > g->logits[best])
                best = i;
        id = (int32_t)best;
    }
    return id;
}

double fy_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void fy_gen_stop_ids(const struct fy_tokenizer *t, int64_t n_vocab, int32_t out[3])
{
    static const char *const names[3] = {"<|endoftext|>", "<|return|>", "<|call|>"};
    static const int32_t ids[3] = {199999, 200002, 200012};
    for (int i = 0; i < 3; i++)
        out[i] = t ? fy_tokenizer_special(t, names[i]) : (n_vocab == 201088 ? ids[i] : -1);
}

void fy_gen_random_tokens(uint64_t *state, int32_t *t, int64_t n, int64_t n_normal)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        t[i] = (int32_t)((z ^ (z >> 31)) % (uint64_t)n_normal);
    }
}
