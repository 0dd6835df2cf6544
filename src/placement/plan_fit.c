/* Fit (`ferry plan --fit`, `--fit on`): the placement that fits GPU0's memory with a margin and
 * that should run fastest, tried in order of predicted speed (hybrid.md §3, §4: the dense layers
 * and the KV cache are the bytes every token reads on every step, so they go to the GPU first;
 * the experts of a layer are read only when selected, so they are the ones to leave on the CPU):
 *   1. -ngl 99                       everything on GPU0
 *   2. -ngl 99 --n-cpu-moe N         N = 1 .. n_layer - 1: the smallest N that fits
 *   3. -ngl 99 --cpu-moe             every layer's experts on the CPU
 *   4. -ngl K --cpu-moe              K = n_layer - 1 .. 1: the dense part of fewer layers
 * each at the requested context; only with min_ctx (--fit-ctx) is the context then halved,
 * down to min_ctx, and the list tried again. Nothing fits: fits = false. The rules keep the
 * caller's offload settings (--no-offload, --offload-threshold, -nkvo, link/CPU speeds) and
 * replace its -ngl, --n-cpu-moe and -ot. */
#include "placement_priv.h"

#include <stdio.h>
#include <string.h>

/* the plan of candidate (ngl, ncmoe) on a copy of the caller's settings: GPU0's total */
static fy_status try_one(const struct fy_gguf *g, const struct fy_place_dims *dims,
                         const struct fy_place_rules *base, const struct fy_plan_opts *po,
                         int64_t ngl, int64_t ncmoe, uint64_t *gpu_total)
{
    struct fy_place_rules *r = NULL;
    struct fy_placement *p = NULL;
    struct fy_plan pl;
    fy_status st = fy_place_rules_new(&r);
    if (st != FY_OK)
        return st;
    if (base) {
        r->no_offload = base->no_offload;
        r->kv_cpu = base->kv_cpu;
        r->threshold = base->threshold;
        r->link_gbps = base->link_gbps;
        r->cpu_gflops = base->cpu_gflops;
    }
    r->ngl = ngl;
    r->n_cpu_moe = ncmoe;
    /* placement warnings (an -ot split, ...) belong to the chosen one, not to every try */
    const enum fy_log_level lv = fy_log_get_level();
    fy_log_set_level(FY_LOG_ERR);
    st = fy_placement_new(r, g, dims, &p);
    if (st == FY_OK)
        st = fy_plan_make(p, po, &pl);
    fy_log_set_level(lv);
    if (st == FY_OK)
        *gpu_total = pl.dev[FY_DEV_GPU0].total;
    fy_placement_free(p);
    fy_place_rules_free(r);
    return st;
}

static void cmdline(struct fy_fit *f, int64_t n_layer)
{
    char ncm[48] = "";
    if (f->n_cpu_moe >= n_layer)
        snprintf(ncm, sizeof(ncm), " --cpu-moe");
    else if (f->n_cpu_moe > 0)
        snprintf(ncm, sizeof(ncm), " --n-cpu-moe %lld", (long long)f->n_cpu_moe);
    snprintf(f->flags, sizeof(f->flags), "-ngl %lld%s -c %lld", (long long)f->ngl, ncm,
             (long long)f->n_ctx);
}

fy_status fy_plan_fit(const struct fy_gguf *g, const struct fy_place_dims *dims,
                      const struct fy_place_rules *base, const struct fy_plan_opts *po,
                      const struct fy_fit_opts *fo, struct fy_fit *out)
{
    FY_CHECK_ARG(g && dims && po && fo && out && fo->vram > 0 && dims->n_layer > 0);
    memset(out, 0, sizeof(*out));
    const int64_t L = dims->n_layer;
    const uint64_t budget = fo->vram > fo->margin ? fo->vram - fo->margin : 0;
    struct fy_plan_opts o = *po;
    o.vram = 0;
    for (;;) {
        /* the candidates in order: (ngl, ncmoe) */
        for (int64_t c = 0; c <= 2 * L; c++) {
            const int64_t ngl = c <= L ? 99 : 2 * L - c; /* c = L+1 .. 2L: ngl L-1 .. 0 */
            const int64_t ncmoe = c <= L ? c : INT64_MAX;
            if (ngl <= 0)
                break;
            uint64_t total = 0;
            FY_TRY(try_one(g, dims, base, &o, ngl, ncmoe, &total));
            out->tried++;
            if (total <= budget) {
                out->fits = true;
                out->ngl = ngl;
                out->n_cpu_moe = ncmoe > L ? L : ncmoe;
                out->n_ctx = o.n_ctx;
                out->gpu_bytes = total;
                cmdline(out, L);
                return FY_OK;
            }
        }
        if (!fo->min_ctx || o.n_ctx / 2 < fo->min_ctx)
            break;
        o.n_ctx /= 2;
    }
    out->n_ctx = o.n_ctx;
    snprintf(out->flags, sizeof(out->flags), "-ngl 0");
    return FY_OK;
}
