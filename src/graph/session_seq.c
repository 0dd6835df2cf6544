/* Several sequences in one session: evaluating them together (shared micro-batches, attention
 * per sequence), and the sequence operations (reset, truncate, fork). */
#include "sched.h"
#include "session_priv.h"

#include <stdlib.h>
#include <string.h>

int32_t fy_session_n_seq(const struct fy_session *s) { return s->o.n_seq; }

const struct fy_moe_reads *fy_session_moe_reads(const struct fy_session *s) { return &s->reads; }

static bool seq_ok(const struct fy_session *s, int32_t seq)
{
    return seq >= 0 && seq < s->o.n_seq;
}

int64_t fy_session_seq_n_past(const struct fy_session *s, int32_t seq)
{
    return seq_ok(s, seq) ? s->seq_past[seq] : -1;
}

void fy_session_seq_reset(struct fy_session *s, int32_t seq)
{
    if (!seq_ok(s, seq))
        return;
    s->seq_past[seq] = 0;
    s->seq_lo[seq] = 0;
}

/* a ring layer at position n needs n - window + 1 .. n - 1: still in sequence seq's rings? */
static bool rings_hold(const struct fy_session *s, int32_t seq, int64_t n)
{
    const int64_t need = n - s->ring_window + 1 > 0 ? n - s->ring_window + 1 : 0;
    if (n == 0 || s->ring_min == 0 || need >= s->seq_lo[seq])
        return true;
    fy_log(FY_LOG_INFO, "session: the sliding-window KV rings no longer hold positions %lld .. "
           "%lld: evaluating from position 0 again (--swa-full keeps them)", (long long)need,
           (long long)s->seq_lo[seq] - 1);
    return false;
}

int64_t fy_session_seq_truncate(struct fy_session *s, int32_t seq, int64_t n)
{
    if (!seq_ok(s, seq))
        return -1;
    if (n < 0 || n >= s->seq_past[seq])
        return s->seq_past[seq];
    if (!rings_hold(s, seq, n))
        n = 0;
    s->seq_past[seq] = n;
    if (n == 0)
        s->seq_lo[seq] = 0;
    return n;
}

int64_t fy_session_seq_copy(struct fy_session *s, int32_t src, int32_t dst, int64_t n)
{
    if (!seq_ok(s, src) || !seq_ok(s, dst) || src == dst || n < 0 || n > s->seq_past[src]) {
        fy_log(FY_LOG_ERR, "session: cannot fork %lld positions of sequence %d into sequence %d "
               "(%d sequences, %lld positions in %d)", (long long)n, src, dst, s->o.n_seq,
               seq_ok(s, src) ? (long long)s->seq_past[src] : -1LL, src);
        return -1;
    }
    fy_session_seq_reset(s, dst);
    if (n == 0 || !rings_hold(s, src, n))
        return 0;
    const struct fy_kvcache *kv = s->kv;
    const size_t row = fy_kvcache_row_bytes(kv);
    for (int64_t l = 0; l < kv->n_layer; l++) {
        const int64_t slots = fy_kvcache_slots(kv, l);
        /* a ring whole (it holds positions up to src's end in slots p % ring), else n rows */
        const size_t bytes = (size_t)(fy_kvcache_ring(kv, l) > 0 ? slots : n) * row;
        const size_t from = (size_t)src * (size_t)slots * row, to = (size_t)dst * (size_t)slots * row;
        if (s->sched) {
            if (fy_sched_kv_copy(s->sched, l, to, from, bytes) != FY_OK) {
                fy_log(FY_LOG_ERR, "session: copying layer %lld's cache of sequence %d failed",
                       (long long)l, src);
                return -1;
            }
        } else {
            memcpy((char *)kv->k[l] + to, (const char *)kv->k[l] + from, bytes);
            memcpy((char *)kv->v[l] + to, (const char *)kv->v[l] + from, bytes);
        }
    }
    s->seq_past[dst] = n;
    s->seq_lo[dst] = s->seq_lo[src]; /* positions >= n in a ring are written before read */
    return n;
}

static fy_status check_inputs(const struct fy_session *s, const struct fy_seq_input *in,
                              int64_t n_in)
{
    bool *seen = calloc((size_t)s->o.n_seq, sizeof(bool));
    fy_status st = seen ? FY_OK : FY_E_NOMEM;
    for (int64_t i = 0; i < n_in && st == FY_OK; i++) {
        const int32_t q = in[i].seq;
        if (!seq_ok(s, q) || seen[q] || in[i].n < 1 || !in[i].tokens) {
            fy_log(FY_LOG_ERR, "input %lld: sequence %d %s", (long long)i, q,
                   !seq_ok(s, q) ? "is not one of the session's sequences"
                   : seen[q]     ? "appears twice in one call"
                                 : "has no tokens");
            st = FY_E_INVAL;
        } else if (s->seq_past[q] + in[i].n > s->o.n_ctx) {
            fy_log(FY_LOG_ERR, "context full: sequence %d holds %lld tokens, + %lld new > its "
                   "context size %lld (raise -c)", q, (long long)s->seq_past[q],
                   (long long)in[i].n, (long long)s->o.n_ctx);
            st = FY_E_FULL;
        } else {
            seen[q] = true;
            st = fy_session_check_tokens(s, in[i].tokens, in[i].n);
        }
    }
    free(seen);
    return st;
}

/* the runs gathered so far (nb tokens in s->tok, s->pos, s->runs): without logits */
static fy_status flush(struct fy_session *s, int64_t *nb, int64_t *nr)
{
    if (*nb == 0)
        return FY_OK;
    fy_status st = fy_session_ubatch(s, s->tok, *nb, s->runs, *nr, false, false, false);
    *nb = *nr = 0;
    return st;
}

fy_status fy_session_eval_seqs(struct fy_session *s, const struct fy_seq_input *in, int64_t n_in,
                               fy_seq_logits_fn fn, void *ud)
{
    FY_CHECK_ARG(s && (in || n_in == 0));
    if (n_in <= 0)
        return FY_OK;
    FY_TRY(check_inputs(s, in, n_in));
    const int64_t ub = s->o.n_ubatch, n_vocab = s->m->hp.n_vocab;
    FY_TRY(fy_session_ensure_logits(s, ub));
    /* every token but each input's last, packed into micro-batches without logits */
    int64_t nb = 0, nr = 0;
    for (int64_t i = 0; i < n_in; i++) {
        const int32_t q = in[i].seq;
        for (int64_t done = 0; done < in[i].n - 1;) {
            int64_t take = in[i].n - 1 - done;
            take = take < ub - nb ? take : ub - nb;
            const int64_t past = s->seq_past[q];
            s->runs[nr++] = (struct fy_seq_run){nb, take, past + take, q};
            for (int64_t t = 0; t < take; t++) {
                s->tok[nb + t] = in[i].tokens[done + t];
                s->pos[nb + t] = (int32_t)(past + t);
            }
            nb += take;
            done += take;
            if (nb == ub)
                FY_TRY(flush(s, &nb, &nr));
        }
    }
    FY_TRY(flush(s, &nb, &nr));
    /* the last tokens, a row of logits each */
    for (int64_t i0 = 0; i0 < n_in; i0 += ub) {
        const int64_t m = n_in - i0 < ub ? n_in - i0 : ub;
        for (int64_t t = 0; t < m; t++) {
            const struct fy_seq_input *x = &in[i0 + t];
            const int64_t past = s->seq_past[x->seq];
            s->tok[t] = x->tokens[x->n - 1];
            s->pos[t] = (int32_t)past;
            s->runs[t] = (struct fy_seq_run){t, 1, past + 1, x->seq};
        }
        FY_TRY(fy_session_ubatch(s, s->tok, m, s->runs, m, true, true, false));
        const float *lg = s->act[ACT_LOGITS].data;
        for (int64_t t = 0; fn && t < m; t++)
            FY_TRY(fn(ud, i0 + t, lg + t * n_vocab, n_vocab));
    }
    return FY_OK;
}
