/* Issue 13's test of the Q8_0 KV cache: a tiny synthetic gpt-oss model (fy_test_hybrid.h: 4
 * layers, d_model 64, 4 query heads over 2 KV heads of 64, so a cache row of 128 is 4 blocks;
 * sliding window 8 on every other layer) evaluates 320 tokens (the context) with a Q8_0 cache,
 * and its logits are held against the same run with the F16 cache: per row, the relative L2
 * error and the arg-max.
 *
 * On the CPU (built as test_kv_q8_0 in the unit suite, with the best kernel set, and with FY_CPU=c
 * and avx2) in one micro-batch of 320, in micro-batches of 64, and token by token. Built as
 * test_gpu_kv_q8_0(_emu) it also runs on GPU0 (or the emulator) all-GPU (-ngl 99) and hybrid
 * (-ngl 2: two layers' caches on each side), in micro-batches of 64 and token by token, against
 * the CPU's F16 logits (with a GPU's int8/bf16 matmuls, fy_gpu_q8_enabled/fy_gpu_mma_enabled:
 * against the GPU's own F16 run), and against the CPU's Q8_0 logits.
 *
 * Gates (from measurement; the numbers measured are next to each gate below). A cache stored
 * as something other than Q8_0 fails: the session's cache must be Q8_0 with w/32 blocks of 34
 * bytes a row, and the error against F16 must be above a floor (an F16 cache in disguise gives
 * 0 on the CPU); on the GPU the Q8_0 run must also be nearer to the CPU's Q8_0 run than to its
 * F16 run (checked where the GPU's matmuls are f32 like the CPU's: the emulator's defaults). */
#include <stdlib.h>

#include "fy_test_hybrid.h"
#include "graph/kvcache.h"
#ifndef FY_TEST_CPU_ONLY
#include "graph/device_gpu.h"
#include "hip/fy_gpu.h"
#endif

enum { N = 320, VOCAB = 600, E = 16, KUSED = 2, THRESHOLD = 4 };

/* Q8_0 against F16, per row over the 320 rows. This model's attention is peaky (ferry synth's
 * default q/k weights), so the 8-bit rounding of K (d/2 = max|x|/254 per block of 32: ~0.5% of
 * an element against F16's 0.05%) moves the softmax weights, and through 4 layers a router
 * near-tie now and then picks other experts for a row. Measured (CPU: amx, avx2 and c sets; ub 320, 64, 1):
 * median 1.67e-2 .. 1.70e-2, p90 9.0e-2 .. 9.5e-2, worst 0.46 (a row whose router flipped),
 * arg-max 304-307/320; for scale, F16 against F32: median 3.4e-4, worst 9.3e-4, 320/320.
 * Gates: median <= 0.04, p90 <= 0.2, the same arg-max on >= 92% of rows (the worst row is
 * printed, not gated); floor: median >= 2e-3 (an F16 or F32 cache gives 0 or 3.4e-4). */
#define GATE_MED 0.04
#define GATE_P90 0.2
#define GATE_ARGMAX 92
#define FLOOR_MED 2e-3
/* With a GPU's int8 GEMV and bf16 GEMM (the defaults on a real GPU; on the emulator with
 * FY_GPU_DP4A=1 FY_GPU_MMA=1), Q8_0 against the GPU's own F16 run: the int8 activations add
 * their own rounding on top, and token by token over all 4 layers the two runs drift further.
 * Measured on the emulator: median 1.4e-2 .. 2.9e-2, p90 3.3e-2 .. 0.16, arg-max 287-316/320.
 * Gates: median <= 0.06, p90 <= 0.3, arg-max >= 85%. */
#define GATE_MED_INT8 0.06
#define GATE_P90_INT8 0.3
#define GATE_ARGMAX_INT8 85

static int failed;

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct row_stats {
    double med, p90, worst;
    int64_t argmax;   /* rows with the same arg-max */
};

static struct row_stats row_stats(const float *got, const float *ref)
{
    static double err[N];
    struct row_stats r = {0, 0, 0, 0};
    for (int64_t t = 0; t < N; t++) {
        bool same;
        const double e = fy_hyb_row_err(got + t * VOCAB, ref + t * VOCAB, VOCAB, &same);
        err[t] = isnan(e) ? INFINITY : e;
        r.argmax += same;
    }
    qsort(err, N, sizeof(double), cmp_double);
    r.med = err[N / 2];
    r.p90 = err[N * 9 / 10];
    r.worst = err[N - 1];
    return r;
}

/* q8 against f16: within the gates (int8: those of int8/bf16 matmuls), above the floor */
static void check_vs_f16(const char *what, const float *q8, const float *f16, bool int8)
{
    const struct row_stats r = row_stats(q8, f16);
    const bool ok = r.med <= (int8 ? GATE_MED_INT8 : GATE_MED) &&
                    r.p90 <= (int8 ? GATE_P90_INT8 : GATE_P90) &&
                    r.argmax * 100 >= (int8 ? GATE_ARGMAX_INT8 : GATE_ARGMAX) * N &&
                    r.med >= FLOOR_MED;
    printf("%s %-28s q8_0 vs f16: median %.2e p90 %.2e worst %.2e arg-max %lld/%d\n",
           ok ? "ok  " : "FAIL", what, r.med, r.p90, r.worst, (long long)r.argmax, N);
    failed += !ok;
}

/* the inspection hook: the session's cache is Q8_0, rows of w/32 blocks of 34 bytes */
static void inspect(const struct fy_session *s, const struct fy_device *gpu, void *ud)
{
    (void)gpu;
    const struct fy_kvcache *kv = fy_session_kv(s);
    bool *ok = ud;
    size_t slots = 0; /* every layer's: n_ctx, or a sliding-window layer's ring */
    for (int64_t l = 0; l < kv->n_layer; l++)
        slots += (size_t)(fy_kvcache_ring(kv, l) > 0 ? fy_kvcache_ring(kv, l) : kv->n_ctx);
    *ok = kv->type == FY_Q8_0 && kv->width % 32 == 0 &&
          fy_kvcache_row_bytes(kv) == (size_t)kv->width / 32 * 34 &&
          fy_kvcache_bytes(kv) == 2 * slots * (size_t)kv->width / 32 * 34;
}

static fy_status eval(const struct fy_hyb_run *base, enum fy_dtype kv,
                      const struct fy_placement *pl, struct fy_device *gpu, int64_t ub,
                      float *out)
{
    bool q8_ok = false;
    struct fy_hyb_run r = *base;
    r.kv_type = kv;
    r.inspect = kv == FY_Q8_0 ? inspect : NULL;
    r.inspect_ud = &q8_ok;
    fy_status st = fy_hyb_eval(&r, pl, gpu, ub, out, NULL);
    if (st == FY_OK && kv == FY_Q8_0 && !q8_ok) {
        printf("FAIL the session's cache is not Q8_0 (rows of w/32 blocks of 34 bytes)\n");
        failed++;
    }
    return st;
}

int main(void)
{
#ifndef FY_TEST_CPU_ONLY
#ifndef FY_TEST_EMU
    const int n_gpu = fy_device_gpu_count();
    if (n_gpu < 0)
        return FY_TEST_HARD;
    if (n_gpu < 1) {
        printf("test_gpu_kv_q8_0: no GPU (%s build): skipped\n", fy_device_gpu_platform());
        return FY_TEST_SKIP;
    }
#endif
#endif
    struct fy_hyb_model hm;
    if (fy_hyb_model_new(&hm, "/tmp/fy-kv-q8-XXXXXX", 64, E, KUSED, VOCAB, 41) != FY_OK)
        return FY_TEST_HARD;
    int32_t toks[N];
    fy_hyb_tokens(toks, N, VOCAB, 13);
    const struct fy_hyb_run run = {hm.m, toks, N, FY_F16, NULL, NULL};
    const size_t bytes = sizeof(float) * N * VOCAB;
    float *f16 = malloc(bytes), *q8 = malloc(bytes), *got = malloc(bytes), *gpu16 = malloc(bytes);
    if (!f16 || !q8 || !got || !gpu16 || eval(&run, FY_F16, NULL, NULL, N, f16) != FY_OK)
        return FY_TEST_HARD;

    {   /* for scale: F16 against F32 */
        float *f32 = malloc(bytes);
        if (f32 && eval(&run, FY_F32, NULL, NULL, N, f32) == FY_OK) {
            const struct row_stats r = row_stats(f16, f32);
            printf("     (f16 vs f32: median %.2e p90 %.2e worst %.2e arg-max %lld/%d)\n", r.med,
                   r.p90, r.worst, (long long)r.argmax, N);
        }
        free(f32);
    }
    /* the CPU: one micro-batch, 64, token by token (the Q8_0 logits of the first kept) */
    const int64_t cpu_ubs[] = {N, 64, 1};
    for (size_t u = 0; u < FY_ARRAY_LEN(cpu_ubs); u++) {
        char what[64];
        float *out = u == 0 ? q8 : got;
        snprintf(what, sizeof(what), "CPU ub=%lld", (long long)cpu_ubs[u]);
        if (eval(&run, FY_Q8_0, NULL, NULL, cpu_ubs[u], out) != FY_OK) {
            printf("FAIL %s: evaluation\n", what);
            failed++;
            continue;
        }
        check_vs_f16(what, out, f16, false);
    }

#ifndef FY_TEST_CPU_ONLY
    /* GPU0: all-GPU and hybrid */
    static const struct fy_hyb_recipe recipes[] = {
        {"-ngl 99", {"-ngl", "99"}, 2},
        {"-ngl 2", {"-ngl", "2"}, 2},
    };
    const int64_t gpu_ubs[] = {64, 1};
    const bool f32_matmuls = !fy_gpu_q8_enabled() && !fy_gpu_mma_enabled();
    struct fy_device_gpu_opts go;
    fy_device_gpu_opts_default(&go);
    for (size_t ri = 0; ri < FY_ARRAY_LEN(recipes); ri++) {
        struct fy_placement *pl = NULL;
        if (fy_hyb_place(hm.m, recipes[ri].words, recipes[ri].n, THRESHOLD, &pl) != FY_OK) {
            printf("FAIL %s: placement\n", recipes[ri].name);
            failed++;
            continue;
        }
        for (size_t u = 0; u < FY_ARRAY_LEN(gpu_ubs); u++) {
            struct fy_device *dev = NULL;
            char what[64];
            snprintf(what, sizeof(what), "GPU0 %s ub=%lld", recipes[ri].name,
                     (long long)gpu_ubs[u]);
            if (fy_device_gpu_new(1, &go, &dev) != FY_OK)
                return FY_TEST_HARD;
            /* the F16 run to hold Q8_0 against: the CPU's where the GPU's matmuls are f32
             * (they agree to ~1e-6), else the GPU's own in the same placement (its int8/bf16
             * matmuls are ~2e-2 from the CPU's, test_gpu_e2e: the cache type is what differs) */
            fy_status st = FY_OK;
            if (!f32_matmuls) {
                struct fy_device *d16 = NULL;
                st = fy_device_gpu_new(1, &go, &d16);
                if (st == FY_OK)
                    st = eval(&run, FY_F16, pl, d16, gpu_ubs[u], gpu16);
                fy_device_free(d16);
            }
            if (st == FY_OK)
                st = eval(&run, FY_Q8_0, pl, dev, gpu_ubs[u], got);
            if (st != FY_OK) {
                printf("FAIL %s: %s\n", what, fy_status_str(st));
                failed++;
            } else {
                check_vs_f16(what, got, f32_matmuls ? f16 : gpu16, !f32_matmuls);
                /* nearer to the CPU's Q8_0 than to its F16 (f32 matmuls: the GPU and CPU
                 * differ by the order of sums, but a K a few ulp apart may round to the next
                 * Q8_0 step, and a router near-tie may flip). Measured on the emulator: median
                 * 2.4e-7 .. 2.3e-4 (1.7e-2 against F16), worst 0.36, arg-max 318-320/320.
                 * Gates: median 10 times below the one against F16, arg-max >= 98% */
                const struct row_stats a = row_stats(got, q8), b = row_stats(got, f16);
                const bool ok = !f32_matmuls || (a.med * 10 <= b.med && a.argmax * 100 >= 98 * N);
                printf("%s %-28s q8_0 vs CPU q8_0: median %.2e worst %.2e arg-max %lld/%d%s\n",
                       ok ? "ok  " : "FAIL", what, a.med, a.worst, (long long)a.argmax, N,
                       f32_matmuls ? "" : " (not gated: int8/bf16 matmuls)");
                failed += !ok;
            }
            if (dev->stats.bytes_live != 0) {
                printf("FAIL %s: %llu device bytes left\n", what,
                       (unsigned long long)dev->stats.bytes_live);
                failed++;
            }
            fy_device_free(dev);
        }
        fy_placement_free(pl);
    }
#endif

    free(f16);
    free(q8);
    free(got);
    free(gpu16);
    fy_hyb_model_free(&hm);
    printf("%s\n", failed ? "test_kv_q8_0: FAILED" : "test_kv_q8_0: ok");
    return failed ? 1 : 0;
}
