/* The CPU backend: every op, through the plain C kernels of src/cpu/. */
#include "graph.h"
#include "kvcache.h"
#include "cpu/ops.h"

static float *f32(const struct fy_act *a) { return (float *)a->data; }

static fy_status run_get_rows(const struct fy_node *n, const struct fy_batch *b)
{
    n->dst->ne1 = b->n_tok;
    fy_cpu_get_rows(f32(n->dst), n->w, b->tokens, b->n_tok);
    return FY_OK;
}

static fy_status run_rmsnorm(const struct fy_node *n, const struct fy_batch *b)
{
    n->dst->ne1 = n->src[0]->ne1;
    fy_cpu_rmsnorm(f32(n->dst), f32(n->src[0]), n->vec, n->src[0]->ne1, n->src[0]->ne0,
                   n->fparam);
    return FY_OK;
}

static fy_status run_matmul(const struct fy_node *n, const struct fy_batch *b)
{
    n->dst->ne1 = n->src[0]->ne1;
    fy_cpu_matmul(f32(n->dst), n->w, 0, f32(n->src[0]), n->src[0]->ne1, n->vec);
    return FY_OK;
}

static fy_status run_rope(const struct fy_node *n, const struct fy_batch *b)
{
    const struct fy_act *x = n->src[0];
    fy_cpu_rope_yarn(f32(x), x->ne1, x->ne0 / n->iparam, n->iparam, b->pos, n->params);
    return FY_OK;
}

/* each run into its sequence's region */
static fy_status run_kv_store(const struct fy_node *n, const struct fy_batch *b)
{
    struct fy_kvcache *kv = b->kv;
    const int l = n->layer;
    for (int64_t i = 0; i < fy_batch_n_runs(b); i++) {
        const struct fy_seq_run r = fy_batch_run(b, i);
        fy_cpu_kv_store(fy_kvcache_seq_at(kv, l, kv->k[l], r.seq),
                        fy_kvcache_seq_at(kv, l, kv->v[l], r.seq), kv->type,
                        f32(n->src[0]) + r.t0 * kv->width, f32(n->src[1]) + r.t0 * kv->width,
                        r.n_tok, kv->width, b->pos + r.t0, fy_kvcache_ring(kv, l));
    }
    return FY_OK;
}

/* each run over its sequence's region */
static fy_status run_attention(const struct fy_node *n, const struct fy_batch *b)
{
    n->dst->ne1 = b->n_tok;
    for (int64_t i = 0; i < fy_batch_n_runs(b); i++) {
        const struct fy_seq_run r = fy_batch_run(b, i);
        struct fy_attn_args a = fy_attn_args_of(n, b, &r);
        FY_TRY(fy_kvcache_linear(b->kv, &a)); /* a ring layer: its positions in order */
        fy_cpu_attention(f32(n->dst) + r.t0 * a.n_head * a.head_dim, &a);
    }
    return FY_OK;
}

static fy_status run_add(const struct fy_node *n, const struct fy_batch *b)
{
    n->dst->ne1 = n->src[0]->ne1;
    fy_cpu_add(f32(n->dst), f32(n->src[0]), f32(n->src[1]), n->src[0]->ne1 * n->src[0]->ne0);
    return FY_OK;
}

static fy_status run_router(const struct fy_node *n, const struct fy_batch *b)
{
    const struct fy_act *r = n->src[0];
    n->dst->ne1 = n->dst2->ne1 = r->ne1;
    fy_cpu_router_topk((int32_t *)n->dst->data, f32(n->dst2), f32(r), r->ne1, r->ne0, n->iparam);
    return FY_OK;
}

/* the distinct experts of ids [n] (of L's), counted into r */
static void count_reads(struct fy_moe_reads *r, const struct fy_moe_layer *L, const int32_t *ids,
                        int64_t n)
{
    uint64_t seen[8] = {0}; /* up to 512 experts as bits; more: not counted */
    const int64_t n_exp = L->gate.n_mat;
    if (n_exp > 512)
        return;
    int64_t distinct = 0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t e = ids[i];
        if (e >= 0 && e < n_exp && !(seen[e / 64] >> (e % 64) & 1)) {
            seen[e / 64] |= 1ull << (e % 64);
            distinct++;
        }
    }
    r->layers++;
    r->experts += distinct;
    r->bytes += (uint64_t)distinct * (L->gate.mat_bytes + L->up.mat_bytes + L->down.mat_bytes);
}

static fy_status run_moe(const struct fy_node *n, const struct fy_batch *b)
{
    n->dst->ne1 = n->src[0]->ne1;
    if (b->reads)
        count_reads(b->reads, n->params, (const int32_t *)n->src[1]->data,
                    n->src[1]->ne0 * n->src[0]->ne1);
    return fy_cpu_moe_ffn_numa(f32(n->dst), f32(n->src[0]), n->src[0]->ne1,
                               (const int32_t *)n->src[1]->data, f32(n->src[2]),
                               (int)n->src[1]->ne0, n->params, b->numa);
}

static fy_status run_argmax(const struct fy_node *n, const struct fy_batch *b)
{
    (void)b;
    n->dst->ne1 = n->src[0]->ne1;
    fy_cpu_argmax((int32_t *)n->dst->data, f32(n->src[0]), n->src[0]->ne1, n->src[0]->ne0);
    return FY_OK;
}

static int cpu_supports(const struct fy_node *n)
{
    (void)n;
    return 1; /* the C reference implements every op */
}

const struct fy_backend fy_backend_cpu = {
    .name = "cpu",
    .run = {
        [FY_OP_GET_ROWS] = run_get_rows,
        [FY_OP_RMSNORM] = run_rmsnorm,
        [FY_OP_MATMUL] = run_matmul,
        [FY_OP_ROPE] = run_rope,
        [FY_OP_KV_STORE] = run_kv_store,
        [FY_OP_ATTENTION] = run_attention,
        [FY_OP_ADD] = run_add,
        [FY_OP_ROUTER] = run_router,
        [FY_OP_MOE_FFN] = run_moe,
        [FY_OP_ARGMAX] = run_argmax,
    },
    .supports = cpu_supports,
};
