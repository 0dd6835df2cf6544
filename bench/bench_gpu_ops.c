/* GPU kernel throughput on gpt-oss shapes, through the launchers of src/hip/fy_gpu.h: matmul
 * (GEMV at n_tok 1: MXFP4 expert 2880->2880, Q8_0 attn_q 2880->4096, Q8_0 output 2880->201088;
 * GEMM at n_tok 512 and 2048; on the matrix units in the default staging mode and with
 * FY_GPU_PIPE=0, the first one-stage kernel, for comparison), attention (decode over an F16
 * cache, 64/8 heads, head_dim 64, at n_kv 4096 and 8192, window 0 and 128; causal prefill of 2048
 * tokens) and moe_ffn (20b: 32 experts, k 4, d = n_ff = 2880, MXFP4, n_tok 1 and 2048).
 *
 * Baseline, measured in the same run: fy_gpu_copy_d2d of a 1 GiB buffer, whose GB/s count the
 * bytes read plus the bytes written (the memory roofline). Bandwidth figures count the bytes a
 * launch must read (weights; visible K and V slots; the selected experts' gate/up/down) and give
 * their ratio to the baseline. A second reference line, fy_gpu_memset of 4 bytes, is the cost of
 * one enqueue: a case within 1.5x of it is marked launch-bound.
 *
 * Timing: fy_gpu.h has no timed events, so the host times with clock_gettime a batch of launches
 * enqueued back to back and then fy_gpu_stream_sync; a launch's time is the batch's over its
 * launches. After warm-up, the batch is sized so that it lasts about 20 ms; the figure is the
 * median over --reps batches. Each launch of a batch reads another copy of the case's working set
 * (another expert, matrix copy or KV cache), the copies spanning at least 512 MiB, so that no
 * launch finds its bytes in the GPU's L2 / last-level cache; moe_ffn at n_tok 1 cycles the k-expert
 * groups of one layer (all 32 experts' 424 MB).
 * Inputs are random (a few hundred rows quantized with fy_quant_row on the host, repeated over
 * the device buffer by device copies); each case allocates its buffers and frees them.
 *
 *   bench_gpu_ops [--reps N] [--jsonl FILE] [--smoke]
 *     --reps N      timed batches per case (default 11)
 *     --jsonl FILE  also write one JSON object per case to FILE
 *     --smoke       tiny shapes, one launch per case (proves the program on the emulator)
 * Exits 77 when fy_gpu_count() == 0, 1 when a case fails or the GPU driver cannot be used, 2 on
 * bad arguments. */
#include "cli/benchinfo.h"
#include "hip/fy_gpu.h"
#include "quant.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_util.h"

#define MAX_REPS 101
#define MAX_BATCH 4096
#define CHUNK_ROWS 256                /* distinct random rows per buffer */
#define TARGET_S 0.020                /* a timed batch's length */
#define FOOTPRINT ((size_t)512 << 20) /* bytes each case's rotated working set spans */
#define N_HEAD 64
#define N_HEAD_KV 8
#define HEAD_DIM 64

/* The shapes of one run: gpt-oss (20b for the MoE) or the smoke test's. */
struct shapes {
    size_t copy_bytes;
    int64_t d, q_out, vocab; /* d_model; attn_q outputs; output rows */
    int64_t n_exp, n_ff;     /* experts; expert FFN width */
    int k;                   /* experts per token */
    int64_t gemm_tok[2];
    int64_t kv[2];   /* decode n_kv */
    int32_t window;  /* sliding window of the windowed layers */
    int64_t prefill; /* prefill n_tok = n_kv */
    int64_t moe_tok[2];
};

static const struct shapes full_shapes = {
    .copy_bytes = (size_t)1 << 30,
    .d = 2880,
    .q_out = N_HEAD * HEAD_DIM,
    .vocab = 201088,
    .n_exp = 32,
    .n_ff = 2880,
    .k = 4,
    .gemm_tok = {512, 2048},
    .kv = {4096, 8192},
    .window = 128,
    .prefill = 2048,
    .moe_tok = {1, 2048},
};
static const struct shapes smoke_shapes = {
    .copy_bytes = (size_t)1 << 20,
    .d = 64,
    .q_out = 128,
    .vocab = 512,
    .n_exp = 8,
    .n_ff = 64,
    .k = 4,
    .gemm_tok = {16, 32},
    .kv = {64, 128},
    .window = 16,
    .prefill = 32,
    .moe_tok = {1, 32},
};

struct bench {
    fy_gpu_stream s;
    struct fy_gpu_info info;
    struct fy_build_info build;
    const struct shapes *sh;
    bool smoke;
    int reps;
    size_t footprint; /* 0: no rotation (smoke) */
    uint64_t seed;    /* advanced by every random buffer */
    double base_gbps; /* the copy baseline; 0 until measured */
    double launch_ms; /* the enqueue floor; 0 until measured */
    FILE *jsonl;
    int failed;
};

/* One case's outcome; bytes or flops per launch give the figure. */
struct result {
    const char *op;   /* the launcher's name without fy_gpu_ */
    const char *kind; /* baseline, floor, gemv, gemm, decode, prefill, moe */
    char shape[112];
    double ms, ms_min;   /* per launch: median and minimum over the batches */
    int batch;           /* launches per batch */
    double bytes, flops; /* per launch */
    bool tflops;         /* figure in TFLOP/s (else GB/s) */
};

typedef fy_status (*launch_fn)(void *ctx, int64_t i);

/* standard normal (Box-Muller), never exactly zero in practice */
static float rng_normal(uint64_t *s)
{
    double u1 = (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Copies of a unit of `unit` bytes, a multiple of `base`, spanning the footprint. */
static int64_t rotation(const struct bench *b, size_t unit, int64_t base)
{
    int64_t n = base;
    while ((size_t)n * unit < b->footprint)
        n += base;
    return n;
}

/* n_rows rows of n_in random values of type t (scale * N(0, 1), then fy_quant_row) in new device
 * memory: CHUNK_ROWS distinct rows uploaded, then repeated by doubling device copies. */
static fy_status rand_dev(struct bench *b, enum fy_dtype t, int64_t n_in, int64_t n_rows,
                          float scale, const char *what, void **out)
{
    const size_t row_bytes = fy_dtype_row_bytes(t, n_in);
    const size_t total = (size_t)n_rows * row_bytes;
    const int64_t n_chunk = n_rows < CHUNK_ROWS ? n_rows : CHUNK_ROWS;
    const size_t chunk = (size_t)n_chunk * row_bytes;
    uint8_t *host = malloc(chunk);
    float *src = malloc((size_t)n_in * sizeof(float));
    uint8_t *d = NULL;
    uint64_t seed = ++b->seed;
    fy_status st = FY_E_NOMEM;

    *out = NULL;
    if (!host || !src)
        goto fail;
    for (int64_t r = 0; r < n_chunk; r++) {
        for (int64_t i = 0; i < n_in; i++)
            src[i] = scale * rng_normal(&seed);
        fy_quant_row(t, src, host + (size_t)r * row_bytes, n_in);
    }
    st = fy_gpu_malloc((void **)&d, total, what);
    if (st != FY_OK)
        goto fail;
    st = fy_gpu_copy_h2d(d, host, chunk, b->s);
    for (size_t done = chunk; st == FY_OK && done < total; done *= 2) {
        const size_t n = total - done < done ? total - done : done; /* [0, n) -> [done, +n) */
        st = fy_gpu_copy_d2d(d + done, d, n, b->s);
    }
    if (st == FY_OK)
        st = fy_gpu_stream_sync(b->s); /* the upload has read `host` */
    if (st != FY_OK)
        goto fail;
    free(host);
    free(src);
    *out = d;
    return FY_OK;
fail:
    fprintf(stderr, "bench_gpu_ops: cannot make %s (%s)\n", what, fy_status_str(st));
    fy_gpu_free(d);
    free(host);
    free(src);
    return st;
}

static fy_status upload(struct bench *b, const void *host, size_t n, const char *what, void **out)
{
    fy_status st = fy_gpu_malloc(out, n, what);
    if (st == FY_OK)
        st = fy_gpu_copy_h2d(*out, host, n, b->s);
    if (st == FY_OK)
        st = fy_gpu_stream_sync(b->s);
    if (st != FY_OK) {
        fy_gpu_free(*out);
        *out = NULL;
    }
    return st;
}

/* Warm-up, batch sizing, then b->reps timed batches of launch(ctx, i) with i counting up. */
static fy_status time_launches(struct bench *b, launch_fn launch, void *ctx, struct result *r)
{
    double dt[MAX_REPS];
    int64_t i = 0;
    int batch = 1;

    for (int w = 0; w < (b->smoke ? 1 : 3); w++)
        FY_TRY(launch(ctx, i++));
    FY_TRY(fy_gpu_stream_sync(b->s));
    if (!b->smoke) {
        double t0 = now_s();
        FY_TRY(launch(ctx, i++));
        FY_TRY(fy_gpu_stream_sync(b->s));
        const double t1 = now_s() - t0;
        const double want = t1 > 0 ? ceil(TARGET_S / t1) : MAX_BATCH;
        batch = want < 1 ? 1 : want > MAX_BATCH ? MAX_BATCH : (int)want;
    }
    for (int rep = 0; rep < b->reps; rep++) {
        double t0 = now_s();
        for (int j = 0; j < batch; j++)
            FY_TRY(launch(ctx, i++));
        FY_TRY(fy_gpu_stream_sync(b->s));
        dt[rep] = (now_s() - t0) / batch * 1e3;
    }
    r->batch = batch;
    r->ms = median(dt, b->reps); /* sorts dt */
    r->ms_min = dt[0];
    return FY_OK;
}

/* ---- output ---- */

static double figure(const struct result *r)
{
    const double s = r->ms * 1e-3;
    return r->tflops ? r->flops / s * 1e-12 : r->bytes / s * 1e-9;
}

static void report(struct bench *b, const struct result *r)
{
    const bool floor_line = !strcmp(r->kind, "floor");
    const double v = floor_line ? r->ms * 1e3 : figure(r);
    const char *unit = floor_line ? "us" : r->tflops ? "TFLOP/s" : "GB/s";
    const bool ratio = !r->tflops && !floor_line && b->base_gbps > 0;
    const bool bound = !floor_line && b->launch_ms > 0 && r->ms < 1.5 * b->launch_ms;
    char rs[32] = "";

    if (ratio)
        snprintf(rs, sizeof(rs), "%.2f", v / b->base_gbps);
    printf("| %-9s | %-58s | %10.4f | %9.4g | %-7s | %7s |%s\n", r->op, r->shape, r->ms, v, unit,
           rs, bound ? " launch-bound" : "");
    fflush(stdout);
    if (!b->jsonl)
        return;
    FILE *f = b->jsonl;
    fprintf(f, "{\"bench\":\"gpu_ops\",\"op\":");
    fy_json_str(f, r->op);
    fprintf(f, ",\"kind\":");
    fy_json_str(f, r->kind);
    fprintf(f, ",\"shape\":");
    fy_json_str(f, r->shape);
    fprintf(f,
            ",\"median_ms\":%.6g,\"min_ms\":%.6g,\"reps\":%d,\"batch\":%d,\"bytes\":%.0f,"
            "\"flops\":%.0f,\"value\":%.6g,\"unit\":",
            r->ms, r->ms_min, b->reps, r->batch, r->bytes, r->flops, v);
    fy_json_str(f, unit);
    if (ratio)
        fprintf(f, ",\"ratio\":%.4f", v / b->base_gbps);
    else
        fprintf(f, ",\"ratio\":null");
    fprintf(f,
            ",\"baseline_gbps\":%.6g,\"launch_bound\":%s,\"smoke\":%s,\"platform\":", b->base_gbps,
            bound ? "true" : "false", b->smoke ? "true" : "false");
    fy_json_str(f, fy_gpu_platform());
    fprintf(f, ",\"device\":");
    fy_json_str(f, b->info.name);
    fprintf(f, ",\"arch\":");
    fy_json_str(f, b->info.arch);
    fprintf(f, ",\"git\":");
    fy_json_str(f, b->build.git);
    fprintf(f, "}\n");
    fflush(f);
}

static void case_failed(struct bench *b, const char *what, fy_status st)
{
    fprintf(stderr, "bench_gpu_ops: %s failed: %s\n", what, fy_status_str(st));
    b->failed++;
}

/* ---- references: copy bandwidth, enqueue floor ---- */

struct copy_ctx {
    fy_gpu_stream s;
    void *dst;
    const void *src;
    size_t n;
};

static fy_status copy_launch(void *p, int64_t i)
{
    struct copy_ctx *c = p;
    (void)i;
    return fy_gpu_copy_d2d(c->dst, c->src, c->n, c->s);
}

static fy_status memset_launch(void *p, int64_t i)
{
    struct copy_ctx *c = p;
    return fy_gpu_memset(c->dst, (int)(i & 0x7f) + 1, c->n, c->s);
}

static void bench_copy(struct bench *b)
{
    const size_t n = b->sh->copy_bytes;
    struct copy_ctx c = {.s = b->s, .n = n};
    void *src = NULL;
    struct result r = {.op = "copy_d2d", .kind = "baseline", .bytes = 2.0 * (double)n};
    fy_status st = rand_dev(b, FY_F32, 1024, (int64_t)(n / 4096), 1.0f, "copy source", &src);

    if (st == FY_OK)
        st = fy_gpu_malloc(&c.dst, n, "copy destination");
    c.src = src;
    if (st == FY_OK)
        st = time_launches(b, copy_launch, &c, &r);
    if (st == FY_OK) {
        snprintf(r.shape, sizeof(r.shape), "%.0f MiB, GB/s of bytes read + written (baseline)",
                 (double)n / 1048576.0);
        b->base_gbps = figure(&r);
        report(b, &r);
    } else {
        case_failed(b, "copy_d2d baseline", st);
    }
    /* the enqueue floor, on the same buffer */
    struct result m = {.op = "memset", .kind = "floor"};
    c.n = 4;
    if (st == FY_OK) {
        st = time_launches(b, memset_launch, &c, &m);
        snprintf(m.shape, sizeof(m.shape), "4 B: one enqueue, the floor of a launch");
        if (st == FY_OK) {
            report(b, &m);
            b->launch_ms = m.ms;
        } else {
            case_failed(b, "memset floor", st);
        }
    }
    fy_gpu_free(c.dst);
    fy_gpu_free(src);
}

/* ---- matmul ---- */

struct mm_ctx {
    fy_gpu_stream s;
    struct fy_mat w; /* device; n_mat copies or experts, rotated */
    const float *x;
    float *y;
    int64_t n_tok;
};

static fy_status mm_launch(void *p, int64_t i)
{
    struct mm_ctx *c = p;
    return fy_gpu_matmul(c->y, &c->w, i % c->w.n_mat, c->x, c->n_tok, NULL, c->s);
}

/* n_in -> n_out of type t; n_mat > 1: a stack of experts, one expert per launch */
static void bench_matmul(struct bench *b, enum fy_dtype t, int64_t n_in, int64_t n_out,
                         int64_t n_mat, int64_t n_tok, const char *label)
{
    const size_t row_bytes = fy_dtype_row_bytes(t, n_in);
    const size_t mat_bytes = (size_t)n_out * row_bytes;
    const int64_t n_copy = rotation(b, mat_bytes, n_mat);
    struct mm_ctx c = {.s = b->s, .n_tok = n_tok};
    void *w = NULL, *x = NULL;
    struct result r = {.op = "matmul",
                       .kind = n_tok <= 8 ? "gemv" : "gemm",
                       .bytes = (double)mat_bytes,
                       .flops = 2.0 * (double)n_tok * (double)n_in * (double)n_out,
                       .tflops = n_tok > 8};
    fy_status st = rand_dev(b, t, n_in, n_out * n_copy, 0.05f, "matmul weights", &w);

    if (st == FY_OK)
        st = rand_dev(b, FY_F32, n_in, n_tok, 1.0f, "matmul x", &x);
    if (st == FY_OK)
        st = fy_gpu_malloc((void **)&c.y, (size_t)(n_tok * n_out) * sizeof(float), "matmul y");
    c.w = (struct fy_mat){.type = t,
                          .n_in = n_in,
                          .n_out = n_out,
                          .n_mat = n_copy,
                          .row_bytes = row_bytes,
                          .mat_bytes = mat_bytes,
                          .data = w};
    c.x = x;
    snprintf(r.shape, sizeof(r.shape), "%s %lld->%lld %s, n_tok %lld", fy_dtype_name(t),
             (long long)n_in, (long long)n_out, label, (long long)n_tok);
    if (st == FY_OK)
        st = time_launches(b, mm_launch, &c, &r);
    if (st == FY_OK)
        report(b, &r);
    else
        case_failed(b, r.shape, st);
    fy_gpu_free(c.y);
    fy_gpu_free(x);
    fy_gpu_free(w);
}

/* ---- attention ---- */

struct attn_ctx {
    fy_gpu_stream s;
    struct fy_attn_args a;
    const uint8_t *k, *v; /* n_copy caches of cache_bytes each, rotated */
    size_t cache_bytes;
    int64_t n_copy;
    float *out;
};

static fy_status attn_launch(void *p, int64_t i)
{
    struct attn_ctx *c = p;
    struct fy_attn_args a = c->a;
    a.k = c->k + (size_t)(i % c->n_copy) * c->cache_bytes;
    a.v = c->v + (size_t)(i % c->n_copy) * c->cache_bytes;
    return fy_gpu_attention(c->out, &a, c->s);
}

/* n_tok queries at positions n_kv - n_tok .. n_kv - 1 over an F16 cache of n_kv slots */
static void bench_attention(struct bench *b, int64_t n_tok, int64_t n_kv, int32_t window)
{
    const int64_t width = N_HEAD_KV * HEAD_DIM;
    const size_t cache_bytes = (size_t)(n_kv * width) * 2;
    const int64_t n_copy = rotation(b, 2 * cache_bytes, 1);
    int32_t *pos = malloc((size_t)n_tok * sizeof(int32_t));
    struct attn_ctx c = {.s = b->s, .cache_bytes = cache_bytes, .n_copy = n_copy};
    void *k = NULL, *v = NULL, *q = NULL, *sinks = NULL, *dpos = NULL;
    double visible = 0; /* (query, key) pairs per query head */
    struct result r = {
        .op = "attention", .kind = n_tok == 1 ? "decode" : "prefill", .tflops = n_tok > 1};
    fy_status st = pos ? FY_OK : FY_E_NOMEM;

    for (int64_t t = 0; st == FY_OK && t < n_tok; t++) {
        pos[t] = (int32_t)(n_kv - n_tok + t);
        visible += window && window < pos[t] + 1 ? window : pos[t] + 1;
    }
    r.bytes = visible / (double)n_tok * (double)width * 2.0 * 2.0; /* K and V, f16 */
    r.flops = visible * N_HEAD * 4.0 * HEAD_DIM;                   /* QK^T and PV */
    char win[24] = "causal";
    if (window)
        snprintf(win, sizeof(win), "window %d", (int)window);
    snprintf(r.shape, sizeof(r.shape), "f16 %d/%d heads hd %d, n_tok %lld, n_kv %lld, %s", N_HEAD,
             N_HEAD_KV, HEAD_DIM, (long long)n_tok, (long long)n_kv, win);
    if (st == FY_OK)
        st = rand_dev(b, FY_F16, width, n_kv * n_copy, 1.0f, "K cache", &k);
    if (st == FY_OK)
        st = rand_dev(b, FY_F16, width, n_kv * n_copy, 1.0f, "V cache", &v);
    if (st == FY_OK)
        st = rand_dev(b, FY_F32, N_HEAD * HEAD_DIM, n_tok, 1.0f, "q", &q);
    if (st == FY_OK)
        st = rand_dev(b, FY_F32, N_HEAD, 1, 1.0f, "sinks", &sinks);
    if (st == FY_OK)
        st = upload(b, pos, (size_t)n_tok * sizeof(int32_t), "positions", &dpos);
    if (st == FY_OK)
        st = fy_gpu_malloc((void **)&c.out, (size_t)(n_tok * N_HEAD * HEAD_DIM) * sizeof(float),
                           "attention out");
    c.k = k;
    c.v = v;
    c.a = (struct fy_attn_args){.n_tok = n_tok,
                                .n_head = N_HEAD,
                                .n_head_kv = N_HEAD_KV,
                                .head_dim = HEAD_DIM,
                                .q = q,
                                .kv_type = FY_F16,
                                .n_kv = n_kv,
                                .pos = dpos,
                                .sinks = sinks,
                                .window = window,
                                .scale = 1.0f / sqrtf((float)HEAD_DIM)};
    if (st == FY_OK)
        st = time_launches(b, attn_launch, &c, &r);
    if (st == FY_OK)
        report(b, &r);
    else
        case_failed(b, r.shape, st);
    fy_gpu_free(c.out);
    fy_gpu_free(dpos);
    fy_gpu_free(sinks);
    fy_gpu_free(q);
    fy_gpu_free(v);
    fy_gpu_free(k);
    free(pos);
}

/* ---- moe_ffn ---- */

struct moe_ctx {
    fy_gpu_stream s;
    struct fy_gpu_moe_ws *ws;
    struct fy_moe_layer L;
    const float *x;
    const int32_t *ids; /* n_sets sets of [n_tok][k], rotated */
    const float *w;
    float *y;
    int64_t n_tok, n_sets;
    int k;
};

static fy_status moe_launch(void *p, int64_t i)
{
    struct moe_ctx *c = p;
    const int64_t off = (i % c->n_sets) * c->n_tok * c->k;
    return fy_gpu_moe_ffn(c->ws, c->y, c->x, c->n_tok, c->ids + off, c->w + off, c->k, &c->L, c->s);
}

/* Expert ids of n_sets sets: one token takes the disjoint groups [s*k, s*k + k) in turn (so the
 * sets cycle through every expert); more tokens take k distinct random experts each. The weights
 * are positive and sum to 1 per token. Returns the mean count of distinct experts per set. */
static double moe_ids(struct bench *b, int64_t n_tok, int64_t n_sets, int32_t *ids, float *w)
{
    const struct shapes *sh = b->sh;
    const int k = sh->k;
    int32_t perm[256];
    uint64_t seed = ++b->seed;
    int64_t distinct = 0;

    for (int64_t s = 0; s < n_sets; s++) {
        bool used[256] = {false};
        for (int64_t t = 0; t < n_tok; t++) {
            int32_t *id = ids + (s * n_tok + t) * k;
            float *wt = w + (s * n_tok + t) * k;
            float sum = 0;
            for (int32_t e = 0; e < (int32_t)sh->n_exp; e++)
                perm[e] = e;
            for (int j = 0; j < k; j++) {
                if (n_tok == 1) {
                    id[j] = (int32_t)((s * k + j) % sh->n_exp);
                } else { /* partial Fisher-Yates */
                    int64_t r = j + (int64_t)(rng_next(&seed) % (uint64_t)(sh->n_exp - j));
                    int32_t tmp = perm[j];
                    perm[j] = perm[r];
                    perm[r] = tmp;
                    id[j] = perm[j];
                }
                wt[j] = 0.1f + (float)(rng_next(&seed) >> 40) * 0x1p-24f;
                sum += wt[j];
                distinct += !used[id[j]];
                used[id[j]] = true;
            }
            for (int j = 0; j < k; j++)
                wt[j] /= sum;
        }
    }
    return (double)distinct / (double)n_sets;
}

static void bench_moe(struct bench *b, int64_t n_tok)
{
    const struct shapes *sh = b->sh;
    const int64_t d = sh->d, ff = sh->n_ff, E = sh->n_exp;
    const int k = sh->k;
    const int64_t n_sets = n_tok == 1 ? E / k : 4;
    const size_t row_bytes = fy_dtype_row_bytes(FY_MXFP4, d);
    const size_t mat_bytes = (size_t)ff * row_bytes; /* gate, up, down: all 2880 x 2880 */
    int32_t *ids = malloc((size_t)(n_sets * n_tok * k) * sizeof(int32_t));
    float *wts = malloc((size_t)(n_sets * n_tok * k) * sizeof(float));
    struct moe_ctx c = {.s = b->s, .n_tok = n_tok, .n_sets = n_sets, .k = k};
    void *gate = NULL, *up = NULL, *down = NULL, *bias = NULL, *x = NULL, *dids = NULL;
    void *dw = NULL;
    struct result r = {.op = "moe_ffn",
                       .kind = "moe",
                       .flops = 2.0 * 3.0 * (double)(n_tok * k) * (double)d * (double)ff};
    fy_status st = ids && wts ? FY_OK : FY_E_NOMEM;

    if (E > 256 || k > E) /* moe_ids' tables */
        st = FY_E_INVAL;
    snprintf(r.shape, sizeof(r.shape), "%s %lld experts k %d, d %lld, n_ff %lld, n_tok %lld",
             fy_dtype_name(FY_MXFP4), (long long)E, k, (long long)d, (long long)ff,
             (long long)n_tok);
    if (st == FY_OK)
        r.bytes = moe_ids(b, n_tok, n_sets, ids, wts) * 3.0 * (double)mat_bytes;
    if (st == FY_OK)
        st = rand_dev(b, FY_MXFP4, d, ff * E, 0.05f, "gate stack", &gate);
    if (st == FY_OK)
        st = rand_dev(b, FY_MXFP4, d, ff * E, 0.05f, "up stack", &up);
    if (st == FY_OK)
        st = rand_dev(b, FY_MXFP4, ff, d * E, 0.05f, "down stack", &down);
    if (st == FY_OK) /* gate, up [E][ff], down [E][d]; d and ff are multiples of 32 */
        st = rand_dev(b, FY_F32, 32, E * (2 * ff + d) / 32, 0.1f, "biases", &bias);
    if (st == FY_OK)
        st = rand_dev(b, FY_F32, d, n_tok, 1.0f, "moe x", &x);
    if (st == FY_OK)
        st = upload(b, ids, (size_t)(n_sets * n_tok * k) * sizeof(int32_t), "ids", &dids);
    if (st == FY_OK)
        st = upload(b, wts, (size_t)(n_sets * n_tok * k) * sizeof(float), "weights", &dw);
    if (st == FY_OK)
        st = fy_gpu_malloc((void **)&c.y, (size_t)(n_tok * d) * sizeof(float), "moe y");
    if (st == FY_OK)
        st = fy_gpu_moe_ws_new(&c.ws);
    const struct fy_mat gu = {.type = FY_MXFP4,
                              .n_in = d,
                              .n_out = ff,
                              .n_mat = E,
                              .row_bytes = row_bytes,
                              .mat_bytes = mat_bytes};
    const struct fy_mat dn = {.type = FY_MXFP4,
                              .n_in = ff,
                              .n_out = d,
                              .n_mat = E,
                              .row_bytes = fy_dtype_row_bytes(FY_MXFP4, ff),
                              .mat_bytes = (size_t)d * fy_dtype_row_bytes(FY_MXFP4, ff)};
    const float *bf = bias;
    c.L = (struct fy_moe_layer){.gate = gu,
                                .up = gu,
                                .down = dn,
                                .gate_b = {bf, ff},
                                .up_b = {bf ? bf + E * ff : NULL, ff},
                                .down_b = {bf ? bf + 2 * E * ff : NULL, d},
                                .alpha = 1.702f,
                                .limit = 7.0f};
    c.L.gate.data = gate;
    c.L.up.data = up;
    c.L.down.data = down;
    c.x = x;
    c.ids = dids;
    c.w = dw;
    if (st == FY_OK)
        st = time_launches(b, moe_launch, &c, &r);
    if (st == FY_OK)
        report(b, &r);
    else
        case_failed(b, r.shape, st);
    (void)fy_gpu_stream_sync(b->s); /* nothing queued may use the workspace */
    fy_gpu_moe_ws_free(c.ws);
    fy_gpu_free(c.y);
    fy_gpu_free(dw);
    fy_gpu_free(dids);
    fy_gpu_free(x);
    fy_gpu_free(bias);
    fy_gpu_free(down);
    fy_gpu_free(up);
    fy_gpu_free(gate);
    free(wts);
    free(ids);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_gpu_ops [--reps N (1..%d)] [--jsonl FILE] [--smoke]\n", MAX_REPS);
    return 2;
}

int main(int argc, char **argv)
{
    struct bench b = {.reps = 11, .sh = &full_shapes, .footprint = FOOTPRINT};
    const char *jsonl = NULL;
    int reps = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--smoke"))
            b.smoke = true;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--jsonl") && i + 1 < argc)
            jsonl = argv[++i];
        else
            return usage();
    }
    if (b.smoke) {
        b.sh = &smoke_shapes;
        b.reps = 1;
        b.footprint = 0;
    }
    if (reps) {
        if (reps < 1 || reps > MAX_REPS)
            return usage();
        b.reps = reps;
    }
    const int n_gpu = fy_gpu_count();
    if (n_gpu < 0)
        return 1; /* a driver that cannot be used: said by fy_gpu_count */
    if (n_gpu == 0) {
        printf("skip: no GPU (%s build)\n", fy_gpu_platform());
        return 77;
    }
    if (fy_gpu_init(0, &b.info) != FY_OK || fy_gpu_stream_new(&b.s) != FY_OK) {
        fprintf(stderr, "bench_gpu_ops: cannot start GPU 0\n");
        return 1;
    }
    fy_build_info_get(&b.build);
    if (jsonl && !(b.jsonl = fopen(jsonl, "w"))) {
        fprintf(stderr, "bench_gpu_ops: cannot write %s\n", jsonl);
        fy_gpu_stream_free(b.s);
        return 1;
    }
    const char *mma = getenv("FY_GPU_MMA");
    printf("gpu_ops: %s (%s, %s, %d SMs, %.1f GiB), ferry %s%s\n", b.info.name, b.info.arch,
           fy_gpu_platform(), b.info.n_sm, (double)b.info.mem_total / 1073741824.0, b.build.git,
           b.smoke ? ", SMOKE shapes (not a measurement)" : "");
    if (b.smoke)
        printf("one launch per case, no rotation\n\n");
    else
        printf("median of %d batches per case, each ~%.0f ms of back-to-back launches; working "
               "sets rotated over >= %zu MiB; GEMM matrix units %s (FY_GPU_MMA=%s)\n\n",
               b.reps, TARGET_S * 1e3, b.footprint >> 20,
               b.info.matrix_units ? "present" : "absent", mma && *mma ? mma : "default");
    printf("| op        | shape                                                      |  median ms |"
           "    figure | unit    | vs copy |\n");
    printf("|-----------|------------------------------------------------------------|-----------:|"
           "----------:|---------|--------:|\n");

    const struct shapes *sh = b.sh;
    bench_copy(&b);
    /* the decode GEMVs with int8 activations (dp4a, the default) and with f32 ones */
    const char *dp4a = getenv("FY_GPU_DP4A");
    for (int q8 = 1; q8 >= 0; q8--) {
        setenv("FY_GPU_DP4A", q8 ? "1" : "0", 1);
        bench_matmul(&b, FY_MXFP4, sh->d, sh->n_ff, sh->n_exp, 1,
                     q8 ? "(one expert, int8 x)" : "(one expert, f32 x)");
        bench_matmul(&b, FY_Q8_0, sh->d, sh->q_out, 1, 1, q8 ? "(attn_q, int8 x)" : "(attn_q, f32 x)");
        bench_matmul(&b, FY_Q8_0, sh->d, sh->vocab, 1, 1, q8 ? "(output, int8 x)" : "(output, f32 x)");
    }
    if (dp4a)
        setenv("FY_GPU_DP4A", dp4a, 1);
    else
        unsetenv("FY_GPU_DP4A");
    /* the prefill GEMM; on the matrix units also the first kernel (FY_GPU_PIPE=0: 32-wide
     * k-steps, one stage) against the pipelined one, for TFLOP/s side by side */
    const char *pipe = getenv("FY_GPU_PIPE");
    char pipe_saved[8] = "";
    if (pipe)
        snprintf(pipe_saved, sizeof(pipe_saved), "%s", pipe);
    for (int p0 = 0; p0 < (fy_gpu_mma_enabled() ? 2 : 1); p0++) {
        char le[48], lq[48];
        if (p0)
            setenv("FY_GPU_PIPE", "0", 1);
        const int mode = fy_gpu_mma_enabled() ? fy_gpu_pipe_mode() : -1;
        snprintf(le, sizeof(le), mode < 0 ? "(one expert)" : "(one expert, pipe %d)", mode);
        snprintf(lq, sizeof(lq), mode < 0 ? "(attn_q)" : "(attn_q, pipe %d)", mode);
        for (int i = 0; i < 2; i++) {
            bench_matmul(&b, FY_MXFP4, sh->d, sh->n_ff, sh->n_exp, sh->gemm_tok[i], le);
            bench_matmul(&b, FY_Q8_0, sh->d, sh->q_out, 1, sh->gemm_tok[i], lq);
        }
    }
    if (pipe)
        setenv("FY_GPU_PIPE", pipe_saved, 1);
    else
        unsetenv("FY_GPU_PIPE");
    for (int i = 0; i < 2; i++) {
        bench_attention(&b, 1, sh->kv[i], 0);
        bench_attention(&b, 1, sh->kv[i], sh->window);
    }
    bench_attention(&b, sh->prefill, sh->prefill, 0);
    for (int i = 0; i < 2; i++)
        bench_moe(&b, sh->moe_tok[i]);

    if (b.jsonl)
        fclose(b.jsonl);
    fy_gpu_stream_free(b.s);
    if (b.failed)
        fprintf(stderr, "bench_gpu_ops: %d case(s) failed\n", b.failed);
    return b.failed ? 1 : 0;
}
