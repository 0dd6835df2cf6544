/* Mixture-of-experts FFN (gpt-oss.md section 6), tokens grouped by expert.
 *
 * For each expert used by at least one token: gather the rows of x of its tokens into a
 * contiguous buffer, run gate and up (with the expert's biases), SwiGLU-OAI, down (with the
 * down bias), and add w[t][j] * out into y[t]. Each used expert's weights are therefore
 * decoded once per call (fy_cpu_matmul's batched path) whatever the token count.
 * Order: y[t] starts at 0 and receives its k terms in increasing expert id order.
 * With the work split by NUMA node (fy_cpu_moe_ffn_numa): moe_qdot.c and moe_numa.c. */
#include "numa.h"
#include "ops.h"

#include <stdlib.h>
#include <string.h>

fy_status fy_cpu_moe_ffn(float *y, const float *x, int64_t n_tok, const int32_t *ids,
                         const float *w, int k, const struct fy_moe_layer *L)
{
    return fy_cpu_moe_ffn_numa(y, x, n_tok, ids, w, k, L, NULL);
}

fy_status fy_cpu_moe_ffn_numa(float *y, const float *x, int64_t n_tok, const int32_t *ids,
                              const float *w, int k, const struct fy_moe_layer *L,
                              const struct fy_numa *nu)
{
    const int64_t n_exp = L->gate.n_mat;
    const int64_t d = L->gate.n_in;    /* d_model */
    const int64_t ff = L->gate.n_out;  /* d_ff */
    const int64_t n_sel = n_tok * k;
    int64_t *start = NULL;  /* [n_exp + 1]: expert e's selections are sel[start[e]..start[e+1]) */
    int64_t *fill = NULL;   /* [n_exp] */
    int64_t *sel = NULL;    /* [n_sel]: flat selection index t*k + j, grouped by expert */
    float *xb = NULL;       /* [n_tok][d]  gathered inputs of one expert */
    float *g = NULL;        /* [n_tok][ff] gate pre-activation, then SwiGLU output */
    float *u = NULL;        /* [n_tok][ff] up pre-activation */
    float *ob = NULL;       /* [n_tok][d]  expert outputs */
    fy_status st = FY_E_NOMEM;

    for (int64_t s = 0; s < n_sel; s++)
        FY_CHECK_ARG(ids[s] >= 0 && ids[s] < n_exp);

    start = calloc((size_t)n_exp + 1, sizeof(*start));
    fill = calloc((size_t)n_exp, sizeof(*fill));
    sel = malloc((size_t)(n_sel ? n_sel : 1) * sizeof(*sel));
    if (!start || !fill || !sel)
        goto done;

    /* counting sort of the selections by expert; within an expert, tokens stay in order */
    for (int64_t s = 0; s < n_sel; s++)
        start[ids[s] + 1]++;
    for (int64_t e = 0; e < n_exp; e++)
        start[e + 1] += start[e];
    for (int64_t s = 0; s < n_sel; s++) {
        int64_t e = ids[s];
        sel[start[e] + fill[e]++] = s;
    }

    const bool split = fy_numa_splits_moe(nu);
    const int n_qdot = fy_cpu_qdot_ok(&L->gate) + fy_cpu_qdot_ok(&L->up) +
                       fy_cpu_qdot_ok(&L->down);
    if (n_qdot == 3) {
        /* the integer path: all experts in a few parallel passes (moe_qdot.c) */
        st = fy_cpu_moe_ffn_qdot(y, x, n_tok, ids, w, k, L, start, sel, split ? nu : NULL);
        goto done;
    }
    if (split && n_qdot == 0) { /* the f32 path split by node (moe_numa.c) */
        st = fy_cpu_moe_ffn_nodes(y, x, n_tok, ids, w, k, L, start, sel, nu);
        goto done;
    }
    /* (weights of which some take the integer path and some not: not split by node) */
    xb = malloc((size_t)(n_tok ? n_tok : 1) * (size_t)d * sizeof(float));
    g = malloc((size_t)(n_tok ? n_tok : 1) * (size_t)ff * sizeof(float));
    u = malloc((size_t)(n_tok ? n_tok : 1) * (size_t)ff * sizeof(float));
    ob = malloc((size_t)(n_tok ? n_tok : 1) * (size_t)d * sizeof(float));
    if (!xb || !g || !u || !ob)
        goto done;
    memset(y, 0, (size_t)n_tok * (size_t)d * sizeof(float));
    for (int64_t e = 0; e < n_exp; e++) {
        const int64_t *se = sel + start[e];
        const int64_t cnt = start[e + 1] - start[e];
        if (cnt == 0)
            continue;
        for (int64_t i = 0; i < cnt; i++)
            memcpy(xb + i * d, x + (se[i] / k) * d, (size_t)d * sizeof(float));
        fy_cpu_matmul(g, &L->gate, e, xb, cnt, fy_bias_of(&L->gate_b, e));
        fy_cpu_matmul(u, &L->up, e, xb, cnt, fy_bias_of(&L->up_b, e));
        fy_cpu_swiglu_oai(g, g, u, cnt * ff, L->alpha, L->limit);
        fy_cpu_matmul(ob, &L->down, e, g, cnt, fy_bias_of(&L->down_b, e));
        /* the k selections of a token are distinct experts: each y row appears once here */
        for (int64_t i = 0; i < cnt; i++) {
            float wt = w[se[i]];
            float *yt = y + (se[i] / k) * d;
            const float *ot = ob + i * d;
            for (int64_t c = 0; c < d; c++)
                yt[c] += wt * ot[c];
        }
    }
    st = FY_OK;
done:
    free(start);
    free(fill);
    free(sel);
    free(xb);
    free(g);
    free(u);
    free(ob);
    return st;
}
