/* The scheduler's activations across the device boundary: device copies made on demand,
 * uploads through pinned staging, downloads in groups, the logits at the end of a batch. A
 * decode step all on the GPU makes one upload (ids and positions, sched.c), the embedding row's,
 * and one download with the batch's one host synchronisation; a hybrid one hands each layer's
 * MoE input (h, ids, weights) down with one synchronisation and its output up without one. */
#include "sched_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t fy_sched_act_bytes(const struct fy_act *a) { return (size_t)(a->ne0 * a->ne1) * 4; }

/* Host capacity of activation a, in bytes. */
size_t fy_sched_act_cap(const struct fy_sched *sc, int a)
{
    const struct fy_session *s = sc->s;
    int64_t rows = a == ACT_LOGITS ? s->logits_rows : s->o.n_ubatch;
    return (size_t)(s->act[a].ne0 * rows) * 4;
}

/* Makes the device copy of a exist (for an output) without copying anything into it. */
fy_status fy_sched_ensure_room(struct fy_sched *sc, int a)
{
    static const char *const names[ACT_COUNT] = {
        [ACT_X] = "x", [ACT_H] = "h", [ACT_Q] = "q", [ACT_K] = "k", [ACT_V] = "v",
        [ACT_ATTN] = "attention", [ACT_O] = "attention output", [ACT_RL] = "router logits",
        [ACT_IDS] = "expert ids", [ACT_W] = "expert weights", [ACT_MOE] = "MoE output",
        [ACT_LOGITS] = "logits", [ACT_ARGMAX] = "arg-max",
    };
    if (a == ACT_HLAST)
        a = ACT_H;
    struct fy_act *g = &sc->dact[a];
    char what[64];
    snprintf(what, sizeof(what), "activations (%s)", names[a]);
    FY_TRY(fy_sched_dev_grow(sc, &g->data, &sc->dcap[a], fy_sched_act_cap(sc, a), what));
    g->type = sc->s->act[a].type;
    g->ne0 = sc->s->act[a].ne0;
    return FY_OK;
}

/* Host activation a to the device through a's pinned staging buffer, without waiting (the
 * embedding row of a decode step, a hybrid layer's MoE output). The buffer may still be read by
 * a copy in flight until the host next waits for the device (stage_busy, cleared then); an
 * upload that finds it busy waits (copy_in). */
static fy_status upload_act(struct fy_sched *sc, int a, void *dst, const void *src, size_t n)
{
    struct fy_device *d = sc->gpu;
    if (!sc->stage_busy[a] && d->ops->copy_in_async && d->ops->host_alloc) {
        if (n > sc->act_stage_cap[a]) {
            d->ops->host_free(d, sc->act_stage[a]);
            sc->act_stage[a] = NULL;
            sc->act_stage_cap[a] = 0;
            if (d->ops->host_alloc(d, fy_sched_act_cap(sc, a), &sc->act_stage[a]) != FY_OK)
                sc->act_stage[a] = NULL;
            else
                sc->act_stage_cap[a] = fy_sched_act_cap(sc, a);
        }
        if (sc->act_stage[a] && n <= sc->act_stage_cap[a]) {
            memcpy(sc->act_stage[a], src, n);
            sc->stage_busy[a] = true;
            return d->ops->copy_in_async(d, dst, sc->act_stage[a], n);
        }
    }
    sc->pure = false;
    FY_TRY(d->ops->copy_in(d, dst, src, n));
    memset(sc->stage_busy, 0, sizeof(sc->stage_busy)); /* it waited: every upload has landed */
    return FY_OK;
}

fy_status fy_sched_ensure(struct fy_sched *sc, int a, enum fy_device_id d)
{
    struct fy_session *s = sc->s;
    if (a == ACT_HLAST)
        a = ACT_H; /* a view: its parent moves */
    struct fy_act *h = &s->act[a], *g = &sc->dact[a];
    if (d == FY_DEV_GPU0 && !sc->on_dev[a]) {
        FY_TRY(fy_sched_ensure_room(sc, a));
        g->ne1 = h->ne1;
        FY_TRY(upload_act(sc, a, g->data, h->data, fy_sched_act_bytes(h)));
        sc->st.act_bytes_in += fy_sched_act_bytes(h);
        sc->on_dev[a] = true;
    } else if (d == FY_DEV_CPU && !sc->on_host[a]) {
        h->ne1 = g->ne1;
        sc->pure = false;
        FY_TRY(sc->gpu->ops->copy_out(sc->gpu, h->data, g->data, fy_sched_act_bytes(g)));
        memset(sc->stage_busy, 0, sizeof(sc->stage_busy)); /* it waited */
        sc->st.act_bytes_out += fy_sched_act_bytes(g);
        sc->on_host[a] = true;
    }
    return FY_OK;
}

void fy_sched_written(struct fy_sched *sc, const struct fy_act *a, enum fy_device_id d)
{
    int i = fy_sched_act_index(sc, a);
    if (i == ACT_HLAST)
        i = ACT_H;
    sc->on_dev[i] = d == FY_DEV_GPU0;
    sc->on_host[i] = d == FY_DEV_CPU;
}

/* pinned staging of at least cap bytes for downloads of activation a (down_stage[a]) */
static void *down_stage(struct fy_sched *sc, int a, size_t cap)
{
    struct fy_device *d = sc->gpu;
    if (cap > sc->down_cap[a]) {
        d->ops->host_free(d, sc->down_stage[a]);
        sc->down_stage[a] = NULL;
        sc->down_cap[a] = 0;
        if (d->ops->host_alloc(d, cap, &sc->down_stage[a]) != FY_OK) {
            sc->down_stage[a] = NULL;
            return NULL;
        }
        sc->down_cap[a] = cap;
    }
    return sc->down_stage[a];
}

/* Ends the batch with its result (the logits, or their arg-max) on the host: made on the
 * device, it comes down through pinned memory with the batch's one host synchronisation. */
fy_status fy_sched_result_home(struct fy_sched *sc, int a)
{
    struct fy_device *d = sc->gpu;
    struct fy_act *h = &sc->s->act[a], *g = &sc->dact[a];
    void *stage = NULL;
    if (!sc->on_host[a] && d->ops->copy_out_async && d->ops->host_alloc)
        stage = down_stage(sc, a, fy_sched_act_cap(sc, a));
    if (!stage) { /* on the host already, or no pinned memory: the copy waits */
        FY_TRY(fy_sched_wait(sc));
        return fy_sched_ensure(sc, a, FY_DEV_CPU);
    }
    const size_t n = fy_sched_act_bytes(g);
    FY_TRY(d->ops->copy_out_async(d, stage, g->data, n));
    FY_TRY(fy_sched_wait(sc));
    memcpy(h->data, stage, n);
    h->ne1 = g->ne1;
    sc->st.act_bytes_out += n;
    sc->on_host[a] = true;
    return FY_OK;
}

fy_status fy_sched_download_inputs(struct fy_sched *sc, int64_t i, int64_t j)
{
    struct fy_device *d = sc->gpu;
    const struct fy_node *nodes = sc->s->graph.nodes;
    int want[3 * 8];
    int n = 0;
    if (!d->ops->copy_out_async || !d->ops->host_alloc)
        return FY_OK; /* fy_sched_ensure copies them one by one */
    for (int64_t k = i; k < j; k++) {
        for (int q = 0; q < 3; q++) {
            if (!nodes[k].src[q])
                continue;
            int a = fy_sched_act_index(sc, nodes[k].src[q]);
            if (a == ACT_HLAST)
                a = ACT_H;
            bool seen = false;
            for (int m = 0; m < n; m++)
                seen |= want[m] == a;
            if (!seen && !sc->on_host[a] && sc->on_dev[a] && n < (int)FY_ARRAY_LEN(want))
                want[n++] = a;
        }
    }
    if (n == 0)
        return FY_OK;
    for (int m = 0; m < n; m++)
        if (!down_stage(sc, want[m], fy_sched_act_cap(sc, want[m])))
            return FY_OK; /* no pinned memory: one by one */
    for (int m = 0; m < n; m++) {
        const int a = want[m];
        FY_TRY(d->ops->copy_out_async(d, sc->down_stage[a], sc->dact[a].data,
                                      fy_sched_act_bytes(&sc->dact[a])));
    }
    sc->pure = false;
    FY_TRY(d->ops->sync(d));
    memset(sc->stage_busy, 0, sizeof(sc->stage_busy)); /* every upload so far has landed */
    sc->st.handoffs_down++;
    for (int m = 0; m < n; m++) {
        const int a = want[m];
        struct fy_act *h = &sc->s->act[a], *g = &sc->dact[a];
        const size_t bytes = fy_sched_act_bytes(g);
        h->ne1 = g->ne1;
        memcpy(h->data, sc->down_stage[a], bytes);
        sc->st.act_bytes_out += bytes;
        sc->on_host[a] = true;
    }
    return FY_OK;
}

fy_status fy_sched_wait(struct fy_sched *sc)
{
    struct fy_device *d = sc->gpu;
    if (sc->in_step) {
        sc->in_step = false;
        FY_TRY(d->ops->step_end(d));
    }
    return d->ops->sync(d);
}
