/* fy_cpu_attention against a double-precision reference (sinks, sliding window, GQA, F32, F16
 * and Q8_0 caches), and fy_cpu_kv_store slot placement and encoding. Runs with the kernel set in use (the best the
 * CPU has: on an AMX machine attention_amx.c's items, with the avx512 ones for fewer than 16
 * rows) and, as test_attention_c / _avx2 / _avx512, with FY_CPU forcing the reference attention
 * and the avx2 and avx512 items. */
#include <math.h>
#include <string.h>

#include "cpu/ops.h"
#include "cpu/qdot.h"
#include "fy_test.h"
#include "quant.h"

/* Scores, exps and the value sum are f32 in ferry: for q.k of 64 terms with peaky softmax
 * (score std ~3) the score error is ~1e-6 absolute, so outputs are off by ~1e-6 relative,
 * NMSE ~1e-12. The reference reads the same (fp16-rounded) K/V values, so F16 uses the same gate,
 * and so does Q8_0: the reference reads the dequantized cache (fp16 d times q, exact in f32). */
#define GATE 1e-10
/* Q8_0 cases are also held against the reference on the unquantized K/V (what an F32 cache
 * holds), so that a cache that quantized to something else, or not at all, fails: the 8-bit
 * rounding (d/2 = max|x|/254 per block of 32) puts outputs at NMSE 2.8e-5 .. 2.2e-4 on these
 * cases (measured on every set; the largest: one token over 3000 slots, peaky softmax); the
 * floor catches a cache stored unquantized (F32 or F16 would be below 1e-6). */
#define GATE_Q8_VS_F32 1e-3
#define FLOOR_Q8_VS_F32 1e-6
/* The amx set's items (attention_amx.c) multiply on bf16 tiles with every f32 operand split
 * into two bf16 halves: Q (times the scale) and the softmax weights keep 16 significant bits,
 * so a score of std ~3 is off by ~1e-4 and the outputs by ~5e-5 relative (NMSE up to 2.5e-9
 * measured on these cases); K and V from an F16 cache are exact. */
#define GATE_BF16 1e-8

enum sink_mode { SINK_NONE, SINK_RANDOM, SINK_LARGE };

struct attn_case {
    int64_t n_head, n_head_kv, head_dim;
    int64_t n_tok, n_kv;
    int32_t p0;          /* positions p0, p0 + step, ... */
    int32_t step;
    int32_t window;
    enum sink_mode sinks;
    enum fy_dtype kv;
    float qk_std;
    float scale;
};

static const char *sink_name(enum sink_mode m)
{
    return m == SINK_NONE ? "none" : m == SINK_RANDOM ? "random" : "large";
}

static double kv_at(const void *c, enum fy_dtype t, int64_t i)
{
    if (t == FY_Q8_0) {   /* block i / 32: f16 d, then 32 int8 q */
        const uint8_t *b = (const uint8_t *)c + (i / 32) * 34;
        return (double)fy_fp16_to_f32((uint16_t)(b[0] | b[1] << 8)) * (double)(int8_t)b[2 + i % 32];
    }
    return t == FY_F16 ? (double)fy_fp16_to_f32(((const uint16_t *)c)[i])
                       : (double)((const float *)c)[i];
}

static const char *kv_name(enum fy_dtype t)
{
    return t == FY_F16 ? "f16" : t == FY_Q8_0 ? "q8_0" : "f32";
}

static void ref_attention(double *out, const struct fy_attn_args *a, double *s)
{
    const int64_t hd = a->head_dim;
    const int64_t kvw = a->n_head_kv * hd;
    for (int64_t t = 0; t < a->n_tok; t++) {
        const int64_t p = a->pos[t];
        for (int64_t h = 0; h < a->n_head; h++) {
            const int64_t hk = h / (a->n_head / a->n_head_kv);
            const float *q = a->q + (t * a->n_head + h) * hd;
            double *o = out + (t * a->n_head + h) * hd;
            double m = a->sinks ? (double)a->sinks[h] : -INFINITY;
            for (int64_t j = 0; j < a->n_kv; j++) {
                const int vis = j <= p && (a->window == 0 || p - j < a->window);
                s[j] = -INFINITY;
                if (!vis)
                    continue;
                double d = 0.0;
                for (int64_t e = 0; e < hd; e++)
                    d += (double)q[e] * kv_at(a->k, a->kv_type, j * kvw + hk * hd + e);
                s[j] = d * (double)a->scale;
                m = s[j] > m ? s[j] : m;
            }
            double z = a->sinks ? exp((double)a->sinks[h] - m) : 0.0;
            for (int64_t e = 0; e < hd; e++)
                o[e] = 0.0;
            for (int64_t j = 0; j < a->n_kv; j++) {
                if (s[j] == -INFINITY)
                    continue;
                const double w = exp(s[j] - m);
                z += w;
                for (int64_t e = 0; e < hd; e++)
                    o[e] += w * kv_at(a->v, a->kv_type, j * kvw + hk * hd + e);
            }
            for (int64_t e = 0; e < hd; e++)
                o[e] = z > 0.0 ? o[e] / z : 0.0;
        }
    }
}

static int run_case(const struct attn_case *c, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const int64_t hd = c->head_dim;
    const int64_t qw = c->n_head * hd;
    const int64_t kvw = c->n_head_kv * hd;
    const size_t row = fy_dtype_row_bytes(c->kv, kvw);
    float *q = malloc((size_t)(c->n_tok * qw) * sizeof(float));
    float *kf = malloc((size_t)(c->n_kv * kvw) * sizeof(float));
    float *vf = malloc((size_t)(c->n_kv * kvw) * sizeof(float));
    void *kc = malloc((size_t)c->n_kv * row);
    void *vc = malloc((size_t)c->n_kv * row);
    int32_t *pos = malloc((size_t)c->n_tok * sizeof(int32_t));
    int32_t *slots = malloc((size_t)c->n_kv * sizeof(int32_t));
    float *sinks = malloc((size_t)c->n_head * sizeof(float));
    float *out = malloc((size_t)(c->n_tok * qw) * sizeof(float));
    double *ref = malloc((size_t)(c->n_tok * qw) * sizeof(double));
    double *s = malloc((size_t)c->n_kv * sizeof(double));
    int failed = 0;
    char what[256];

    if (!q || !kf || !vf || !kc || !vc || !pos || !slots || !sinks || !out || !ref || !s) {
        fprintf(stderr, "out of memory\n");
        failed = 1;
        goto done;
    }
    fy_rng_fill(&rng, q, c->n_tok * qw, c->qk_std);
    fy_rng_fill(&rng, kf, c->n_kv * kvw, c->qk_std);
    fy_rng_fill(&rng, vf, c->n_kv * kvw, 1.0f);
    for (int64_t h = 0; h < c->n_head; h++) {
        sinks[h] = (float)(2.0 * fy_rng_normal(&rng));
        if (c->sinks == SINK_LARGE && h % 3 == 0)
            sinks[h] = 15.0f + 10.0f * (float)fy_rng_unif(&rng);   /* dominates the softmax */
    }
    for (int64_t t = 0; t < c->n_tok; t++)
        pos[t] = c->p0 + (int32_t)t * c->step;
    for (int64_t j = 0; j < c->n_kv; j++)
        slots[j] = (int32_t)j;
    fy_cpu_kv_store(kc, vc, c->kv, kf, vf, c->n_kv, kvw, slots, 0);

    struct fy_attn_args a = {
        .n_tok = c->n_tok, .n_head = c->n_head, .n_head_kv = c->n_head_kv, .head_dim = hd,
        .q = q, .k = kc, .v = vc, .kv_type = c->kv, .n_kv = c->n_kv, .pos = pos,
        .sinks = c->sinks == SINK_NONE ? NULL : sinks, .window = c->window, .scale = c->scale,
    };
    for (int64_t i = 0; i < c->n_tok * qw; i++)
        out[i] = NAN;   /* every output must be written */
    fy_cpu_attention(out, &a);
    ref_attention(ref, &a, s);
    /* the same slots presented from the first one any query sees on (a sliding-window ring's
     * linear view, kv_pos0): the same arithmetic, bit for bit */
    int64_t lo = c->n_kv;
    for (int64_t t = 0; t < c->n_tok; t++) {
        const int64_t p = pos[t], f = c->window > 0 && p - c->window + 1 > 0 ? p - c->window + 1 : 0;
        lo = f < lo ? f : lo;
    }
    if (lo > 0 && lo < c->n_kv) {
        struct fy_attn_args b = a;
        b.k = (const char *)kc + (size_t)lo * row;
        b.v = (const char *)vc + (size_t)lo * row;
        b.kv_pos0 = lo;
        b.n_kv = c->n_kv - lo;
        float *o2 = malloc((size_t)(c->n_tok * qw) * sizeof(float));
        if (o2) {
            fy_cpu_attention(o2, &b);
            if (memcmp(o2, out, (size_t)(c->n_tok * qw) * sizeof(float))) {
                fprintf(stderr, "FAIL attention from slot %lld as position 0 differs\n",
                        (long long)lo);
                failed++;
            }
        }
        free(o2);
    }
    snprintf(what, sizeof(what),
             "attention heads %lld/%lld hd %lld tok %lld n_kv %lld pos %d+%d*t window %d sinks %s "
             "kv %s qk_std %g scale %g", (long long)c->n_head, (long long)c->n_head_kv,
             (long long)hd, (long long)c->n_tok, (long long)c->n_kv, c->p0, c->step, c->window,
             sink_name(c->sinks), kv_name(c->kv), (double)c->qk_std,
             (double)c->scale);
    failed += fy_check_nmse(what, out, ref, c->n_tok * qw,
                            strcmp(fy_cpu_set()->name, "amx") ? GATE : GATE_BF16);
    if (c->kv == FY_Q8_0) {   /* the same outputs against the unquantized K/V */
        struct fy_attn_args af = a;
        af.k = kf;
        af.v = vf;
        af.kv_type = FY_F32;
        ref_attention(ref, &af, s);
        const double e = fy_nmse(out, ref, c->n_tok * qw);
        const int bad = !(e <= GATE_Q8_VS_F32 && e >= FLOOR_Q8_VS_F32);
        if (bad)
            fprintf(stderr, "FAIL %s: against the unquantized K/V nmse %.3g outside [%g, %g]\n",
                    what, e, FLOOR_Q8_VS_F32, GATE_Q8_VS_F32);
        else
            printf("ok   %s: against the unquantized K/V nmse %.3g\n", what, e);
        failed += bad;
    }
done:
    free(q);
    free(kf);
    free(vf);
    free(kc);
    free(vc);
    free(pos);
    free(slots);
    free(sinks);
    free(out);
    free(ref);
    free(s);
    return failed;
}

/* kv_store: rows land in slots pos[t], untouched slots keep their contents. */
static int test_kv_store(enum fy_dtype kv)
{
    enum { N_SLOT = 9, N_TOK = 5, W = 40 };
    const int32_t pos[N_TOK] = { 3, 0, 8, 1, 5 };
    struct fy_rng rng = { 77 };
    float k[N_TOK * W];
    float v[N_TOK * W];
    float kc32[N_SLOT * W];
    float vc32[N_SLOT * W];
    uint16_t kc16[N_SLOT * W];
    uint16_t vc16[N_SLOT * W];
    int failed = 0;

    fy_rng_fill(&rng, k, N_TOK * W, 3.0f);
    fy_rng_fill(&rng, v, N_TOK * W, 3.0f);
    for (int i = 0; i < N_SLOT * W; i++) {
        kc32[i] = -7.0f;
        vc32[i] = -9.0f;
        kc16[i] = 0x7e01;
        vc16[i] = 0x7e02;
    }
    void *kc = kv == FY_F16 ? (void *)kc16 : (void *)kc32;
    void *vc = kv == FY_F16 ? (void *)vc16 : (void *)vc32;
    fy_cpu_kv_store(kc, vc, kv, k, v, N_TOK, W, pos, 0);
    for (int j = 0; j < N_SLOT; j++) {
        int t = -1;
        for (int u = 0; u < N_TOK; u++)
            if (pos[u] == j)
                t = u;
        for (int e = 0; e < W; e++) {
            int ok;
            if (kv == FY_F16) {
                const uint16_t wk = t >= 0 ? fy_f32_to_fp16(k[t * W + e]) : 0x7e01;
                const uint16_t wv = t >= 0 ? fy_f32_to_fp16(v[t * W + e]) : 0x7e02;
                ok = kc16[j * W + e] == wk && vc16[j * W + e] == wv;
            } else {
                const float wk = t >= 0 ? k[t * W + e] : -7.0f;
                const float wv = t >= 0 ? v[t * W + e] : -9.0f;
                ok = memcmp(&kc32[j * W + e], &wk, 4) == 0 && memcmp(&vc32[j * W + e], &wv, 4) == 0;
            }
            if (!ok) {
                fprintf(stderr, "FAIL kv_store %s: slot %d elem %d (token %d)\n",
                        kv == FY_F16 ? "f16" : "f32", j, e, t);
                failed++;
                break;
            }
        }
    }
    if (!failed)
        printf("ok   kv_store %s slots\n", kv == FY_F16 ? "f16" : "f32");
    return failed;
}

/* kv_store Q8_0: each stored row is fy_quant_row_q8_0 of its input, byte for byte (so the
 * cache is Q8_0 and nothing else), slots never written keep their bytes; the dequantized row
 * is within the format's bound d/2 + 127 |d - fp16(d)| (d = max|x|/127) per element; a width
 * that is not a multiple of 32 writes nothing. */
static int test_kv_store_q8(void)
{
    enum { N_SLOT = 9, N_TOK = 5, W = 96, ROW = W / 32 * 34 };
    const int32_t pos[N_TOK] = { 3, 0, 8, 1, 5 };
    struct fy_rng rng = { 78 };
    float k[N_TOK * W];
    float v[N_TOK * W];
    uint8_t kc[N_SLOT * ROW];
    uint8_t vc[N_SLOT * ROW];
    uint8_t want[ROW];
    float deq[W];
    int failed = 0;

    fy_rng_fill(&rng, k, N_TOK * W, 3.0f);
    fy_rng_fill(&rng, v, N_TOK * W, 3.0f);
    for (int e = 0; e < W; e++)
        k[2 * W + e] = 0.0f;            /* an all-zero row: d = 0, q = 0 */
    k[3 * W + 5] = 1000.0f;             /* one large element: the rest of its block round to ~0 */
    memset(kc, 0xa5, sizeof(kc));
    memset(vc, 0x5a, sizeof(vc));
    fy_cpu_kv_store(kc, vc, FY_Q8_0, k, v, N_TOK, W, pos, 0);
    for (int j = 0; j < N_SLOT && !failed; j++) {
        int t = -1;
        for (int u = 0; u < N_TOK; u++)
            if (pos[u] == j)
                t = u;
        for (int kvi = 0; kvi < 2; kvi++) {
            const uint8_t *got = (kvi ? vc : kc) + j * ROW;
            if (t < 0) {
                for (int b = 0; b < ROW; b++)
                    if (got[b] != (kvi ? 0x5a : 0xa5)) {
                        fprintf(stderr, "FAIL kv_store q8_0: unwritten slot %d changed\n", j);
                        failed++;
                        break;
                    }
                continue;
            }
            const float *x = (kvi ? v : k) + t * W;
            fy_quant_row_q8_0(x, want, W);
            if (memcmp(got, want, ROW) != 0) {
                fprintf(stderr, "FAIL kv_store q8_0: slot %d (%s of token %d) is not "
                        "fy_quant_row_q8_0 of its row\n", j, kvi ? "V" : "K", t);
                failed++;
                continue;
            }
            fy_dequant_row(FY_Q8_0, got, deq, W);
            for (int b = 0; b < W / 32; b++) {
                float amax = 0.0f;
                for (int e = 0; e < 32; e++)
                    amax = fmaxf(amax, fabsf(x[b * 32 + e]));
                const float d = amax / 127.0f;
                const float bound = d / 2 + 127.0f * fabsf(d - fy_fp16_to_f32(fy_f32_to_fp16(d)));
                for (int e = 0; e < 32; e++)
                    if (!(fabsf(deq[b * 32 + e] - x[b * 32 + e]) <= bound * 1.0001f + 1e-30f)) {
                        fprintf(stderr, "FAIL kv_store q8_0: slot %d elem %d: %g for %g\n", j,
                                b * 32 + e, (double)deq[b * 32 + e], (double)x[b * 32 + e]);
                        failed++;
                        b = W;
                        break;
                    }
            }
        }
    }
    /* a width that is not whole blocks: refused, nothing written */
    uint8_t before[sizeof(kc)];
    memcpy(before, kc, sizeof(kc));
    fy_cpu_kv_store(kc, vc, FY_Q8_0, k, v, 1, 40, pos, 0);
    if (memcmp(before, kc, sizeof(kc)) != 0) {
        fprintf(stderr, "FAIL kv_store q8_0: width 40 wrote to the cache\n");
        failed++;
    }
    if (!failed)
        printf("ok   kv_store q8_0 slots, bytes of fy_quant_row_q8_0, error bound\n");
    return failed;
}

int main(void)
{
    const float peaky = 0.125f * 1.3465736f * 1.3465736f;   /* gpt-oss scale times mscale^2 */
    const float mild = 0.125f;
    int failed = 0;
    uint64_t seed = 1;

    printf("kernel set: %s (attention: %s)\n", fy_cpu_set()->name,
           fy_cpu_set()->attention ? "flash items" : "reference");
    failed += test_kv_store(FY_F32);
    failed += test_kv_store(FY_F16);
    failed += test_kv_store_q8();

    static const enum fy_dtype kvs[] = { FY_F32, FY_F16, FY_Q8_0 };
    static const enum sink_mode sm[] = { SINK_NONE, SINK_RANDOM, SINK_LARGE };
    for (size_t ik = 0; ik < FY_ARRAY_LEN(kvs); ik++) {
        for (size_t is = 0; is < FY_ARRAY_LEN(sm); is++) {
            const enum fy_dtype kv = kvs[ik];
            const enum sink_mode sk = sm[is];
            const struct attn_case cases[] = {
                /* single token, single slot */
                { 8, 2, 64, 1, 1, 0, 1, 0, sk, kv, 1.5f, peaky },
                /* decode at the end of the cache, full and sliding */
                { 8, 2, 64, 1, 300, 299, 1, 0, sk, kv, 1.5f, peaky },
                { 8, 2, 64, 1, 300, 299, 1, 128, sk, kv, 1.5f, peaky },
                /* a prompt of 37 at positions 200..236: the window cuts the early slots */
                { 8, 2, 64, 37, 237, 200, 1, 0, sk, kv, 1.5f, peaky },
                { 8, 2, 64, 37, 237, 200, 1, 128, sk, kv, 1.5f, peaky },
                { 8, 2, 64, 37, 237, 200, 1, 128, sk, kv, 1.0f, mild },
                /* the whole prompt from 0, slots beyond each position present (causal mask) */
                { 8, 2, 64, 37, 300, 0, 1, 0, sk, kv, 1.5f, peaky },
                { 8, 2, 64, 37, 300, 0, 7, 128, sk, kv, 1.5f, peaky },
                /* window 1: only the token itself */
                { 8, 2, 64, 5, 50, 10, 3, 1, sk, kv, 1.5f, peaky },
            };
            for (size_t c = 0; c < FY_ARRAY_LEN(cases); c++)
                failed += run_case(&cases[c], seed++);
        }
    }
    /* the real head layout once per cache type, and several F16 tiles (2048 slots of 512) */
    const struct attn_case big[] = {
        { 64, 8, 64, 37, 237, 200, 1, 128, SINK_RANDOM, FY_F32, 1.5f, peaky },
        { 64, 8, 64, 37, 237, 200, 1, 0, SINK_LARGE, FY_F16, 1.5f, peaky },
        { 64, 8, 64, 4, 5000, 2040, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        { 64, 8, 64, 6, 5000, 2000, 900, 128, SINK_RANDOM, FY_F16, 1.5f, peaky },
        { 64, 8, 64, 6, 5000, 2000, 900, 0, SINK_NONE, FY_F32, 1.0f, mild },
        /* a micro-batch of 200 from position 300 (many query blocks, slots not a multiple of
         * the kernel's blocks), head_dim 128, one KV head per query head and one for all, and a
         * head_dim the flash kernels do not take (80: the reference path) */
        { 64, 8, 64, 200, 533, 300, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        { 64, 8, 64, 200, 533, 300, 1, 128, SINK_NONE, FY_F16, 1.5f, peaky },
        { 16, 4, 128, 19, 300, 250, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        { 4, 4, 64, 9, 70, 60, 1, 0, SINK_RANDOM, FY_F32, 1.5f, peaky },
        { 64, 1, 64, 3, 90, 80, 1, 0, SINK_LARGE, FY_F16, 1.5f, peaky },
        { 8, 2, 80, 5, 90, 80, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        { 8, 2, 80, 5, 90, 80, 1, 0, SINK_RANDOM, FY_Q8_0, 1.5f, peaky },
        /* more rows than one item of the amx set takes (2400 rows deep in the cache), and a
         * few tokens over many slots (the split into slot ranges, with 160 rows per item) */
        { 64, 8, 64, 300, 1400, 1100, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        { 64, 8, 64, 20, 3000, 2980, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        /* one query row group (decode: 8 query heads of a KV head; 16 with two tokens), as a
         * split over many slots and whole, with a window, and head_dim 32 */
        { 64, 8, 64, 1, 3000, 2999, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        { 64, 8, 64, 2, 300, 298, 1, 128, SINK_LARGE, FY_F32, 1.5f, peaky },
        { 64, 8, 64, 1, 100, 77, 1, 0, SINK_NONE, FY_F16, 1.0f, mild },
        { 16, 2, 32, 1, 200, 150, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        /* the split's items of every KV head at once (attn_all_heads sets): two tokens 3
         * positions apart over an F32 cache, head_dim 128 with 4 KV heads, a chunk end that is
         * not a block's */
        { 64, 8, 64, 2, 2000, 1990, 3, 0, SINK_NONE, FY_F32, 1.5f, peaky },
        { 32, 4, 128, 1, 1500, 1499, 1, 0, SINK_RANDOM, FY_F16, 1.5f, peaky },
        { 64, 8, 64, 1, 1111, 1110, 1, 0, SINK_LARGE, FY_F16, 1.0f, mild },
        /* Q8_0 in the same paths: the real head layout (prompt), several tiles, the amx set's
         * large items, the split of one decoding token over many slots (all heads at once)
         * and by head (head_dim 128, 4 KV heads), a window */
        { 64, 8, 64, 37, 237, 200, 1, 128, SINK_RANDOM, FY_Q8_0, 1.5f, peaky },
        { 64, 8, 64, 4, 5000, 2040, 1, 0, SINK_RANDOM, FY_Q8_0, 1.5f, peaky },
        { 64, 8, 64, 200, 533, 300, 1, 0, SINK_LARGE, FY_Q8_0, 1.5f, peaky },
        { 64, 8, 64, 1, 3000, 2999, 1, 0, SINK_RANDOM, FY_Q8_0, 1.5f, peaky },
        { 32, 4, 128, 1, 1500, 1499, 1, 0, SINK_RANDOM, FY_Q8_0, 1.5f, peaky },
        { 64, 8, 64, 2, 300, 298, 1, 128, SINK_NONE, FY_Q8_0, 1.0f, mild },
    };
    for (size_t c = 0; c < FY_ARRAY_LEN(big); c++)
        failed += run_case(&big[c], seed++);
    if (failed)
        fprintf(stderr, "%d attention check(s) failed\n", failed);
    return failed ? 1 : 0;
}
