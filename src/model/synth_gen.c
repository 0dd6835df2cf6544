/* Synthetic gpt-oss GGUFs, the weights: per-tensor random streams (splitmix64 seeding,
 * xoshiro256**) and the Q8_0, MXFP4 and float block generators (see synth.h for the scales). */
#include "synth_priv.h"

#include "quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "synth_gen.c writes host-order floats: it assumes a little-endian host, like GGUF"
#endif

#define SY_Q8_RMS 73.46768f   /* rms of the codes -127..127 with 0 twice: sqrt(5397.5) */
#define SY_MXFP4_RMS 2.92617f /* rms of uniform E2M1 nibbles: sqrt(68.5 / 8) */

/* ---- random numbers: splitmix64 seeding, xoshiro256** ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fy_synth_rng_seed(struct sy_rng *r, uint64_t seed, const char *stream)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = stream; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    uint64_t x = seed ^ (h * 0x9E3779B97F4A7C15ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->have_spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

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
static inline double rng_unif(struct sy_rng *r)
{
    return (double)(rng_u64(r) >> 11) * 0x1p-53;
}

/* standard normal (Box-Muller, both values used) */
double fy_synth_rng_normal(struct sy_rng *r)
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

float *fy_synth_normal_table_new(void)
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

void fy_synth_gen_init(struct sy_gen *g, const struct fy_synth_config *c,
                       const struct fy_synth_tensor *t, const float *nt)
{
    memset(g, 0, sizeof(*g));
    g->t = t;
    g->nt = nt;
    fy_synth_rng_seed(&g->rng, c->seed, t->name);
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
                dst[2 + 8 * w + j] = q == 0x80 ? 0 : q; /* no -128, like ggml's quantizer */
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
void fy_synth_gen_units(struct sy_gen *g, uint8_t *dst, int64_t n_units)
{
    switch (g->t->type) {
    case FY_Q8_0:
        gen_q8_0(g, dst, n_units);
        break;
    case FY_MXFP4:
        gen_mxfp4(g, dst, n_units);
        break;
    default:
        gen_float(g, dst, n_units);
        break;
    }
}

size_t fy_synth_unit_bytes(enum fy_dtype t)
{
    return fy_dtype_block_bytes(t);
}

fy_status fy_synth_tensor_data(const struct fy_synth_config *c, const struct fy_synth_tensor *t,
                               void *dst, size_t n_bytes)
{
    FY_CHECK_ARG(c && t && dst && n_bytes == t->size);
    struct sy_gen g;
    float *nt = fy_synth_normal_table_new();
    if (!nt)
        return FY_E_NOMEM;
    fy_synth_gen_init(&g, c, t, nt);
    fy_synth_gen_units(&g, dst, (int64_t)(n_bytes / fy_synth_unit_bytes(t->type)));
    free(nt);
    return FY_OK;
}
