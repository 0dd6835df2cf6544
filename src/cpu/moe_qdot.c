/* The mixture-of-experts FFN on the integer path (qdot.h), in a few parallel passes over all
 * the selected experts at once instead of one parallel region per expert and matmul (whose
 * barriers cost a fifth of prompt processing on 2 cores):
 *   1. gather each selection's input row in expert order and quantize it (once, for gate and up);
 *   2. gate, up and SwiGLU: one work item per (expert, 32k output rows) computes the gate and
 *      up rows over every token of the expert, then SwiGLU-OAI on them and their quantization
 *      (whole 32-blocks: the same bits as quantizing the row), so no pass of its own;
 *   3. down: one work item per (expert, 32k output rows), bias and routing weight applied to
 *      its rows in the item (out = w[t][j] * (down . a + b), the product the combine took);
 *   4. combine: y[t] = sum of the k rows, in increasing expert id order.
 * With int16 activations every output row is computed by the same kernel calls as in the
 * per-expert loop (moe.c), so the results are the same bits. With FY_CPU_Q8=1, micro-batches
 * of 32 tokens or more with MXFP4 experts run gate and up with int8 activations (qdot.h, q8).
 * Split by NUMA node (numa.h), passes 2 and 3 run each node group's items on its own threads
 * (the items of its experts, or in mirror mode an even share read from its copy); an item's
 * rows are computed by the same calls whichever thread runs it, and the combine is the same, so
 * the results are the same bits. */
#include "moe_priv.h"
#include "qdot.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FY_MOE_ROWS 32 /* output rows per work item (a multiple of 32: whole blocks of gq) */
#define FY_MOE_ROWS_DECODE 64 /* the same in decode: fewer calls, each preparing x once */
#define FY_MOE_Q8_MIN_TOK 32
#define FY_MOE_STATIC_TOK 8 /* experts with at most this many tokens: a static split */

/* A pass over work items: item i is (expert, row chunk) items[i] of the matrices. xq: int16
 * blocks (struct fy_qx_block), or with q8 int8 blocks (struct fy_q8_block). Decode (every
 * expert with at most FY_MOE_STATIC_TOK tokens): a static split, so each thread streams one
 * contiguous range of rows (and the one-token kernels' prefetch of the next 16 rows is for the
 * same thread): tg 5.6 -> 6.2 t/s on the 20b, 2-core Xeon. Prompt processing: dynamic, the
 * experts' token counts differ. */
struct pass_mat {
    const struct fy_mat *w;
    const struct fy_bias *b;
    float *y;
};

/* the rows [r0, r0 + n) of the item's chunk of matrix m, over the expert's tokens */
static void run_rows(const struct pass_mat *m, const int64_t *start, int64_t e, int64_t r0,
                     int64_t n, const void *xq, bool q8, size_t x_row)
{
    fy_cpu_qdot_rows(m->w, e, r0, n, (const uint8_t *)xq + (size_t)start[e] * x_row, q8,
                     start[e + 1] - start[e], m->y + start[e] * m->w->n_out,
                     fy_bias_of(m->b, e));
}

/* the gate/up pass (m[0] gate, m[1] up; SwiGLU into m[0].y and quantized into gq) or the down
 * pass (m[0] down, gq NULL; row i, selection sel[i], times its routing weight w[sel[i]]) */
struct pass {
    const struct pass_mat *m;
    const struct fy_moe_layer *L;
    const int64_t *start, *items;
    int64_t ir;
    const void *xq;
    bool q8;
    struct fy_qx_block *gq;
    const float *w;
    const int64_t *sel;
};

static void run_item(const struct pass *P, int64_t item)
{
    const struct fy_mat *w = P->m[0].w;
    const int64_t chunks = (w->n_out + P->ir - 1) / P->ir;
    const int64_t e = item / chunks, r0 = (item % chunks) * P->ir;
    const int64_t n = w->n_out - r0 < P->ir ? w->n_out - r0 : P->ir;
    const size_t x_row = (size_t)(w->n_in / FY_QX_BLOCK) *
                         (P->q8 ? sizeof(struct fy_q8_block) : sizeof(struct fy_qx_block));
    run_rows(&P->m[0], P->start, e, r0, n, P->xq, P->q8, x_row);
    if (!P->gq) {
        for (int64_t t = P->start[e]; t < P->start[e + 1]; t++) {
            float *ot = P->m[0].y + t * w->n_out + r0;
            for (int64_t c = 0; c < n; c++)
                ot[c] *= P->w[P->sel[t]];
        }
        return;
    }
    run_rows(&P->m[1], P->start, e, r0, n, P->xq, P->q8, x_row);
    const int64_t ff = w->n_out;
    const struct fy_cpu_set *set = fy_cpu_set();
    for (int64_t t = P->start[e]; t < P->start[e + 1]; t++) {
        float *gt = P->m[0].y + t * ff + r0;
        fy_cpu_swiglu_oai_serial(gt, gt, P->m[1].y + t * ff + r0, n, P->L->alpha,
                                 P->L->limit);
        set->quantize(gt, P->gq + t * (ff / FY_QX_BLOCK) + r0 / FY_QX_BLOCK, n);
    }
}

/* fy_numa_item_fn: item i of node group g's view of the pass */
static void node_item(const void *ctx, int g, int64_t i)
{
    const struct pass *P = ctx;
    run_item(&P[g], P[g].items[i]);
}

/* the pass split by node group: each group's view reads its own copy of the weights (mirror
 * mode; the weights themselves otherwise) */
static void run_items_nodes(const struct pass *P, int64_t n_items, bool decode,
                            const struct fy_numa *nu)
{
    const int G = fy_numa_groups(nu), n_m = P->gq ? 2 : 1;
    const struct fy_mat *w0 = P->m[0].w;
    struct fy_mat w[FY_NUMA_MAX_NODES][2];
    struct pass_mat m[FY_NUMA_MAX_NODES][2];
    struct pass Pn[FY_NUMA_MAX_NODES];
    int64_t lo[FY_NUMA_MAX_NODES + 1];
    for (int g = 0; g < G; g++) {
        for (int j = 0; j < n_m; j++) {
            w[g][j] = *P->m[j].w;
            w[g][j].data = fy_numa_local(nu, w[g][j].data, g);
            m[g][j] = P->m[j];
            m[g][j].w = &w[g][j];
        }
        Pn[g] = *P;
        Pn[g].m = m[g];
    }
    fy_moe_node_items(nu, w0->n_mat, (w0->n_out + P->ir - 1) / P->ir, P->items, n_items, lo);
    fy_numa_for(nu, lo, !decode, node_item, Pn);
}

static void run_items(const struct pass *P, int64_t n_items, bool decode,
                      const struct fy_numa *nu)
{
    if (nu) {
        run_items_nodes(P, n_items, decode, nu);
    } else if (decode) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n_items; i++)
            run_item(P, P->items[i]);
    } else {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t i = 0; i < n_items; i++)
            run_item(P, P->items[i]);
    }
}

/* int8 activations (qdot.h, q8) for the gate and up matmuls of MXFP4 experts in micro-batches
 * of FY_MOE_Q8_MIN_TOK tokens or more (prompt processing), with FY_CPU_Q8=1 only: about twice
 * the prompt speed, at llama.cpp's precision, which is within issue 11's gates for fast sets on
 * the tiny test model but not on its fused-gate/up variant (p90 2.5% > 2%, arg-max 94.7%), so
 * not the default. Down keeps int16 (its input, the SwiGLU output, has the outliers int8 blocks
 * round worst), and so does decode. */
static bool use_q8(const struct fy_moe_layer *L, int64_t n_tok)
{
    static int env = -1;
    if (env < 0) {
        const char *v = getenv("FY_CPU_Q8");
        env = v && !strcmp(v, "1");
    }
    return env && fy_cpu_set()->mm8 && n_tok >= FY_MOE_Q8_MIN_TOK && L->gate.type == FY_MXFP4 &&
           L->up.type == FY_MXFP4;
}

fy_status fy_cpu_moe_ffn_qdot(float *y, const float *x, int64_t n_tok, const int32_t *ids,
                              const float *w, int k, const struct fy_moe_layer *L,
                              const int64_t *start, const int64_t *sel, const struct fy_numa *nu)
{
    const struct fy_cpu_set *set = fy_cpu_set();
    const int64_t n_exp = L->gate.n_mat, d = L->gate.n_in, ff = L->gate.n_out;
    const int64_t n_sel = n_tok * k;
    const int64_t chunks_ff = (ff + FY_MOE_ROWS - 1) / FY_MOE_ROWS;
    const int64_t chunks_d = (d + FY_MOE_ROWS - 1) / FY_MOE_ROWS;
    const int64_t max_chunks = chunks_ff > chunks_d ? chunks_ff : chunks_d;
    const bool q8 = use_q8(L, n_tok);
    const size_t qb = q8 ? sizeof(struct fy_q8_block) : sizeof(struct fy_qx_block);
    uint8_t *xq = malloc((size_t)n_sel * (size_t)(d / FY_QX_BLOCK) * qb);
    uint8_t *gq = malloc((size_t)n_sel * (size_t)(ff / FY_QX_BLOCK) * sizeof(struct fy_qx_block));
    float *g = malloc((size_t)n_sel * (size_t)ff * sizeof(float));
    float *u = malloc((size_t)n_sel * (size_t)ff * sizeof(float));
    float *o = malloc((size_t)n_sel * (size_t)d * sizeof(float));
    int64_t *items = malloc((size_t)n_exp * (size_t)max_chunks * sizeof(*items));
    int64_t *pos = malloc((size_t)n_sel * sizeof(*pos)); /* selection -> row in expert order */
    fy_status st = FY_E_NOMEM;
    if (!xq || !gq || !g || !u || !o || !items || !pos)
        goto done;

    for (int64_t i = 0; i < n_sel; i++)
        pos[sel[i]] = i;
    bool decode = true; /* every expert has at most FY_MOE_STATIC_TOK tokens */
    for (int64_t e = 0; e < n_exp; e++)
        decode = decode && start[e + 1] - start[e] <= FY_MOE_STATIC_TOK;
    /* rows per item: whole 32-blocks (step 2 quantizes its rows' blocks) */
    const int64_t ir = decode ? FY_MOE_ROWS_DECODE
                              : (set->mm_rows > FY_MOE_ROWS ? set->mm_rows + 31 : FY_MOE_ROWS) /
                                    32 * 32;
    /* 1. gather + quantize, in expert order */
#pragma omp parallel for schedule(static) if (n_sel * d > 262144)
    for (int64_t i = 0; i < n_sel; i++) {
        void *dst = xq + (size_t)i * (size_t)(d / FY_QX_BLOCK) * qb;
        if (q8)
            set->quantize8(x + (sel[i] / k) * d, dst, d);
        else
            set->quantize(x + (sel[i] / k) * d, dst, d);
    }
    /* 2. gate, up, SwiGLU and its quantization */
    int64_t n_items = fy_moe_list_items(start, n_exp, ff, ir, items);
    const struct pass_mat gate_up[2] = {{&L->gate, &L->gate_b, g}, {&L->up, &L->up_b, u}};
    const struct pass p_gu = {.m = gate_up, .L = L, .start = start, .items = items, .ir = ir,
                              .xq = xq, .q8 = q8, .gq = (struct fy_qx_block *)gq};
    run_items(&p_gu, n_items, decode, nu);
    /* 3. down */
    n_items = fy_moe_list_items(start, n_exp, d, ir, items);
    const struct pass_mat down = {&L->down, &L->down_b, o};
    const struct pass p_d = {.m = &down, .L = L, .start = start, .items = items, .ir = ir,
                             .xq = gq, .q8 = false, .gq = NULL, .w = w, .sel = sel};
    run_items(&p_d, n_items, decode, nu);
    /* 4. combine: each token's k rows in increasing expert id order (ids are distinct) */
#pragma omp parallel for schedule(static) if (n_tok * d * k > 262144)
    for (int64_t t = 0; t < n_tok; t++) {
        float *yt = y + t * d;
        memset(yt, 0, (size_t)d * sizeof(float));
        int32_t last = -1;
        for (int j = 0; j < k; j++) {
            const float *ot = o + pos[t * k + fy_moe_next_sel(ids, t, k, &last)] * d;
            for (int64_t c = 0; c < d; c++)
                yt[c] += ot[c];
        }
    }
    st = FY_OK;
done:
    free(xq);
    free(gq);
    free(g);
    free(u);
    free(o);
    free(items);
    free(pos);
    return st;
}
