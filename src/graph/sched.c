/* The hybrid scheduler: segments and running a micro-batch. Each node runs on the device of the
 * weights it reads (the MoE layers where fy_place_experts says; weight-less nodes on their layer's
 * KV device); consecutive nodes of one device form a segment; an activation is copied across only
 * when a segment reads it and its latest version is on the other side. Also the set-up: the
 * weights placed on the device, its KV cache, its activations.
 *
 * The uploads of an offloaded MoE layer's selected experts (staging slots, chunks, pinning) are in
 * sched_upload.c, the speculative cross-layer prefetch in sched_prefetch.c; what the three share
 * is in sched_priv.h. */
#include "sched_priv.h"

#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_range(const void *a, const void *b)
{
    const struct wrange *x = a, *y = b;
    return x->host < y->host ? -1 : x->host > y->host;
}

const struct wrange *fy_sched_find(const struct fy_sched *sc, const void *p)
{
    const uint8_t *q = p;
    int64_t lo = 0, hi = sc->n_w - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        const struct wrange *r = &sc->w[mid];
        if (q < r->host)
            hi = mid - 1;
        else if (q >= r->host + r->n)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

/* Device address of host weight bytes p, or NULL if they have no device copy. */
static void *dev_ptr(const struct fy_sched *sc, const void *p)
{
    const struct wrange *r = fy_sched_find(sc, p);
    return r && r->dev ? (uint8_t *)r->dev + ((const uint8_t *)p - r->host) : NULL;
}

static enum fy_device_id weight_dev(const struct fy_sched *sc, const void *p)
{
    const struct wrange *r = fy_sched_find(sc, p);
    return r ? sc->pl->t[r->t].dev : FY_DEV_CPU;
}


/* "12.3 GiB", "4.0 MiB", "512 bytes" */
static const char *fmt_size(char *buf, size_t cap, uint64_t n)
{
    if (n >= (1ull << 30))
        snprintf(buf, cap, "%.2f GiB", (double)n / (1ull << 30));
    else if (n >= (1ull << 20))
        snprintf(buf, cap, "%.1f MiB", (double)n / (1ull << 20));
    else
        snprintf(buf, cap, "%llu bytes", (unsigned long long)n);
    return buf;
}

/* Once per session, after the device has said what did not fit and how much is free: which
 * placement flags make room. */
static void oom_hint(struct fy_sched *sc, const char *what, size_t n)
{
    char sz[32], used[32];
    if (sc->oom_hint)
        return;
    sc->oom_hint = true;
    if (n)
        snprintf(sz, sizeof(sz), " (%s)", fmt_size(used, sizeof(used), n));
    else
        sz[0] = 0;
    fy_log(FY_LOG_ERR, "%s: %s%s does not fit next to the %s already allocated there. Try "
           "fewer GPU layers (-ngl), -ot exps=CPU or --n-cpu-moe N, or a smaller -c / -ub; "
           "`ferry plan -m %s` with the same flags shows what goes where (add --vram SIZE to "
           "check a budget)", sc->gpu->name, what, sz,
           fmt_size(used, sizeof(used), sc->gpu->stats.bytes_live),
           fy_gguf_path(sc->s->m->gguf, 0));
}

/* Device memory for `what`, named in the out-of-memory messages. */
static fy_status dev_alloc(struct fy_sched *sc, size_t n, const char *what, void **out)
{
    fy_status st = sc->gpu->ops->alloc(sc->gpu, n ? n : 1, what, out);
    if (st == FY_E_NOMEM)
        oom_hint(sc, what, n);
    return st;
}

/* Makes *buf (device memory of *cap bytes) hold at least need bytes; the contents are lost. */
fy_status fy_sched_dev_grow(struct fy_sched *sc, void **buf, size_t *cap, size_t need,
                            const char *what)
{
    if (*cap >= need)
        return FY_OK;
    sc->pure = false; /* freeing waits for the device */
    sc->gpu->ops->free(sc->gpu, *buf);
    *buf = NULL;
    *cap = 0;
    FY_TRY(dev_alloc(sc, need, what, buf));
    *cap = need;
    return FY_OK;
}

/* ---- set-up ---- */

static fy_status upload_weights(struct fy_sched *sc)
{
    const struct fy_placement *pl = sc->pl;
    sc->w = calloc((size_t)pl->n_tensors, sizeof(*sc->w));
    if (!sc->w)
        return FY_E_NOMEM;
    for (int64_t i = 0; i < pl->n_tensors; i++) {
        const struct fy_place_tensor *t = &pl->t[i];
        struct wrange *r = &sc->w[sc->n_w++];
        *r = (struct wrange){t->t->data, t->t->size, i, NULL};
        if (t->dev != FY_DEV_GPU0 && !(t->dup && t->dup_dev == FY_DEV_GPU0))
            continue;
        FY_TRY(dev_alloc(sc, r->n, t->t->name, &r->dev));
        FY_TRY(sc->gpu->ops->copy_in(sc->gpu, r->dev, r->host, r->n));
        sc->st.load_bytes += r->n;
    }
    qsort(sc->w, (size_t)sc->n_w, sizeof(*sc->w), cmp_range);
    return FY_OK;
}

static fy_status make_kv_view(struct fy_sched *sc)
{
    const struct fy_kvcache *kv = sc->s->kv;
    sc->kv_view = *kv;
    sc->kv_view.k = calloc((size_t)kv->n_layer, sizeof(void *));
    sc->kv_view.v = calloc((size_t)kv->n_layer, sizeof(void *));
    if (!sc->kv_view.k || !sc->kv_view.v)
        return FY_E_NOMEM;
    for (int64_t l = 0; l < kv->n_layer; l++) {
        const size_t bytes = fy_kvcache_layer_bytes(kv, l) / 2; /* K or V: n_ctx or ring slots */
        if (sc->pl->layers[l].kv_dev == FY_DEV_GPU0) {
            char what[48];
            snprintf(what, sizeof(what), "KV cache of layer %lld (K)", (long long)l);
            FY_TRY(dev_alloc(sc, bytes, what, &sc->kv_view.k[l]));
            snprintf(what, sizeof(what), "KV cache of layer %lld (V)", (long long)l);
            FY_TRY(dev_alloc(sc, bytes, what, &sc->kv_view.v[l]));
        } else {
            sc->kv_view.k[l] = kv->k[l];
            sc->kv_view.v[l] = kv->v[l];
        }
    }
    return FY_OK;
}

fy_status fy_sched_new(struct fy_session *s, struct fy_sched **out)
{
    const struct fy_placement *pl = s->o.placement;
    struct fy_sched *sc = NULL;
    fy_status st;
    *out = NULL;
    if (!pl || !s->o.gpu || pl->dims.n_layer != s->m->hp.n_layer ||
        pl->dims.n_expert != s->m->hp.n_expert) {
        fy_log(FY_LOG_ERR, "session: the placement does not belong to this model");
        return FY_E_INVAL;
    }
    sc = calloc(1, sizeof(*sc));
    if (!sc)
        return FY_E_NOMEM;
    sc->s = s;
    sc->pl = pl;
    sc->gpu = s->o.gpu;
    const size_t n_exp = (size_t)s->m->hp.n_expert;
    st = fy_device_cpu_new(&sc->cpu);
    if (st == FY_OK)
        st = upload_weights(sc);
    if (st == FY_OK)
        st = make_kv_view(sc);
    if (st == FY_OK)
        st = dev_alloc(sc, 2 * (size_t)s->o.n_ubatch * sizeof(int32_t), "token ids and positions",
                       &sc->tok_dev);
    if (st == FY_OK) {
        const size_t io_bytes = 2 * (size_t)s->o.n_ubatch * sizeof(int32_t);
        sc->pos_dev = (int32_t *)sc->tok_dev + s->o.n_ubatch;
        void *io = NULL;
        if (sc->gpu->ops->host_alloc && sc->gpu->ops->copy_in_async &&
            sc->gpu->ops->host_alloc(sc->gpu, io_bytes, &io) == FY_OK) {
            sc->io_pinned = true;
        } else {
            io = malloc(io_bytes);
            if (!io)
                st = FY_E_NOMEM;
        }
        sc->io_host = io;
    }
    if (st == FY_OK) {
        sc->used = calloc(n_exp, sizeof(bool));
        sc->all = calloc(n_exp, sizeof(bool));
        sc->up_cap = (int64_t)(FY_EXP_PROJ_COUNT * (n_exp + 1));
        if (!sc->used || !sc->all)
            st = FY_E_NOMEM;
        for (size_t e = 0; sc->all && e < n_exp; e++)
            sc->all[e] = true;
        for (int k = 0; k < FY_STAGE_SLOTS; k++) {
            sc->up[k] = calloc((size_t)sc->up_cap, sizeof(*sc->up[k]));
            sc->chunk_up[k] = calloc(n_exp + 2, sizeof(int64_t));
            sc->chunk_e[k] = calloc(n_exp + 2, sizeof(int64_t));
            if (!sc->up[k] || !sc->chunk_up[k] || !sc->chunk_e[k])
                st = FY_E_NOMEM;
            sc->pf_layer[k] = -1;
        }
        sc->prefetch = fy_sched_prefetch_enabled() && sc->gpu->ops->prefetch &&
                       sc->gpu->ops->run_prefetched && sc->gpu->ops->run_staged;
    }
    if (st == FY_OK)
        st = fy_sched_pin_experts(sc);
    if (st != FY_OK) {
        fy_sched_free(sc);
        return st;
    }
    *out = sc;
    return FY_OK;
}

void fy_sched_free(struct fy_sched *sc)
{
    if (!sc)
        return;
    struct fy_device *g = sc->gpu;
    (void)g->ops->sync(g); /* nothing in flight reads what is freed below */
    for (int64_t i = 0; i < sc->n_pins; i++)
        g->ops->unpin(g, sc->pins[i]);
    for (int64_t i = 0; i < sc->n_w; i++)
        g->ops->free(g, sc->w[i].dev);
    for (int a = 0; a < ACT_COUNT; a++)
        if (a != ACT_HLAST)
            g->ops->free(g, sc->dact[a].data);
    for (int64_t l = 0; sc->kv_view.k && l < sc->kv_view.n_layer; l++) {
        if (sc->pl->layers[l].kv_dev == FY_DEV_GPU0) {
            g->ops->free(g, sc->kv_view.k[l]);
            if (sc->kv_view.v)
                g->ops->free(g, sc->kv_view.v[l]);
        }
    }
    for (int k = 0; k < FY_STAGE_SLOTS; k++) {
        for (int p = 0; p < FY_EXP_PROJ_COUNT; p++) {
            g->ops->free(g, sc->stage[k][p]);
            g->ops->free(g, sc->stage_b[k][p]);
        }
    }
    g->ops->free(g, sc->tok_dev);
    if (sc->io_pinned)
        g->ops->host_free(g, sc->io_host);
    else
        free(sc->io_host);
    for (int a = 0; a < ACT_COUNT; a++) {
        if (sc->act_stage[a])
            g->ops->host_free(g, sc->act_stage[a]);
        if (sc->down_stage[a])
            g->ops->host_free(g, sc->down_stage[a]);
    }
    free(sc->kv_view.k);
    free(sc->kv_view.v);
    free(sc->w);
    free(sc->used);
    free(sc->all);
    for (int k = 0; k < FY_STAGE_SLOTS; k++) {
        free(sc->up[k]);
        free(sc->chunk_up[k]);
        free(sc->chunk_e[k]);
    }
    free(sc->pins);
    free(sc->seg);
    free(sc->mats);
    fy_device_free(sc->cpu);
    free(sc);
}

const struct fy_sched_stats *fy_sched_stats(const struct fy_sched *sc) { return &sc->st; }

fy_status fy_sched_kv_copy(struct fy_sched *sc, int64_t l, size_t dst, size_t src, size_t n)
{
    const struct fy_kvcache *kv = &sc->kv_view;
    if (sc->pl->layers[l].kv_dev != FY_DEV_GPU0) {
        memmove((char *)kv->k[l] + dst, (const char *)kv->k[l] + src, n);
        memmove((char *)kv->v[l] + dst, (const char *)kv->v[l] + src, n);
        return FY_OK;
    }
    /* through the host: forks are rare, a few MiB each */
    void *tmp = malloc(n ? n : 1);
    if (!tmp)
        return FY_E_NOMEM;
    fy_status st = FY_OK;
    for (int kvv = 0; kvv < 2 && st == FY_OK; kvv++) {
        char *base = kvv ? kv->v[l] : kv->k[l];
        st = sc->gpu->ops->sync(sc->gpu);
        if (st == FY_OK)
            st = sc->gpu->ops->copy_out(sc->gpu, tmp, base + src, n);
        if (st == FY_OK)
            st = sc->gpu->ops->copy_in(sc->gpu, base + dst, tmp, n);
    }
    free(tmp);
    return st;
}

/* ---- where nodes run ---- */

static enum fy_device_id node_dev(const struct fy_sched *sc, const struct fy_node *n,
                                  int64_t n_tok, struct fy_expert_path *path)
{
    switch (n->op) {
    case FY_OP_MOE_FFN:
        if (fy_place_experts(sc->pl, n->layer, n_tok, path) != FY_OK)
            return FY_DEV_CPU;
        return path->dev;
    case FY_OP_GET_ROWS:
    case FY_OP_MATMUL:
    case FY_OP_ARGMAX: /* its w: the output matrix, next to whose logits it runs */
        return weight_dev(sc, n->w->data);
    case FY_OP_RMSNORM:
        return weight_dev(sc, n->vec);
    default:
        return n->layer >= 0 ? sc->pl->layers[n->layer].kv_dev : FY_DEV_CPU;
    }
}

static fy_status grow_seg(struct fy_sched *sc, int64_t n)
{
    if (n <= sc->seg_cap)
        return FY_OK;
    struct fy_node *seg = realloc(sc->seg, (size_t)n * sizeof(*seg));
    if (seg)
        sc->seg = seg;
    struct fy_mat *mats = realloc(sc->mats, (size_t)n * sizeof(*mats));
    if (mats)
        sc->mats = mats;
    if (!seg || !mats)
        return FY_E_NOMEM;
    sc->seg_cap = n;
    return FY_OK;
}

static struct fy_act *dev_act(struct fy_sched *sc, const struct fy_act *a, int64_t n_tok)
{
    if (!a)
        return NULL;
    int i = fy_sched_act_index(sc, a);
    if (i == ACT_HLAST) {
        struct fy_act *h = &sc->dact[ACT_H];
        sc->dact[ACT_HLAST] = (struct fy_act){FY_ACT_F32, h->ne0, 1,
                                              (float *)h->data + (n_tok - 1) * h->ne0};
    }
    return &sc->dact[i];
}

/* Rewrites node n for the device: activations to their device copies, weights to theirs. */
static fy_status translate(struct fy_sched *sc, const struct fy_node *n, struct fy_node *out,
                           struct fy_mat *mat, int64_t n_tok)
{
    *out = *n;
    for (int i = 0; i < 3; i++)
        out->src[i] = dev_act(sc, n->src[i], n_tok);
    out->dst = dev_act(sc, n->dst, n_tok);
    out->dst2 = dev_act(sc, n->dst2, n_tok);
    if (n->w) {
        *mat = *n->w;
        mat->data = dev_ptr(sc, n->w->data);
        out->w = mat;
    }
    if (n->vec)
        out->vec = dev_ptr(sc, n->vec);
    if ((n->w && !mat->data) || (n->vec && !out->vec)) {
        fy_log(FY_LOG_ERR, "placement: node %s of layer %d runs on %s but reads a tensor that is "
               "not there (place the layer's tensors together)", n->name, n->layer,
               sc->gpu->name);
        return FY_E_UNSUPPORTED;
    }
    return FY_OK;
}

/* Runs nodes [i, j) of the graph on device d. */
static fy_status run_segment(struct fy_sched *sc, int64_t i, int64_t j, enum fy_device_id d,
                             const struct fy_batch *b, const struct fy_batch *bd)
{
    const struct fy_node *nodes = sc->s->graph.nodes;
    if (d == FY_DEV_CPU)
        FY_TRY(fy_sched_download_inputs(sc, i, j));
    for (int64_t k = i; k < j; k++) {
        for (int q = 0; q < 3; q++)
            if (nodes[k].src[q])
                FY_TRY(fy_sched_ensure(sc, fy_sched_act_index(sc, nodes[k].src[q]), d));
        if (d == FY_DEV_GPU0) {
            if (nodes[k].dst)
                FY_TRY(fy_sched_ensure_room(sc, fy_sched_act_index(sc, nodes[k].dst)));
            if (nodes[k].dst2)
                FY_TRY(fy_sched_ensure_room(sc, fy_sched_act_index(sc, nodes[k].dst2)));
        }
        /* later nodes of the segment read this output where it is made */
        if (nodes[k].dst)
            fy_sched_written(sc, nodes[k].dst, d);
        if (nodes[k].dst2)
            fy_sched_written(sc, nodes[k].dst2, d);
    }
    sc->st.segments++;
    if (d == FY_DEV_CPU)
        return sc->cpu->ops->run(sc->cpu, nodes + i, j - i, b);
    FY_TRY(grow_seg(sc, j - i));
    for (int64_t k = i; k < j; k++)
        FY_TRY(translate(sc, &nodes[k], &sc->seg[k - i], &sc->mats[k - i], b->n_tok));
    return sc->gpu->ops->run(sc->gpu, sc->seg, j - i, bd);
}

/* ---- MoE layers ---- */

/* The residual ADD right after MoE node k reads the MoE's output and runs on the GPU too: it
 * goes to the device in the same run call (the GPU fuses the pair into the MoE's last kernel). */
static bool add_follows(struct fy_sched *sc, int64_t k, int64_t n_tok)
{
    const struct fy_graph *g = &sc->s->graph;
    struct fy_expert_path path;
    if (k + 1 >= g->n_nodes)
        return false;
    const struct fy_node *a = &g->nodes[k + 1];
    return a->op == FY_OP_ADD && (a->src[0] == g->nodes[k].dst || a->src[1] == g->nodes[k].dst) &&
           node_dev(sc, a, n_tok, &path) == FY_DEV_GPU0;
}

static fy_status run_moe(struct fy_sched *sc, int64_t k, const struct fy_expert_path *path,
                         const struct fy_batch *b, const struct fy_batch *bd, int64_t *n_run)
{
    *n_run = 1;
    const struct fy_node *n = &sc->s->graph.nodes[k];
    const int64_t n_exp = sc->s->m->hp.n_expert;
    if (path->dev == FY_DEV_CPU) {
        sc->st.moe_cpu++;
        return run_segment(sc, k, k + 1, FY_DEV_CPU, b, bd);
    }
    sc->st.moe_gpu++;
    const int slot = sc->slot;
    struct staged w[FY_EXP_PROJ_COUNT], bs[FY_EXP_PROJ_COUNT];
    int n_w = 0, n_bs = 0;
    int64_t selected = 0;
    sc->moe = *(const struct fy_moe_layer *)n->params;
    FY_TRY(fy_sched_stage_layer(sc, &sc->moe, n->layer, slot, w, &n_w, bs, &n_bs));
    struct fy_moe_stage stage = {0};
    bool prefetched = false;
    if (n_w || n_bs) {
        /* which experts the batch selected: the router's ids, read on the host */
        FY_TRY(fy_sched_ensure(sc, fy_sched_act_index(sc, n->src[1]), FY_DEV_CPU));
        const int32_t *ids = n->src[1]->data;
        memset(sc->used, 0, (size_t)n_exp * sizeof(bool));
        for (int64_t i = 0; i < n->src[1]->ne0 * n->src[1]->ne1; i++)
            if (ids[i] >= 0 && ids[i] < n_exp)
                sc->used[ids[i]] = true;
        for (int64_t e = 0; e < n_exp; e++)
            selected += sc->used[e];
        if (sc->pf_layer[slot] == n->layer) {
            /* prefetched whole (every expert, the biases) into this slot, with these very
             * staging buffers: nothing is missing, nothing is uploaded again */
            stage = sc->pf_stage[slot];
            prefetched = true;
            fy_sched_drop_prefetch(sc, slot, sc->used);
        } else {
            fy_sched_drop_prefetch(sc, slot, NULL); /* a stale one: overwritten, all wasted */
            fy_sched_plan_uploads(sc, w, n_w, bs, n_bs, slot, sc->used, &stage);
        }
        sc->slot = (slot + 1) % FY_STAGE_SLOTS;
    }
    for (int q = 0; q < 3; q++)
        FY_TRY(fy_sched_ensure(sc, fy_sched_act_index(sc, n->src[q]), FY_DEV_GPU0));
    FY_TRY(fy_sched_ensure_room(sc, fy_sched_act_index(sc, n->dst)));
    fy_sched_written(sc, n->dst, FY_DEV_GPU0);
    FY_TRY(grow_seg(sc, 1));
    struct fy_node *t = &sc->seg[0];
    *t = *n;
    for (int q = 0; q < 3; q++)
        t->src[q] = dev_act(sc, n->src[q], b->n_tok);
    t->dst = dev_act(sc, n->dst, b->n_tok);
    t->params = &sc->moe;
    sc->st.segments++;
    if (!stage.n_chunk) {
        if (add_follows(sc, k, b->n_tok)) {
            const struct fy_node *a = &sc->s->graph.nodes[k + 1];
            FY_TRY(grow_seg(sc, 2));
            t = &sc->seg[0]; /* grow_seg may have moved it */
            for (int q = 0; q < 2; q++)
                FY_TRY(fy_sched_ensure(sc, fy_sched_act_index(sc, a->src[q]), FY_DEV_GPU0));
            FY_TRY(fy_sched_ensure_room(sc, fy_sched_act_index(sc, a->dst)));
            fy_sched_written(sc, a->dst, FY_DEV_GPU0);
            FY_TRY(translate(sc, a, &sc->seg[1], &sc->mats[1], b->n_tok));
            *n_run = 2;
        }
        return sc->gpu->ops->run(sc->gpu, t, *n_run, bd);
    }
    if (sc->gpu->ops->run_staged) {
        if (prefetched)
            FY_TRY(sc->gpu->ops->run_prefetched(sc->gpu, t, bd, &stage));
        else
            FY_TRY(sc->gpu->ops->run_staged(sc->gpu, t, bd, &stage));
        /* the next layer's uploads go right behind this layer's on the copy stream */
        return n_w ? fy_sched_maybe_prefetch(sc, k, selected, b) : FY_OK;
    }
    for (int64_t i = 0; i < stage.n_up; i++)
        FY_TRY(sc->gpu->ops->copy_in(sc->gpu, stage.up[i].dst, stage.up[i].src, stage.up[i].n));
    return sc->gpu->ops->run(sc->gpu, t, 1, bd);
}

/* ---- a micro-batch ---- */

static fy_status exec_batch(struct fy_sched *sc, const struct fy_batch *b)
{
    struct fy_graph *g = &sc->s->graph;
    struct fy_batch bd = *b;
    struct fy_expert_path path;
    bool need_tok = false, need_pos = false;

    for (int64_t i = 0; i < g->n_nodes; i++) {
        struct fy_node *n = &g->nodes[i];
        n->backend = node_dev(sc, n, b->n_tok, &path); /* recorded for inspection */
        if (n->backend != FY_DEV_GPU0)
            continue;
        need_tok |= n->op == FY_OP_GET_ROWS;
        need_pos |= n->op == FY_OP_ROPE || n->op == FY_OP_KV_STORE || n->op == FY_OP_ATTENTION;
    }
    /* A decode step like the last one that never made the host wait before its end: its
     * device work is recorded once as a graph, then replayed (one launch per token) */
    const struct fy_act *last = g->n_nodes ? g->nodes[g->n_nodes - 1].dst : NULL;
    const int result = last == &sc->s->act[ACT_LOGITS] ? ACT_LOGITS
                       : last == &sc->s->act[ACT_ARGMAX] ? ACT_ARGMAX : -1;
    /* a recording holds one sequence's cache addresses: recorded and replayed per sequence,
     * not for micro-batches of several */
    const struct fy_seq_run run0 = fy_batch_run(b, 0);
    const uint64_t key = ((uint64_t)(run0.seq & 0x7ff) << 52) | ((uint64_t)g->n_nodes << 32) |
                         ((uint64_t)b->n_tok << 2) | (uint64_t)(result + 1);
    bool replay = false;
    sc->in_step = b->n_tok <= FY_STEP_MAX_TOK && fy_batch_n_runs(b) == 1 && run0.seq < 0x800 &&
                  sc->pure_key == key && sc->gpu->ops->step_begin &&
                  sc->gpu->ops->step_begin(sc->gpu, key, &replay) == FY_OK;
    sc->pure = true;
    sc->batch_key = fy_batch_n_runs(b) == 1 ? key : 0;

    /* the ids and positions in one upload (from pinned memory, not waited for: the previous
     * batch ended with a sync, so nothing in flight still reads io_host) */
    const int64_t ub = sc->s->o.n_ubatch;
    const size_t in_bytes = (size_t)b->n_tok * sizeof(int32_t);
    if (need_tok || need_pos) {
        memcpy(sc->io_host, b->tokens, in_bytes);
        memcpy(sc->io_host + ub, b->pos, in_bytes);
        const size_t n = (size_t)(ub + b->n_tok) * sizeof(int32_t);
        if (sc->io_pinned)
            FY_TRY(sc->gpu->ops->copy_in_async(sc->gpu, sc->tok_dev, sc->io_host, n));
        else
            FY_TRY(sc->gpu->ops->copy_in(sc->gpu, sc->tok_dev, sc->io_host, n));
        sc->st.act_bytes_in += n;
    }
    memset(sc->stage_busy, 0, sizeof(sc->stage_busy)); /* the last batch ended with a sync */
    bd.tokens = sc->tok_dev;
    bd.pos = sc->pos_dev;
    bd.numa = NULL; /* the CPU's, not GPU0's */
    bd.kv = &sc->kv_view;
    struct fy_seq_run step_run = run0;
    if (sc->in_step) { /* replayed at other depths: attention bounds keys by position alone */
        bd.n_kv = sc->kv_view.n_ctx;
        step_run.n_kv = sc->kv_view.n_ctx;
        bd.runs = &step_run;
        bd.n_runs = 1;
    }
    for (int k = 0; k < FY_STAGE_SLOTS; k++)
        fy_sched_drop_prefetch(sc, k, NULL); /* left by a batch that failed half-way */

    for (int64_t i = 0; i < g->n_nodes;) {
        enum fy_device_id d = node_dev(sc, &g->nodes[i], b->n_tok, &path);
        if (g->nodes[i].op == FY_OP_MOE_FFN) {
            int64_t n_run;
            FY_TRY(run_moe(sc, i, &path, b, &bd, &n_run));
            i += n_run;
            continue;
        }
        int64_t j = i + 1;
        while (j < g->n_nodes && g->nodes[j].op != FY_OP_MOE_FFN &&
               node_dev(sc, &g->nodes[j], b->n_tok, &path) == d)
            j++;
        FY_TRY(run_segment(sc, i, j, d, b, &bd));
        i = j;
    }
    if (result >= 0)
        return fy_sched_result_home(sc, result);
    return fy_sched_wait(sc);
}

fy_status fy_sched_exec(struct fy_sched *sc, const struct fy_batch *b)
{
    fy_status st = exec_batch(sc, b);
    if (sc->in_step) { /* failed half-way through a step */
        sc->gpu->ops->step_abort(sc->gpu);
        sc->in_step = false;
    }
    sc->pure_key = st == FY_OK && sc->pure ? sc->batch_key : 0;
    if (st == FY_E_NOMEM) /* a kernel's own workspace (the MoE's), named by the GPU module */
        oom_hint(sc, "a kernel workspace", 0);
    return st;
}
