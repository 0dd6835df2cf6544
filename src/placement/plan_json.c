/* The plan report as one JSON document, written by hand. Byte counts are integers; the key
 * order is fixed (tests compare documents as text):
 *
 * {
 *   "model":   {path, n_layer, n_expert, n_expert_used, d_model, n_ff, n_vocab, n_tensors,
 *               tensor_bytes},
 *   "options": {ngl, n_cpu_moe, ctx, ubatch, kv_type, vram (null: not given), offload,
 *               offload_threshold (null: never), threshold_source ("cost-model" | "flag"),
 *               link_gbps, cpu_gflops},
 *   "rules":   [{rule (1-based), pattern, device, matched, placed}],
 *   "groups":  [{layers ("0-23" | null), class, type, device, copy, tensors, bytes}],
 *   "tensors": [{name, type, bytes, device, by, copy_device (null)}]   (only with --tensors),
 *   "layers":  [{layer, experts ("CPU" | "GPU0" | "split"), bias_gpu, bias_cpu, dup_bytes,
 *                offload_threshold (null: never)}],
 *   "devices": [{device, weights, dup_bias, kv_cache, compute, total}],
 *   "compute": {activations, logits, logits_device, staging},
 *   "dup_bias": {tensors, bytes},
 *   "vram":    {limit (null), need, fits (null without --vram)},
 *   "steps":   [{n, gpu_resident, gpu_upload, cpu, upload_bytes, upload_ms}],
 *   "numa":    {mode, nodes, fake, node_ids, cpus, mem_free_bytes, first_expert,
 *               experts_per_node, expert_bytes_per_node, other_bytes}  (only with a --numa mode
 *               other than off: numa_layout.h),
 *   "warnings": [string]
 * }
 * One array element per line, so that documents diff well. */
#include "args.h"
#include "numa_layout.h"
#include "placement_priv.h"

#include <stdlib.h>

static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void jthreshold(FILE *f, int64_t t)
{
    if (t == INT64_MAX)
        fprintf(f, "null");
    else
        fprintf(f, "%lld", (long long)t);
}

#define U(x) ((unsigned long long)(x))
#define L(x) ((long long)(x))

static void json_head(FILE *f, const struct fy_placement *p, const struct fy_plan *pl,
                      const char *path)
{
    const struct fy_place_dims *d = &p->dims;
    fprintf(f, "{\n  \"model\": {\"path\": ");
    jstr(f, path);
    fprintf(f, ", \"n_layer\": %lld, \"n_expert\": %lld, \"n_expert_used\": %lld, "
            "\"d_model\": %lld, \"n_ff\": %lld, \"n_vocab\": %lld, \"n_tensors\": %lld, "
            "\"tensor_bytes\": %llu},\n", L(d->n_layer), L(d->n_expert), L(d->n_expert_used),
            L(d->d_model), L(d->n_ff), L(pl->n_vocab), L(p->n_tensors), U(p->file_tensor_bytes));
    fprintf(f, "  \"options\": {\"ngl\": %lld, \"n_cpu_moe\": %lld, \"ctx\": %lld, "
            "\"ubatch\": %lld, \"kv_type\": \"%s\", \"vram\": ", L(p->ngl), L(p->n_cpu_moe),
            L(pl->o.n_ctx), L(pl->o.n_ubatch), fy_kv_type_name(pl->o.kv_type));
    if (pl->o.vram)
        fprintf(f, "%llu", U(pl->o.vram));
    else
        fprintf(f, "null");
    fprintf(f, ", \"offload\": %s, \"offload_threshold\": ", p->no_offload ? "false" : "true");
    jthreshold(f, p->threshold);
    fprintf(f, ", \"threshold_source\": \"%s\", \"link_gbps\": %g, \"cpu_gflops\": %g},\n",
            p->threshold_set ? "flag" : "cost-model", p->link_gbps, p->cpu_gflops);
    fprintf(f, "  \"rules\": [");
    for (int64_t j = 0; j < p->n_rules; j++) {
        fprintf(f, "%s\n    {\"rule\": %lld, \"pattern\": ", j ? "," : "", L(j + 1));
        jstr(f, p->rules[j].pattern);
        fprintf(f, ", \"device\": \"%s\", \"matched\": %lld, \"placed\": %lld}",
                fy_device_name(p->rules[j].dev), L(p->rules[j].matched), L(p->rules[j].won));
    }
    fprintf(f, "%s],\n", p->n_rules ? "\n  " : "");
}

static fy_status json_tensors(FILE *f, const struct fy_placement *p, bool every)
{
    struct fy_plan_group *gs = NULL;
    int64_t n = 0;
    FY_TRY(fy_plan_groups(p, &gs, &n));
    fprintf(f, "  \"groups\": [");
    for (int64_t i = 0; i < n; i++) {
        const struct fy_plan_group *g = &gs[i];
        fprintf(f, "%s\n    {\"layers\": ", i ? "," : "");
        if (g->first < 0)
            fprintf(f, "null");
        else
            fprintf(f, "\"%lld-%lld\"", L(g->first), L(g->last));
        fprintf(f, ", \"class\": ");
        jstr(f, g->cls);
        fprintf(f, ", \"type\": \"%s\", \"device\": \"%s\", \"copy\": %s, \"tensors\": %lld, "
                "\"bytes\": %llu}", fy_dtype_name(g->type), fy_device_name(g->dev),
                g->copy ? "true" : "false", L(g->count), U(g->bytes));
    }
    fprintf(f, "%s],\n", n ? "\n  " : "");
    free(gs);
    if (!every)
        return FY_OK;
    fprintf(f, "  \"tensors\": [");
    for (int64_t i = 0; i < p->n_tensors; i++) {
        const struct fy_place_tensor *t = &p->t[i];
        char ob[32];
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        jstr(f, t->t->name);
        fprintf(f, ", \"type\": \"%s\", \"bytes\": %llu, \"device\": \"%s\", \"by\": \"%s\", "
                "\"copy_device\": ", fy_dtype_name(t->t->type), U(t->t->size),
                fy_device_name(t->dev), fy_plan_origin(t->rule, ob, sizeof(ob)));
        if (t->dup)
            fprintf(f, "\"%s\"}", fy_device_name(t->dup_dev));
        else
            fprintf(f, "null}");
    }
    fprintf(f, "%s],\n", p->n_tensors ? "\n  " : "");
    return FY_OK;
}

static void json_layers(FILE *f, const struct fy_placement *p)
{
    fprintf(f, "  \"layers\": [");
    for (int64_t l = 0; l < p->dims.n_layer; l++) {
        const struct fy_place_layer *y = &p->layers[l];
        const char *ex = y->n_weights_gpu == 0              ? "CPU"
                         : y->n_weights_gpu == y->n_weights ? "GPU0"
                                                            : "split";
        fprintf(f, "%s\n    {\"layer\": %lld, \"experts\": \"%s\", \"bias_gpu\": %s, "
                "\"bias_cpu\": %s, \"dup_bytes\": %llu, \"offload_threshold\": ", l ? "," : "",
                L(l), ex, y->has_gpu_bias ? "true" : "false", y->has_cpu_bias ? "true" : "false",
                U(y->dup_bytes));
        jthreshold(f, y->threshold);
        fputc('}', f);
    }
    fprintf(f, "\n  ],\n");
}

static void json_memory(FILE *f, const struct fy_placement *p, const struct fy_plan *pl)
{
    fprintf(f, "  \"devices\": [");
    for (int dv = 0; dv < FY_DEV_COUNT; dv++) {
        const struct fy_plan_dev *x = &pl->dev[dv];
        fprintf(f, "%s\n    {\"device\": \"%s\", \"weights\": %llu, \"dup_bias\": %llu, "
                "\"kv_cache\": %llu, \"compute\": %llu, \"total\": %llu}", dv ? "," : "",
                fy_device_name((enum fy_device_id)dv), U(x->weights), U(x->dup_bias), U(x->kv),
                U(x->compute), U(x->total));
    }
    const struct fy_place_tensor *out = fy_placement_find(p, "output.weight");
    fprintf(f, "\n  ],\n  \"compute\": {\"activations\": %llu, \"logits\": %llu, "
            "\"logits_device\": \"%s\", \"staging\": %llu},\n", U(pl->act_bytes),
            U(pl->logits_bytes), fy_device_name(out ? out->dev : FY_DEV_CPU),
            U(pl->staging_bytes));
    fprintf(f, "  \"dup_bias\": {\"tensors\": %lld, \"bytes\": %llu},\n", L(p->n_dup),
            U(p->dup_bytes[FY_DEV_CPU] + p->dup_bytes[FY_DEV_GPU0]));
    fprintf(f, "  \"vram\": {\"limit\": ");
    if (pl->o.vram)
        fprintf(f, "%llu", U(pl->o.vram));
    else
        fprintf(f, "null");
    fprintf(f, ", \"need\": %llu, \"fits\": %s},\n", U(pl->dev[FY_DEV_GPU0].total),
            pl->fits < 0 ? "null" : pl->fits ? "true" : "false");
}

fy_status fy_plan_print_json(FILE *f, const struct fy_placement *p, const struct fy_plan *pl,
                             const char *model_path)
{
    FY_CHECK_ARG(f && p && pl);
    json_head(f, p, pl, model_path ? model_path : fy_gguf_path(p->g, 0));
    FY_TRY(json_tensors(f, p, pl->o.tensors));
    json_layers(f, p);
    json_memory(f, p, pl);
    fprintf(f, "  \"steps\": [");
    for (int64_t i = 0; i < pl->n_steps; i++) {
        const struct fy_plan_step *s = &pl->steps[i];
        fprintf(f, "%s\n    {\"n\": %lld, \"gpu_resident\": %lld, \"gpu_upload\": %lld, "
                "\"cpu\": %lld, \"upload_bytes\": %llu, \"upload_ms\": %.3f}", i ? "," : "",
                L(s->n), L(s->gpu_resident), L(s->gpu_upload), L(s->cpu), U(s->upload_bytes),
                s->upload_ms);
    }
    fprintf(f, "\n  ],\n");
    struct fy_numa_layout nl;
    if (pl->o.numa && pl->o.numa->mode != FY_NUMA_OFF &&
        fy_numa_layout_make(p, pl->o.numa, &nl) == FY_OK) {
        fprintf(f, "  \"numa\": ");
        fy_numa_layout_json(f, pl->o.numa, &nl, false);
        fprintf(f, ",\n");
    }
    fprintf(f, "  \"warnings\": [");
    for (int64_t i = 0; i < p->n_warnings; i++) {
        fprintf(f, "%s\n    ", i ? "," : "");
        jstr(f, p->warnings[i]);
    }
    fprintf(f, "%s]\n}\n", p->n_warnings ? "\n  " : "");
    return ferror(f) ? FY_E_IO : FY_OK;
}
