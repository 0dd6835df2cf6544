/* The hybrid scheduler's cross-layer prefetch (speculative): when an uploading layer l selected
 * every expert and the batch is large (fy_sched_prefetch_rule), the next layer, if it uploads
 * too, will very likely select them all as well; its whole upload (all experts, its biases) is
 * enqueued into the other slot right behind layer l's, so that it overlaps layer l's compute
 * instead of waiting for layer l+1's router. When l+1 runs, the prefetched stage is used as is
 * (nothing uploaded again; its compute waits for the prefetch's chunk events); experts it did not
 * select are counted as wasted. FY_NO_PREFETCH=1 in the environment (read once) turns it off. */
#include "sched_priv.h"

#include <stdlib.h>
#include <string.h>

/* ---- cross-layer prefetch: the rule and the switch ---- */

bool fy_sched_prefetch_rule(int64_t n_selected, int64_t n_expert, int64_t n_tok, int64_t k,
                            bool next_uploads)
{
    return next_uploads && n_expert > 0 && n_selected == n_expert && n_tok * k >= 2 * n_expert;
}

static int g_prefetch = -1; /* -1: FY_NO_PREFETCH not read yet */

void fy_sched_set_prefetch(int on)
{
    g_prefetch = on < 0 ? -1 : on > 0;
}

bool fy_sched_prefetch_enabled(void)
{
    if (g_prefetch < 0) {
        const char *v = getenv("FY_NO_PREFETCH");
        g_prefetch = !(v && *v && strcmp(v, "0"));
    }
    return g_prefetch == 1;
}

/* ---- the prefetch ---- */

/* Forgets the prefetch in slot (if any), its experts not selected by used (NULL: none) counted
 * as wasted. */
void fy_sched_drop_prefetch(struct fy_sched *sc, int slot, const bool *used)
{
    if (sc->pf_layer[slot] < 0)
        return;
    for (int64_t e = 0; e < sc->s->m->hp.n_expert; e++)
        if (!used || !used[e])
            sc->st.prefetch_wasted_bytes += sc->pf_expert[slot];
    sc->pf_layer[slot] = -1;
}

/* After layer l (node k) was enqueued, having selected `selected` experts: if the rule says so,
 * enqueues the whole upload of the next layer's MoE into the next slot. */
fy_status fy_sched_maybe_prefetch(struct fy_sched *sc, int64_t k, int64_t selected,
                                  const struct fy_batch *b)
{
    const struct fy_graph *g = &sc->s->graph;
    const struct fy_node *n = &g->nodes[k], *next = NULL;
    const int64_t n_exp = sc->s->m->hp.n_expert;
    struct fy_expert_path path;
    if (!sc->prefetch)
        return FY_OK;
    for (int64_t i = k + 1; i < g->n_nodes && !next; i++)
        if (g->nodes[i].op == FY_OP_MOE_FFN)
            next = &g->nodes[i];
    const bool uploads = next && next->layer == n->layer + 1 &&
                         fy_place_experts(sc->pl, next->layer, b->n_tok, &path) == FY_OK &&
                         path.dev == FY_DEV_GPU0 && path.upload;
    if (!fy_sched_prefetch_rule(selected, n_exp, b->n_tok, n->src[1]->ne0, uploads))
        return FY_OK;
    const int slot = sc->slot; /* the next uploading layer's */
    struct staged w[FY_EXP_PROJ_COUNT], bs[FY_EXP_PROJ_COUNT];
    int n_w, n_bs;
    struct fy_moe_layer L = *(const struct fy_moe_layer *)next->params;
    fy_sched_drop_prefetch(sc, slot, NULL);
    FY_TRY(fy_sched_stage_layer(sc, &L, next->layer, slot, w, &n_w, bs, &n_bs));
    if (!n_w && !n_bs)
        return FY_OK;
    const uint64_t before = sc->st.expert_bytes + sc->st.bias_bytes;
    uint64_t one = 0;
    for (int i = 0; i < n_w; i++)
        one += w[i].nb2;
    fy_sched_plan_uploads(sc, w, n_w, bs, n_bs, slot, sc->all, &sc->pf_stage[slot]);
    FY_TRY(sc->gpu->ops->prefetch(sc->gpu, &sc->pf_stage[slot]));
    sc->st.prefetch_bytes += sc->st.expert_bytes + sc->st.bias_bytes - before;
    sc->pf_layer[slot] = next->layer;
    sc->pf_expert[slot] = one;
    return FY_OK;
}
