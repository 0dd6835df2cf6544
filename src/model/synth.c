/* Synthetic gpt-oss GGUFs, streamed tensor by tensor (see synth.h for the weight scales). */
#include "synth.h"

#include "text/chat_template.h"
#include "gguf/gguf.h"
#include "quant.h"
#include "text/vocab_o200k.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "synth.c writes host-order floats: it assumes a little-endian host, like GGUF"
#endif

#define SY_CHUNK (4u << 20)          /* bytes generated and written at a time */
#define SY_Q8_RMS 73.46768f          /* rms of the codes -127..127 with 0 twice: sqrt(5397.5) */
#define SY_MXFP4_RMS 2.92617f        /* rms of uniform E2M1 nibbles: sqrt(68.5 / 8) */
#define SY_SWIGLU_LIMIT 7.0f
#define SY_SWIGLU_ALPHA 1.702f

/* ---- random numbers: splitmix64 seeding, xoshiro256** ---- */

struct sy_rng {
    uint64_t s[4];
    int have_spare;
    double spare;
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(struct sy_rng *r, uint64_t seed, const char *stream)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = stream; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    uint64_t x = seed ^ (h * 0x9E3779B97F4A7C15ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->have_spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_u64(struct sy_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* uniform in [0, 1) */
static inline double rng_unif(struct sy_rng *r) { return (double)(rng_u64(r) >> 11) * 0x1p-53; }

/* standard normal (Box-Muller, both values used) */
static double rng_normal(struct sy_rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u1 = rng_unif(r), u2 = rng_unif(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    double m = sqrt(-2.0 * log(u1));
    r->spare = m * sin(6.283185307179586 * u2);
    r->have_spare = 1;
    return m * cos(6.283185307179586 * u2);
}

/* ---- block generators ---- */

/* Normal deviates by table: the quantiles of N(0, 1) at i / 2^16, linearly interpolated with
 * 16 more random bits (the outermost buckets end at +-4.75). ~10x faster than Box-Muller, which
 * matters for the float-typed 20b/120b variants (billions of values). */
#define SY_NT_BITS 16
#define SY_NT_N (1u << SY_NT_BITS)

static double inv_normal_cdf(double p)
{
    /* Abramowitz & Stegun 26.2.23 as the start (|error| < 4.5e-4), then Newton on the CDF */
    double pp = p < 0.5 ? p : 1.0 - p;
    double t = sqrt(-2.0 * log(pp));
    double x = t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                       (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
    if (p < 0.5)
        x = -x;
    for (int i = 0; i < 3; i++) {
        double f = 0.5 * erfc(-x / sqrt(2.0)) - p;
        double df = exp(-0.5 * x * x) / sqrt(2.0 * 3.141592653589793);
        x -= f / df;
    }
    return x;
}

static float *normal_table_new(void)
{
    float *q = malloc((SY_NT_N + 1) * sizeof(*q));
    if (!q)
        return NULL;
    q[0] = -4.75f;
    q[SY_NT_N] = 4.75f;
    for (uint32_t i = 1; i < SY_NT_N / 2; i++) {
        q[i] = (float)inv_normal_cdf((double)i / SY_NT_N);
        q[SY_NT_N - i] = -q[i];
    }
    q[SY_NT_N / 2] = 0.0f;
    return q;
}

static inline float table_normal(const float *q, uint32_t u)
{
    uint32_t i = u >> 16;
    float f = (float)(u & 0xffff) * 0x1p-16f;
    return q[i] + f * (q[i + 1] - q[i]);
}

struct sy_gen {
    struct sy_rng rng;
    const float *nt;     /* normal table */
    const struct fy_synth_tensor *t;
    float q8_d;          /* Q8_0: mean scale */
    uint8_t mx_e;        /* MXFP4: lower exponent */
    double mx_p_hi;      /* probability of mx_e + 1 */
};

static void gen_init(struct sy_gen *g, const struct fy_synth_config *c,
                     const struct fy_synth_tensor *t, const float *nt)
{
    memset(g, 0, sizeof(*g));
    g->t = t;
    g->nt = nt;
    rng_seed(&g->rng, c->seed, t->name);
    float sd = t->std > 0 ? t->std : 1e-6f;
    /* d jitter u in [0.75, 1.25): E[u^2] = 1 + 0.25^2 / 3 */
    g->q8_d = sd / SY_Q8_RMS / sqrtf(1.0f + 0.0625f / 3.0f);
    /* std = rms * 2^(e-127) * sqrt(1 + 3 p) with e the lower exponent */
    double ratio = sd / SY_MXFP4_RMS;
    int e = (int)floor(log2(ratio)) + 127;
    if (e < 1)
        e = 1;
    if (e > 253)
        e = 253;
    double base = ldexp(1.0, e - 127);
    double p = (ratio * ratio / (base * base) - 1.0) / 3.0;
    g->mx_e = (uint8_t)e;
    g->mx_p_hi = p < 0 ? 0 : p > 1 ? 1 : p;
}

static void gen_q8_0(struct sy_gen *g, uint8_t *dst, int64_t n_blocks)
{
    for (int64_t b = 0; b < n_blocks; b++, dst += 34) {
        uint64_t jit = rng_u64(&g->rng);
        float d = g->q8_d * (0.75f + 0.5f * (float)(jit >> 40) * 0x1p-24f);
        uint16_t h = fy_f32_to_fp16(d);
        dst[0] = (uint8_t)h;
        dst[1] = (uint8_t)(h >> 8);
        for (int w = 0; w < 4; w++) {
            uint64_t x = rng_u64(&g->rng);
            for (int j = 0; j < 8; j++) {
                uint8_t q = (uint8_t)(x >> (8 * j));
                dst[2 + 8 * w + j] = q == 0x80 ? 0 : q;  /* no -128, like ggml's quantizer */
            }
        }
    }
}

static void gen_mxfp4(struct sy_gen *g, uint8_t *dst, int64_t n_blocks)
{
    const uint64_t thr = (uint64_t)(g->mx_p_hi * 0x1p53);
    for (int64_t b = 0; b < n_blocks; b++, dst += 17) {
        dst[0] = (uint8_t)(g->mx_e + ((rng_u64(&g->rng) >> 11) < thr));
        uint64_t x0 = rng_u64(&g->rng), x1 = rng_u64(&g->rng);
        memcpy(dst + 1, &x0, 8);
        memcpy(dst + 9, &x1, 8);
    }
}

static void gen_float(struct sy_gen *g, uint8_t *dst, int64_t n)
{
    const float m = g->t->mean, s = g->t->std;
    uint64_t x = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(i & 1))
            x = rng_u64(&g->rng);
        float v = m + s * table_normal(g->nt, (uint32_t)(x >> (i & 1 ? 32 : 0)));
        switch (g->t->type) {
        case FY_F32:
            memcpy(dst + 4 * i, &v, 4);
            break;
        case FY_F16: {
            uint16_t h = fy_f32_to_fp16(v);
            dst[2 * i] = (uint8_t)h;
            dst[2 * i + 1] = (uint8_t)(h >> 8);
            break;
        }
        case FY_BF16: {
            uint16_t h = fy_f32_to_bf16(v);
            dst[2 * i] = (uint8_t)h;
            dst[2 * i + 1] = (uint8_t)(h >> 8);
            break;
        }
        default:
            break;
        }
    }
}

/* Generates the next n_units (blocks for Q8_0 / MXFP4, else elements) of the tensor. */
static void gen_units(struct sy_gen *g, uint8_t *dst, int64_t n_units)
{
    switch (g->t->type) {
    case FY_Q8_0: gen_q8_0(g, dst, n_units); break;
    case FY_MXFP4: gen_mxfp4(g, dst, n_units); break;
    default: gen_float(g, dst, n_units); break;
    }
}

static size_t unit_bytes(enum fy_dtype t) { return fy_dtype_block_bytes(t); }

fy_status fy_synth_tensor_data(const struct fy_synth_config *c, const struct fy_synth_tensor *t,
                               void *dst, size_t n_bytes)
{
    FY_CHECK_ARG(c && t && dst && n_bytes == t->size);
    struct sy_gen g;
    float *nt = normal_table_new();
    if (!nt)
        return FY_E_NOMEM;
    gen_init(&g, c, t, nt);
    gen_units(&g, dst, (int64_t)(n_bytes / unit_bytes(t->type)));
    free(nt);
    return FY_OK;
}

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
    int64_t min_vocab = c->toy_vocab ? 256 + FY_O200K_N_SPECIAL : FY_O200K_N_BASE +
                                                                    FY_O200K_N_SPECIAL;
    if (c->n_vocab < min_vocab || c->n_vocab > INT32_MAX)
        SY_FAIL("synth: n_vocab %lld must be at least %lld (%s)", (long long)c->n_vocab,
                (long long)min_vocab, c->toy_vocab ? "256 bytes + 21 specials"
                                                   : "199998 o200k tokens + 21 specials");
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
    case FY_Q8_0: return 7;
    case FY_BF16: return 32;
    case FY_F16: return 1;
    default: return 0;
    }
}

/* ---- the tensor plan ---- */

/* rms of a = min(g,7) * sigmoid(1.702 min(g,7)) * (clamp(u,-7,7) + 1) for g, u ~ N(0, s^2):
 * a fixed Monte Carlo (deterministic, independent of the seed). */
static double swiglu_rms(double sg, double su)
{
    struct sy_rng r;
    rng_seed(&r, 0x5eed, "swiglu");
    double acc = 0;
    const int n = 1 << 17;
    for (int i = 0; i < n; i++) {
        double g = sg * rng_normal(&r), u = su * rng_normal(&r);
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
        add_tensor(&b, dt, 0, 1.0f / sqrtf((float)q_w), 2, q_w, d, 1,
                   "blk.%lld.attn_output.weight", (long long)l);
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

/* ---- writing ---- */

static fy_status put_metadata(struct fy_gguf_writer *w, const struct fy_synth_config *c,
                              const struct fy_vocab_o200k *v, uint64_t n_params)
{
    char name[96], size_label[32];
    const int is20 = c->n_layer == 24 && c->d_model == 2880 && c->n_expert == 32;
    const int is120 = c->n_layer == 36 && c->d_model == 2880 && c->n_expert == 128;
    if (is20 || is120) {
        snprintf(name, sizeof(name), "Gpt Oss %s", is20 ? "20b" : "120b");
        snprintf(size_label, sizeof(size_label), "%s", is20 ? "20B" : "120B");
    } else {
        double p = (double)n_params;
        if (p >= 1e9)
            snprintf(size_label, sizeof(size_label), "%.0fB", p / 1e9);
        else
            snprintf(size_label, sizeof(size_label), "%.0fM", p / 1e6);
        snprintf(name, sizeof(name), "Gpt Oss Synthetic %s", size_label);
    }
    static const char *const tags[] = {"vllm", "text-generation"};
    static const uint64_t tag_lens[] = {4, 15};
    const char *a = "gpt-oss.";
    char key[96];
#define K(s) (snprintf(key, sizeof(key), "%s%s", a, (s)), key)
    FY_TRY(fy_gguf_writer_kv_str(w, "general.architecture", "gpt-oss"));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.type", "model"));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.name", name));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.basename", "gpt-oss"));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.size_label", size_label));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.license", "apache-2.0"));
    FY_TRY(fy_gguf_writer_kv_str_arr(w, "general.tags", tags, tag_lens, 2));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("block_count"), (uint32_t)c->n_layer));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("context_length"), c->context_length));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("embedding_length"), (uint32_t)c->d_model));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("feed_forward_length"), (uint32_t)c->n_ff_exp));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.head_count"), (uint32_t)c->n_head));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.head_count_kv"), (uint32_t)c->n_head_kv));
    FY_TRY(fy_gguf_writer_kv_f32(w, K("rope.freq_base"), 150000.0f));
    FY_TRY(fy_gguf_writer_kv_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("expert_count"), (uint32_t)c->n_expert));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("expert_used_count"), (uint32_t)c->n_expert_used));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.key_length"), (uint32_t)c->head_dim));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.value_length"), (uint32_t)c->head_dim));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.sliding_window"), c->sliding_window));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("expert_feed_forward_length"), (uint32_t)c->n_ff_exp));
    FY_TRY(fy_gguf_writer_kv_str(w, K("rope.scaling.type"), "yarn"));
    FY_TRY(fy_gguf_writer_kv_f32(w, K("rope.scaling.factor"), 32.0f));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("rope.scaling.original_context_length"), 4096));
#undef K
    FY_TRY(fy_gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2"));
    FY_TRY(fy_gguf_writer_kv_str(w, "tokenizer.ggml.pre", "gpt-4o"));
    FY_TRY(fy_gguf_writer_kv_str_arr(w, "tokenizer.ggml.tokens", v->tokens, v->token_lens,
                                     (uint64_t)v->n_vocab));
    FY_TRY(fy_gguf_writer_kv_i32_arr(w, "tokenizer.ggml.token_type", v->token_types,
                                     (uint64_t)v->n_vocab));
    FY_TRY(fy_gguf_writer_kv_str_arr(w, "tokenizer.ggml.merges", v->merges, v->merge_lens,
                                     (uint64_t)v->n_merges));
    FY_TRY(fy_gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", v->bos_id));
    FY_TRY(fy_gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", v->eos_id));
    FY_TRY(fy_gguf_writer_kv_u32(w, "tokenizer.ggml.padding_token_id", v->pad_id));
    FY_TRY(fy_gguf_writer_kv_str(w, "tokenizer.chat_template", fy_chat_template_gpt_oss()));
    FY_TRY(fy_gguf_writer_kv_u32(w, "general.quantization_version", 2));
    FY_TRY(fy_gguf_writer_kv_u32(w, "general.file_type", fy_synth_file_type(c)));
    return FY_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct sy_progress {
    int on;
    uint64_t total;
    uint64_t done;
    double t0;
    double last;
};

static void progress_show(struct sy_progress *pr, int final)
{
    if (!pr->on)
        return;
    double t = now_s();
    if (!final && t - pr->last < 0.2)
        return;
    pr->last = t;
    double el = t - pr->t0;
    fprintf(stderr, "\rsynth: %.2f / %.2f GB (%3.0f%%), %.0f MB/s   ", (double)pr->done / 1e9,
            (double)pr->total / 1e9, pr->total ? 100.0 * (double)pr->done / (double)pr->total : 100,
            el > 0 ? (double)pr->done / el / 1e6 : 0.0);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Generation and writing overlap: the caller's thread generates chunks into two buffers and a
 * writer thread hands the full ones to the GGUF writer (the kernel's copy into the page cache
 * costs about as much as the generation). The writer is only used by the writer thread while
 * the pipeline runs. */
struct sy_pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fy_gguf_writer *w;
    uint8_t *buf[2];
    size_t len[2];
    int full[2];
    int hole[2];   /* the chunk is len bytes of hole, not buf's contents */
    int closing;   /* no more chunks */
    fy_status st;  /* the writer thread's first error */
};

static void *pipe_writer(void *arg)
{
    struct sy_pipe *p = arg;
    int i = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->full[i] && !p->closing)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->full[i])
            break;  /* closing and drained */
        pthread_mutex_unlock(&p->mu);
        fy_status st = p->hole[i] ? fy_gguf_writer_skip(p->w, p->len[i])
                                  : fy_gguf_writer_write(p->w, p->buf[i], p->len[i]);
        pthread_mutex_lock(&p->mu);
        p->full[i] = 0;
        if (st != FY_OK) {
            p->st = st;
            pthread_cond_broadcast(&p->cv);
            break;
        }
        pthread_cond_broadcast(&p->cv);
        i ^= 1;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static fy_status write_data(const struct fy_synth_config *c, const struct fy_synth_plan *plan,
                            struct fy_gguf_writer *w, const float *nt)
{
    struct sy_pipe p;
    pthread_t th;
    fy_status st = FY_OK;

    memset(&p, 0, sizeof(p));
    p.w = w;
    p.buf[0] = malloc(SY_CHUNK);
    p.buf[1] = malloc(SY_CHUNK);
    if (!p.buf[0] || !p.buf[1]) {
        free(p.buf[0]);
        free(p.buf[1]);
        return FY_E_NOMEM;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (pthread_create(&th, NULL, pipe_writer, &p) != 0) {
        fy_log(FY_LOG_ERR, "synth: cannot start the writer thread");
        st = FY_E_NOMEM;
        goto done;
    }
    struct sy_progress pr = {c->progress && isatty(2), plan->data_bytes, 0, now_s(), 0};
    int slot = 0;
    for (int64_t i = 0; i < plan->n_tensors && st == FY_OK; i++) {
        const struct fy_synth_tensor *t = &plan->t[i];
        struct sy_gen g;
        const size_t ub = unit_bytes(t->type);
        const int64_t per_chunk = (int64_t)(SY_CHUNK / ub);
        int64_t left = (int64_t)(t->size / ub);
        const int hole = c->sparse_experts && strstr(t->name, "_exps.weight");
        gen_init(&g, c, t, nt);
        while (left > 0) {
            pthread_mutex_lock(&p.mu);
            while (p.full[slot] && p.st == FY_OK)
                pthread_cond_wait(&p.cv, &p.mu);
            st = p.st;
            pthread_mutex_unlock(&p.mu);
            if (st != FY_OK)
                break;
            int64_t k = left < per_chunk ? left : per_chunk;
            if (hole)
                k = left; /* one hole for the whole tensor */
            else
                gen_units(&g, p.buf[slot], k);
            pthread_mutex_lock(&p.mu);
            p.hole[slot] = hole;
            p.len[slot] = (size_t)k * ub;
            p.full[slot] = 1;
            pthread_cond_broadcast(&p.cv);
            pthread_mutex_unlock(&p.mu);
            slot ^= 1;
            left -= k;
            pr.done += (uint64_t)k * ub;
            progress_show(&pr, 0);
        }
    }
    pthread_mutex_lock(&p.mu);
    p.closing = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    pthread_join(th, NULL);
    if (st == FY_OK)
        st = p.st;
    if (st == FY_OK) {
        pr.done = pr.total;
        progress_show(&pr, 1);
    } else if (pr.on) {
        fputc('\n', stderr);
    }
done:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    free(p.buf[0]);
    free(p.buf[1]);
    return st;
}

fy_status fy_synth_write(const struct fy_synth_config *c, const char *vocab_path,
                         const char *out_path)
{
    struct fy_synth_plan *plan = NULL;
    struct fy_vocab_o200k *v = NULL;
    struct fy_gguf_writer *w = NULL;
    float *nt = NULL;
    fy_status st;

    FY_CHECK_ARG(c && out_path);
    st = fy_synth_plan_make(c, &plan);
    if (st != FY_OK)
        goto fail;
    if (c->toy_vocab) {
        st = fy_vocab_o200k_toy(c->n_vocab, &v);
    } else if (!vocab_path) {
        fy_log(FY_LOG_ERR, "synth: no vocabulary file given (o200k_base.tiktoken)");
        st = FY_E_INVAL;
    } else {
        st = fy_vocab_o200k_load(vocab_path, c->n_vocab, &v);
    }
    if (st != FY_OK)
        goto fail;
    if (v->n_vocab != c->n_vocab) {
        fy_log(FY_LOG_ERR, "synth: vocabulary has %lld ids, config n_vocab %lld",
               (long long)v->n_vocab, (long long)c->n_vocab);
        st = FY_E_INVAL;
        goto fail;
    }

    uint64_t n_params = 0;
    for (int64_t i = 0; i < plan->n_tensors; i++)
        n_params += (uint64_t)(plan->t[i].ne[0] * plan->t[i].ne[1] * plan->t[i].ne[2]);

    st = fy_gguf_writer_new(out_path, 32, &w);
    if (st != FY_OK)
        goto fail;
    st = put_metadata(w, c, v, n_params);
    for (int64_t i = 0; i < plan->n_tensors && st == FY_OK; i++)
        st = fy_gguf_writer_tensor(w, plan->t[i].name, plan->t[i].type, plan->t[i].n_dims,
                                   plan->t[i].ne);
    if (st == FY_OK)
        st = fy_gguf_writer_begin_data(w);
    if (st != FY_OK)
        goto fail;
    fy_vocab_o200k_free(v);  /* the metadata is written; free it before the long part */
    v = NULL;
    if (c->sparse) {
        st = fy_gguf_writer_finish_sparse(w); /* the data section stays a hole */
        if (st != FY_OK)
            goto fail;
        fy_gguf_writer_free(w);
        fy_synth_plan_free(plan);
        return FY_OK;
    }

    nt = normal_table_new();
    st = nt ? write_data(c, plan, w, nt) : FY_E_NOMEM;
    if (st == FY_OK)
        st = fy_gguf_writer_finish(w);
    if (st != FY_OK)
        goto fail;
    fy_gguf_writer_free(w);
    free(nt);
    fy_synth_plan_free(plan);
    return FY_OK;
fail:
    fy_gguf_writer_free(w);  /* removes the partial .tmp file */
    free(nt);
    fy_vocab_o200k_free(v);
    fy_synth_plan_free(plan);
    return st;
}
