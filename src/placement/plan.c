/* The plan report's numbers: per-device totals, KV cache, compute buffers, VRAM fit, and which
 * path the MoE layers take at each micro-batch size.
 *
 * Formulas (ub = the micro-batch, clipped to -c as a session does; all activations F32):
 *  - KV cache: 2 (K and V) x slots x row bytes per layer (kv_width x element size; Q8_0:
 *    kv_width/32 blocks of 34 B, kv_width a multiple of 32), on the device of the layer's
 *    attn_k.weight; slots = fy_place_kv_slots, as the session allocates: n_ctx for
 *    full-attention layers (and every layer with --swa-full), a ring of window + ub rounded up
 *    to 32 for the sliding-window layers.
 *  - activations, on every device that runs layers (the CPU always; GPU0 when it holds weights or
 *    runs offloaded experts): ub x 4 B x (4 d [x, h, attention out, moe out] + 2 q_width [q,
 *    attention] + 2 kv_width [k, v] + E [router logits] + 2 k [ids, weights] + 3 k ff [gate, up
 *    and swiglu of each selected expert]).
 *  - logits: ub x n_vocab x 4 B (every row, as `ferry logits` keeps), on output.weight's device.
 *  - upload staging, on GPU0 when some layer uploads experts at n = ub: 2 slots (one layer
 *    uploads while the previous computes, hybrid.md §11.5) x the largest worst-case upload of a
 *    layer at ub (min(E, ub k) experts plus the biases without a GPU copy). */
#include "placement_priv.h"

#include <stdlib.h>
#include <string.h>

void fy_plan_opts_default(struct fy_plan_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->n_ctx = 4096;
    o->n_ubatch = 512;
    o->kv_type = FY_F16;
}

static int64_t ne1_of(const struct fy_placement *p, const char *name)
{
    const struct fy_place_tensor *t = fy_placement_find(p, name);
    return t ? t->t->ne[1] : 0;
}

static const int64_t step_sizes[] = {1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096};

static void plan_step(const struct fy_placement *p, int64_t n, struct fy_plan_step *s)
{
    memset(s, 0, sizeof(*s));
    s->n = n;
    for (int64_t l = 0; l < p->dims.n_layer; l++) {
        struct fy_expert_path e;
        if (fy_place_experts(p, (int)l, n, &e) != FY_OK)
            continue; /* no expert weights in this layer */
        if (e.dev == FY_DEV_CPU)
            s->cpu++;
        else if (e.upload)
            s->gpu_upload++;
        else
            s->gpu_resident++;
        s->upload_bytes += e.upload_bytes;
    }
    s->upload_ms = (double)s->upload_bytes / (p->link_gbps * 1e9) * 1e3;
}

fy_status fy_plan_make(const struct fy_placement *p, const struct fy_plan_opts *o,
                       struct fy_plan *out)
{
    FY_CHECK_ARG(p && o && out && o->n_ctx > 0 && o->n_ubatch > 0);
    FY_CHECK_ARG(o->kv_type == FY_F16 || o->kv_type == FY_F32 || o->kv_type == FY_Q8_0);
    memset(out, 0, sizeof(*out));
    out->o = *o;
    if (out->o.n_ubatch > out->o.n_ctx)
        out->o.n_ubatch = out->o.n_ctx;
    const int64_t ub = out->o.n_ubatch;
    const struct fy_place_dims *d = &p->dims;
    const struct fy_place_tensor *output = fy_placement_find(p, "output.weight");

    out->n_vocab = output ? output->t->ne[1] : ne1_of(p, "token_embd.weight");
    out->q_width = ne1_of(p, "blk.0.attn_q.weight");
    out->kv_width = ne1_of(p, "blk.0.attn_k.weight");
    if (!out->n_vocab || !out->q_width || !out->kv_width) {
        fy_log(FY_LOG_ERR, "%s: plan: no output/token_embd, blk.0.attn_q or blk.0.attn_k tensor",
               fy_gguf_path(p->g, 0));
        return FY_E_FORMAT;
    }
    for (int dv = 0; dv < FY_DEV_COUNT; dv++) {
        out->dev[dv].weights = p->weight_bytes[dv];
        out->dev[dv].dup_bias = p->dup_bytes[dv];
    }
    if (out->kv_width % fy_dtype_block_elems(out->o.kv_type) != 0) {
        fy_log(FY_LOG_ERR, "%s: plan: a %s KV cache needs a row width (n_head_kv * head_dim = "
               "%lld) that is a multiple of %lld", fy_gguf_path(p->g, 0),
               fy_dtype_name(out->o.kv_type), (long long)out->kv_width,
               (long long)fy_dtype_block_elems(out->o.kv_type));
        return FY_E_UNSUPPORTED;
    }
    /* a row of width w: w elements, or w/32 blocks of 34 bytes for Q8_0 */
    const uint64_t kv_row = fy_dtype_row_bytes(out->o.kv_type, out->kv_width);
    for (int64_t l = 0; l < d->n_layer; l++) {
        const int64_t slots = fy_place_kv_slots(fy_place_layer_window(d, l), out->o.n_ctx, ub,
                                                out->o.swa_full);
        out->dev[p->layers[l].kv_dev].kv += 2 * (uint64_t)slots * kv_row;
    }

    out->act_bytes = (uint64_t)ub * 4 *
                     (uint64_t)(4 * d->d_model + 2 * out->q_width + 2 * out->kv_width +
                                d->n_expert + 2 * d->n_expert_used +
                                3 * d->n_expert_used * d->n_ff);
    out->logits_bytes = (uint64_t)ub * (uint64_t)out->n_vocab * 4;
    uint64_t slot = 0;
    for (int64_t l = 0; l < d->n_layer; l++) {
        struct fy_expert_path e;
        if (fy_place_experts(p, (int)l, ub, &e) == FY_OK && e.upload && e.upload_bytes_max > slot)
            slot = e.upload_bytes_max;
    }
    out->staging_bytes = 2 * slot;
    const bool gpu_runs = p->weight_bytes[FY_DEV_GPU0] > 0 || slot > 0;
    out->dev[FY_DEV_CPU].compute = out->act_bytes;
    if (gpu_runs)
        out->dev[FY_DEV_GPU0].compute = out->act_bytes + out->staging_bytes;
    out->dev[output ? output->dev : FY_DEV_CPU].compute += out->logits_bytes;
    for (int dv = 0; dv < FY_DEV_COUNT; dv++) {
        struct fy_plan_dev *x = &out->dev[dv];
        x->total = x->weights + x->dup_bias + x->kv + x->compute;
    }
    out->fits = o->vram ? out->dev[FY_DEV_GPU0].total <= o->vram : -1;

    for (size_t i = 0; i < FY_ARRAY_LEN(step_sizes) && step_sizes[i] <= ub; i++)
        plan_step(p, step_sizes[i], &out->steps[out->n_steps++]);
    if (out->n_steps == 0 || out->steps[out->n_steps - 1].n != ub)
        plan_step(p, ub, &out->steps[out->n_steps++]);
    return FY_OK;
}

/* ---- tensor groups ---- */

static const struct {
    const char *kind;
    const char *cls;
} classes[] = {
    {"attn_norm.weight", "*_norm.weight"},       {"post_attention_norm.weight", "*_norm.weight"},
    {"attn_q.weight", "attn_*.weight"},          {"attn_k.weight", "attn_*.weight"},
    {"attn_v.weight", "attn_*.weight"},          {"attn_output.weight", "attn_*.weight"},
    {"attn_q.bias", "attn_*.bias"},              {"attn_k.bias", "attn_*.bias"},
    {"attn_v.bias", "attn_*.bias"},              {"attn_output.bias", "attn_*.bias"},
    {"ffn_gate_inp.weight", "ffn_gate_inp.*"},   {"ffn_gate_inp.bias", "ffn_gate_inp.*"},
    {"ffn_gate_exps.weight", "ffn_*_exps.weight"}, {"ffn_up_exps.weight", "ffn_*_exps.weight"},
    {"ffn_down_exps.weight", "ffn_*_exps.weight"},
    {"ffn_gate_up_exps.weight", "ffn_*_exps.weight"},
    {"ffn_gate_exps.bias", "ffn_*_exps.bias"},   {"ffn_up_exps.bias", "ffn_*_exps.bias"},
    {"ffn_down_exps.bias", "ffn_*_exps.bias"},   {"ffn_gate_up_exps.bias", "ffn_*_exps.bias"},
};

static void class_of(const struct fy_place_tensor *t, char *cls, size_t cap)
{
    const char *name = t->t->name;
    if (t->layer >= 0) {
        const char *rest = strchr(name + 4, '.') + 1;
        for (size_t i = 0; i < FY_ARRAY_LEN(classes); i++) {
            if (!strcmp(rest, classes[i].kind)) {
                snprintf(cls, cap, "%s", classes[i].cls);
                return;
            }
        }
        name = rest;
    }
    snprintf(cls, cap, "%s", name);
}

static int group_cmp(const void *a, const void *b)
{
    const struct fy_plan_group *x = a, *y = b;
#define CMP(f)                                                                                     \
    if (x->f != y->f)                                                                              \
        return x->f < y->f ? -1 : 1;
    CMP(order)
    CMP(first)
    CMP(copy)
    CMP(dev)
    CMP(type)
#undef CMP
    return 0;
}

/* Adds one tensor (or one bias copy) to the rows. */
static fy_status group_add(struct fy_plan_group **gs, int64_t *n, int64_t *cap, int64_t *n_cls,
                           const struct fy_place_tensor *t, enum fy_device_id dev, bool copy)
{
    char cls[96];
    class_of(t, cls, sizeof(cls));
    int64_t order = -1;
    for (int64_t i = *n - 1; i >= 0; i--) {
        struct fy_plan_group *g = &(*gs)[i];
        if (strcmp(g->cls, cls))
            continue;
        order = g->order;
        if (g->type == t->t->type && g->dev == dev && g->copy == copy && t->layer >= 0 &&
            (g->last == t->layer || g->last + 1 == t->layer)) {
            g->last = t->layer;
            g->count++;
            g->bytes += t->t->size;
            return FY_OK;
        }
    }
    if (*n == *cap) {
        int64_t c = *cap ? 2 * *cap : 64;
        struct fy_plan_group *q = realloc(*gs, (size_t)c * sizeof(*q));
        if (!q)
            return FY_E_NOMEM;
        *gs = q;
        *cap = c;
    }
    struct fy_plan_group *g = &(*gs)[(*n)++];
    memset(g, 0, sizeof(*g));
    snprintf(g->cls, sizeof(g->cls), "%s", cls);
    g->first = g->last = t->layer;
    g->type = t->t->type;
    g->dev = dev;
    g->copy = copy;
    g->count = 1;
    g->bytes = t->t->size;
    g->order = order >= 0 ? order : (*n_cls)++;
    return FY_OK;
}

fy_status fy_plan_groups(const struct fy_placement *p, struct fy_plan_group **out, int64_t *n)
{
    struct fy_plan_group *gs = NULL;
    int64_t cnt = 0, cap = 0, n_cls = 0;
    FY_CHECK_ARG(p && out && n);
    *out = NULL;
    *n = 0;
    for (int64_t i = 0; i < p->n_tensors; i++) {
        const struct fy_place_tensor *t = &p->t[i];
        fy_status st = group_add(&gs, &cnt, &cap, &n_cls, t, t->dev, false);
        if (st == FY_OK && t->dup)
            st = group_add(&gs, &cnt, &cap, &n_cls, t, t->dup_dev, true);
        if (st != FY_OK) {
            free(gs);
            return st;
        }
    }
    if (cnt)
        qsort(gs, (size_t)cnt, sizeof(*gs), group_cmp);
    *out = gs;
    *n = cnt;
    return FY_OK;
}

const char *fy_plan_origin(int rule, char *buf, size_t cap)
{
    if (rule == FY_PLACE_BY_NGL)
        return "-ngl";
    if (rule == FY_PLACE_BY_CPU_MOE)
        return "--n-cpu-moe";
    snprintf(buf, cap, "-ot rule %d", rule + 1);
    return buf;
}
