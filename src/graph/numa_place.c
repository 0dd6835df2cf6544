/* The memory side of --numa (cpu/numa.h): the CPU-resident weights of a placed model put on
 * their nodes, once, before a session pins them for GPU uploads.
 *
 *   experts:    each CPU-resident expert tensor's experts split as fy_numa_split says, each part
 *               on its node: an anonymous model (--no-mmap) has its pages moved there (mbind
 *               MPOL_MF_MOVE); a mapped file's pages are relocated (copied into pages bound
 *               before their first touch, put at the same addresses: fy_numa_relocate). The
 *               expert layout is unchanged (the GPU uploads read the same bytes at the same
 *               addresses).
 *   mirror:     a copy of every CPU-resident expert tensor on every node (fy_numa_local).
 *   distribute: with --no-mmap, every CPU-resident weight interleaved over the nodes.
 *   isolate:    with --no-mmap, every CPU-resident weight on the home node.
 *   experts and mirror: with --no-mmap the other CPU-resident weights interleaved, as the dense
 *               layers and attention run on every node's threads.
 * Pages are bound only where nu->bind (real nodes, or pretend ones for tests with fake_bind);
 * pretend nodes still get mirror copies, so the compute paths run. A binding the kernel refuses
 * is logged and skipped: results never depend on where pages are. */
#include "numa_place.h"

#include <stdlib.h>

/* the spans of a tensor of E experts of nb2 bytes each, by the experts split */
static int expert_spans(const struct fy_numa *nu, int64_t E, size_t nb2, struct fy_numa_span *sp)
{
    const int G = fy_numa_groups(nu);
    int n = 0;
    for (int g = 0; g < G; g++) {
        const int64_t e0 = fy_numa_split(E, G, g), e1 = fy_numa_split(E, G, g + 1);
        if (e1 > e0)
            sp[n++] = (struct fy_numa_span){(size_t)e0 * nb2, (size_t)(e1 - e0) * nb2, g};
    }
    return n;
}

/* experts mode: one expert tensor onto its nodes */
static fy_status place_experts(const struct fy_numa *nu, const struct fy_gguf_tensor *t, bool anon)
{
    struct fy_numa_span sp[FY_NUMA_MAX_NODES];
    const int n = expert_spans(nu, t->ne[2], t->nb[2], sp);
    if (!anon)
        return fy_numa_relocate(nu, t->data, t->size, sp, n);
    for (int i = 0; i < n; i++)
        FY_TRY(fy_numa_bind(nu, (uint8_t *)t->data + sp[i].off, sp[i].n, sp[i].node, true));
    return FY_OK;
}

/* the share of sampled pages of the expert tensors on their nodes, logged (experts mode) */
static void report_pages(const struct fy_numa *nu, const struct fy_placement *p)
{
    int64_t on = 0, all = 0;
    for (int64_t i = 0; i < p->n_tensors; i++) {
        const struct fy_place_tensor *pt = &p->t[i];
        if (pt->kind != FY_PK_EXP_WEIGHT || pt->dev != FY_DEV_CPU)
            continue;
        struct fy_numa_span sp[FY_NUMA_MAX_NODES];
        const int n = expert_spans(nu, pt->t->ne[2], pt->t->nb[2], sp);
        for (int s = 0; s < n; s++) {
            int64_t count[FY_NUMA_MAX_NODES], absent;
            if (fy_numa_query((const uint8_t *)pt->t->data + sp[s].off, sp[s].n, 64, count,
                              &absent) != FY_OK)
                return;
            for (int id = 0; id < FY_NUMA_MAX_NODES; id++)
                all += count[id];
            all += absent;
            on += count[nu->node[sp[s].node].os_id];
        }
    }
    fy_log(FY_LOG_INFO,
           "numa: %lld of %lld sampled pages of the CPU-resident experts are on "
           "their node",
           (long long)on, (long long)all);
}

fy_status fy_numa_place(struct fy_numa *nu, const struct fy_placement *p, bool anon)
{
    FY_CHECK_ARG(nu && p);
    if (nu->placed || nu->n_nodes < 2 || (fy_numa_groups(nu) < 2 && nu->mode != FY_NUMA_ISOLATE))
        return FY_OK;
    nu->placed = true;
    const enum fy_numa_mode mode = nu->mode;
    int refused = 0;
    for (int64_t i = 0; i < p->n_tensors; i++) {
        const struct fy_place_tensor *pt = &p->t[i];
        const struct fy_gguf_tensor *t = pt->t;
        void *data = (void *)t->data;
        if (pt->dev != FY_DEV_CPU || t->size == 0)
            continue;
        const bool expert = pt->kind == FY_PK_EXP_WEIGHT;
        if (expert && mode == FY_NUMA_MIRROR) {
            FY_TRY(fy_numa_add_mirror(nu, t->data, t->size));
            continue;
        }
        if (!nu->bind)
            continue;
        fy_status st = FY_OK;
        if (expert && mode == FY_NUMA_EXPERTS)
            st = place_experts(nu, t, anon);
        else if (anon && mode == FY_NUMA_ISOLATE)
            st = fy_numa_bind(nu, data, t->size, nu->home, true);
        else if (anon)
            st = fy_numa_interleave(nu, data, t->size, true);
        if (st == FY_E_NOMEM)
            return st;
        refused += st != FY_OK;
    }
    if (refused)
        fy_log(FY_LOG_WARN,
               "numa: the kernel refused to place %d tensor%s on their nodes (see "
               "above); they stay where they are",
               refused, refused == 1 ? "" : "s");
    if (nu->bind && mode == FY_NUMA_EXPERTS)
        report_pages(nu, p);
    return FY_OK;
}
