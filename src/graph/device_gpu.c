/* The GPU device: device.h's fy_device on the GPU module of src/hip/ (CUDA, HIP, or the CPU
 * emulator in tests). Two streams: `compute` runs the nodes and the activation copies in order;
 * `copy` uploads expert weights for run_staged, chunk by chunk, each chunk ending with an event
 * that the compute stream waits for just before that chunk's experts, so the upload of chunk
 * i+1 overlaps the compute of chunk i. Per staging slot, an event marks the compute stream's
 * last read, which the copy stream waits for before writing the slot again. A prefetch enqueues
 * a later layer's uploads the same way (into the other slot, behind the current layer's) without
 * computing; that layer's run_staged then only waits for the prefetch's chunk events. */
#include "device_gpu.h"
#include "device_gpu_fuse.h"

#include "hip/fy_gpu.h"
#include "kvcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block {
    void *p;
    size_t n;
};

struct gpudev {
    char name[16];
    struct fy_gpu_info info;
    bool pin;                                 /* pin the host ranges that uploads read */
    fy_gpu_stream cs;                         /* compute */
    fy_gpu_stream xs;                         /* copy */
    bool xs_busy;                             /* uploads enqueued on xs since its last sync */
    fy_gpu_event slot_free[FY_STAGE_SLOTS];   /* the compute stream's last read of a slot */
    bool slot_recorded[FY_STAGE_SLOTS];
    fy_gpu_event *chunk_ev[FY_STAGE_SLOTS];   /* one per chunk of a slot's uploads */
    int64_t n_chunk_ev[FY_STAGE_SLOTS];
    int64_t pre_chunks[FY_STAGE_SLOTS];       /* chunks of a prefetch not yet computed, or 0 */
    struct fy_gpu_moe_ws *ws;
    bool fuse;                                /* decode fusions (FY_GPU_FUSE, default on) */
    bool graphs;                              /* step graphs (FY_GPU_GRAPH, default on) */
    int step;                                 /* 0: none, 1: recording, 2: replaying */
    uint64_t step_key;
    struct step_graph {
        uint64_t key, epoch;                  /* epoch: fy_gpu_alloc_epoch when recorded */
        fy_gpu_graph g;
    } sg[4];                                  /* recordings by key, least recent last */
    struct fy_gpu_fuse_state fs;              /* what the fused router left for the MoE */
    struct block *mem;                        /* live allocations */
    int64_t n_mem;
    int64_t mem_cap;
    struct block *pins;                       /* registered host ranges */
    int64_t n_pins;
};

static struct gpudev *ctx_of(const struct fy_device *d) { return d->ctx; }

void fy_device_gpu_opts_default(struct fy_device_gpu_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->pin = true;
}

const char *fy_device_gpu_platform(void) { return fy_gpu_platform(); }

int fy_device_gpu_count(void) { return fy_gpu_count(); }

fy_status fy_device_gpu_mem(int index, uint64_t *free_bytes, uint64_t *total_bytes)
{
    size_t f = 0, t = 0;
    FY_TRY(fy_gpu_init(index, NULL));
    FY_TRY(fy_gpu_mem_info(&f, &t));
    *free_bytes = f;
    *total_bytes = t;
    return FY_OK;
}

/* ---- memory ---- */

static fy_status gpu_alloc(struct fy_device *d, size_t bytes, const char *what, void **out)
{
    struct gpudev *g = ctx_of(d);
    *out = NULL;
    if (g->n_mem == g->mem_cap) {
        int64_t cap = g->mem_cap ? 2 * g->mem_cap : 256;
        struct block *m = realloc(g->mem, (size_t)cap * sizeof(*m));
        if (!m)
            return FY_E_NOMEM;
        g->mem = m;
        g->mem_cap = cap;
    }
    void *p = NULL;
    FY_TRY(fy_gpu_malloc(&p, bytes, what ? what : "a buffer"));
    g->mem[g->n_mem++] = (struct block){p, bytes};
    d->stats.bytes_live += bytes;
    if (d->stats.bytes_live > d->stats.bytes_peak)
        d->stats.bytes_peak = d->stats.bytes_live;
    *out = p;
    return FY_OK;
}

/* An operation that makes the host wait, inside a step: a caller's bug, reported */
static fy_status no_step(struct fy_device *d, const char *op)
{
    struct gpudev *g = ctx_of(d);
    if (!g->step)
        return FY_OK;
    fy_log(FY_LOG_ERR, "%s: %s inside a recorded decode step (the host may not wait there)",
           d->name, op);
    return FY_E_INVAL;
}

static fy_status gpu_sync(struct fy_device *d)
{
    struct gpudev *g = ctx_of(d);
    FY_TRY(no_step(d, "synchronisation"));
    fy_status a = FY_OK;
    if (g->xs_busy) { /* a decode step all on the GPU waits once, for the compute stream */
        a = fy_gpu_stream_sync(g->xs);
        g->xs_busy = a != FY_OK;
    }
    fy_status b = fy_gpu_stream_sync(g->cs);
    return a != FY_OK ? a : b;
}

static void gpu_free(struct fy_device *d, void *p)
{
    struct gpudev *g = ctx_of(d);
    for (int64_t i = 0; p && i < g->n_mem; i++) {
        if (g->mem[i].p == p) {
            (void)gpu_sync(d); /* work in flight may still read p */
            fy_gpu_free(p);
            d->stats.bytes_live -= g->mem[i].n;
            g->mem[i] = g->mem[--g->n_mem];
            return;
        }
    }
}

/* ---- copies, ordered with run on the compute stream ---- */

static fy_status gpu_copy_in(struct fy_device *d, void *dst, const void *src, size_t n)
{
    struct gpudev *g = ctx_of(d);
    FY_TRY(no_step(d, "a waiting upload"));
    g->fs.grouped_ids = NULL;
    FY_TRY(fy_gpu_copy_h2d(dst, src, n, g->cs));
    /* the caller may change src once this returns (pageable staging differs between runtimes) */
    FY_TRY(fy_gpu_stream_sync(g->cs));
    d->stats.bytes_in += n;
    d->stats.n_copy_in++;
    return FY_OK;
}

static fy_status gpu_copy_out(struct fy_device *d, void *dst, const void *src, size_t n)
{
    struct gpudev *g = ctx_of(d);
    FY_TRY(no_step(d, "a download"));
    FY_TRY(fy_gpu_copy_d2h(dst, src, n, g->cs));
    FY_TRY(fy_gpu_stream_sync(g->cs));
    d->stats.bytes_out += n;
    d->stats.n_copy_out++;
    return FY_OK;
}

static fy_status gpu_copy_in_async(struct fy_device *d, void *dst, const void *src, size_t n)
{
    struct gpudev *g = ctx_of(d);
    g->fs.grouped_ids = NULL;
    if (g->step != 2) /* replaying: the recording copies it */
        FY_TRY(fy_gpu_copy_h2d(dst, src, n, g->cs));
    d->stats.bytes_in += n;
    d->stats.n_copy_in++;
    return FY_OK;
}

static fy_status gpu_copy_out_async(struct fy_device *d, void *dst, const void *src, size_t n)
{
    struct gpudev *g = ctx_of(d);
    if (g->step != 2) /* replaying: the recording copies it */
        FY_TRY(fy_gpu_copy_d2h(dst, src, n, g->cs));
    d->stats.bytes_out += n;
    d->stats.n_copy_out++;
    return FY_OK;
}

static fy_status gpu_host_alloc(struct fy_device *d, size_t n, void **out)
{
    (void)d;
    return fy_gpu_host_alloc(out, n);
}

static void gpu_host_free(struct fy_device *d, void *p)
{
    (void)d;
    fy_gpu_host_free(p);
}

/* ---- nodes: the CPU backend's dispatch (src/graph/backend_cpu.c) on the launchers ---- */

static float *f32(const struct fy_act *a) { return (float *)a->data; }

static fy_status run_node(struct gpudev *g, const struct fy_node *n, const struct fy_batch *b)
{
    fy_gpu_stream s = g->cs;
    const struct fy_act *x = n->src[0];
    const struct fy_kvcache *kv = b->kv;
    switch (n->op) {
    case FY_OP_GET_ROWS:
        n->dst->ne1 = b->n_tok;
        return fy_gpu_get_rows(f32(n->dst), n->w, b->tokens, b->n_tok, s);
    case FY_OP_RMSNORM:
        n->dst->ne1 = x->ne1;
        return fy_gpu_rmsnorm(f32(n->dst), f32(x), n->vec, x->ne1, x->ne0, n->fparam, s);
    case FY_OP_MATMUL:
        n->dst->ne1 = x->ne1;
        return fy_gpu_matmul(f32(n->dst), n->w, 0, f32(x), x->ne1, n->vec, s);
    case FY_OP_ROPE:
        return fy_gpu_rope_yarn(f32(x), x->ne1, x->ne0 / n->iparam, n->iparam, b->pos,
                                n->params, s);
    case FY_OP_KV_STORE: /* each run into its sequence's region */
        for (int64_t i = 0; i < fy_batch_n_runs(b); i++) {
            const struct fy_seq_run r = fy_batch_run(b, i);
            const int l = n->layer;
            FY_TRY(fy_gpu_kv_store(fy_kvcache_seq_at(kv, l, kv->k[l], r.seq),
                                   fy_kvcache_seq_at(kv, l, kv->v[l], r.seq), kv->type,
                                   f32(x) + r.t0 * kv->width, f32(n->src[1]) + r.t0 * kv->width,
                                   r.n_tok, kv->width, b->pos + r.t0, fy_kvcache_ring(kv, l), s));
        }
        return FY_OK;
    case FY_OP_ATTENTION: /* each run over its sequence's region */
        n->dst->ne1 = b->n_tok;
        for (int64_t i = 0; i < fy_batch_n_runs(b); i++) {
            const struct fy_seq_run r = fy_batch_run(b, i);
            struct fy_attn_args a = fy_attn_args_of(n, b, &r);
            FY_TRY(fy_gpu_attention(f32(n->dst) + r.t0 * a.n_head * a.head_dim, &a, s));
        }
        return FY_OK;
    case FY_OP_ADD:
        n->dst->ne1 = x->ne1;
        return fy_gpu_add(f32(n->dst), f32(x), f32(n->src[1]), x->ne1 * x->ne0, s);
    case FY_OP_ROUTER:
        n->dst->ne1 = n->dst2->ne1 = x->ne1;
        return fy_gpu_router_topk((int32_t *)n->dst->data, f32(n->dst2), f32(x), x->ne1, x->ne0,
                                  n->iparam, s);
    case FY_OP_ARGMAX:
        n->dst->ne1 = x->ne1;
        return fy_gpu_argmax((int32_t *)n->dst->data, f32(x), x->ne1, x->ne0, s);
    case FY_OP_MOE_FFN:
        n->dst->ne1 = x->ne1;
        return fy_gpu_moe_ffn(g->ws, f32(n->dst), f32(x), x->ne1,
                              (const int32_t *)n->src[1]->data, f32(n->src[2]),
                              (int)n->src[1]->ne0, n->params, s);
    default:
        return FY_E_UNSUPPORTED;
    }
}

static fy_status gpu_run(struct fy_device *d, const struct fy_node *nodes, int64_t n,
                         const struct fy_batch *b)
{
    struct gpudev *g = ctx_of(d);
    if (g->step == 2) { /* replaying: the recording has these launches */
        d->stats.n_nodes += (uint64_t)n;
        return FY_OK;
    }
    for (int64_t i = 0; i < n;) {
        const struct fy_node *nd = &nodes[i];
        int64_t used = 0;
        fy_status st = FY_E_UNSUPPORTED;
        if (g->fuse)
            st = fy_gpu_fuse_run(g->ws, g->cs, &g->fs, nodes, n, i, b, &used);
        if (st == FY_E_UNSUPPORTED) {
            g->fs.grouped_ids = NULL;
            st = run_node(g, nd, b);
            used = 1;
        }
        if (st != FY_OK) {
            fy_log(FY_LOG_ERR, "%s: %s (%s, layer %d) failed: %s", d->name, nd->name,
                   fy_op_name(nd->op), nd->layer, fy_status_str(st));
            return st;
        }
        d->stats.n_nodes += (uint64_t)used;
        i += used;
    }
    return FY_OK;
}

/* ---- pinned host memory and staged expert uploads ---- */

static fy_status gpu_pin(struct fy_device *d, const void *p, size_t n)
{
    struct gpudev *g = ctx_of(d);
    if (!g->pin)
        return FY_E_UNSUPPORTED;
    struct block *r = realloc(g->pins, (size_t)(g->n_pins + 1) * sizeof(*r));
    if (!r)
        return FY_E_NOMEM;
    g->pins = r;
    FY_TRY(fy_gpu_host_register((void *)p, n, true)); /* logs why it could not */
    g->pins[g->n_pins++] = (struct block){(void *)p, n};
    d->stats.bytes_pinned += n;
    return FY_OK;
}

static void gpu_unpin(struct fy_device *d, const void *p)
{
    struct gpudev *g = ctx_of(d);
    for (int64_t i = 0; i < g->n_pins; i++) {
        if (g->pins[i].p == p) {
            (void)gpu_sync(d); /* an upload in flight may still read it */
            fy_gpu_host_unregister(g->pins[i].p);
            d->stats.bytes_pinned -= g->pins[i].n;
            g->pins[i] = g->pins[--g->n_pins];
            return;
        }
    }
}

static fy_status chunk_events(struct gpudev *g, int slot, int64_t n)
{
    if (n <= g->n_chunk_ev[slot])
        return FY_OK;
    fy_gpu_event *ev = realloc(g->chunk_ev[slot], (size_t)n * sizeof(*ev));
    if (!ev)
        return FY_E_NOMEM;
    g->chunk_ev[slot] = ev;
    while (g->n_chunk_ev[slot] < n) {
        FY_TRY(fy_gpu_event_new(&ev[g->n_chunk_ev[slot]]));
        g->n_chunk_ev[slot]++;
    }
    return FY_OK;
}

static fy_status check_stage(struct fy_device *d, const struct fy_moe_stage *st,
                             const char *what, int layer)
{
    if (st->slot < 0 || st->slot >= FY_STAGE_SLOTS || st->n_chunk < 1) {
        fy_log(FY_LOG_ERR, "%s: %s (layer %d): bad stage", d->name, what, layer);
        return FY_E_INVAL;
    }
    return FY_OK;
}

/* Copy stream: after the last read of the slot, each chunk's uploads, then its event. */
static fy_status enqueue_uploads(struct fy_device *d, const struct fy_moe_stage *st)
{
    struct gpudev *g = ctx_of(d);
    const int slot = st->slot;
    FY_TRY(chunk_events(g, slot, st->n_chunk));
    fy_gpu_event *ev = g->chunk_ev[slot];
    g->xs_busy = true;
    if (g->slot_recorded[slot])
        FY_TRY(fy_gpu_stream_wait(g->xs, g->slot_free[slot]));
    for (int64_t c = 0; c < st->n_chunk; c++) {
        for (int64_t i = st->chunk_up[c]; i < st->chunk_up[c + 1]; i++) {
            FY_TRY(fy_gpu_copy_h2d(st->up[i].dst, st->up[i].src, st->up[i].n, g->xs));
            d->stats.bytes_in += st->up[i].n;
            d->stats.n_copy_in++;
        }
        FY_TRY(fy_gpu_event_record(ev[c], g->xs));
    }
    d->stats.n_chunks += (uint64_t)st->n_chunk;
    return FY_OK;
}

static fy_status gpu_prefetch(struct fy_device *d, const struct fy_moe_stage *st)
{
    struct gpudev *g = ctx_of(d);
    FY_TRY(check_stage(d, st, "expert prefetch", -1));
    g->pre_chunks[st->slot] = 0;
    FY_TRY(enqueue_uploads(d, st));
    g->pre_chunks[st->slot] = st->n_chunk;
    return FY_OK;
}

static fy_status run_moe_staged(struct fy_device *d, const struct fy_node *n,
                                const struct fy_batch *b, const struct fy_moe_stage *st,
                                bool prefetched)
{
    struct gpudev *g = ctx_of(d);
    const int slot = st->slot;
    const struct fy_act *x = n->src[0], *ids = n->src[1];
    g->fs.grouped_ids = NULL;
    FY_TRY(no_step(d, "a staged MoE"));
    const struct fy_moe_layer *L = n->params;
    (void)b;
    if (n->op != FY_OP_MOE_FFN) {
        fy_log(FY_LOG_ERR, "%s: staged run of %s (layer %d): not a MoE node", d->name, n->name,
               n->layer);
        return FY_E_INVAL;
    }
    FY_TRY(check_stage(d, st, n->name, n->layer));
    if (prefetched) {
        /* the uploads are on the copy stream already, their events recorded by gpu_prefetch */
        if (g->pre_chunks[slot] != st->n_chunk) {
            fy_log(FY_LOG_ERR, "%s: %s (layer %d): no matching prefetch in staging slot %d",
                   d->name, n->name, n->layer, slot);
            return FY_E_INVAL;
        }
    } else {
        FY_TRY(enqueue_uploads(d, st));
    }
    g->pre_chunks[slot] = 0;
    fy_gpu_event *ev = g->chunk_ev[slot];
    /* compute stream: group by expert, then each chunk's experts once it has arrived */
    fy_status rc = fy_gpu_moe_begin(g->ws, f32(x), x->ne1, (const int32_t *)ids->data,
                                    (int)ids->ne0, L, g->cs);
    for (int64_t c = 0; rc == FY_OK && c < st->n_chunk; c++) {
        rc = fy_gpu_stream_wait(g->cs, ev[c]);
        if (rc == FY_OK && st->chunk_e[c + 1] > st->chunk_e[c])
            rc = fy_gpu_moe_experts(g->ws, L, st->chunk_e[c], st->chunk_e[c + 1], g->cs);
    }
    if (rc == FY_OK)
        rc = fy_gpu_moe_end(g->ws, f32(n->dst), f32(n->src[2]), g->cs);
    if (rc == FY_OK)
        rc = fy_gpu_event_record(g->slot_free[slot], g->cs);
    if (rc != FY_OK) {
        fy_log(FY_LOG_ERR, "%s: %s (layer %d) with uploaded experts failed: %s", d->name,
               n->name, n->layer, fy_status_str(rc));
        return rc;
    }
    g->slot_recorded[slot] = true;
    n->dst->ne1 = x->ne1;
    d->stats.n_nodes++;
    return FY_OK;
}

static fy_status gpu_run_staged(struct fy_device *d, const struct fy_node *n,
                                const struct fy_batch *b, const struct fy_moe_stage *st)
{
    return run_moe_staged(d, n, b, st, false);
}

static fy_status gpu_run_prefetched(struct fy_device *d, const struct fy_node *n,
                                    const struct fy_batch *b, const struct fy_moe_stage *st)
{
    return run_moe_staged(d, n, b, st, true);
}

/* ---- step graphs ---- */

static void drop_graph(struct step_graph *e)
{
    fy_gpu_graph_free(e->g);
    *e = (struct step_graph){0};
}

static fy_status gpu_step_begin(struct fy_device *d, uint64_t key, bool *replay)
{
    struct gpudev *g = ctx_of(d);
    *replay = false;
    if (!g->graphs)
        return FY_E_UNSUPPORTED;
    FY_TRY(no_step(d, "a step"));
    const int n = (int)FY_ARRAY_LEN(g->sg);
    for (int i = 0; i < n; i++) {
        if (!g->sg[i].g || g->sg[i].key != key)
            continue;
        if (g->sg[i].epoch != fy_gpu_alloc_epoch()) {
            drop_graph(&g->sg[i]); /* buffers it uses may have moved: record again */
            break;
        }
        const struct step_graph e = g->sg[i]; /* to the front: most recent */
        memmove(&g->sg[1], &g->sg[0], (size_t)i * sizeof(e));
        g->sg[0] = e;
        g->step = 2;
        g->step_key = key;
        *replay = true;
        return FY_OK;
    }
    FY_TRY(fy_gpu_capture_begin(g->cs));
    g->step = 1;
    g->step_key = key;
    g->fs.grouped_ids = NULL;
    return FY_OK;
}

static fy_status gpu_step_end(struct fy_device *d)
{
    struct gpudev *g = ctx_of(d);
    const int n = (int)FY_ARRAY_LEN(g->sg);
    if (g->step == 1) {
        fy_gpu_graph gr = NULL;
        g->step = 0;
        FY_TRY(fy_gpu_capture_end(g->cs, &gr));
        for (int i = 0; i < n; i++)
            if (g->sg[i].g && g->sg[i].key == g->step_key)
                drop_graph(&g->sg[i]);
        drop_graph(&g->sg[n - 1]); /* the least recent makes room */
        memmove(&g->sg[1], &g->sg[0], (size_t)(n - 1) * sizeof(g->sg[0]));
        g->sg[0] = (struct step_graph){g->step_key, fy_gpu_alloc_epoch(), gr};
        d->stats.steps_recorded++;
        return fy_gpu_graph_launch(gr, g->cs);
    }
    if (g->step == 2) {
        g->step = 0;
        d->stats.steps_replayed++;
        return fy_gpu_graph_launch(g->sg[0].g, g->cs);
    }
    return FY_OK;
}

static void gpu_step_abort(struct fy_device *d)
{
    struct gpudev *g = ctx_of(d);
    if (g->step == 1) {
        fy_gpu_graph gr = NULL;
        (void)fy_gpu_capture_end(g->cs, &gr);
        fy_gpu_graph_free(gr);
    }
    g->step = 0;
}

/* ---- life cycle ---- */

static void gpu_destroy(struct fy_device *d)
{
    struct gpudev *g = ctx_of(d);
    if (!g)
        return;
    gpu_step_abort(d);
    for (size_t i = 0; i < FY_ARRAY_LEN(g->sg); i++)
        drop_graph(&g->sg[i]);
    if (g->cs && g->xs)
        (void)gpu_sync(d);
    for (int64_t i = 0; i < g->n_pins; i++)
        fy_gpu_host_unregister(g->pins[i].p);
    for (int64_t i = 0; i < g->n_mem; i++)
        fy_gpu_free(g->mem[i].p);
    d->stats.bytes_live = 0;
    d->stats.bytes_pinned = 0;
    fy_gpu_moe_ws_free(g->ws);
    fy_gpu_scratch_free();
    for (int k = 0; k < FY_STAGE_SLOTS; k++) {
        fy_gpu_event_free(g->slot_free[k]);
        for (int64_t c = 0; c < g->n_chunk_ev[k]; c++)
            fy_gpu_event_free(g->chunk_ev[k][c]);
        free(g->chunk_ev[k]);
    }
    fy_gpu_stream_free(g->xs);
    fy_gpu_stream_free(g->cs);
    free(g->mem);
    free(g->pins);
    free(g);
    d->ctx = NULL;
}

static const struct fy_device_ops gpu_ops = {
    .alloc = gpu_alloc,
    .free = gpu_free,
    .copy_in = gpu_copy_in,
    .copy_out = gpu_copy_out,
    .run = gpu_run,
    .sync = gpu_sync,
    .destroy = gpu_destroy,
    .pin = gpu_pin,
    .unpin = gpu_unpin,
    .run_staged = gpu_run_staged,
    .prefetch = gpu_prefetch,
    .run_prefetched = gpu_run_prefetched,
    .host_alloc = gpu_host_alloc,
    .host_free = gpu_host_free,
    .copy_in_async = gpu_copy_in_async,
    .copy_out_async = gpu_copy_out_async,
    .step_begin = gpu_step_begin,
    .step_end = gpu_step_end,
    .step_abort = gpu_step_abort,
};

fy_status fy_device_gpu_new(int id, const struct fy_device_gpu_opts *o, struct fy_device **out)
{
    struct fy_device_gpu_opts def;
    struct fy_device *d = NULL;
    struct gpudev *g = NULL;
    fy_status st = FY_E_NOMEM;
    FY_CHECK_ARG(out);
    *out = NULL;
    if (!o) {
        fy_device_gpu_opts_default(&def);
        o = &def;
    }
    d = calloc(1, sizeof(*d));
    g = calloc(1, sizeof(*g));
    if (!d || !g) {
        free(d);
        free(g);
        return FY_E_NOMEM;
    }
    snprintf(g->name, sizeof(g->name), "GPU%d", id > 0 ? id - 1 : 0);
    g->pin = o->pin;
    g->fuse = fy_gpu_fuse_enabled();
    const char *gv = getenv("FY_GPU_GRAPH");
    g->graphs = !gv || strcmp(gv, "0") != 0;
    d->name = g->name;
    d->id = id;
    d->host_visible = false;
    d->ops = &gpu_ops;
    d->backend = NULL; /* its own dispatch: run_node */
    d->ctx = g;
    st = fy_gpu_init(o->index, &g->info);
    if (st == FY_OK)
        st = fy_gpu_stream_new(&g->cs);
    if (st == FY_OK)
        st = fy_gpu_stream_new(&g->xs);
    for (int k = 0; k < FY_STAGE_SLOTS && st == FY_OK; k++)
        st = fy_gpu_event_new(&g->slot_free[k]);
    if (st == FY_OK)
        st = fy_gpu_moe_ws_new(&g->ws);
    if (st != FY_OK) {
        fy_log(FY_LOG_ERR, "%s: cannot open %s GPU %d: %s", g->name, fy_gpu_platform(), o->index,
               fy_status_str(st));
        fy_device_free(d);
        return st;
    }
    const double gib = 1073741824.0;
    fy_log(FY_LOG_INFO, "%s: %s (%s), %.1f/%.1f GiB free", g->name, g->info.name, g->info.arch,
           (double)g->info.mem_free / gib, (double)g->info.mem_total / gib);
    *out = d;
    return FY_OK;
}
