/* A placement: every tensor's device from the rules (placement.h for the order), the duplicated
 * expert biases, per-layer expert facts for the predicate, and per-device totals. */
#include "placement_priv.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const proj_names[FY_EXP_PROJ_COUNT] = {
    "ffn_gate_exps.", "ffn_up_exps.", "ffn_down_exps.", "ffn_gate_up_exps.",
};

/* A dimension in 1..max (the loader's limits, src/model/model.c: a crafted file must not make
 * placement allocate or loop over billions of layers). */
static fy_status dim_u32(const struct fy_gguf *g, const char *arch, const char *key, int64_t max,
                         int64_t *out)
{
    char full[128];
    uint32_t v = 0;
    snprintf(full, sizeof(full), "%s.%s", arch, key);
    fy_status st = fy_gguf_get_u32(g, full, &v);
    if (st == FY_OK && (v == 0 || v > max))
        st = FY_E_FORMAT;
    if (st == FY_E_INVAL) {
        fy_log(FY_LOG_ERR, "%s: metadata key %s is missing", fy_gguf_path(g, 0), full);
        return FY_E_FORMAT;
    }
    if (st != FY_OK) {
        fy_log(FY_LOG_ERR, "%s: metadata key %s is not an integer in 1..%lld", fy_gguf_path(g, 0),
               full, (long long)max);
        return FY_E_FORMAT;
    }
    *out = v;
    return FY_OK;
}

fy_status fy_place_dims_from_gguf(const struct fy_gguf *g, struct fy_place_dims *out)
{
    char arch[64];
    FY_CHECK_ARG(g && out);
    if (fy_gguf_get_str(g, "general.architecture", arch, sizeof(arch)) != FY_OK) {
        fy_log(FY_LOG_ERR, "%s: no general.architecture", fy_gguf_path(g, 0));
        return FY_E_FORMAT;
    }
    struct fy_place_dims d;
    FY_TRY(dim_u32(g, arch, "block_count", 4096, &d.n_layer));
    FY_TRY(dim_u32(g, arch, "expert_count", 65536, &d.n_expert));
    FY_TRY(dim_u32(g, arch, "expert_used_count", d.n_expert, &d.n_expert_used));
    FY_TRY(dim_u32(g, arch, "embedding_length", 1 << 20, &d.d_model));
    FY_TRY(dim_u32(g, arch, "expert_feed_forward_length", 1 << 22, &d.n_ff));
    char key[128];
    d.n_swa = 128; /* the loader's default when the key is absent (src/model/model.c) */
    snprintf(key, sizeof(key), "%s.attention.sliding_window", arch);
    if (fy_gguf_find_kv(g, key))
        FY_TRY(dim_u32(g, arch, "attention.sliding_window", INT32_MAX, &d.n_swa));
    *out = d;
    return FY_OK;
}

int32_t fy_place_layer_window(const struct fy_place_dims *d, int64_t l)
{
    return l % 2 == 0 ? (int32_t)d->n_swa : 0;
}

int64_t fy_place_kv_slots(int32_t window, int64_t n_ctx, int64_t n_ubatch, bool swa_full)
{
    if (window <= 0 || swa_full)
        return n_ctx;
    const int64_t ub = n_ubatch < n_ctx ? n_ubatch : n_ctx;
    const int64_t ring = ((int64_t)window + ub + 31) / 32 * 32;
    return ring < n_ctx ? ring : n_ctx;
}

/* Kind, layer and expert projection of a tensor name; *rest: the name after "blk.N." (or all). */
static void classify(const char *name, enum fy_place_kind *kind, int64_t *layer, int *proj,
                     const char **rest)
{
    *layer = -1;
    *proj = -1;
    *rest = name;
    if (!strncmp(name, "blk.", 4) && name[4] >= '0' && name[4] <= '9') {
        const char *p = name + 4;
        int64_t l = 0;
        while (*p >= '0' && *p <= '9' && l < INT32_MAX)
            l = 10 * l + (*p++ - '0');
        if (*p == '.') {
            *layer = l;
            *kind = FY_PK_LAYER;
            *rest = ++p;
            for (int k = 0; k < FY_EXP_PROJ_COUNT; k++) {
                size_t n = strlen(proj_names[k]);
                if (strncmp(p, proj_names[k], n))
                    continue;
                if (!strcmp(p + n, "weight") || !strcmp(p + n, "bias")) {
                    *kind = p[n] == 'w' ? FY_PK_EXP_WEIGHT : FY_PK_EXP_BIAS;
                    *proj = k;
                }
            }
            return;
        }
    }
    *kind = !strncmp(name, "token_embd.", 11) ? FY_PK_INPUT : FY_PK_OUTPUT;
}

/* The -ngl default (rule c of placement.h). */
static enum fy_device_id ngl_device(const struct fy_placement *p, enum fy_place_kind kind,
                                    int64_t layer)
{
    const int64_t L = p->dims.n_layer;
    switch (kind) {
    case FY_PK_INPUT: return FY_DEV_CPU;
    case FY_PK_OUTPUT: return p->ngl > L ? FY_DEV_GPU0 : FY_DEV_CPU;
    default: return layer >= L - p->ngl ? FY_DEV_GPU0 : FY_DEV_CPU;
    }
}

static void warn(struct fy_placement *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warn(struct fy_placement *p, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fy_log(FY_LOG_WARN, "%s", buf);
    char **w = realloc(p->warnings, (size_t)(p->n_warnings + 1) * sizeof(*w));
    if (!w)
        return;
    p->warnings = w;
    if ((w[p->n_warnings] = strdup(buf)))
        p->n_warnings++;
}

/* Device of tensor i by the rules; counts rule matches. */
static fy_status place_one(struct fy_placement *p, const struct fy_place_rules *r,
                           pcre2_match_data *md, int64_t i)
{
    struct fy_place_tensor *pt = &p->t[i];
    pt->rule = FY_PLACE_BY_NGL;
    for (int64_t j = 0; j < r->n_ot; j++) {
        int m = fy_place_ot_match(&r->ot[j], pt->t->name, md);
        if (m < 0) {
            fy_log(FY_LOG_ERR, "flag -ot: matching pattern \"%s\" against %s failed",
                   r->ot[j].pattern, pt->t->name);
            return FY_E_INVAL;
        }
        if (!m)
            continue;
        p->rules[j].matched++;
        if (pt->rule == FY_PLACE_BY_NGL) {
            pt->rule = (int)j;
            pt->dev = r->ot[j].dev;
            p->rules[j].won++;
        }
    }
    if (pt->rule != FY_PLACE_BY_NGL)
        return FY_OK;
    if (pt->kind == FY_PK_EXP_WEIGHT && pt->layer < p->n_cpu_moe) {
        pt->rule = FY_PLACE_BY_CPU_MOE;
        pt->dev = FY_DEV_CPU;
        return FY_OK;
    }
    pt->dev = ngl_device(p, pt->kind, pt->layer);
    return FY_OK;
}

/* Bias duplication and the per-layer expert facts. */
static fy_status layer_facts(struct fy_placement *p, int64_t l)
{
    struct fy_place_layer *L = &p->layers[l];
    L->has_gpu_bias = L->has_cpu_bias = true;
    for (int k = 0; k < FY_EXP_PROJ_COUNT; k++) {
        struct fy_place_tensor *w = L->weight[k] >= 0 ? &p->t[L->weight[k]] : NULL;
        struct fy_place_tensor *b = L->bias[k] >= 0 ? &p->t[L->bias[k]] : NULL;
        if (w) {
            if (w->t->n_dims < 3 || w->t->ne[2] != p->dims.n_expert) {
                fy_log(FY_LOG_ERR, "%s: %lld experts (ne[2]), metadata says %lld", w->t->name,
                       (long long)(w->t->n_dims < 3 ? 1 : w->t->ne[2]),
                       (long long)p->dims.n_expert);
                return FY_E_FORMAT;
            }
            size_t one = w->t->size / (size_t)p->dims.n_expert;
            L->n_weights++;
            L->expert_bytes += one;
            if (w->dev == FY_DEV_GPU0)
                L->n_weights_gpu++;
            else
                L->cpu_expert_bytes += one;
        }
        if (!b)
            continue;
        if (w && w->dev != b->dev) {
            b->dup = true;
            b->dup_dev = w->dev;
            L->dup_bytes += b->t->size;
            p->dup_bytes[w->dev] += b->t->size;
            p->n_dup++;
        }
        bool on_gpu = b->dev == FY_DEV_GPU0 || (b->dup && b->dup_dev == FY_DEV_GPU0);
        bool on_cpu = b->dev == FY_DEV_CPU || (b->dup && b->dup_dev == FY_DEV_CPU);
        L->has_gpu_bias &= on_gpu;
        L->has_cpu_bias &= on_cpu;
        L->bias_bytes += b->t->size;
        if (!on_gpu)
            L->bias_upload_bytes += b->t->size;
    }
    if (L->n_weights == 0) {
        L->threshold = INT64_MAX;
    } else if (L->n_weights_gpu > 0) {
        L->threshold = 1; /* GPU-resident (or split): always on GPU0 */
        if (L->n_weights_gpu < L->n_weights) {
            char devs[160] = "";
            for (int k = 0; k < FY_EXP_PROJ_COUNT; k++) {
                if (L->weight[k] < 0)
                    continue;
                size_t n = strlen(devs);
                snprintf(devs + n, sizeof(devs) - n, "%s%.*s %s", n ? ", " : "",
                         (int)strlen(proj_names[k]) - 1, proj_names[k],
                         fy_device_name(p->t[L->weight[k]].dev));
            }
            warn(p, "blk.%lld: expert weights split across devices (%s): the layer runs on GPU0 "
                 "and uploads the experts of its CPU-resident weights at every micro-batch",
                 (long long)l, devs);
        }
    } else {
        L->threshold = p->threshold_set
                           ? p->threshold
                           : fy_place_cost_threshold(&p->dims, L->cpu_expert_bytes,
                                                     L->bias_upload_bytes, p->link_gbps,
                                                     p->cpu_gflops);
    }
    return FY_OK;
}

fy_status fy_placement_new(const struct fy_place_rules *r, const struct fy_gguf *g,
                           const struct fy_place_dims *dims, struct fy_placement **out)
{
    struct fy_placement *p = NULL;
    pcre2_match_data *md = NULL;
    fy_status st = FY_E_NOMEM;

    FY_CHECK_ARG(r && g && dims && out);
    FY_CHECK_ARG(dims->n_layer > 0 && dims->n_expert > 0 && dims->n_expert_used > 0 &&
                 dims->n_expert_used <= dims->n_expert && dims->d_model > 0 && dims->n_ff > 0);
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        goto fail;
    p->dims = *dims;
    p->g = g;
    p->ngl = r->ngl;
    p->n_cpu_moe = r->n_cpu_moe < dims->n_layer ? r->n_cpu_moe : dims->n_layer;
    p->no_offload = r->no_offload;
    p->threshold_set = r->threshold > 0;
    p->link_gbps = r->link_gbps;
    p->cpu_gflops = r->cpu_gflops;
    p->n_tensors = fy_gguf_n_tensors(g);
    p->t = calloc((size_t)(p->n_tensors ? p->n_tensors : 1), sizeof(*p->t));
    p->layers = calloc((size_t)dims->n_layer, sizeof(*p->layers));
    p->n_rules = r->n_ot;
    p->rules = calloc((size_t)(r->n_ot ? r->n_ot : 1), sizeof(*p->rules));
    md = pcre2_match_data_create(1, NULL);
    if (!p->t || !p->layers || !p->rules || !md)
        goto fail;
    for (int64_t j = 0; j < r->n_ot; j++) {
        p->rules[j].dev = r->ot[j].dev;
        p->rules[j].pattern = strdup(r->ot[j].pattern);
        p->rules[j].text = strdup(r->ot[j].text);
        if (!p->rules[j].pattern || !p->rules[j].text)
            goto fail;
    }
    for (int64_t l = 0; l < dims->n_layer; l++) {
        for (int k = 0; k < FY_EXP_PROJ_COUNT; k++)
            p->layers[l].weight[k] = p->layers[l].bias[k] = -1;
        p->layers[l].kv_dev = ngl_device(p, FY_PK_LAYER, l);
    }
    /* The threshold of an all-CPU layer whose biases have GPU copies: the figure to report. */
    size_t full_expert = 0;

    for (int64_t i = 0; i < p->n_tensors; i++) {
        struct fy_place_tensor *pt = &p->t[i];
        pt->t = fy_gguf_tensor_at(g, i);
        const char *rest = NULL;
        classify(pt->t->name, &pt->kind, &pt->layer, &pt->proj, &rest);
        if (pt->layer >= dims->n_layer) {
            fy_log(FY_LOG_ERR, "%s: tensor %s: layer %lld but block_count is %lld",
                   fy_gguf_path(g, 0), pt->t->name, (long long)pt->layer,
                   (long long)dims->n_layer);
            st = FY_E_FORMAT;
            goto fail;
        }
        if ((st = place_one(p, r, md, i)) != FY_OK)
            goto fail;
        p->weight_bytes[pt->dev] += pt->t->size;
        p->file_tensor_bytes += pt->t->size;
        if (pt->layer < 0)
            continue;
        struct fy_place_layer *L = &p->layers[pt->layer];
        if (pt->kind == FY_PK_EXP_WEIGHT) {
            L->weight[pt->proj] = i;
            if (pt->layer == 0)
                full_expert += pt->t->size / (size_t)dims->n_expert;
        } else if (pt->kind == FY_PK_EXP_BIAS) {
            L->bias[pt->proj] = i;
        } else if (!strcmp(rest, "attn_k.weight")) {
            L->kv_dev = pt->dev;
        }
    }
    if (r->kv_cpu)
        for (int64_t l = 0; l < dims->n_layer; l++)
            p->layers[l].kv_dev = FY_DEV_CPU;
    p->threshold = p->threshold_set ? r->threshold
                                    : fy_place_cost_threshold(dims, full_expert, 0, p->link_gbps,
                                                              p->cpu_gflops);
    for (int64_t l = 0; l < dims->n_layer; l++)
        if ((st = layer_facts(p, l)) != FY_OK)
            goto fail;
    for (int64_t j = 0; j < p->n_rules; j++) {
        const struct fy_place_rule_stat *s = &p->rules[j];
        if (s->matched == 0)
            warn(p, "flag -ot: rule %lld \"%s\" matches no tensor", (long long)j + 1, s->text);
        else if (s->won == 0)
            warn(p, "flag -ot: rule %lld \"%s\" matches %lld tensors, all placed by earlier "
                 "rules", (long long)j + 1, s->text, (long long)s->matched);
    }
    pcre2_match_data_free(md);
    *out = p;
    return FY_OK;
fail:
    pcre2_match_data_free(md);
    fy_placement_free(p);
    return st;
}

void fy_placement_free(struct fy_placement *p)
{
    if (!p)
        return;
    for (int64_t j = 0; p->rules && j < p->n_rules; j++) {
        free(p->rules[j].pattern);
        free(p->rules[j].text);
    }
    for (int64_t i = 0; i < p->n_warnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    free(p->rules);
    free(p->layers);
    free(p->t);
    free(p);
}

const struct fy_place_tensor *fy_placement_find(const struct fy_placement *p, const char *name)
{
    if (!p || !name)
        return NULL;
    const struct fy_gguf_tensor *t = fy_gguf_find_tensor(p->g, name);
    if (!t)
        return NULL;
    const ptrdiff_t i0 = t - fy_gguf_tensor_at(p->g, 0); /* the reader keeps one array */
    if (i0 >= 0 && i0 < p->n_tensors && p->t[i0].t == t)
        return &p->t[i0];
    for (int64_t i = 0; i < p->n_tensors; i++)
        if (p->t[i].t == t)
            return &p->t[i];
    return NULL;
}
