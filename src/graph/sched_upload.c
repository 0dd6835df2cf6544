/* The hybrid scheduler's expert uploads. Offloaded MoE layers (CPU-resident experts run on the
 * GPU): the host reads the router's ids, then only the selected experts are uploaded, from pinned
 * host pages where the device pins, in chunks of FY_SCHED_CHUNK_EXPERTS experts that the device
 * overlaps with the compute of the earlier chunks (device.h, run_staged). Staging alternates
 * between FY_STAGE_SLOTS buffer sets so that a layer's uploads never wait for the previous
 * layer's experts to finish reading. Here: pinning the experts' host pages, pointing a layer's
 * expert tensors at resident copies or staging, and planning the chunked uploads; sched.c runs
 * the layer. */
#include "sched_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FY_SCHED_CHUNK_EXPERTS 4 /* selected experts per upload chunk */

/* ---- pinned host memory for expert uploads ---- */

struct span {
    uintptr_t lo, hi;
};

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Pins, once per session, the host pages of the CPU-resident expert weights and biases of the
 * layers that upload at the largest micro-batch: whole pages, overlapping ranges merged (a page
 * can be registered once). Without pinning (the device does not, --no-pin, or it failed) uploads
 * read pageable memory: slower, and not overlapped. */
fy_status fy_sched_pin_experts(struct fy_sched *sc)
{
    const struct fy_placement *pl = sc->pl;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct span *sp = NULL;
    int64_t n = 0;
    fy_status st = FY_OK;
    if (!sc->gpu->ops->pin)
        return FY_OK;
    sp = calloc((size_t)pl->n_tensors + 1, sizeof(*sp));
    sc->pins = calloc((size_t)pl->n_tensors + 1, sizeof(*sc->pins));
    if (!sp || !sc->pins) {
        free(sp);
        return FY_E_NOMEM;
    }
    for (int64_t i = 0; i < pl->n_tensors; i++) {
        const struct fy_place_tensor *t = &pl->t[i];
        struct fy_expert_path path;
        if ((t->kind != FY_PK_EXP_WEIGHT && t->kind != FY_PK_EXP_BIAS) || t->dev != FY_DEV_CPU ||
            (t->dup && t->dup_dev == FY_DEV_GPU0) ||
            fy_place_experts(pl, (int)t->layer, sc->s->o.n_ubatch, &path) != FY_OK || !path.upload)
            continue;
        const uintptr_t a = (uintptr_t)t->t->data;
        sp[n++] = (struct span){a / page * page, (a + t->t->size + page - 1) / page * page};
    }
    qsort(sp, (size_t)n, sizeof(*sp), cmp_span);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (m && sp[i].lo <= sp[m - 1].hi)
            sp[m - 1].hi = sp[i].hi > sp[m - 1].hi ? sp[i].hi : sp[m - 1].hi;
        else
            sp[m++] = sp[i];
    }
    uint64_t want = 0;
    for (int64_t i = 0; i < m; i++)
        want += sp[i].hi - sp[i].lo;
    for (int64_t i = 0; i < m; i++) {
        st = sc->gpu->ops->pin(sc->gpu, (const void *)sp[i].lo, sp[i].hi - sp[i].lo);
        if (st != FY_OK)
            break;
        sc->pins[sc->n_pins++] = (const void *)sp[i].lo;
        sc->st.pinned_bytes += sp[i].hi - sp[i].lo;
    }
    const double mib = 1048576.0;
    if (st == FY_OK && m)
        fy_log(FY_LOG_INFO, "%s: pinned %.1f MiB of CPU-resident experts for uploads",
               sc->gpu->name, (double)want / mib);
    else if (st == FY_E_UNSUPPORTED && m)
        fy_log(FY_LOG_INFO, "%s: expert uploads read %.1f MiB of pageable memory (not pinned)",
               sc->gpu->name, (double)want / mib);
    else if (st != FY_OK)
        fy_log(FY_LOG_WARN,
               "%s: pinned %.1f of %.1f MiB of CPU-resident experts; the rest is "
               "uploaded from pageable memory (slower; --no-pin skips pinning)",
               sc->gpu->name, (double)sc->st.pinned_bytes / mib, (double)want / mib);
    free(sp);
    return FY_OK; /* not pinning is never fatal */
}

/* ---- staging of a MoE layer ---- */

static const char *proj_name(int proj)
{
    static const char *const n[FY_EXP_PROJ_COUNT] = {"gate", "up", "down", "gate_up"};
    return proj >= 0 && proj < FY_EXP_PROJ_COUNT ? n[proj] : "?";
}

/* Points m at the device copy of its expert weights: resident, or the staging buffer of `slot`,
 * which the tensor is then listed in todo to fill (once: a fused gate/up tensor has two views). */
static fy_status stage_mat(struct fy_sched *sc, struct fy_mat *m, int layer, int slot,
                           struct staged *todo, int *n_todo)
{
    const struct wrange *r = fy_sched_find(sc, m->data);
    const size_t off = (const uint8_t *)m->data - r->host;
    if (r->dev) {
        m->data = (uint8_t *)r->dev + off;
        return FY_OK;
    }
    const int proj = sc->pl->t[r->t].proj;
    char what[64];
    snprintf(what, sizeof(what), "expert staging for layer %d (%s)", layer, proj_name(proj));
    FY_TRY(fy_sched_dev_grow(sc, &sc->stage[slot][proj], &sc->stage_cap[slot][proj], r->n, what));
    m->data = (uint8_t *)sc->stage[slot][proj] + off;
    for (int k = 0; k < *n_todo; k++)
        if (todo[k].r == r)
            return FY_OK;
    todo[(*n_todo)++] = (struct staged){r, sc->stage[slot][proj], m->mat_bytes, -1};
    return FY_OK;
}

/* The same for an expert bias: resident (or its duplicate), or uploaded whole into staging. */
static fy_status stage_bias(struct fy_sched *sc, struct fy_bias *bias, int layer, int slot,
                            struct staged *todo, int *n_todo)
{
    const struct wrange *r = fy_sched_find(sc, bias->data);
    const size_t off = (const uint8_t *)bias->data - r->host;
    if (r->dev) {
        bias->data = (const float *)((uint8_t *)r->dev + off);
        return FY_OK;
    }
    const int proj = sc->pl->t[r->t].proj;
    char what[64];
    snprintf(what, sizeof(what), "expert bias staging for layer %d (%s)", layer, proj_name(proj));
    FY_TRY(
        fy_sched_dev_grow(sc, &sc->stage_b[slot][proj], &sc->stage_b_cap[slot][proj], r->n, what));
    bias->data = (const float *)((uint8_t *)sc->stage_b[slot][proj] + off);
    for (int k = 0; k < *n_todo; k++)
        if (todo[k].r == r)
            return FY_OK;
    todo[(*n_todo)++] = (struct staged){r, sc->stage_b[slot][proj], r->n, -1};
    return FY_OK;
}

static void push_upload(struct fy_upload *up, int64_t *n_up, void *dst, const void *src, size_t n)
{
    up[(*n_up)++] = (struct fy_upload){dst, src, n};
}

/* The uploads of one layer into slot, of the experts marked in used, in chunks of
 * FY_SCHED_CHUNK_EXPERTS experts; consecutive experts of a tensor are one copy. Chunk 0 starts
 * with the biases. Fills the slot's up, chunk_up, chunk_e and *st, and counts the bytes. */
void fy_sched_plan_uploads(struct fy_sched *sc, struct staged *w, int n_w, const struct staged *bs,
                           int n_bs, int slot, const bool *used, struct fy_moe_stage *st)
{
    const int64_t n_exp = sc->s->m->hp.n_expert;
    struct fy_upload *up = sc->up[slot];
    int64_t *chunk_up = sc->chunk_up[slot], *chunk_e = sc->chunk_e[slot];
    int64_t n_up = 0, n_chunk = 0, in_chunk = 0;
    for (int k = 0; k < n_bs; k++) {
        push_upload(up, &n_up, bs[k].dst, bs[k].r->host, bs[k].r->n);
        sc->st.bias_bytes += bs[k].r->n;
    }
    chunk_up[0] = 0;
    chunk_e[0] = 0;
    for (int64_t e = 0; e < n_exp; e++) {
        if (!used[e])
            continue;
        sc->st.experts_uploaded += n_w > 0;
        for (int k = 0; k < n_w; k++) {
            uint8_t *dst = w[k].dst + (size_t)e * w[k].nb2;
            struct fy_upload *u = w[k].run >= 0 ? &up[w[k].run] : NULL;
            if (u && (uint8_t *)u->dst + u->n == dst) {
                u->n += w[k].nb2;
            } else {
                w[k].run = n_up;
                push_upload(up, &n_up, dst, w[k].r->host + (size_t)e * w[k].nb2, w[k].nb2);
            }
            sc->st.expert_bytes += w[k].nb2;
        }
        if (++in_chunk == FY_SCHED_CHUNK_EXPERTS) {
            n_chunk++;
            chunk_e[n_chunk] = e + 1;
            chunk_up[n_chunk] = n_up;
            in_chunk = 0;
            for (int k = 0; k < n_w; k++)
                w[k].run = -1;
        }
    }
    if (in_chunk || !n_chunk)
        n_chunk++;
    chunk_e[n_chunk] = n_exp; /* the last chunk runs to the end */
    chunk_up[n_chunk] = n_up;
    *st = (struct fy_moe_stage){slot, up, n_up, chunk_up, chunk_e, n_chunk};
    sc->st.upload_chunks += n_chunk;
}

/* Points the expert tensors of L at the device (resident copies or staging of slot), listing
 * in w and bs what has to be uploaded. */
fy_status fy_sched_stage_layer(struct fy_sched *sc, struct fy_moe_layer *L, int layer, int slot,
                               struct staged *w, int *n_w, struct staged *bs, int *n_bs)
{
    *n_w = *n_bs = 0;
    FY_TRY(stage_mat(sc, &L->gate, layer, slot, w, n_w));
    FY_TRY(stage_mat(sc, &L->up, layer, slot, w, n_w));
    FY_TRY(stage_mat(sc, &L->down, layer, slot, w, n_w));
    FY_TRY(stage_bias(sc, &L->gate_b, layer, slot, bs, n_bs));
    FY_TRY(stage_bias(sc, &L->up_b, layer, slot, bs, n_bs));
    FY_TRY(stage_bias(sc, &L->down_b, layer, slot, bs, n_bs));
    return FY_OK;
}
