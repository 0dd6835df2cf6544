/* Pattern matching of the GPU device's decode fusions (device_gpu_fuse.h). Each pattern checks
 * that the later nodes read what the earlier ones write (the same activation data) and that the
 * shapes fit the fused kernel, sets the row counts (ne1) every node of the group would have
 * set, and launches once. */
#include "device_gpu_fuse.h"

#include "kvcache.h"

static float *f32(const struct fy_act *a) { return (float *)a->data; }

static bool reads(const struct fy_node *n, int q, const struct fy_act *a)
{
    return n->src[q] && a && n->src[q]->data == a->data;
}

/* RMSNORM, MATMUL of its output, ROUTER of the logits */
static fy_status router(struct fy_gpu_moe_ws *ws, fy_gpu_stream s, struct fy_gpu_fuse_state *fs,
                        const struct fy_node *nd, int64_t left, int64_t *used)
{
    const struct fy_node *nm = &nd[0], *mm = &nd[1], *rt = &nd[2];
    const struct fy_act *x = nm->src[0];
    const int64_t rows = x->ne1;
    if (left < 3 || mm->op != FY_OP_MATMUL || rt->op != FY_OP_ROUTER || !reads(mm, 0, nm->dst) ||
        mm->src[0]->ne0 != x->ne0 || !reads(rt, 0, mm->dst) || mm->w->n_mat != 1)
        return FY_E_UNSUPPORTED;
    FY_TRY(fy_gpu_rmsnorm_router(f32(nm->dst), f32(mm->dst), (int32_t *)rt->dst->data,
                                 f32(rt->dst2), f32(x), rows, nm->vec, nm->fparam, mm->w, mm->vec,
                                 rt->iparam, ws, s));
    nm->dst->ne1 = mm->dst->ne1 = rt->dst->ne1 = rt->dst2->ne1 = rows;
    fs->grouped_ids = (const int32_t *)rt->dst->data;
    fs->grouped_rows = rows;
    *used = 3;
    return FY_OK;
}

/* RMSNORM, then 1-3 MATMULs of its output with one weight type and n_in */
static fy_status norm_matmul(fy_gpu_stream s, const struct fy_node *nd, int64_t left,
                             int64_t *used)
{
    const struct fy_node *nm = &nd[0];
    const int64_t rows = nm->src[0]->ne1;
    struct fy_gpu_mv_part parts[3];
    int np = 0;
    while (np < 3 && 1 + np < left) {
        const struct fy_node *mm = &nd[1 + np];
        /* the norm's own output (its row count is set by the norm), or a one-row view of it
         * (the last row for the output matrix) when there is one row */
        if (mm->op != FY_OP_MATMUL || !reads(mm, 0, nm->dst) ||
            (mm->src[0] != nm->dst && !(rows == 1 && mm->src[0]->ne1 == 1)) ||
            mm->w->n_mat != 1 || (np > 0 && (mm->w->type != parts[0].w->type ||
                                            mm->w->n_in != parts[0].w->n_in)))
            break;
        parts[np++] = (struct fy_gpu_mv_part){mm->w, mm->vec, f32(mm->dst)};
    }
    if (np == 0)
        return FY_E_UNSUPPORTED;
    FY_TRY(fy_gpu_rmsnorm_matmul(f32(nm->dst), f32(nm->src[0]), rows, nm->vec, nm->fparam, parts,
                                 np, s));
    nm->dst->ne1 = rows;
    for (int p = 0; p < np; p++)
        nd[1 + p].dst->ne1 = rows;
    *used = 1 + np;
    return FY_OK;
}

/* ROPE q, ROPE k, KV_STORE k v */
static fy_status rope_kv(fy_gpu_stream s, const struct fy_node *nd, int64_t left,
                         const struct fy_batch *b, int64_t *used)
{
    const struct fy_node *rq = &nd[0], *rk = &nd[1], *st = &nd[2];
    if (left < 3 || rk->op != FY_OP_ROPE || st->op != FY_OP_KV_STORE || rq->params != rk->params ||
        rq->iparam != rk->iparam || rq->iparam <= 0 || !reads(st, 0, rk->src[0]) ||
        reads(st, 0, rq->src[0]) || rq->src[0]->ne1 != b->n_tok || rk->src[0]->ne1 != b->n_tok ||
        b->n_runs > 1) /* several sequences: one store per run (device_gpu.c) */
        return FY_E_UNSUPPORTED;
    const struct fy_kvcache *kv = b->kv;
    const int64_t hd = rq->iparam;
    const int32_t seq = fy_batch_run(b, 0).seq;
    if (kv->width != rk->src[0]->ne0 || st->src[1]->ne0 != kv->width)
        return FY_E_UNSUPPORTED;
    FY_TRY(fy_gpu_rope_kv_store(f32(rq->src[0]), f32(rk->src[0]), f32(st->src[1]), b->n_tok,
                                rq->src[0]->ne0 / hd, rk->src[0]->ne0 / hd, hd, b->pos,
                                rq->params,
                                fy_kvcache_seq_at(kv, st->layer, kv->k[st->layer], seq),
                                fy_kvcache_seq_at(kv, st->layer, kv->v[st->layer], seq), kv->type,
                                fy_kvcache_ring(kv, st->layer), s));
    *used = 3;
    return FY_OK;
}

/* the ADD after node p that adds p's output to another activation: that one, or NULL */
static const struct fy_act *residual_of(const struct fy_node *p, const struct fy_node *ad)
{
    if (ad->op != FY_OP_ADD || ad->dst->ne0 != p->dst->ne0)
        return NULL;
    if (reads(ad, 1, p->dst) && !reads(ad, 0, p->dst))
        return ad->src[0];
    if (reads(ad, 0, p->dst) && !reads(ad, 1, p->dst))
        return ad->src[1];
    return NULL;
}

fy_status fy_gpu_fuse_run(struct fy_gpu_moe_ws *ws, fy_gpu_stream s, struct fy_gpu_fuse_state *fs,
                          const struct fy_node *nodes, int64_t n, int64_t i,
                          const struct fy_batch *b, int64_t *used)
{
    const struct fy_node *nd = &nodes[i];
    const int64_t left = n - i;
    const struct fy_gpu_fuse_state in = *fs;
    fs->grouped_ids = NULL; /* whatever runs now, only the router leaves a grouping behind */
    *used = 0;
    switch (nd->op) {
    case FY_OP_RMSNORM: {
        if (nd->src[0]->ne1 > FY_GPU_FUSE_MAX_TOK || left < 2)
            return FY_E_UNSUPPORTED;
        const fy_status st = router(ws, s, fs, nd, left, used);
        return st == FY_E_UNSUPPORTED ? norm_matmul(s, nd, left, used) : st;
    }
    case FY_OP_ROPE:
        return rope_kv(s, nd, left, b, used);
    case FY_OP_MATMUL: {
        const struct fy_act *x = nd->src[0], *res;
        if (left < 2 || x->ne1 > FY_GPU_FUSE_MAX_TOK || nd->w->n_mat != 1 ||
            !(res = residual_of(nd, &nd[1])))
            return FY_E_UNSUPPORTED;
        FY_TRY(fy_gpu_matmul_residual(f32(nd[1].dst), f32(nd->dst), nd->w, f32(x), x->ne1,
                                      nd->vec, f32(res), s));
        nd->dst->ne1 = nd[1].dst->ne1 = x->ne1;
        *used = 2;
        return FY_OK;
    }
    case FY_OP_MOE_FFN: {
        const struct fy_act *x = nd->src[0], *ids = nd->src[1], *res;
        if (left < 2 || x->ne1 > FY_GPU_FUSE_MAX_TOK || !(res = residual_of(nd, &nd[1])))
            return FY_E_UNSUPPORTED;
        const bool grouped = in.grouped_ids == ids->data && in.grouped_rows == x->ne1;
        FY_TRY(fy_gpu_moe_ffn_residual(ws, f32(nd[1].dst), f32(nd->dst), f32(x), x->ne1,
                                       (const int32_t *)ids->data, f32(nd->src[2]),
                                       (int)ids->ne0, nd->params, f32(res), grouped, s));
        nd->dst->ne1 = nd[1].dst->ne1 = x->ne1;
        *used = 2;
        return FY_OK;
    }
    default:
        return FY_E_UNSUPPORTED;
    }
}
