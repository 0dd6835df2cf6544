/* What the mixture-of-experts files share (moe.c, moe_qdot.c, moe_numa.c): work items of
 * (expert, chunk of output rows) and their split across NUMA node groups. */
#ifndef FY_CPU_MOE_PRIV_H
#define FY_CPU_MOE_PRIV_H

#include "numa.h"
#include "ops.h"

/* The work items (expert, row chunk) of the experts that have selections (start[n_exp + 1]) for
 * a matrix of n_out rows in chunks of ir: item e * chunks + c, in increasing expert order, into
 * items; returns their count. */
int64_t fy_moe_list_items(const int64_t *start, int64_t n_exp, int64_t n_out, int64_t ir,
                          int64_t *items);
/* The node groups' parts of those items, lo[G + 1] (G = fy_numa_groups(nu)): in experts mode the
 * items of each node's experts (fy_numa_split of the n_exp experts), in mirror mode even parts. */
void fy_moe_node_items(const struct fy_numa *nu, int64_t n_exp, int64_t chunks,
                       const int64_t *items, int64_t n_items, int64_t *lo);
/* Token t's next selection in increasing expert id order: the j in [0, k) whose expert is the
 * smallest above *last (the ids of a token are distinct; start with *last = -1), which *last
 * becomes. */
static inline int fy_moe_next_sel(const int32_t *ids, int64_t t, int k, int32_t *last)
{
    int32_t best = -1;
    int jb = 0;
    for (int q = 0; q < k; q++) {
        int32_t e = ids[t * k + q];
        if (e > *last && (best < 0 || e < best)) {
            best = e;
            jb = q;
        }
    }
    *last = best;
    return jb;
}

#endif
