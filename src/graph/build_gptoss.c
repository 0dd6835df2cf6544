/* The gpt-oss graph for a micro-batch of n tokens (n = 1 for generation uses the same code),
 * and the session that owns its buffers. */
#include "sched.h"
#include "session_priv.h"

#include "cpu/numa.h"
#include "fy_config.h"
#include "placement/placement.h"

#include <math.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

void fy_session_opts_default(struct fy_session_opts *o)
{
    o->n_ctx = 4096;
    o->n_ubatch = 512;
    o->n_seq = 1;
    o->kv_type = FY_F16;
    o->swa_full = false;
    o->n_threads = 0;
    o->n_threads_batch = 0;
    o->placement = NULL;
    o->gpu = NULL;
    o->numa = NULL;
}

static fy_status act_alloc(struct fy_act *a, enum fy_act_type type, int64_t ne0, int64_t rows)
{
    a->type = type;
    a->ne0 = ne0;
    a->ne1 = 0;
    a->data = malloc((size_t)ne0 * (size_t)rows * 4);
    return a->data ? FY_OK : FY_E_NOMEM;
}

fy_status fy_session_new(const struct fy_model *m, const struct fy_session_opts *o,
                         struct fy_session **out)
{
    FY_CHECK_ARG(m && out);
    *out = NULL;
    struct fy_session *s = calloc(1, sizeof(*s));
    if (!s)
        return FY_E_NOMEM;
    const struct fy_hparams *hp = &m->hp;
    fy_status st = FY_OK;
    s->m = m;
    if (o)
        s->o = *o;
    else
        fy_session_opts_default(&s->o);
    if (s->o.n_ctx <= 0 || s->o.n_ubatch <= 0 || s->o.n_seq <= 0 || s->o.n_seq > FY_SEQ_MAX ||
        (s->o.kv_type != FY_F16 && s->o.kv_type != FY_F32 && s->o.kv_type != FY_Q8_0)) {
        fy_log(FY_LOG_ERR, "session: invalid options (n_ctx %lld, n_ubatch %lld, n_seq %d)",
               (long long)s->o.n_ctx, (long long)s->o.n_ubatch, s->o.n_seq);
        st = FY_E_INVAL;
        goto fail;
    }
    if (s->o.n_ubatch > s->o.n_ctx)
        s->o.n_ubatch = s->o.n_ctx;
#if FY_HAVE_OPENMP
    /* threads left "as set" (0) are the count OpenMP has now, whatever a micro-batch of the
     * other kind sets later */
    if (s->o.n_threads <= 0)
        s->o.n_threads = omp_get_max_threads();
    if (s->o.n_threads_batch <= 0)
        s->o.n_threads_batch = s->o.n_threads;
#endif
    s->shape = (struct fy_attn_shape){hp->n_head, hp->n_head_kv, hp->head_dim};
    const int64_t ub = s->o.n_ubatch, d = hp->d_model, qw = hp->n_head * hp->head_dim;
    const int64_t kvw = hp->n_head_kv * hp->head_dim;
    int64_t *slots = malloc((size_t)hp->n_layer * sizeof(*slots));
    if (!slots) {
        st = FY_E_NOMEM;
        goto fail;
    }
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const int32_t w = m->layers[l].window;
        slots[l] = fy_place_kv_slots(w, s->o.n_ctx, s->o.n_ubatch, s->o.swa_full);
        if (slots[l] < s->o.n_ctx) {
            s->ring_min = s->ring_min && s->ring_min < slots[l] ? s->ring_min : slots[l];
            s->ring_window = w > s->ring_window ? w : s->ring_window;
        }
    }
    st = fy_kvcache_new_seqs(hp->n_layer, s->o.n_ctx, s->o.n_seq, slots, kvw, s->o.kv_type,
                             &s->kv);
    free(slots);
    if (st != FY_OK)
        goto fail;
    const struct { int id; enum fy_act_type t; int64_t ne0; } specs[] = {
        {ACT_X, FY_ACT_F32, d},     {ACT_H, FY_ACT_F32, d},
        {ACT_Q, FY_ACT_F32, qw},    {ACT_K, FY_ACT_F32, kvw},
        {ACT_V, FY_ACT_F32, kvw},   {ACT_ATTN, FY_ACT_F32, qw},
        {ACT_O, FY_ACT_F32, d},     {ACT_RL, FY_ACT_F32, hp->n_expert},
        {ACT_IDS, FY_ACT_I32, hp->n_expert_used}, {ACT_W, FY_ACT_F32, hp->n_expert_used},
        {ACT_MOE, FY_ACT_F32, d},   {ACT_ARGMAX, FY_ACT_I32, 1},
    };
    for (size_t i = 0; i < FY_ARRAY_LEN(specs) && st == FY_OK; i++)
        st = act_alloc(&s->act[specs[i].id], specs[i].t, specs[i].ne0, ub);
    s->pos = malloc((size_t)ub * sizeof(*s->pos));
    s->runs = malloc((size_t)ub * sizeof(*s->runs));
    s->tok = malloc((size_t)ub * sizeof(*s->tok));
    s->seq_past = calloc((size_t)s->o.n_seq, sizeof(*s->seq_past));
    s->seq_lo = calloc((size_t)s->o.n_seq, sizeof(*s->seq_lo));
    if (st == FY_OK && (!s->pos || !s->runs || !s->tok || !s->seq_past || !s->seq_lo))
        st = FY_E_NOMEM;
    if (st == FY_OK && (s->o.placement || s->o.gpu))
        st = fy_sched_new(s, &s->sched);
    if (st != FY_OK)
        goto fail;
    *out = s;
    return FY_OK;
fail:
    fy_session_free(s);
    return st;
}

void fy_session_free(struct fy_session *s)
{
    if (!s)
        return;
    fy_sched_free(s->sched);
    fy_kvcache_free(s->kv);
    for (int i = 0; i < ACT_COUNT; i++)
        if (i != ACT_HLAST)
            free(s->act[i].data);
    fy_graph_free(&s->graph);
    free(s->pos);
    free(s->runs);
    free(s->tok);
    free(s->seq_past);
    free(s->seq_lo);
    free(s);
}

int64_t fy_session_n_past(const struct fy_session *s) { return s->seq_past[0]; }
int64_t fy_session_n_ctx(const struct fy_session *s) { return s->o.n_ctx; }
size_t fy_session_kv_bytes(const struct fy_session *s) { return fy_kvcache_bytes(s->kv); }

void fy_session_reset(struct fy_session *s)
{
    fy_session_seq_reset(s, 0);
}

int64_t fy_session_truncate(struct fy_session *s, int64_t n)
{
    return fy_session_seq_truncate(s, 0, n);
}
const struct fy_graph *fy_session_graph(const struct fy_session *s) { return &s->graph; }

const struct fy_kvcache *fy_session_kv(const struct fy_session *s) { return s->kv; }

const struct fy_sched_stats *fy_session_sched_stats(const struct fy_session *s)
{
    return s->sched ? fy_sched_stats(s->sched) : NULL;
}

/* ---- graph construction ---- */

struct builder {
    struct fy_graph *g;
    fy_status st;
    int layer;
};

static struct fy_node *node(struct builder *b, enum fy_op op, const char *name,
                            struct fy_act *dst)
{
    struct fy_node n = {.op = op, .backend = 0, .layer = b->layer, .name = name, .dst = dst};
    if (b->st == FY_OK)
        b->st = fy_graph_push(b->g, &n);
    return b->st == FY_OK ? &b->g->nodes[b->g->n_nodes - 1] : NULL;
}

static void norm(struct builder *b, const char *name, struct fy_act *dst, struct fy_act *src,
                 const float *w, float eps)
{
    struct fy_node *n = node(b, FY_OP_RMSNORM, name, dst);
    if (n) {
        n->src[0] = src;
        n->vec = w;
        n->fparam = eps;
    }
}

static void matmul(struct builder *b, const char *name, struct fy_act *dst, struct fy_act *src,
                   const struct fy_mat *w, const float *bias)
{
    struct fy_node *n = node(b, FY_OP_MATMUL, name, dst);
    if (n) {
        n->src[0] = src;
        n->w = w;
        n->vec = bias;
    }
}

static void add(struct builder *b, const char *name, struct fy_act *dst, struct fy_act *x,
                struct fy_act *y)
{
    struct fy_node *n = node(b, FY_OP_ADD, name, dst);
    if (n) {
        n->src[0] = x;
        n->src[1] = y;
    }
}

static void build_layer(struct builder *b, struct fy_session *s, int il)
{
    const struct fy_hparams *hp = &s->m->hp;
    const struct fy_layer *L = &s->m->layers[il];
    struct fy_act *a = s->act;
    struct fy_node *n;
    b->layer = il;

    norm(b, "attn_norm", &a[ACT_H], &a[ACT_X], L->attn_norm, hp->rms_eps);
    matmul(b, "attn_q", &a[ACT_Q], &a[ACT_H], &L->wq, L->bq);
    matmul(b, "attn_k", &a[ACT_K], &a[ACT_H], &L->wk, L->bk);
    matmul(b, "attn_v", &a[ACT_V], &a[ACT_H], &L->wv, L->bv);
    if ((n = node(b, FY_OP_ROPE, "rope_q", &a[ACT_Q]))) {
        n->src[0] = &a[ACT_Q];
        n->params = &hp->rope;
        n->iparam = (int32_t)hp->head_dim;
    }
    if ((n = node(b, FY_OP_ROPE, "rope_k", &a[ACT_K]))) {
        n->src[0] = &a[ACT_K];
        n->params = &hp->rope;
        n->iparam = (int32_t)hp->head_dim;
    }
    if ((n = node(b, FY_OP_KV_STORE, "kv_store", NULL))) {
        n->src[0] = &a[ACT_K];
        n->src[1] = &a[ACT_V];
        n->params = &s->shape;
    }
    if ((n = node(b, FY_OP_ATTENTION, "attention", &a[ACT_ATTN]))) {
        n->src[0] = &a[ACT_Q];
        n->vec = L->sinks;
        n->params = &s->shape;
        n->iparam = L->window;
        n->fparam = 1.0f / sqrtf((float)hp->head_dim);
    }
    matmul(b, "attn_output", &a[ACT_O], &a[ACT_ATTN], &L->wo, L->bo);
    add(b, "attn_residual", &a[ACT_X], &a[ACT_X], &a[ACT_O]);

    norm(b, "post_attention_norm", &a[ACT_H], &a[ACT_X], L->post_norm, hp->rms_eps);
    matmul(b, "ffn_gate_inp", &a[ACT_RL], &a[ACT_H], &L->router, L->router_b);
    if ((n = node(b, FY_OP_ROUTER, "router_topk", &a[ACT_IDS]))) {
        n->src[0] = &a[ACT_RL];
        n->dst2 = &a[ACT_W];
        n->iparam = (int32_t)hp->n_expert_used;
    }
    if ((n = node(b, FY_OP_MOE_FFN, "moe_ffn", &a[ACT_MOE]))) {
        n->src[0] = &a[ACT_H];
        n->src[1] = &a[ACT_IDS];
        n->src[2] = &a[ACT_W];
        n->params = &L->moe;
    }
    add(b, "ffn_residual", &a[ACT_X], &a[ACT_X], &a[ACT_MOE]);
}

static fy_status build(struct fy_session *s, int64_t n_tok, bool all_logits, bool need_logits,
                       bool argmax)
{
    const struct fy_model *m = s->m;
    struct fy_act *a = s->act;
    struct builder b = {.g = &s->graph, .st = FY_OK, .layer = -1};
    struct fy_node *n;

    fy_graph_reset(&s->graph);
    if ((n = node(&b, FY_OP_GET_ROWS, "token_embd", &a[ACT_X])))
        n->w = &m->tok_embd;
    for (int il = 0; il < m->hp.n_layer; il++)
        build_layer(&b, s, il);
    b.layer = -1;
    norm(&b, "output_norm", &a[ACT_H], &a[ACT_X], m->output_norm, m->hp.rms_eps);
    struct fy_act *h = &a[ACT_H];
    if (!all_logits) {
        /* only the last row goes through the (large) output matrix */
        a[ACT_HLAST] = (struct fy_act){FY_ACT_F32, m->hp.d_model, 1,
                                       (float *)a[ACT_H].data + (n_tok - 1) * m->hp.d_model};
        h = &a[ACT_HLAST];
    }
    if (need_logits)
        matmul(&b, "output", &a[ACT_LOGITS], h, &m->output, NULL);
    if (need_logits && argmax && (n = node(&b, FY_OP_ARGMAX, "argmax", &a[ACT_ARGMAX]))) {
        n->src[0] = &a[ACT_LOGITS];
        n->w = &m->output; /* not read: places it next to the logits (the scheduler) */
    }
    return b.st;
}

fy_status fy_session_ensure_logits(struct fy_session *s, int64_t rows)
{
    if (s->logits_rows >= rows)
        return FY_OK;
    free(s->act[ACT_LOGITS].data);
    s->act[ACT_LOGITS].data = NULL;
    s->logits_rows = 0;
    FY_TRY(act_alloc(&s->act[ACT_LOGITS], FY_ACT_F32, s->m->hp.n_vocab, rows));
    s->logits_rows = rows;
    return FY_OK;
}

fy_status fy_session_check_tokens(const struct fy_session *s, const int32_t *tokens, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= s->m->hp.n_vocab) {
            fy_log(FY_LOG_ERR, "token %lld: id %d is outside the vocabulary [0, %lld)",
                   (long long)i, tokens[i], (long long)s->m->hp.n_vocab);
            return FY_E_INVAL;
        }
    }
    return FY_OK;
}

fy_status fy_session_ubatch(struct fy_session *s, const int32_t *tokens, int64_t nb,
                            const struct fy_seq_run *runs, int64_t n_runs, bool all_logits,
                            bool need_logits, bool argmax)
{
    const struct fy_backend *const backends[] = {&fy_backend_cpu};
    FY_TRY(build(s, nb, all_logits, need_logits, argmax));
#if FY_HAVE_OPENMP
    const int nt = nb > 1 ? s->o.n_threads_batch : s->o.n_threads;
    if (nt != omp_get_max_threads())
        omp_set_num_threads(nt);
    fy_numa_pin(s->o.numa, nt); /* once per team size */
#endif
    /* storing positions seq_past .. seq_past + n - 1 overwrites the rings' older positions
     * (counted before running: a batch that fails half-way may have stored some) */
    for (int64_t i = 0; i < n_runs && s->ring_min > 0; i++) {
        const int32_t q = runs[i].seq;
        if (s->seq_past[q] + runs[i].n_tok - s->ring_min > s->seq_lo[q])
            s->seq_lo[q] = s->seq_past[q] + runs[i].n_tok - s->ring_min;
    }
    struct fy_batch b = {
        .n_tok = nb, .tokens = tokens, .pos = s->pos, .kv = s->kv, .n_kv = runs[0].n_kv,
        .runs = runs, .n_runs = n_runs, .reads = &s->reads, .numa = s->o.numa,
    };
    FY_TRY(s->sched ? fy_sched_exec(s->sched, &b)
                    : fy_graph_exec(&s->graph, backends, (int)FY_ARRAY_LEN(backends), &b));
    for (int64_t i = 0; i < n_runs; i++)
        s->seq_past[runs[i].seq] += runs[i].n_tok;
    return FY_OK;
}

static fy_status eval(struct fy_session *s, const int32_t *tokens, int64_t n, bool all_logits,
                      fy_logits_fn fn, void *ud, int32_t *argmax)
{
    const int64_t n_vocab = s->m->hp.n_vocab;

    FY_CHECK_ARG(s && (tokens || n == 0));
    if (n <= 0)
        return FY_OK;
    if (s->seq_past[0] + n > s->o.n_ctx) {
        fy_log(FY_LOG_ERR, "context full: %lld cached + %lld new tokens > context size %lld "
               "(raise -c)", (long long)s->seq_past[0], (long long)n, (long long)s->o.n_ctx);
        return FY_E_FULL;
    }
    FY_TRY(fy_session_check_tokens(s, tokens, n));
    FY_TRY(fy_session_ensure_logits(s, all_logits ? s->o.n_ubatch : 1));
    for (int64_t i0 = 0; i0 < n; i0 += s->o.n_ubatch) {
        const int64_t nb = (n - i0 < s->o.n_ubatch) ? n - i0 : s->o.n_ubatch;
        const bool last = i0 + nb == n;
        const int64_t past = s->seq_past[0];
        for (int64_t t = 0; t < nb; t++)
            s->pos[t] = (int32_t)(past + t);
        s->runs[0] = (struct fy_seq_run){0, nb, past + nb, 0};
        FY_TRY(fy_session_ubatch(s, tokens + i0, nb, s->runs, 1, all_logits,
                                 all_logits || last, argmax && last && !all_logits));
        if (argmax && last && !all_logits)
            *argmax = ((const int32_t *)s->act[ACT_ARGMAX].data)[0];
        if (fn && all_logits)
            FY_TRY(fn(ud, i0, nb, s->act[ACT_LOGITS].data, n_vocab));
        else if (fn && last)
            FY_TRY(fn(ud, n - 1, 1, s->act[ACT_LOGITS].data, n_vocab));
    }
    return FY_OK;
}

fy_status fy_session_eval(struct fy_session *s, const int32_t *tokens, int64_t n, bool all_logits,
                          fy_logits_fn fn, void *ud)
{
    return eval(s, tokens, n, all_logits, fn, ud, NULL);
}

fy_status fy_session_eval_argmax(struct fy_session *s, const int32_t *tokens, int64_t n,
                                 int32_t *id)
{
    FY_CHECK_ARG(id);
    *id = -1;
    return eval(s, tokens, n, false, NULL, NULL, id);
}
