/* The plan report for people: tensor groups, rules, per-device memory, VRAM fit, MoE paths. */
#include "numa_layout.h"
#include "placement_priv.h"

#include <stdlib.h>
#include <string.h>

/* "1.23 GiB", "45.6 MiB", "7.8 KiB", "12 B" */
static const char *human(uint64_t b, char *buf, size_t cap)
{
    if (b >= (1ull << 30))
        snprintf(buf, cap, "%.2f GiB", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(buf, cap, "%.1f MiB", (double)b / (double)(1ull << 20));
    else if (b >= 1024)
        snprintf(buf, cap, "%.1f KiB", (double)b / 1024.0);
    else
        snprintf(buf, cap, "%llu B", (unsigned long long)b);
    return buf;
}

static void layers_text(int64_t first, int64_t last, char *buf, size_t cap)
{
    if (first < 0)
        snprintf(buf, cap, "-");
    else if (first == last)
        snprintf(buf, cap, "blk.%lld", (long long)first);
    else
        snprintf(buf, cap, "blk.%lld-%lld", (long long)first, (long long)last);
}

static void print_settings(FILE *f, const struct fy_placement *p, const struct fy_plan *pl)
{
    const int64_t L = p->dims.n_layer;
    fprintf(f, "placement: -ngl %lld (", (long long)p->ngl);
    if (p->ngl == 0)
        fprintf(f, "no layer on GPU0");
    else if (p->ngl >= L)
        fprintf(f, "every layer%s on GPU0", p->ngl > L ? " and the output" : "");
    else
        fprintf(f, "blk.%lld-%lld on GPU0", (long long)(L - p->ngl), (long long)(L - 1));
    fprintf(f, "), --n-cpu-moe %lld", (long long)p->n_cpu_moe);
    if (p->n_cpu_moe > 0)
        fprintf(f, " (expert weights of blk.0-%lld on the CPU)", (long long)p->n_cpu_moe - 1);
    fprintf(f, ", %lld -ot rule%s\n", (long long)p->n_rules, p->n_rules == 1 ? "" : "s");
    fprintf(f, "context: -c %lld, -ub %lld, KV %s", (long long)pl->o.n_ctx,
            (long long)pl->o.n_ubatch, fy_dtype_name(pl->o.kv_type));
    const int64_t ring = fy_place_kv_slots((int32_t)p->dims.n_swa, pl->o.n_ctx, pl->o.n_ubatch,
                                           pl->o.swa_full);
    if (p->dims.n_swa > 0 && ring < pl->o.n_ctx)
        fprintf(f, "; sliding-window layers (window %lld): rings of %lld slots (--swa-full: "
                "every position)\n", (long long)p->dims.n_swa, (long long)ring);
    else
        fprintf(f, "; every layer keeps every position\n");
    for (int64_t j = 0; j < p->n_rules; j++)
        fprintf(f, "  -ot rule %lld: %s  matches %lld tensors, places %lld\n", (long long)j + 1,
                p->rules[j].text, (long long)p->rules[j].matched, (long long)p->rules[j].won);
}

static fy_status print_groups(FILE *f, const struct fy_placement *p)
{
    struct fy_plan_group *gs = NULL;
    int64_t n = 0;
    char lay[32], sz[32];
    FY_TRY(fy_plan_groups(p, &gs, &n));
    fprintf(f, "\ntensors (%lld, %s):\n", (long long)p->n_tensors,
            human(p->file_tensor_bytes, sz, sizeof(sz)));
    fprintf(f, "  %-12s %-20s %-6s %6s %11s  %s\n", "layers", "tensors", "type", "count", "size",
            "device");
    for (int64_t i = 0; i < n; i++) {
        const struct fy_plan_group *g = &gs[i];
        layers_text(g->first, g->last, lay, sizeof(lay));
        fprintf(f, "  %-12s %-20s %-6s %6lld %11s  %s%s\n", lay, g->cls, fy_dtype_name(g->type),
                (long long)g->count, human(g->bytes, sz, sizeof(sz)), fy_device_name(g->dev),
                g->copy ? " (bias copy)" : "");
    }
    free(gs);
    return FY_OK;
}

static void print_tensors(FILE *f, const struct fy_placement *p)
{
    char sz[32], ob[32];
    fprintf(f, "\nevery tensor:\n");
    for (int64_t i = 0; i < p->n_tensors; i++) {
        const struct fy_place_tensor *t = &p->t[i];
        fprintf(f, "  %-32s %-6s %11s  %-4s  by %s", t->t->name, fy_dtype_name(t->t->type),
                human(t->t->size, sz, sizeof(sz)), fy_device_name(t->dev),
                fy_plan_origin(t->rule, ob, sizeof(ob)));
        if (t->dup)
            fprintf(f, "; copy on %s", fy_device_name(t->dup_dev));
        fputc('\n', f);
    }
}

static void print_memory(FILE *f, const struct fy_placement *p, const struct fy_plan *pl)
{
    char a[32], b[32], c[32], d[32], e[32];
    fprintf(f, "\nmemory per device:\n  %-6s %11s %11s %11s %11s %11s\n", "device", "weights",
            "dup bias", "KV cache", "compute", "total");
    for (int dv = 0; dv < FY_DEV_COUNT; dv++) {
        const struct fy_plan_dev *x = &pl->dev[dv];
        fprintf(f, "  %-6s %11s %11s %11s %11s %11s\n", fy_device_name((enum fy_device_id)dv),
                human(x->weights, a, sizeof(a)), human(x->dup_bias, b, sizeof(b)),
                human(x->kv, c, sizeof(c)), human(x->compute, d, sizeof(d)),
                human(x->total, e, sizeof(e)));
    }
    const struct fy_place_tensor *out = fy_placement_find(p, "output.weight");
    fprintf(f, "  compute: activations %s on each device that runs layers, logits %s on %s",
            human(pl->act_bytes, a, sizeof(a)), human(pl->logits_bytes, b, sizeof(b)),
            fy_device_name(out ? out->dev : FY_DEV_CPU));
    if (pl->staging_bytes)
        fprintf(f, ", upload staging 2 x %s on GPU0", human(pl->staging_bytes / 2, c, sizeof(c)));
    fputc('\n', f);
    if (p->n_dup)
        fprintf(f, "  duplicated expert biases: %lld tensors, %.1f MB (CPU %s, GPU0 %s)\n",
                (long long)p->n_dup, (double)(p->dup_bytes[0] + p->dup_bytes[1]) / 1e6,
                human(p->dup_bytes[FY_DEV_CPU], a, sizeof(a)),
                human(p->dup_bytes[FY_DEV_GPU0], b, sizeof(b)));
    else
        fprintf(f, "  duplicated expert biases: none\n");
    const uint64_t need = pl->dev[FY_DEV_GPU0].total;
    if (pl->fits < 0)
        fprintf(f, "VRAM: GPU0 needs %s (give --vram SIZE to check the fit)\n",
                human(need, a, sizeof(a)));
    else if (pl->fits)
        fprintf(f, "VRAM: GPU0 needs %s of --vram %s: fits, %s to spare\n",
                human(need, a, sizeof(a)), human(pl->o.vram, b, sizeof(b)),
                human(pl->o.vram - need, c, sizeof(c)));
    else
        fprintf(f, "VRAM: GPU0 needs %s of --vram %s: does NOT fit, %s short\n",
                human(need, a, sizeof(a)), human(pl->o.vram, b, sizeof(b)),
                human(need - pl->o.vram, c, sizeof(c)));
}

static void print_steps(FILE *f, const struct fy_placement *p, const struct fy_plan *pl)
{
    char a[32], th[64];
    if (p->threshold == INT64_MAX)
        snprintf(th, sizeof(th), "never");
    else
        snprintf(th, sizeof(th), "%lld tokens", (long long)p->threshold);
    fprintf(f, "\nMoE layers per micro-batch size (offload %s; threshold %s: %s; link %g GB/s, "
            "CPU %g GFLOPS):\n", p->no_offload ? "off (--no-offload)" : "on", th,
            p->threshold_set ? "--offload-threshold" : "cost model", p->link_gbps,
            p->cpu_gflops);
    fprintf(f, "  %6s %13s %11s %5s %13s %12s\n", "tokens", "GPU resident", "GPU upload", "CPU",
            "upload/step", "upload time");
    for (int64_t i = 0; i < pl->n_steps; i++) {
        const struct fy_plan_step *s = &pl->steps[i];
        fprintf(f, "  %6lld %13lld %11lld %5lld %13s %9.1f ms\n", (long long)s->n,
                (long long)s->gpu_resident, (long long)s->gpu_upload, (long long)s->cpu,
                human(s->upload_bytes, a, sizeof(a)), s->upload_ms);
    }
}

fy_status fy_plan_print(FILE *f, const struct fy_placement *p, const struct fy_plan *pl,
                        const char *model_path)
{
    FY_CHECK_ARG(f && p && pl);
    const struct fy_place_dims *d = &p->dims;
    fprintf(f, "model: %s\n  %lld layers, %lld experts (%lld active), d_model %lld, ff %lld, "
            "vocab %lld\n", model_path ? model_path : fy_gguf_path(p->g, 0), (long long)d->n_layer,
            (long long)d->n_expert, (long long)d->n_expert_used, (long long)d->d_model,
            (long long)d->n_ff, (long long)pl->n_vocab);
    print_settings(f, p, pl);
    FY_TRY(print_groups(f, p));
    if (pl->o.tensors)
        print_tensors(f, p);
    print_memory(f, p, pl);
    print_steps(f, p, pl); /* the warnings went to stderr when the placement was made */
    struct fy_numa_layout nl;
    if (pl->o.numa && pl->o.numa->mode != FY_NUMA_OFF &&
        fy_numa_layout_make(p, pl->o.numa, &nl) == FY_OK) {
        fputc('\n', f);
        fy_numa_layout_print(f, pl->o.numa, &nl);
    }
    return ferror(f) ? FY_E_IO : FY_OK;
}
