/* Synthetic gpt-oss GGUFs, the shape: presets, the config check, general.file_type and the
 * tensor plan (names, shapes, types, offsets and weight scales; see synth.h). */
#include "synth_priv.h"

#include "text/vocab_o200k.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SY_SWIGLU_LIMIT 7.0f
#define SY_SWIGLU_ALPHA 1.702f

/* ---- configuration ---- */

fy_status fy_synth_preset(const char *name, struct fy_synth_config *c)
{
    FY_CHECK_ARG(name && c);
    memset(c, 0, sizeof(*c));
    c->n_head = 64;
    c->n_head_kv = 8;
    c->head_dim = 64;
    c->n_expert_used = 4;
    c->n_vocab = FY_O200K_N_VOCAB;
    c->context_length = 131072;
    c->sliding_window = 128;
    c->dense_type = FY_Q8_0;
    c->expert_type = FY_MXFP4;
    c->qk_scale = 1.0f;
    c->ffn_scale = 1.0f;
    if (!strcmp(name, "20b")) {
        c->n_layer = 24;
        c->d_model = 2880;
        c->n_expert = 32;
        c->n_ff_exp = 2880;
    } else if (!strcmp(name, "120b")) {
        c->n_layer = 36;
        c->d_model = 2880;
        c->n_expert = 128;
        c->n_ff_exp = 2880;
    } else if (!strcmp(name, "tiny")) {
        c->n_layer = 4;
        c->d_model = 256;
        c->n_head = 8;
        c->n_head_kv = 2;
        c->n_expert = 8;
        c->n_ff_exp = 256;
    } else {
        fy_log(FY_LOG_ERR, "unknown synth preset \"%s\" (tiny, 20b, 120b)", name);
        return FY_E_INVAL;
    }
    return FY_OK;
}

#define SY_FAIL(...)                                                                               \
    do {                                                                                           \
        fy_log(FY_LOG_ERR, __VA_ARGS__);                                                           \
        return FY_E_INVAL;                                                                         \
    } while (0)

fy_status fy_synth_check(const struct fy_synth_config *c)
{
    FY_CHECK_ARG(c);
    const int64_t big = (int64_t)1 << 20;
    if (c->n_layer < 1 || c->n_layer > 4096)
        SY_FAIL("synth: n_layer %lld must be in [1, 4096]", (long long)c->n_layer);
    if (c->d_model < 32 || c->d_model > big || c->d_model % 32)
        SY_FAIL("synth: d_model %lld must be a positive multiple of 32 (Q8_0/MXFP4 blocks)",
                (long long)c->d_model);
    if (c->n_head < 1 || c->n_head > 4096)
        SY_FAIL("synth: n_head %lld must be in [1, 4096]", (long long)c->n_head);
    if (c->n_head_kv < 1 || c->n_head % c->n_head_kv)
        SY_FAIL("synth: n_head_kv %lld must divide n_head %lld", (long long)c->n_head_kv,
                (long long)c->n_head);
    if (c->head_dim < 2 || c->head_dim > 4096 || c->head_dim % 2)
        SY_FAIL("synth: head_dim %lld must be even and in [2, 4096] (NEOX RoPE pairs)",
                (long long)c->head_dim);
    if (c->n_expert < 1 || c->n_expert > 4096)
        SY_FAIL("synth: n_expert %lld must be in [1, 4096]", (long long)c->n_expert);
    if (c->n_expert_used < 1 || c->n_expert_used > c->n_expert)
        SY_FAIL("synth: n_expert_used %lld must be in [1, n_expert = %lld]",
                (long long)c->n_expert_used, (long long)c->n_expert);
    if (c->n_ff_exp < 32 || c->n_ff_exp > big || c->n_ff_exp % 32)
        SY_FAIL("synth: n_ff_exp %lld must be a positive multiple of 32 (MXFP4 blocks)",
                (long long)c->n_ff_exp);
    if (c->dense_type != FY_Q8_0 && c->dense_type != FY_BF16 && c->dense_type != FY_F16 &&
        c->dense_type != FY_F32)
        SY_FAIL("synth: dense type %s not supported (Q8_0, BF16, F16, F32)",
                fy_dtype_name(c->dense_type));
    if (c->expert_type != FY_MXFP4 && c->expert_type != FY_BF16 && c->expert_type != FY_F32)
        SY_FAIL("synth: expert type %s not supported (MXFP4, BF16, F32)",
                fy_dtype_name(c->expert_type));
    if (c->dense_type == FY_Q8_0 && (c->n_head * c->head_dim) % 32)
        SY_FAIL("synth: n_head * head_dim = %lld must be a multiple of 32 for Q8_0 attn_output",
                (long long)(c->n_head * c->head_dim));
    int64_t min_vocab =
        c->toy_vocab ? 256 + FY_O200K_N_SPECIAL : FY_O200K_N_BASE + FY_O200K_N_SPECIAL;
    if (c->n_vocab < min_vocab || c->n_vocab > INT32_MAX)
        SY_FAIL("synth: n_vocab %lld must be at least %lld (%s)", (long long)c->n_vocab,
                (long long)min_vocab,
                c->toy_vocab ? "256 bytes + 21 specials" : "199998 o200k tokens + 21 specials");
    if (c->context_length < 1)
        SY_FAIL("synth: context_length must be positive");
    if (c->sliding_window < 1)
        SY_FAIL("synth: sliding_window must be positive");
    if (!(c->qk_scale > 0 && c->qk_scale < 1e3f))
        SY_FAIL("synth: qk_scale %g must be in (0, 1000)", (double)c->qk_scale);
    if (!(c->ffn_scale > 0 && c->ffn_scale < 1e3f))
        SY_FAIL("synth: ffn_scale %g must be in (0, 1000)", (double)c->ffn_scale);
    return FY_OK;
}

uint32_t fy_synth_file_type(const struct fy_synth_config *c)
{
    if (c->dense_type == FY_Q8_0 && c->expert_type == FY_MXFP4)
        return 38;
    switch (c->dense_type) {
    case FY_Q8_0:
        return 7;
    case FY_BF16:
        return 32;
    case FY_F16:
        return 1;
    default:
        return 0;
    }
}

/* ---- the tensor plan ---- */

/* rms of a = min(g,7) * sigmoid(1.702 min(g,7)) * (clamp(u,-7,7) + 1) for g, u ~ N(0, s^2):
 * a fixed Monte Carlo (deterministic, independent of the seed). */
static double swiglu_rms(double sg, double su)
{
    struct sy_rng r;
    fy_synth_rng_seed(&r, 0x5eed, "swiglu");
    double acc = 0;
    const int n = 1 << 17;
    for (int i = 0; i < n; i++) {
        double g = sg * fy_synth_rng_normal(&r), u = su * fy_synth_rng_normal(&r);
        if (g > SY_SWIGLU_LIMIT)
            g = SY_SWIGLU_LIMIT;
        u = u > SY_SWIGLU_LIMIT ? SY_SWIGLU_LIMIT : u < -SY_SWIGLU_LIMIT ? -SY_SWIGLU_LIMIT : u;
        double a = g / (1.0 + exp(-SY_SWIGLU_ALPHA * g)) * (u + 1.0);
        acc += a * a;
    }
    return sqrt(acc / n);
}

struct sy_plan_builder {
    struct fy_synth_plan *p;
    int64_t cap;
    fy_status st;
};

static void add_tensor(struct sy_plan_builder *b, enum fy_dtype type, float mean, float std,
                       int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

static void add_tensor(struct sy_plan_builder *b, enum fy_dtype type, float mean, float std,
                       int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, const char *fmt, ...)
{
    if (b->st != FY_OK)
        return;
    struct fy_synth_plan *p = b->p;
    if (p->n_tensors == b->cap) {
        int64_t cap = b->cap ? 2 * b->cap : 256;
        struct fy_synth_tensor *t = realloc(p->t, (size_t)cap * sizeof(*t));
        if (!t) {
            b->st = FY_E_NOMEM;
            return;
        }
        p->t = t;
        b->cap = cap;
    }
    struct fy_synth_tensor *t = &p->t[p->n_tensors++];
    memset(t, 0, sizeof(*t));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    t->type = type;
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->ne[2] = n_dims > 2 ? ne2 : 1;
    t->ne[3] = 1;
    t->size = (uint64_t)fy_dtype_row_bytes(type, ne0) * (uint64_t)t->ne[1] * (uint64_t)t->ne[2];
    t->offset = p->data_bytes;
    t->mean = mean;
    t->std = std;
    p->data_bytes += (t->size + 31) / 32 * 32;
}

fy_status fy_synth_plan_make(const struct fy_synth_config *c, struct fy_synth_plan **out)
{
    FY_CHECK_ARG(c && out);
    *out = NULL;
    FY_TRY(fy_synth_check(c));
    struct sy_plan_builder b = {calloc(1, sizeof(struct fy_synth_plan)), 0, FY_OK};
    if (!b.p)
        return FY_E_NOMEM;

    const int64_t d = c->d_model, F = c->n_ff_exp, E = c->n_expert, V = c->n_vocab;
    const int64_t q_w = c->n_head * c->head_dim, kv_w = c->n_head_kv * c->head_dim;
    const enum fy_dtype dt = c->dense_type, et = c->expert_type;
    const float isd = 1.0f / sqrtf((float)d);
    const float qk = (c->mild ? 0.3f : 1.0f) * c->qk_scale;
    const float gu = (c->mild ? 0.8f : 3.5f) * c->ffn_scale;
    const float qkv_bias = c->mild ? 0.05f : 0.2f;
    const float gu_bias = c->mild ? 0.1f : 1.0f;
    const double pre = sqrt((double)gu * gu + (double)gu_bias * gu_bias);
    const float down = (float)(1.0 / (sqrt((double)F) * swiglu_rms(pre, pre)));

    add_tensor(&b, dt, 0, 1.0f, 2, d, V, 1, "token_embd.weight");
    for (int64_t l = 0; l < c->n_layer; l++) {
        add_tensor(&b, FY_F32, 1, 0.1f, 1, d, 1, 1, "blk.%lld.attn_norm.weight", (long long)l);
        add_tensor(&b, dt, 0, qk * isd, 2, d, q_w, 1, "blk.%lld.attn_q.weight", (long long)l);
        add_tensor(&b, FY_F32, 0, qkv_bias, 1, q_w, 1, 1, "blk.%lld.attn_q.bias", (long long)l);
        add_tensor(&b, dt, 0, qk * isd, 2, d, kv_w, 1, "blk.%lld.attn_k.weight", (long long)l);
        add_tensor(&b, FY_F32, 0, qkv_bias, 1, kv_w, 1, 1, "blk.%lld.attn_k.bias", (long long)l);
        add_tensor(&b, dt, 0, isd, 2, d, kv_w, 1, "blk.%lld.attn_v.weight", (long long)l);
        add_tensor(&b, FY_F32, 0, qkv_bias, 1, kv_w, 1, 1, "blk.%lld.attn_v.bias", (long long)l);
        add_tensor(&b, dt, 0, 1.0f / sqrtf((float)q_w), 2, q_w, d, 1, "blk.%lld.attn_output.weight",
                   (long long)l);
        add_tensor(&b, FY_F32, 0, 0.1f, 1, d, 1, 1, "blk.%lld.attn_output.bias", (long long)l);
        add_tensor(&b, FY_F32, 0, 1.0f, 1, c->n_head, 1, 1, "blk.%lld.attn_sinks.weight",
                   (long long)l);
        add_tensor(&b, FY_F32, 1, 0.1f, 1, d, 1, 1, "blk.%lld.post_attention_norm.weight",
                   (long long)l);
        add_tensor(&b, FY_F32, 0, 1.5f * isd, 2, d, E, 1, "blk.%lld.ffn_gate_inp.weight",
                   (long long)l);
        add_tensor(&b, FY_F32, 0, 0.5f, 1, E, 1, 1, "blk.%lld.ffn_gate_inp.bias", (long long)l);
        if (c->fused_gate_up) {
            add_tensor(&b, et, 0, gu * isd, 3, d, 2 * F, E, "blk.%lld.ffn_gate_up_exps.weight",
                       (long long)l);
            add_tensor(&b, FY_F32, 0, gu_bias, 2, 2 * F, E, 1, "blk.%lld.ffn_gate_up_exps.bias",
                       (long long)l);
        } else {
            add_tensor(&b, et, 0, gu * isd, 3, d, F, E, "blk.%lld.ffn_gate_exps.weight",
                       (long long)l);
            add_tensor(&b, FY_F32, 0, gu_bias, 2, F, E, 1, "blk.%lld.ffn_gate_exps.bias",
                       (long long)l);
            add_tensor(&b, et, 0, gu * isd, 3, d, F, E, "blk.%lld.ffn_up_exps.weight",
                       (long long)l);
            add_tensor(&b, FY_F32, 0, gu_bias, 2, F, E, 1, "blk.%lld.ffn_up_exps.bias",
                       (long long)l);
        }
        add_tensor(&b, et, 0, down, 3, F, d, E, "blk.%lld.ffn_down_exps.weight", (long long)l);
        add_tensor(&b, FY_F32, 0, 0.2f, 2, d, E, 1, "blk.%lld.ffn_down_exps.bias", (long long)l);
    }
    add_tensor(&b, FY_F32, 1, 0.1f, 1, d, 1, 1, "output_norm.weight");
    add_tensor(&b, dt, 0, 3.0f * isd, 2, d, V, 1, "output.weight");
    if (b.st != FY_OK) {
        fy_synth_plan_free(b.p);
        return b.st;
    }
    *out = b.p;
    return FY_OK;
}

void fy_synth_plan_free(struct fy_synth_plan *p)
{
    if (!p)
        return;
    free(p->t);
    free(p);
}
