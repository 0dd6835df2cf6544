/* The mixture-of-experts FFN split by NUMA node (--numa experts or mirror, numa.h), on the f32
 * path of moe.c (the reference kernel set; the integer path splits in moe_qdot.c), and the work
 * items both share.
 *
 * moe.c runs one expert after the other, each matmul over all threads. Here, as in moe_qdot.c,
 * the work is items of (expert, FY_MOE_NODE_ROWS output rows), each on one thread:
 *   1. gather each selection's input row, in expert order (all threads);
 *   2. gate, up (with their biases) and SwiGLU-OAI of the item's rows, over the expert's tokens;
 *   3. down (with its bias) of the item's rows;
 *      passes 2 and 3 run each node group's items on that group's threads (fy_numa_for): in
 *      experts mode the items of the node's experts, whose weights sit on its memory; in mirror
 *      mode an even share, read from the node's copy;
 *   4. combine: y[t] = 0, then += w[t][j] * out of each selection in increasing expert id order,
 *      as moe.c adds them (all threads).
 * fy_cpu_matmul_rows_f32 gives fy_cpu_matmul's bits for any rows, SwiGLU is elementwise, and the
 * sum takes moe.c's order, so the result is moe.c's, bit for bit, on any split. */
#include "moe_priv.h"

#include "fy_config.h"

#include <stdlib.h>
#include <string.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif

#define FY_MOE_NODE_ROWS 32 /* output rows per work item */

int64_t fy_moe_list_items(const int64_t *start, int64_t n_exp, int64_t n_out, int64_t ir,
                          int64_t *items)
{
    int64_t n = 0;
    const int64_t chunks = (n_out + ir - 1) / ir;
    for (int64_t e = 0; e < n_exp; e++)
        if (start[e + 1] > start[e])
            for (int64_t c = 0; c < chunks; c++)
                items[n++] = e * chunks + c;
    return n;
}

void fy_moe_node_items(const struct fy_numa *nu, int64_t n_exp, int64_t chunks,
                       const int64_t *items, int64_t n_items, int64_t *lo)
{
    const int G = fy_numa_groups(nu);
    if (nu->mode != FY_NUMA_EXPERTS) {
        for (int g = 0; g <= G; g++)
            lo[g] = fy_numa_split(n_items, G, g);
        return;
    }
    int64_t i = 0;
    for (int g = 0; g < G; g++) {
        const int64_t e0 = fy_numa_split(n_exp, G, g);
        while (i < n_items && items[i] / chunks < e0)
            i++;
        lo[g] = i;
    }
    lo[G] = n_items;
}

/* one pass over the items, in each node group's view of the layer */
struct node_pass {
    const struct fy_moe_layer *L; /* [G]: the layer as group g reads it */
    const int64_t *start, *items;
    int64_t chunks;
    bool down;       /* false: gate, up and SwiGLU into g; true: down into o */
    const float *xb; /* [n_sel][d]: the selections' inputs in expert order */
    float *g, *u;    /* [n_sel][ff] */
    float *o;        /* [n_sel][d] */
    float **buf;     /* per thread: FY_CPU_MM_TILE rows of max(d, ff) floats, made on first use */
    size_t buf_floats;
};

/* fy_numa_item_fn */
static void node_item(const void *ctx, int grp, int64_t i)
{
    const struct node_pass *P = ctx;
    const struct fy_moe_layer *L = &P->L[grp];
    const int64_t e = P->items[i] / P->chunks, r0 = (P->items[i] % P->chunks) * FY_MOE_NODE_ROWS;
    const int64_t t0 = P->start[e], cnt = P->start[e + 1] - t0;
    const int64_t d = L->gate.n_in, ff = L->gate.n_out;
#if FY_HAVE_OPENMP
    float **slot = &P->buf[omp_get_thread_num()];
#else
    float **slot = &P->buf[0];
#endif
    if (!*slot)
        *slot = malloc(P->buf_floats * sizeof(float)); /* NULL: the fused dot, same bits */
    if (P->down) {
        const int64_t r1 = r0 + FY_MOE_NODE_ROWS < d ? r0 + FY_MOE_NODE_ROWS : d;
        fy_cpu_matmul_rows_f32(P->o + t0 * d, &L->down, e, P->g + t0 * ff, cnt,
                               fy_bias_of(&L->down_b, e), r0, r1, *slot);
        return;
    }
    const int64_t r1 = r0 + FY_MOE_NODE_ROWS < ff ? r0 + FY_MOE_NODE_ROWS : ff;
    fy_cpu_matmul_rows_f32(P->g + t0 * ff, &L->gate, e, P->xb + t0 * d, cnt,
                           fy_bias_of(&L->gate_b, e), r0, r1, *slot);
    fy_cpu_matmul_rows_f32(P->u + t0 * ff, &L->up, e, P->xb + t0 * d, cnt, fy_bias_of(&L->up_b, e),
                           r0, r1, *slot);
    for (int64_t t = t0; t < t0 + cnt; t++)
        fy_cpu_swiglu_oai_serial(P->g + t * ff + r0, P->g + t * ff + r0, P->u + t * ff + r0,
                                 r1 - r0, L->alpha, L->limit);
}

fy_status fy_cpu_moe_ffn_nodes(float *y, const float *x, int64_t n_tok, const int32_t *ids,
                               const float *w, int k, const struct fy_moe_layer *L,
                               const int64_t *start, const int64_t *sel, const struct fy_numa *nu)
{
    const int64_t n_exp = L->gate.n_mat, d = L->gate.n_in, ff = L->gate.n_out;
    const int64_t n_sel = n_tok * k, ns = n_sel ? n_sel : 1;
    const int64_t chunks_ff = (ff + FY_MOE_NODE_ROWS - 1) / FY_MOE_NODE_ROWS;
    const int64_t chunks_d = (d + FY_MOE_NODE_ROWS - 1) / FY_MOE_NODE_ROWS;
    const int64_t max_chunks = chunks_ff > chunks_d ? chunks_ff : chunks_d;
#if FY_HAVE_OPENMP
    const int n_thr = omp_get_max_threads();
#else
    const int n_thr = 1;
#endif
    const int G = fy_numa_groups(nu);
    struct fy_moe_layer Ln[FY_NUMA_MAX_NODES];
    float *xb = malloc((size_t)ns * (size_t)d * sizeof(float));
    float *g = malloc((size_t)ns * (size_t)ff * sizeof(float));
    float *u = malloc((size_t)ns * (size_t)ff * sizeof(float));
    float *o = malloc((size_t)ns * (size_t)d * sizeof(float));
    int64_t *items = malloc((size_t)(n_exp * max_chunks + 1) * sizeof(*items));
    int64_t *pos = malloc((size_t)ns * sizeof(*pos)); /* selection -> row in expert order */
    float **buf = calloc((size_t)n_thr, sizeof(*buf));
    int64_t lo[FY_NUMA_MAX_NODES + 1];
    fy_status st = FY_E_NOMEM;
    if (!xb || !g || !u || !o || !items || !pos || !buf)
        goto done;

    for (int grp = 0; grp < G; grp++) { /* group grp's view: its mirror copies, if any */
        Ln[grp] = *L;
        Ln[grp].gate.data = fy_numa_local(nu, L->gate.data, grp);
        Ln[grp].up.data = fy_numa_local(nu, L->up.data, grp);
        Ln[grp].down.data = fy_numa_local(nu, L->down.data, grp);
    }
    /* 1. gather, in expert order */
#pragma omp parallel for schedule(static) if (n_sel * d > 262144)
    for (int64_t i = 0; i < n_sel; i++) {
        memcpy(xb + i * d, x + (sel[i] / k) * d, (size_t)d * sizeof(float));
        pos[sel[i]] = i;
    }
    /* 2, 3: per node group */
    struct node_pass P = {.L = Ln,
                          .start = start,
                          .items = items,
                          .chunks = chunks_ff,
                          .xb = xb,
                          .g = g,
                          .u = u,
                          .o = o,
                          .buf = buf,
                          .buf_floats = (size_t)FY_CPU_MM_TILE * (size_t)(d > ff ? d : ff)};
    int64_t n_items = fy_moe_list_items(start, n_exp, ff, FY_MOE_NODE_ROWS, items);
    fy_moe_node_items(nu, n_exp, chunks_ff, items, n_items, lo);
    fy_numa_for(nu, lo, true, node_item, &P);
    P.down = true;
    P.chunks = chunks_d;
    n_items = fy_moe_list_items(start, n_exp, d, FY_MOE_NODE_ROWS, items);
    fy_moe_node_items(nu, n_exp, chunks_d, items, n_items, lo);
    fy_numa_for(nu, lo, true, node_item, &P);
    /* 4. combine, in moe.c's order and arithmetic */
#pragma omp parallel for schedule(static) if (n_tok * d * k > 262144)
    for (int64_t t = 0; t < n_tok; t++) {
        float *yt = y + t * d;
        memset(yt, 0, (size_t)d * sizeof(float));
        int32_t last = -1;
        for (int j = 0; j < k; j++) {
            const int64_t s = t * k + fy_moe_next_sel(ids, t, k, &last);
            const float wt = w[s];
            const float *ot = o + pos[s] * d;
            for (int64_t c = 0; c < d; c++)
                yt[c] += wt * ot[c];
        }
    }
    st = FY_OK;
done:
    for (int i = 0; buf && i < n_thr; i++)
        free(buf[i]);
    free(buf);
    free(xb);
    free(g);
    free(u);
    free(o);
    free(items);
    free(pos);
    return st;
}
