/* CPU kernel micro-benchmark (src/cpu/qdot.h), per kernel set this CPU runs, on gpt-oss shapes,
 * against a read-bandwidth baseline measured in the same run (fy_mem_bandwidth_gbps, the probe
 * of ferry bench: every thread reading a buffer far larger than the last-level cache). Medians of
 * several repetitions.
 *   - GEMV (1 token; decode): 2880-wide rows of Q8_0 / MXFP4 weights, as many bytes as the
 *     probe reads (4 x the last-level cache, at least 512 MiB), so every repetition streams
 *     from memory: GB/s of weights and the fraction of the read bandwidth;
 *   - GEMM (512 tokens; prompt processing): one 2880 x 2880 matrix: GOP/s (2 x multiply-adds),
 *     and for MXFP4 the same with int8 activations (q8, the experts' prompt path);
 *   - attention (bench_attention): a micro-batch of 512 after 3584 cached slots, and one query;
 *   - small batches (bench_small_batch, --small-batch): the GEMV's weights against 1, 2, 3, 4,
 *     8 tokens (the dense matrices of B sequences decoding together, ferry batch): weight GB/s
 *     and tokens x GB/s, in the set in use; bandwidth-bound kernels keep GB/s as tokens grow.
 * The rows are split over the OpenMP threads as fy_cpu_matmul does (the set's mm_rows, mm_tok).
 * usage: bench_cpu_ops [--smoke] [--attention] [--small-batch] [--kv f16|f32|q8_0]   (--smoke: tiny sizes, one
 * repetition: proves the program; --attention: the attention table only; --kv: the attention's
 * cache type, default f16) */
#include "bench_util.h"
#include "cli/benchinfo.h"
#include "cpu/ops.h"
#include "cpu/qdot.h"
#include "quant.h"
#include "fy_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif

#define D 2880
#define REPS 7

/* y = W x over `rows` rows split over the threads as fy_cpu_matmul does: chunks of 64 rows for
 * one token, else of the set's mm_rows, its calls of mm_tok tokens */
static void run_mm(const struct fy_cpu_set *s, enum fy_dtype t, const uint8_t *w, size_t row_bytes,
                   int64_t rows, const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y)
{
    const int64_t ir = n_tok > 1 ? s->mm_rows : 64, n_chunks = (rows + ir - 1) / ir;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t o0 = c * ir, nr = rows - o0 < ir ? rows - o0 : ir;
        for (int64_t t0 = 0; t0 < n_tok; t0 += s->mm_tok) {
            int64_t nt = n_tok - t0 < s->mm_tok ? n_tok - t0 : s->mm_tok;
            s->mm(t, w + (size_t)o0 * row_bytes, row_bytes, nr, x + t0 * nb, nb, nt,
                  y + t0 * rows + o0, rows, NULL);
        }
    }
}

/* Attention of the 20b's shape (64 query heads, 8 KV heads, head_dim 64, a cache of kv_type
 * (F16 by default), causal):
 * a micro-batch of 512 queries after `depth` cached slots, and one query at the end of a cache
 * of depth + 512 slots, with that cache just read by the micro-batch (in L3) and "from memory":
 * each repetition over the next of COLD_LAYERS caches, as decoding goes through the layers;
 * GFLOP/s counts 4 * head_dim flops per visible (query head, slot). */
#define COLD_LAYERS 24

/* Weights as large as the probe's buffer against n_tok = 1, 2, 3, 4, 8 tokens, the set in use:
 * weight GB/s (bytes / time) and the probe's, medians. */
static int bench_small_batch(int smoke, int reps, uint64_t *seed, const struct fy_qx_block *xq)
{
    static const enum fy_dtype types[] = {FY_Q8_0, FY_MXFP4};
    static const int64_t toks[] = {1, 2, 3, 4, 8};
    const struct fy_cpu_set *s = fy_cpu_set();
    const size_t bytes = smoke ? (size_t)4 << 20 : fy_mem_bandwidth_bytes();
    const int64_t nb = D / FY_QX_BLOCK;
    printf("\nsmall batches (%s): weights streamed from memory against n tokens\n\n", s->name);
    printf("| type | tokens | weight GB/s | probe GB/s | time per call vs 1 token |\n");
    printf("|---|---|---|---|---|\n");
    for (size_t it = 0; it < FY_ARRAY_LEN(types); it++) {
        const enum fy_dtype t = types[it];
        const size_t row_bytes = (size_t)nb * (t == FY_Q8_0 ? 34 : 17);
        const int64_t rows = (int64_t)(bytes / row_bytes);
        uint8_t *w = malloc((size_t)rows * row_bytes);
        float *y = malloc((size_t)rows * 8 * sizeof(float));
        if (!w || !y)
            return 1;
        for (size_t k = 0; k < (size_t)rows * row_bytes; k++)
            w[k] = (uint8_t)rng_next(seed);
        for (int64_t r = 0; r < rows * nb; r++)
            w[(size_t)r * (t == FY_Q8_0 ? 34 : 17) + (t == FY_Q8_0 ? 1 : 0)] =
                t == FY_Q8_0 ? 0x20 : 127;
        double one = 0;
        for (size_t k = 0; k < FY_ARRAY_LEN(toks); k++) {
            double v[REPS], tm[REPS];
            const double bw = smoke ? 0 : fy_mem_bandwidth_gbps();
            run_mm(s, t, w, row_bytes, rows, xq, nb, toks[k], y); /* warm-up */
            for (int r = 0; r < reps; r++) {
                const double t0 = now_s();
                run_mm(s, t, w, row_bytes, rows, xq, nb, toks[k], y);
                tm[r] = now_s() - t0;
                v[r] = (double)rows * (double)row_bytes / tm[r] / 1e9;
            }
            const double tmed = median(tm, reps);
            if (k == 0)
                one = tmed;
            printf("| %s | %lld | %.2f | %.2f | %.2f |\n", fy_dtype_name(t), (long long)toks[k],
                   median(v, reps), bw, tmed / one);
        }
        free(w);
        free(y);
    }
    return 0;
}
static int bench_attention(int smoke, int reps, uint64_t *seed, enum fy_dtype kv_type)
{
    const int64_t nh = 64, nkv = 8, hd = 64, n_tok = smoke ? 16 : 512;
    const int64_t depth = smoke ? 48 : 3584, n_slot = depth + n_tok;
    const size_t row = fy_dtype_row_bytes(kv_type, nkv * hd), cache = (size_t)n_slot * row;
    float *q = malloc((size_t)(n_tok * nh * hd) * sizeof(float));
    float *kr = malloc((size_t)(nkv * hd) * sizeof(float)), *vr = malloc((size_t)(nkv * hd) * 4);
    uint8_t *k = malloc(cache);
    uint8_t *v = malloc(cache);
    float *out = malloc((size_t)(n_tok * nh * hd) * sizeof(float));
    float sinks[64];
    int32_t *pos = malloc((size_t)n_tok * sizeof(int32_t));
    const int64_t n_cold = smoke ? 2 : COLD_LAYERS;
    uint8_t *kc = malloc((size_t)n_cold * cache);
    uint8_t *vc = malloc((size_t)n_cold * cache);
    if (!q || !kr || !vr || !k || !v || !out || !pos || !kc || !vc)
        return 1;
    for (int64_t i = 0; i < n_tok * nh * hd; i++)
        q[i] = (float)((int64_t)(rng_next(seed) % 2001) - 1000) / 500.0f;
    for (int64_t j = 0; j < n_slot; j++) {
        for (int64_t i = 0; i < nkv * hd; i++) {
            kr[i] = (float)((int64_t)(rng_next(seed) % 2001) - 1000) / 500.0f;
            vr[i] = (float)((int64_t)(rng_next(seed) % 2001) - 1000) / 1000.0f;
        }
        fy_quant_row(kv_type, kr, k + (size_t)j * row, nkv * hd);
        fy_quant_row(kv_type, vr, v + (size_t)j * row, nkv * hd);
    }
    for (int64_t l = 0; l < n_cold; l++) {
        memcpy(kc + l * cache, k, cache);
        memcpy(vc + l * cache, v, cache);
    }
    for (int h = 0; h < 64; h++)
        sinks[h] = (float)(h % 7) - 3.0f;
    for (int64_t t = 0; t < n_tok; t++)
        pos[t] = (int32_t)(depth + t);
    printf("\nattention (64/8 heads, head_dim 64, %s cache): %lld queries after %lld slots; "
           "1 query at slot %lld, after the prompt and from memory (%lld caches in turn)\n\n",
           fy_dtype_name(kv_type), (long long)n_tok, (long long)depth, (long long)n_slot - 1,
           (long long)n_cold);
    printf("| set | prompt ms | prompt GFLOP/s | decode ms | decode GFLOP/s | decode from memory "
           "ms |\n|---|---|---|---|---|---|\n");
    for (int i = 0; fy_cpu_set_name(i); i++) {
        const struct fy_cpu_set *s = fy_cpu_set_named(fy_cpu_set_name(i));
        if (!s)
            continue;
        struct fy_attn_args a = {.n_tok = n_tok, .n_head = nh, .n_head_kv = nkv, .head_dim = hd,
                                 .q = q, .k = k, .v = v, .kv_type = kv_type, .n_kv = n_slot,
                                 .pos = pos, .sinks = sinks, .window = 0, .scale = 0.125f};
        double vp[REPS], vd[REPS], vc_[COLD_LAYERS * 4];
        fy_cpu_attention_set(s, out, &a);
        for (int r = 0; r < reps; r++) {
            a.n_tok = n_tok;
            a.pos = pos;
            double t0 = now_s();
            fy_cpu_attention_set(s, out, &a);
            vp[r] = now_s() - t0;
            a.n_tok = 1;
            a.pos = pos + n_tok - 1;
            t0 = now_s();
            fy_cpu_attention_set(s, out, &a);
            vd[r] = now_s() - t0;
        }
        const int n_c = (int)(smoke ? 2 : 4 * n_cold);
        for (int r = 0; r < n_c; r++) {
            a.k = kc + (r % n_cold) * cache;
            a.v = vc + (r % n_cold) * cache;
            const double t0 = now_s();
            fy_cpu_attention_set(s, out, &a);
            vc_[r] = now_s() - t0;
        }
        const double pairs_p = (double)nh * ((double)depth * n_tok + n_tok * (n_tok + 1) / 2.0);
        const double pairs_d = (double)nh * (double)n_slot;
        const double tp = median(vp, reps), td = median(vd, reps), tc = median(vc_, n_c);
        printf("| %s | %.1f | %.1f | %.3f | %.1f | %.3f |\n", s->name, tp * 1e3,
               pairs_p * 4.0 * hd / tp / 1e9, td * 1e3, pairs_d * 4.0 * hd / td / 1e9, tc * 1e3);
    }
    free(q);
    free(kr);
    free(vr);
    free(k);
    free(v);
    free(out);
    free(pos);
    free(kc);
    free(vc);
    return 0;
}

/* the same split for the int8-activation kernel (MXFP4) */
static void run_mm8(const struct fy_cpu_set *s, const uint8_t *w, size_t row_bytes, int64_t rows,
                    const struct fy_q8_block *x, int64_t nb, int64_t n_tok, float *y)
{
    const int64_t n_chunks = (rows + 15) / 16;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t o0 = c * 16, nr = rows - o0 < 16 ? rows - o0 : 16;
        s->mm8(w + (size_t)o0 * row_bytes, row_bytes, nr, x, nb, n_tok, y + o0, rows, NULL);
    }
}

int main(int argc, char **argv)
{
    int smoke = 0, attention_only = 0, small_only = 0;
    enum fy_dtype kv_type = FY_F16;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--smoke"))
            smoke = 1;
        else if (!strcmp(argv[i], "--attention"))
            attention_only = 1;
        else if (!strcmp(argv[i], "--small-batch"))
            small_only = 1;
        else if (!strcmp(argv[i], "--kv") && i + 1 < argc && (!strcmp(argv[i + 1], "f16") ||
                 !strcmp(argv[i + 1], "f32") || !strcmp(argv[i + 1], "q8_0"))) {
            i++;
            kv_type = argv[i][0] == 'q' ? FY_Q8_0 : argv[i][1] == '1' ? FY_F16 : FY_F32;
        } else {
            fprintf(stderr, "bench_cpu_ops: unknown argument '%s' (usage: bench_cpu_ops [--smoke] "
                            "[--attention] [--small-batch] [--kv f16|f32|q8_0])\n", argv[i]);
            return 2;
        }
    }
    const int reps = smoke ? 1 : REPS;
    /* the GEMV's weights: as large as the bandwidth probe's buffer (4 x the last-level cache,
     * at least 512 MiB), so that they stream from memory as the model's do */
    const size_t gemv_bytes = smoke ? (size_t)4 << 20 : fy_mem_bandwidth_bytes();
    const int64_t n_tok_gemm = smoke ? 8 : 512;
    static const enum fy_dtype types[] = {FY_Q8_0, FY_MXFP4};
    uint64_t seed = 1;
    int threads = 1;
#if FY_HAVE_OPENMP
    threads = omp_get_max_threads();
#endif
    char cpu[128] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(cpu, sizeof(cpu), "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    printf("bench_cpu_ops: %s, %d threads, in use: %s\n", cpu, threads, fy_cpu_set()->name);
    if (attention_only)
        return bench_attention(smoke, reps, &seed, kv_type) ? 1 : 0;

    /* the probe of ferry bench (benchinfo.c): every thread reading fy_mem_bandwidth_bytes() */
    double v_bw[REPS];
    for (int r = 0; r < reps; r++)
        v_bw[r] = fy_mem_bandwidth_gbps();
    const double base = median(v_bw, reps);
    printf("read bandwidth (fy_mem_bandwidth_gbps: all threads, %zu MiB): %.2f GB/s (median of "
           "%d)\n\n",
           fy_mem_bandwidth_bytes() >> 20, base, reps);

    const int64_t nb = D / FY_QX_BLOCK;
    float *xf = malloc((size_t)n_tok_gemm * D * sizeof(float));
    struct fy_qx_block *xq = malloc((size_t)n_tok_gemm * nb * sizeof(*xq));
    const size_t max_rows = gemv_bytes / 17 / (size_t)nb; /* MXFP4 rows are the shortest */
    const size_t ny = max_rows > (size_t)(n_tok_gemm * D) ? max_rows : (size_t)(n_tok_gemm * D);
    float *y = malloc(ny * sizeof(float));
    if (!xf || !xq || !y)
        return 1;
    for (int64_t i = 0; i < n_tok_gemm * D; i++)
        xf[i] = (float)((int64_t)(rng_next(&seed) % 2001) - 1000) / 1000.0f;
    fy_qdot_quantize_ref(xf, xq, n_tok_gemm * D);
    struct fy_q8_block *x8 = malloc((size_t)n_tok_gemm * nb * sizeof(*x8));
    if (!x8)
        return 1;
    fy_qdot_quantize8_ref(xf, x8, n_tok_gemm * D);
    if (small_only)
        return bench_small_batch(smoke, reps, &seed, xq) ? 1 : 0;
    printf("| set | type | GEMV GB/s | probe just before, GB/s | GEMV / probe | GEMM %lld tok GOP/s "
           "| GEMM q8 GOP/s |\n",
           (long long)n_tok_gemm);
    printf("|---|---|---|---|---|---|---|\n");

    for (int i = 0; fy_cpu_set_name(i); i++) {
        const struct fy_cpu_set *s = fy_cpu_set_named(fy_cpu_set_name(i));
        if (!s) {
            printf("| %s | - | skipped: %s | | | | |\n", fy_cpu_set_name(i),
                   fy_cpu_set_supported(fy_cpu_set_name(i)) ? "not in this build"
                                                            : "this CPU lacks it");
            continue;
        }
        for (size_t it = 0; it < FY_ARRAY_LEN(types); it++) {
            const enum fy_dtype t = types[it];
            const size_t row_bytes = (size_t)nb * (t == FY_Q8_0 ? 34 : 17);
            const int64_t rows = (int64_t)(gemv_bytes / row_bytes);
            uint8_t *w = malloc((size_t)rows * row_bytes);
            if (!w)
                return 1;
            for (size_t k = 0; k < (size_t)rows * row_bytes; k++)
                w[k] = (uint8_t)rng_next(&seed);
            for (int64_t r = 0; r < rows * nb; r++) /* sane scales: no inf/NaN */
                w[(size_t)r * (t == FY_Q8_0 ? 34 : 17) + (t == FY_Q8_0 ? 1 : 0)] =
                    t == FY_Q8_0 ? 0x20 : 127;
            double v[REPS];
            /* the probe again just before this GEMV: on a shared host the bandwidth moves by a
             * quarter within minutes, so each row's ratio is to its own probe */
            const double bw_now = smoke ? base : fy_mem_bandwidth_gbps();
            run_mm(s, t, w, row_bytes, rows, xq, nb, 1, y); /* warm-up */
            for (int r = 0; r < reps; r++) {
                double t0 = now_s();
                run_mm(s, t, w, row_bytes, rows, xq, nb, 1, y);
                v[r] = (double)rows * (double)row_bytes / (now_s() - t0) / 1e9;
            }
            double gemv = median(v, reps);
            /* the GEMM on the first D rows (cache-resident weights: compute-bound) */
            for (int r = 0; r < reps; r++) {
                double t0 = now_s();
                run_mm(s, t, w, row_bytes, D < rows ? D : rows, xq, nb, n_tok_gemm, y);
                v[r] = 2.0 * (D < rows ? D : rows) * D * (double)n_tok_gemm / (now_s() - t0) / 1e9;
            }
            double gemm = median(v, reps);
            char q8[32] = "-";
            if (t == FY_MXFP4 && s->mm8) { /* the same GEMM with int8 activations */
                const int64_t gr = D < rows ? D : rows;
                for (int r = 0; r < reps; r++) {
                    double t0 = now_s();
                    run_mm8(s, w, row_bytes, gr, x8, nb, n_tok_gemm, y);
                    v[r] = 2.0 * gr * D * (double)n_tok_gemm / (now_s() - t0) / 1e9;
                }
                snprintf(q8, sizeof(q8), "%.1f", median(v, reps));
            }
            printf("| %s | %s | %.2f | %.2f | %.2f | %.1f | %s |\n", s->name, fy_dtype_name(t), gemv,
                   bw_now, bw_now > 0 ? gemv / bw_now : 0, gemm, q8);
            free(w);
        }
    }
    free(xf);
    free(xq);
    free(x8);
    free(y);
    return bench_attention(smoke, reps, &seed, kv_type) ? 1 : 0;
}
