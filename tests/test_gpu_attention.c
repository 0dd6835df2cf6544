/* fy_gpu_attention against fy_cpu_attention: F16, F32 and Q8_0 caches (Q8_0: each slot's row
 * quantized by fy_quant_row_q8_0; on the emulator the cases with 8/2 heads), with and without
 * sinks, window 0 and 128, GQA 64/8 and 8/2 heads (head_dim 64), n_tok 1, 7, 33, 512 as a
 * chunk at the end of the cache (positions n_kv - n_tok .. n_kv - 1) whose last query sits at 0, 1, 127, 128, 129,
 * 255, 1000 (plus the chunk starting at 0), unsorted non-contiguous positions, long-context
 * decode (split-KV path), and on a real GPU n_tok 4096 at n_kv 4096 and 8192 and decode at 32768.
 * Inputs are random (never zeros); q and k have std 1.5, so scores have std ~2.25 and some rows
 * are peaky; sinks are in [-1, 4], so they compete with the keys.
 *
 * Gate: per output row (token, head), max_d |gpu - cpu| / max_d |cpu| <= 1e-4. Both sides read
 * the same cache values (F16 widened exactly, Q8_0 as d * q, exact in f32) and compute q.k, the
 * exponentials and the value sums in f32, but in different orders: the GPU's dot products run
 * over 16 four-wide chunks with q pre-scaled by scale*log2(e), its exponentials are exp2f (<= 2
 * ulp), it rescales the running sum per 64-key tile in a different order, keeps the sum in 16
 * f32 strands per row (the CPU in double), and the split-KV path merges partials once more. Each
 * effect is a relative error of a few 1e-7 on the weights (score errors ~1e-6 absolute); an
 * output row is a convex combination of value rows, so its error relative to the row's magnitude
 * stays near 1e-6; 1e-4 leaves two orders of magnitude. Big cases compare a sample of tokens
 * (the CPU reference is the cost). */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"
#include "quant.h"

#define TOL 1e-4
#define HD 64

enum pos_mode { POS_CHUNK, POS_SCATTER };

struct acase {
    enum fy_dtype kv;
    int sinks;
    int32_t window;
    int64_t n_head, n_head_kv;
    int64_t n_tok, n_kv;
    enum pos_mode pm;
};

static fy_gpu_stream g_s;
static double g_max_err;
static int g_cases;

static int run_case(const struct acase *c, uint64_t seed)
{
    struct fy_rng rng = { seed };
    const int64_t qw = c->n_head * HD;
    const int64_t kvw = c->n_head_kv * HD;
    const size_t q_bytes = (size_t)(c->n_tok * qw) * sizeof(float);
    const size_t kv_bytes = (size_t)(c->n_kv > 0 ? c->n_kv : 1) * fy_dtype_row_bytes(c->kv, kvw);
    const size_t pos_bytes = (size_t)c->n_tok * sizeof(int32_t);
    struct fy_bufs b = { .s = g_s };
    float *q = fy_bufs_host(&b, q_bytes), *got = fy_bufs_host(&b, q_bytes);
    void *k = fy_bufs_host(&b, kv_bytes), *v = fy_bufs_host(&b, kv_bytes);
    int32_t *pos = fy_bufs_host(&b, pos_bytes);
    float sinks[64];
    /* the CPU reference runs on a sample of tokens when the case is big */
    int64_t *sel = fy_bufs_host(&b, (size_t)c->n_tok * sizeof(int64_t));
    float *qs = fy_bufs_host(&b, q_bytes), *ref = fy_bufs_host(&b, q_bytes);
    int32_t *ps = fy_bufs_host(&b, pos_bytes);
    int bad = 1;

    if (c->n_head > 64)
        fprintf(stderr, "more than 64 heads (sinks[])\n");
    if (b.err || c->n_head > 64)
        goto done;
    for (int64_t i = 0; i < c->n_tok * qw; i++)
        q[i] = (float)(1.5 * fy_rng_normal(&rng));
    float krow[64 * HD], vrow[64 * HD];   /* one slot's K and V, for Q8_0 */
    for (int64_t i = 0; i < c->n_kv * kvw; i++) {
        const float kf = (float)(1.5 * fy_rng_normal(&rng));
        const float vf = (float)fy_rng_normal(&rng) + 0.1f;
        if (c->kv == FY_Q8_0) {
            krow[i % kvw] = kf;
            vrow[i % kvw] = vf;
            if (i % kvw == kvw - 1) {
                const size_t row = fy_dtype_row_bytes(FY_Q8_0, kvw);
                fy_quant_row_q8_0(krow, (uint8_t *)k + (size_t)(i / kvw) * row, kvw);
                fy_quant_row_q8_0(vrow, (uint8_t *)v + (size_t)(i / kvw) * row, kvw);
            }
        } else if (c->kv == FY_F16) {
            ((uint16_t *)k)[i] = fy_f32_to_fp16(kf);
            ((uint16_t *)v)[i] = fy_f32_to_fp16(vf);
        } else {
            ((float *)k)[i] = kf;
            ((float *)v)[i] = vf;
        }
    }
    for (int64_t h = 0; h < c->n_head; h++)
        sinks[h] = fy_rng_range(&rng, -1.0f, 4.0f);
    for (int64_t t = 0; t < c->n_tok; t++) {
        if (c->pm == POS_CHUNK)
            pos[t] = (int32_t)(c->n_kv - c->n_tok + t);
        else   /* unsorted, gaps, repeats possible */
            pos[t] = (int32_t)(fy_rng_u64(&rng) % (uint64_t)c->n_kv);
    }
    if (c->pm == POS_SCATTER && c->n_tok > 2) {
        pos[0] = (int32_t)(c->n_kv - 1);
        pos[1] = 0;
    }

    const int64_t work = c->n_tok * c->n_head * (c->window ? c->window : c->n_kv);
    const int64_t stride = work > ((int64_t)1 << 26) ? 37 : 1;
    int64_t n_sel = 0;
    for (int64_t t = 0; t < c->n_tok; t++)
        if (t % stride == 0 || t == c->n_tok - 1)
            sel[n_sel++] = t;
    for (int64_t i = 0; i < n_sel; i++) {
        memcpy(qs + i * qw, q + sel[i] * qw, (size_t)qw * sizeof(float));
        ps[i] = pos[sel[i]];
    }

    float *dq = fy_bufs_up(&b, q, q_bytes, "q"), *dout = fy_bufs_dev(&b, q_bytes, "out");
    void *dk = fy_bufs_up(&b, k, kv_bytes, "k"), *dv = fy_bufs_up(&b, v, kv_bytes, "v");
    int32_t *dpos = fy_bufs_up(&b, pos, pos_bytes, "pos");
    float *dsink = fy_bufs_up(&b, sinks, sizeof(sinks), "sinks");
    if (b.err)
        goto done;

    struct fy_attn_args a = {
        .n_tok = c->n_tok, .n_head = c->n_head, .n_head_kv = c->n_head_kv, .head_dim = HD,
        .q = dq, .k = dk, .v = dv, .kv_type = c->kv, .n_kv = c->n_kv, .pos = dpos,
        .sinks = c->sinks ? dsink : NULL, .window = c->window, .scale = 0.125f,
    };
    if (fy_gpu_attention(dout, &a, g_s) != FY_OK || fy_bufs_down(&b, got, dout, q_bytes))
        goto done;

    struct fy_attn_args ra = a;
    ra.n_tok = n_sel;
    ra.q = qs;
    ra.k = k;
    ra.v = v;
    ra.pos = ps;
    ra.sinks = c->sinks ? sinks : NULL;
    fy_cpu_attention(ref, &ra);

    double max_err = 0.0;
    int64_t bad_t = -1, bad_h = -1;
    for (int64_t i = 0; i < n_sel; i++)
        for (int64_t h = 0; h < c->n_head; h++) {
            const float *r = ref + (i * c->n_head + h) * HD;
            const float *g = got + (sel[i] * c->n_head + h) * HD;
            double num = 0.0, den = 0.0;
            for (int d = 0; d < HD; d++) {
                const double e = fabs((double)g[d] - r[d]);
                num = e > num || e != e ? e : num;
                den = fabs((double)r[d]) > den ? fabs((double)r[d]) : den;
            }
            const double err = den > 0.0 ? num / den : num;
            if (!(err <= max_err))
                max_err = err;   /* NaN sticks */
            if (!(err <= TOL) && bad_t < 0) {
                bad_t = sel[i];
                bad_h = h;
            }
        }
    bad = bad_t >= 0;
    g_cases++;
    if (max_err > g_max_err || max_err != max_err)
        g_max_err = max_err;
    printf("%s attn %s sinks %d window %3d heads %2lld/%lld n_tok %4lld n_kv %5lld pos %s%s: "
           "max row rel err %.3g\n", bad ? "FAIL" : "PASS",
           c->kv == FY_F16 ? "f16" : c->kv == FY_Q8_0 ? "q8_0" : "f32",
           c->sinks, c->window, (long long)c->n_head, (long long)c->n_head_kv,
           (long long)c->n_tok, (long long)c->n_kv, c->pm == POS_CHUNK ? "chunk" : "scatter",
           stride > 1 ? " (sampled)" : "", max_err);
    if (bad) {
        const int64_t i = bad_t;
        printf("  first bad row: token %lld (pos %d) head %lld: gpu[0] %.9g\n", (long long)i,
               pos[i], (long long)bad_h, (double)got[(i * c->n_head + bad_h) * HD]);
    }
done:
    fy_bufs_free(&b);
    return bad;
}

/* last query positions of a chunk at the end of the cache */
static const int32_t ends[] = { 0, 1, 127, 128, 129, 255, 1000 };
static const int64_t toks[] = { 1, 7, 33, 512 };

int main(void)
{
    int failed = 0, rc = fy_test_gpu_start(NULL, &g_s);
    uint64_t seed = 1;

    if (rc)
        return rc;
    const int emu = fy_test_gpu_is_emu();

    static const enum fy_dtype kvs[] = { FY_F16, FY_F32, FY_Q8_0 };
    for (int kv = 0; kv < 3; kv++)
        for (int sk = 0; sk < 2; sk++)
            for (int w = 0; w < 2; w++)
                for (int gq = 0; gq < 2; gq++) {
                    /* the emulator: Q8_0 with 8/2 heads only (the cache load is what differs) */
                    if (emu && kvs[kv] == FY_Q8_0 && !gq)
                        continue;
                    struct acase c = {
                        .kv = kvs[kv], .sinks = sk, .window = w ? 128 : 0,
                        .n_head = gq ? 8 : 64, .n_head_kv = gq ? 2 : 8, .pm = POS_CHUNK,
                    };
                    for (size_t ti = 0; ti < FY_ARRAY_LEN(toks); ti++) {
                        c.n_tok = toks[ti];
                        /* the chunk starting at slot 0, then the listed last positions */
                        for (int e = -1; e < (int)FY_ARRAY_LEN(ends); e++) {
                            const int64_t last = e < 0 ? c.n_tok - 1 : ends[e];
                            if (last < c.n_tok - 1 || (e >= 0 && last == c.n_tok - 1))
                                continue;
                            /* the emulator (~60 s): n_tok 512 only at the largest context,
                             * and with 64/8 heads only windowed with sinks */
                            if (emu && c.n_tok == 512 &&
                                (last != 1000 || (c.n_head == 64 && !(c.window && c.sinks))))
                                continue;
                            c.n_kv = last + 1;
                            failed += run_case(&c, seed++);
                        }
                    }
                    /* non-contiguous positions, and long-context decode (split KV) */
                    c.pm = POS_SCATTER;
                    c.n_tok = 33;
                    c.n_kv = 1001;
                    if (!emu || c.n_head != 64 || c.sinks)
                        failed += run_case(&c, seed++);
                    c.pm = POS_CHUNK;
                    c.n_tok = 1;
                    c.n_kv = emu ? 4100 : 32768;
                    failed += run_case(&c, seed++);
                }

    if (!emu) {   /* big prefill: n_tok 4096 at n_kv 4096 and 8192 (chunk at the end) */
        for (int w = 0; w < 2; w++)
            for (int64_t n_kv = 4096; n_kv <= 8192; n_kv *= 2) {
                struct acase c = { .kv = FY_F16, .sinks = 1, .window = w ? 128 : 0, .n_head = 64,
                                   .n_head_kv = 8, .n_tok = 4096, .n_kv = n_kv,
                                   .pm = POS_CHUNK };
                failed += run_case(&c, seed++);
            }
        struct acase c = { .kv = FY_F32, .sinks = 0, .window = 0, .n_head = 64, .n_head_kv = 8,
                           .n_tok = 4096, .n_kv = 8192, .pm = POS_SCATTER };
        failed += run_case(&c, seed++);
        c.kv = FY_Q8_0;
        c.pm = POS_CHUNK;
        c.sinks = 1;
        failed += run_case(&c, seed++);
    }

    /* argument checks: n_tok 0 is a no-op; head_dim other than 64 is refused */
    struct fy_attn_args z = { .n_tok = 0, .n_head = 64, .n_head_kv = 8, .head_dim = HD };
    FY_EXPECT(fy_gpu_attention(NULL, &z, g_s) == FY_OK);
    float *dummy = NULL;
    if (fy_gpu_malloc((void **)&dummy, 4096, "dummy") == FY_OK) {
        struct fy_attn_args b = { .n_tok = 1, .n_head = 2, .n_head_kv = 1, .head_dim = 32,
                                  .q = dummy, .k = dummy, .v = dummy, .kv_type = FY_F32,
                                  .n_kv = 1, .pos = (const int32_t *)dummy, .scale = 1.0f };
        FY_EXPECT(fy_gpu_attention(dummy, &b, g_s) == FY_E_INVAL);
        b.head_dim = HD;
        b.n_head = 3;   /* not a multiple of n_head_kv */
        b.n_head_kv = 2;
        FY_EXPECT(fy_gpu_attention(dummy, &b, g_s) == FY_E_INVAL);
        fy_gpu_free(dummy);
    }
    printf("%d cases, max row rel err %.3g (tol %g)\n", g_cases, g_max_err, TOL);
    return fy_test_gpu_end(g_s, failed, "attention");
}
