/* fy_gpu_matmul and fy_gpu_matmul_grouped against fy_cpu_matmul, every weight type (F32, F16,
 * BF16, Q8_0, MXFP4), the GEMV path (n_tok <= 8) and the GEMM path in both variants (FMA: f32
 * tiles; MMA: bf16 tiles on the matrix units, or mma.h's per-lane version on the emulator;
 * chosen with FY_GPU_MMA=0/1), with and without bias, expert e = 0 and e > 0, 16-byte aligned
 * and unaligned matrix starts (the float types' element-load variants). The MMA GEMM runs in its
 * three staging modes (FY_GPU_PIPE=0: one stage, 32-wide k-steps; 1: two-stage ring of 64-wide
 * steps through registers; 2: the ring with asynchronous copies), which must agree bit for bit;
 * on the emulator also the barriers per block (one per 64-wide step when pipelined) and the
 * asynchronous copies of mode 2 are counted. Edge shapes: a last k-step with one block (n_in 96,
 * 160), n_in not a multiple of 8 or 32 (float weights), rows and outputs off the tile.
 *
 * Error: per token row, max_o |y - ref| / max_o max(|ref|, s) where s = sqrt(sum_i (w_oi x_i)^2)
 * is the natural scale of a dot product's rounding error (computed on the CPU as the product of
 * the squared dequantized weights with the squared inputs). Tolerances:
 *   - GEMV and FMA GEMM: 1e-5. Exact f32 products on both sides, only the summation order
 *     differs: at most ~n * 2^-24 * s, in practice ~sqrt(n) * 2^-24 * s = 3e-6 s for n = 2880.
 *   - GEMV with int8 activations (FY_GPU_DP4A=1, Q8_0 and MXFP4 weights): 3e-2. x is
 *     quantized to int8 per block of 32 (relative 2^-8 of the block's largest), llama.cpp's
 *     q8_1 numerics; the largest seen is about 1.3e-2.
 *   - MMA GEMM: 1e-2. x and the weights are rounded to bf16 (relative 2^-9 each, MXFP4 weights
 *     exact), so each product carries up to ~2^-8 relative error with random sign: the sum's error
 *     is ~2^-9 * s typically, a few times that at the maximum over a row.
 * Grouped: random expert groups (some empty), a permutation through src_row, x_stride > n_in,
 * per-expert bias with its own stride, and sub-ranges [e0, e1): rows of other experts must keep
 * the sentinel. The emulator gets trimmed shapes (same paths, fewer rows and outputs) unless
 * FY_TEST_FULL=1. */
#include <stdbool.h>
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"
#ifdef FY_TEST_EMU
#include "hip/emu/fy_emu_ctl.h"
#endif
#include "quant.h"

#define N_MAT 3
#define TOL_F32 1e-5
#define TOL_MMA 1e-2
#define TOL_Q8 3e-2

/* the GEMV's tolerance for w's type: int8 activations (FY_GPU_DP4A=1) for Q8_0 and MXFP4 */
static double gemv_tol(enum fy_dtype t)
{
    const char *v = getenv("FY_GPU_DP4A");
    const bool q8 = v && v[0] == '1' && (t == FY_Q8_0 || t == FY_MXFP4);
    return q8 ? TOL_Q8 : TOL_F32;
}
#define SENTINEL -7777.25f

static const enum fy_dtype types[] = {FY_F32, FY_F16, FY_BF16, FY_Q8_0, FY_MXFP4};

struct wstack {
    struct fy_mat w;       /* host data */
    struct fy_mat dw;      /* same layout, device data */
};

/* N_MAT random matrices; pad > 0 makes matrix starts (e > 0) unaligned */
static int make_weights(enum fy_dtype type, int64_t n_in, int64_t n_out, int64_t n_mat,
                        size_t pad, uint64_t seed, fy_gpu_stream s, struct wstack *ws)
{
    struct fy_rng r = {seed};
    const size_t row_bytes = fy_dtype_row_bytes(type, n_in);
    const size_t mat_bytes = (size_t)n_out * row_bytes + pad;
    uint8_t *data = malloc(mat_bytes * (size_t)n_mat);
    float *src = malloc((size_t)n_in * sizeof(float));
    void *d = NULL;

    memset(ws, 0, sizeof(*ws));
    if (!data || !src)
        goto fail;
    memset(data, 0x5a, mat_bytes * (size_t)n_mat);
    for (int64_t m = 0; m < n_mat; m++)
        for (int64_t o = 0; o < n_out; o++) {
            fy_rng_fill(&r, src, n_in, 1.0f);
            for (int64_t i = 0; i < n_in; i += 32) {   /* varied block scales (MXFP4 exponents) */
                float f = ldexpf(1.0f, (int)(fy_rng_u64(&r) % 9) - 4);
                for (int64_t j = i; j < i + 32 && j < n_in; j++)
                    src[j] *= f;
            }
            fy_quant_row(type, src, data + m * mat_bytes + o * row_bytes, n_in);
        }
    free(src);
    src = NULL;
    if (fy_gpu_malloc(&d, mat_bytes * (size_t)n_mat, "weights") ||
        fy_gpu_copy_h2d(d, data, mat_bytes * (size_t)n_mat, s))
        goto fail;
    ws->w = (struct fy_mat){.type = type, .n_in = n_in, .n_out = n_out, .n_mat = n_mat,
                            .row_bytes = row_bytes, .mat_bytes = mat_bytes, .data = data};
    ws->dw = ws->w;
    ws->dw.data = d;
    return 0;
fail:
    free(data);
    free(src);
    fy_gpu_free(d);
    return 1;
}

static void free_weights(struct wstack *ws)
{
    free((void *)ws->w.data);
    fy_gpu_free((void *)ws->dw.data);
}

/* s[t][o] = sqrt(sum_i (w_oi x_ti)^2) for expert e, via fy_cpu_matmul on squares */
static float *error_scale(const struct fy_mat *w, int64_t e, const float *x, int64_t n_tok)
{
    const int64_t n_in = w->n_in, n_out = w->n_out;
    float *w2 = malloc((size_t)(n_in * n_out) * sizeof(float));
    float *x2 = malloc((size_t)(n_in * n_tok) * sizeof(float));
    float *s2 = malloc((size_t)(n_out * n_tok) * sizeof(float));
    if (!w2 || !x2 || !s2) {
        free(w2), free(x2), free(s2);
        return NULL;
    }
    for (int64_t o = 0; o < n_out; o++) {
        const uint8_t *row = (const uint8_t *)w->data + e * w->mat_bytes + o * w->row_bytes;
        fy_dequant_row(w->type, row, w2 + o * n_in, n_in);
        for (int64_t i = 0; i < n_in; i++)
            w2[o * n_in + i] *= w2[o * n_in + i];
    }
    for (int64_t i = 0; i < n_in * n_tok; i++)
        x2[i] = x[i] * x[i];
    struct fy_mat m = {.type = FY_F32, .n_in = n_in, .n_out = n_out, .n_mat = 1,
                       .row_bytes = (size_t)n_in * 4, .mat_bytes = (size_t)(n_in * n_out) * 4,
                       .data = w2};
    fy_cpu_matmul(s2, &m, 0, x2, n_tok, NULL);
    for (int64_t i = 0; i < n_out * n_tok; i++)
        s2[i] = sqrtf(s2[i]);
    free(w2);
    free(x2);
    return s2;
}

/* max over rows of the row's relative error (see the top); *first: first bad row or -1 */
static double row_error(const float *got, const float *ref, const float *scale, int64_t rows,
                        int64_t n_out, double tol, int64_t *first)
{
    double worst = 0.0;
    *first = -1;
    for (int64_t t = 0; t < rows; t++) {
        double den = 1e-30, num = 0.0;
        for (int64_t o = 0; o < n_out; o++) {
            const double r = fabs((double)ref[t * n_out + o]);
            const double sc = scale[t * n_out + o];
            den = r > den ? r : den;
            den = sc > den ? sc : den;
            const double d = fabs((double)got[t * n_out + o] - ref[t * n_out + o]);
            if (!(d <= num))
                num = d; /* NaN sticks */
        }
        const double err = num / den;
        if (!(err <= worst))
            worst = err;
        if (!(err <= tol) && *first < 0)
            *first = t;
    }
    return worst;
}

static void set_mma(int on) { setenv("FY_GPU_MMA", on ? "1" : "0", 1); }

#ifdef FY_TEST_EMU
/* The emulator's counts of one fy_gpu_matmul (w's expert e, n_tok rows) on the matrix units in
 * GEMM mode `pipe` (FY_GPU_PIPE), from s0 to s1: barriers per block, two per 32-wide k-step
 * but the first in mode 0, one per 64-wide step in modes 1 and 2 (the two-stage ring); and in
 * mode 2 the asynchronous copies, 16 bytes of bf16 x per 8 elements of each row's padded k
 * (once per block of 128 outputs) and of bf16 weights per 8 elements when their rows are
 * 16-byte aligned (once per block of 64 rows). 0 when they match. */
static int check_pipe_counts(const struct fy_emu_stats *s0, const struct fy_emu_stats *s1,
                             const struct fy_mat *w, int64_t e, int64_t n_tok, int pipe)
{
    const int64_t n_in = w->n_in, nbx = (w->n_out + 127) / 128, nby = (n_tok + 63) / 64;
    const char *xv = getenv("FY_GPU_XBF16");
    const bool xh = !xv || xv[0] != '0';
    const uint64_t steps =
        (uint64_t)(pipe ? (n_in + 63) / 64 : 2 * ((n_in + 31) / 32) - 1);
    const uint64_t want_bar = (uint64_t)(nbx * nby) * steps;
    uint64_t want_cp = 0;
    if (pipe == 2 && xh) {
        want_cp = (uint64_t)(n_tok * ((n_in + 7) / 8) * nbx);
        const uintptr_t start = (uintptr_t)w->data + (uintptr_t)(e * (int64_t)w->mat_bytes);
        if (w->type == FY_BF16 && n_in % 8 == 0 && w->row_bytes % 16 == 0 && start % 16 == 0 &&
            (w->n_mat == 1 || w->mat_bytes % 16 == 0))
            want_cp += (uint64_t)(w->n_out * (n_in / 8) * nby);
    }
    const uint64_t bar = s1->barriers - s0->barriers, cp = s1->async_copies - s0->async_copies;
    if (bar == want_bar && cp == want_cp)
        return 0;
    printf("FAIL pipe %d counts: %llu barriers (want %llu), %llu async copies (want %llu)\n", pipe,
           (unsigned long long)bar, (unsigned long long)want_bar, (unsigned long long)cp,
           (unsigned long long)want_cp);
    return 1;
}
#endif

/* fy_gpu_matmul on n_tok random tokens, both GEMM variants when n_tok > 8, the matrix-unit one
 * in every staging mode (FY_GPU_PIPE 0, 1, 2), which must give the same bits */
static int run_case(fy_gpu_stream s, const struct wstack *ws, int64_t e, int64_t n_tok,
                    int with_bias, uint64_t seed)
{
    struct fy_rng r = {seed};
    const struct fy_mat *w = &ws->w;
    const int64_t n_in = w->n_in, n_out = w->n_out;
    const size_t xb = (size_t)(n_tok * n_in) * sizeof(float);
    const size_t yb = (size_t)(n_tok * n_out) * sizeof(float);
    const size_t bb = (size_t)n_out * sizeof(float);
    struct fy_bufs b = {.s = s};
    float *x = fy_bufs_host(&b, xb), *bias = fy_bufs_host(&b, bb);
    float *ref = fy_bufs_host(&b, yb), *got = fy_bufs_host(&b, yb), *scale = NULL;
    float *got0 = fy_bufs_host(&b, yb);
    const char *pipe_env = getenv("FY_GPU_PIPE");
    char pipe_saved[8] = "";
    int bad = 0;

    if (pipe_env)
        snprintf(pipe_saved, sizeof(pipe_saved), "%s", pipe_env);

    if (b.err)
        goto hard;
    fy_rng_fill(&r, x, n_tok * n_in, 1.0f);
    fy_rng_fill(&r, bias, n_out, 1.0f);
    fy_cpu_matmul(ref, w, e, x, n_tok, with_bias ? bias : NULL);
    scale = error_scale(w, e, x, n_tok);
    float *dx = fy_bufs_up(&b, x, xb, "x"), *dy = fy_bufs_dev(&b, yb, "y");
    float *db = fy_bufs_up(&b, bias, bb, "bias");
    if (!scale || b.err)
        goto hard;
    /* passes: GEMV or FMA; then MMA in modes 0, 1, 2 */
    const int passes = n_tok > 8 ? 4 : 1;
    for (int p = 0; p < passes; p++) {
        const int mma = p > 0, pipe = p - 1;
        const double tol = mma ? TOL_MMA : n_tok <= 8 ? gemv_tol(w->type) : TOL_F32;
        char mode[16];
        set_mma(mma);
        snprintf(mode, sizeof(mode), "%s", n_tok <= 8 ? "gemv" : mma ? "mma" : "fma");
        if (mma) {
            setenv("FY_GPU_PIPE", pipe == 0 ? "0" : pipe == 1 ? "1" : "2", 1);
            snprintf(mode, sizeof(mode), "mma%d", pipe);
        }
#ifdef FY_TEST_EMU
        struct fy_emu_stats s0, s1;
        fy_emu_stats_get(&s0);
#endif
        if (fy_gpu_memset(dy, 0xff, yb, s) != FY_OK ||
            fy_gpu_matmul(dy, &ws->dw, e, dx, n_tok, with_bias ? db : NULL, s) != FY_OK ||
            fy_bufs_down(&b, got, dy, yb))
            goto hard;
        int64_t first;
        const double err = row_error(got, ref, scale, n_tok, n_out, tol, &first);
        bool fail = first >= 0;
        /* the staging modes change when tiles fill, not the products: the same bits */
        const bool same = !mma || pipe == 0 || !memcmp(got, got0, yb);
        fail |= !same;
#ifdef FY_TEST_EMU
        fy_emu_stats_get(&s1);
        if (mma)
            fail |= check_pipe_counts(&s0, &s1, &ws->dw, e, n_tok, pipe) != 0;
#endif
        if (mma && pipe == 0)
            memcpy(got0, got, yb);
        printf("%s %-5s %-4s n_tok %4lld n_in %4lld n_out %4lld e %lld bias %d%s: max rel err "
               "%.3g (tol %g)%s\n",
               fail ? "FAIL" : "PASS", fy_dtype_name(w->type), mode, (long long)n_tok,
               (long long)n_in, (long long)n_out, (long long)e, with_bias,
               w->mat_bytes % 16 ? " unaligned" : "", err, tol,
               same ? "" : " (bits differ from FY_GPU_PIPE=0)");
        if (first >= 0)
            printf("     first bad token %lld: y[0] %.9g vs %.9g\n", (long long)first,
                   (double)got[first * n_out], (double)ref[first * n_out]);
        bad += fail;
    }
    goto done;
hard:
    fprintf(stderr, "FAIL: setup or launch error (n_tok %lld)\n", (long long)n_tok);
    bad = 1;
done:
    if (pipe_env)
        setenv("FY_GPU_PIPE", pipe_saved, 1);
    else
        unsetenv("FY_GPU_PIPE");
    fy_bufs_free(&b);
    free(scale);
    return bad;
}

/* fy_gpu_matmul_grouped_tiles over every expert with the list of row tiles built here from
 * off[] (what the MoE's grouping kernel writes on the device): the same rows as the reference,
 * a grid of n_out tiles x the bound given (nt + 1) blocks on the emulator. Returns 1 on
 * failure. */
static int tiles_case(struct fy_bufs *b, const struct wstack *ws, const float *dx, int64_t x_rows,
                      int64_t x_stride,
                      const int32_t *sr, const int32_t *doff, const int32_t *off, int64_t n_out,
                      const struct fy_bias *fb, const float *y0, float *got, const float *ref,
                      const float *scale, double tol, int mma)
{
    const int64_t n_rows = off[N_MAT];
    const size_t yb = (size_t)(n_rows * n_out) * sizeof(float);
    int32_t toff[N_MAT + 1];
    int32_t *tl = malloc((size_t)(2 * (n_rows / FY_GPU_TILE_ROWS + N_MAT + 1)) * sizeof(int32_t));
    int nt = 0;
    if (!tl)
        return 1;
    for (int e = 0; e < N_MAT; e++) {
        toff[e] = nt;
        for (int32_t r = off[e]; r < off[e + 1]; r += FY_GPU_TILE_ROWS, nt++) {
            tl[2 * nt] = e;
            tl[2 * nt + 1] = r;
        }
    }
    toff[N_MAT] = nt;
    int32_t *dtl = fy_bufs_up(b, tl, (size_t)(2 * nt + 2) * sizeof(int32_t), "tiles");
    int32_t *dtoff = fy_bufs_up(b, toff, sizeof(toff), "tile_off");
    float *dy = fy_bufs_dev(b, yb + 4, "y (tiles)");
    free(tl);
#ifdef FY_TEST_EMU
    struct fy_emu_stats e0s, e1s;
    fy_emu_stats_get(&e0s);
#endif
    if (b->err || fy_gpu_copy_h2d(dy, y0, yb, b->s) != FY_OK ||
        fy_gpu_matmul_grouped_tiles(dy, &ws->dw, dx, x_stride, sr, doff, dtl, dtoff, 0, N_MAT,
                                    nt + 1, x_rows, fb, b->s) != FY_OK ||
        fy_bufs_down(b, got, dy, yb)) {
        printf("FAIL grouped tiles: launch\n");
        return 1;
    }
    int64_t first;
    const double err = row_error(got, ref, scale, n_rows, n_out, tol, &first);
    int ok = first < 0;
#ifdef FY_TEST_EMU
    fy_emu_stats_get(&e1s);
    /* the GEMM's blocks, and on the tensor cores the conversion of x to bf16 (256 pairs a
     * block, at most 4096 blocks) */
    const int64_t pairs = x_rows * (((ws->dw.n_in + 7) & ~7) / 2);
    const uint64_t conv = mma ? (uint64_t)((pairs + 255) / 256 < 4096 ? (pairs + 255) / 256 : 4096)
                              : 0;
    const uint64_t want = (uint64_t)((n_out + 127) / 128) * (uint64_t)(nt + 1) + conv;
    ok = ok && e1s.blocks - e0s.blocks == want;
    printf("%s grouped tiles (%s): %d tiles, rows %d/%d/%d, max rel err %.3g (tol %g), %llu "
           "blocks (want %llu)\n", ok ? "PASS" : "FAIL", mma ? "mma" : "fma", nt, off[1] - off[0],
           off[2] - off[1], off[3] - off[2], err, tol,
           (unsigned long long)(e1s.blocks - e0s.blocks), (unsigned long long)want);
#else
    printf("%s grouped tiles (%s): %d tiles, max rel err %.3g (tol %g)\n", ok ? "PASS" : "FAIL",
           mma ? "mma" : "fma", nt, err, tol);
#endif
    return !ok;
}

/* fy_gpu_matmul_grouped over N_MAT experts with row counts cnt[]: [0, 1) and [1, N_MAT) each
 * alone on a sentinel-filled y (the other rows must keep it), then both */
static int run_grouped(fy_gpu_stream s, const struct wstack *ws, const int *cnt, int permute,
                       int with_bias, int64_t x_pad, uint64_t seed)
{
    struct fy_rng r = {seed};
    const struct fy_mat *w = &ws->w;
    const int64_t n_in = w->n_in, n_out = w->n_out, bstride = n_out + 3;
    int32_t off[N_MAT + 1];
    int64_t max_rows = 0;
    off[0] = 0;
    for (int e = 0; e < N_MAT; e++) {
        off[e + 1] = off[e] + cnt[e];
        max_rows = cnt[e] > max_rows ? cnt[e] : max_rows;
    }
    const int64_t n_rows = off[N_MAT], n_src = n_rows + 3, x_stride = n_in + x_pad;
    const size_t xb = (size_t)(n_src * x_stride) * sizeof(float);
    const size_t yb = (size_t)(n_rows * n_out) * sizeof(float);
    const size_t bb = (size_t)(N_MAT * bstride) * sizeof(float);
    const size_t sb = (size_t)n_src * sizeof(int32_t);
    struct fy_bufs b = {.s = s};
    float *x = fy_bufs_host(&b, xb), *bias = fy_bufs_host(&b, bb);
    float *ref = fy_bufs_host(&b, yb), *got = fy_bufs_host(&b, yb);
    float *scale = fy_bufs_host(&b, yb), *y0 = fy_bufs_host(&b, yb);
    int32_t *src = fy_bufs_host(&b, sb);
    int bad = 0;

    if (b.err)
        goto hard;
    fy_rng_fill(&r, x, n_src * x_stride, 1.0f);
    fy_rng_fill(&r, bias, N_MAT * bstride, 1.0f);
    for (int64_t i = 0; i < n_src; i++)
        src[i] = (int32_t)i;
    for (int64_t i = n_src - 1; permute && i > 0; i--) {
        int64_t j = (int64_t)(fy_rng_u64(&r) % (uint64_t)(i + 1));
        int32_t t = src[i];
        src[i] = src[j];
        src[j] = t;
    }
    /* reference, expert by expert, on gathered contiguous rows */
    for (int e = 0; e < N_MAT; e++) {
        if (!cnt[e])
            continue;
        float *xe = malloc((size_t)(cnt[e] * n_in) * sizeof(float));
        if (!xe)
            goto hard;
        for (int i = 0; i < cnt[e]; i++)
            memcpy(xe + i * n_in, x + src[off[e] + i] * x_stride, (size_t)n_in * sizeof(float));
        fy_cpu_matmul(ref + off[e] * n_out, w, e, xe, cnt[e],
                      with_bias ? bias + e * bstride : NULL);
        float *sc = error_scale(w, e, xe, cnt[e]);
        free(xe);
        if (!sc)
            goto hard;
        memcpy(scale + off[e] * n_out, sc, (size_t)(cnt[e] * n_out) * sizeof(float));
        free(sc);
    }
    for (int64_t i = 0; i < n_rows * n_out; i++)
        y0[i] = SENTINEL;
    float *dx = fy_bufs_up(&b, x, xb, "x"), *dy = fy_bufs_dev(&b, yb + 4, "y");
    float *db = fy_bufs_up(&b, bias, bb, "bias");
    int32_t *dsrc = fy_bufs_up(&b, src, sb, "src_row");
    int32_t *doff = fy_bufs_up(&b, off, sizeof(off), "off");
    if (b.err)
        goto hard;
    const struct fy_bias fb = {.data = with_bias ? db : NULL, .stride = bstride};
    for (int mma = 0; mma < (max_rows > 8 ? 2 : 1); mma++) {
        const double tol = mma ? TOL_MMA : max_rows <= 8 ? gemv_tol(w->type) : TOL_F32;
        set_mma(mma);
        const int32_t *sr = permute ? dsrc : NULL;
        const int64_t bound = max_rows > 8 ? max_rows + 5 : 8; /* a bound, not the maximum */
        /* [0, 1) alone: rows of experts 1.. keep the sentinel */
        if (fy_gpu_copy_h2d(dy, y0, yb, s) != FY_OK ||
            fy_gpu_matmul_grouped(dy, &ws->dw, dx, x_stride, sr, doff, 0, 1, bound, &fb, s) ||
            fy_bufs_down(&b, got, dy, yb))
            goto hard;
        int untouched = 1;
        for (int64_t i = off[1] * n_out; i < n_rows * n_out; i++)
            untouched &= got[i] == SENTINEL;
        /* [1, N_MAT) alone: rows of expert 0 keep the sentinel. GEMV, and the MMA pass of a
         * GEMM: with a grid of only as many expert slices as experts there have rows (_n: each
         * block finds its expert in off[], past the empty ones of small, large and huge) */
        int64_t n_used = 0;
        for (int e = 1; e < N_MAT; e++)
            n_used += cnt[e] > 0;
        if (fy_gpu_copy_h2d(dy, y0, yb, s) != FY_OK ||
            (mma || max_rows <= 8
                 ? fy_gpu_matmul_grouped_n(dy, &ws->dw, dx, x_stride, sr, doff, 1, N_MAT, bound,
                                           n_used, &fb, s)
                 : fy_gpu_matmul_grouped(dy, &ws->dw, dx, x_stride, sr, doff, 1, N_MAT, bound,
                                         &fb, s)) ||
            fy_bufs_down(&b, got, dy, yb))
            goto hard;
        for (int64_t i = 0; i < off[1] * n_out; i++)
            untouched &= got[i] == SENTINEL;
#ifdef FY_TEST_EMU
        /* the compact grid has n_used expert slices instead of N_MAT - 1 (emulator's count) */
        if (mma == 0 && n_used < N_MAT - 1) {
            struct fy_emu_stats e0s, e1s, e2s;
            fy_emu_stats_get(&e0s);
            fy_gpu_matmul_grouped(dy, &ws->dw, dx, x_stride, sr, doff, 1, N_MAT, bound, &fb, s);
            fy_gpu_stream_sync(s);
            fy_emu_stats_get(&e1s);
            fy_gpu_matmul_grouped_n(dy, &ws->dw, dx, x_stride, sr, doff, 1, N_MAT, bound, n_used,
                                    &fb, s);
            fy_gpu_stream_sync(s);
            fy_emu_stats_get(&e2s);
            const uint64_t full = e1s.blocks - e0s.blocks, compact = e2s.blocks - e1s.blocks;
            if (compact * (uint64_t)(N_MAT - 1) != full * (uint64_t)n_used) {
                printf("FAIL grouped grid: %llu blocks compact for %lld of %d experts, %llu "
                       "full\n", (unsigned long long)compact, (long long)n_used, N_MAT - 1,
                       (unsigned long long)full);
                bad++;
            }
        }
#endif
        /* then [0, 1) with the exact max_rows: all rows */
        if (fy_gpu_matmul_grouped(dy, &ws->dw, dx, x_stride, sr, doff, 0, 1, max_rows, &fb, s) ||
            fy_bufs_down(&b, got, dy, yb))
            goto hard;
        int64_t first;
        const double err = row_error(got, ref, scale, n_rows, n_out, tol, &first);
        const bool fail = first >= 0 || !untouched;
        printf("%s %-5s %-4s grouped rows %d/%d/%d n_in %4lld n_out %4lld src_row %d bias %d "
               "x_stride %lld%s: max rel err %.3g (tol %g)%s\n",
               fail ? "FAIL" : "PASS", fy_dtype_name(w->type),
               max_rows <= 8 ? "gemv" : mma ? "mma" : "fma", cnt[0], cnt[1], cnt[2],
               (long long)n_in, (long long)n_out, permute, with_bias, (long long)x_stride,
               w->mat_bytes % 16 ? " unaligned" : "", err, tol,
               untouched ? "" : " (rows outside [e0, e1) written)");
        if (first >= 0)
            printf("     first bad row %lld: y[0] %.9g vs %.9g\n", (long long)first,
                   (double)got[first * n_out], (double)ref[first * n_out]);
        bad += fail;
        if (max_rows > 8 && tiles_case(&b, ws, dx, n_src, x_stride, sr, doff, off, n_out, &fb, y0, got,
                                       ref, scale, tol, mma))
            bad++;
    }
    goto done;
hard:
    fprintf(stderr, "FAIL: grouped setup or launch error\n");
    bad = 1;
done:
    fy_bufs_free(&b);
    return bad;
}

struct mm_case {
    int64_t n_tok, n_in, n_out;
    size_t pad;   /* bytes after each matrix: 34 makes e > 0 unaligned */
    int emu;      /* 1: also on the emulator */
};

/* GEMV (n_tok <= 8) and GEMM shapes; bias and e vary with the index */
static const struct mm_case cases[] = {
    {1, 2880, 2880, 0, 1},   {1, 64, 1, 0, 1},      {2, 2880, 7, 34, 1},   {7, 64, 33, 0, 1},
    {8, 2880, 2880, 0, 0},   {8, 64, 7, 34, 1},     {4, 2880, 33, 34, 1},  {9, 2880, 33, 0, 1},
    {33, 64, 2880, 0, 1},    {33, 2880, 7, 34, 1},  {512, 2880, 33, 0, 1}, {130, 64, 2880, 34, 1},
    {9, 64, 7, 34, 1},       {512, 2880, 2880, 0, 0}, {4096, 2880, 33, 0, 0},
    {4096, 64, 2880, 34, 0}, {8, 2880, 100, 0, 1},
    /* the pipelined GEMM's edges: a last 64-wide k-step with one block (n_in 96, 160), outputs
     * and rows not multiples of the 128 x 64 tile */
    {40, 96, 130, 0, 1},     {70, 160, 33, 34, 1},
};

/* float weights only: n_in not a multiple of 8 (element loads) or of 32 (a last k-step with a
 * partial 16-wide chunk, zeros past n_in) */
static const struct mm_case float_cases[] = {
    {65, 97, 40, 0, 1}, {20, 200, 129, 0, 1}, {17, 8, 5, 6, 1},
};

int main(void)
{
    struct fy_gpu_info info;
    fy_gpu_stream s = NULL;
    int failed = 0, rc = fy_test_gpu_start(&info, &s);

    if (rc)
        return rc;
    printf("matrix units: %d\n", (int)info.matrix_units);
    /* the emulator runs the trimmed set unless FY_TEST_FULL=1 */
    const bool emu = fy_test_gpu_is_emu() && !getenv("FY_TEST_FULL");

    for (size_t ti = 0; ti < FY_ARRAY_LEN(types); ti++) {
        const enum fy_dtype t = types[ti];
        for (size_t ci = 0; ci < FY_ARRAY_LEN(cases); ci++) {
            const struct mm_case *c = &cases[ci];
            if (emu && !c->emu)
                continue;
            struct wstack ws;
            if (make_weights(t, c->n_in, c->n_out, N_MAT, c->pad, 100 * ti + ci, s, &ws)) {
                fprintf(stderr, "FAIL: weights\n");
                return FY_TEST_HARD;
            }
            const int64_t e = (int64_t)((ci + ti) % N_MAT);
            failed += run_case(s, &ws, e, c->n_tok, (int)((ci + ti / 2) & 1), 7 * ti + ci);
            free_weights(&ws);
        }
        for (size_t ci = 0; ci < FY_ARRAY_LEN(float_cases) && t != FY_Q8_0 && t != FY_MXFP4;
             ci++) {
            const struct mm_case *c = &float_cases[ci];
            struct wstack ws;
            if (make_weights(t, c->n_in, c->n_out, N_MAT, c->pad, 300 * ti + ci, s, &ws)) {
                fprintf(stderr, "FAIL: weights\n");
                return FY_TEST_HARD;
            }
            failed += run_case(s, &ws, (int64_t)(ci % N_MAT), c->n_tok, (int)(ci & 1),
                               11 * ti + ci);
            free_weights(&ws);
        }
        /* grouped: GEMV (max 7 rows) and GEMM (several row tiles), empty experts */
        static const int small[N_MAT] = {3, 0, 7};
        static const int large[N_MAT] = {70, 1, 0};
        static const int huge[N_MAT] = {129, 0, 200};
        for (int g = 0; g < 4; g++) {
            const int64_t n_in = g & 1 ? 64 : 2880;
            const int64_t n_out = g == 3 && !emu ? 2880 : 33;
            struct wstack ws;
            if (make_weights(t, n_in, n_out, N_MAT, g == 2 ? 34 : 0, 900 + ti * 4 + g, s, &ws))
                return FY_TEST_HARD;
            const int *cnt = g == 0 ? small : g == 3 ? huge : large;
            failed += run_grouped(s, &ws, cnt, g != 1, g != 2, g == 1 ? 0 : 4 + g, 50 + g);
            if (g == 0)
                failed += run_grouped(s, &ws, large, 1, 1, 5, 60);
            free_weights(&ws);
        }
    }

    /* argument checks: nothing to do, bad expert, bad n_in for a block type */
    {
        struct wstack ws;
        if (make_weights(FY_Q8_0, 64, 7, N_MAT, 0, 5, s, &ws))
            return FY_TEST_HARD;
        FY_EXPECT(fy_gpu_matmul(NULL, &ws.dw, 0, NULL, 0, NULL, s) == FY_OK);
        FY_EXPECT(fy_gpu_matmul_grouped(NULL, &ws.dw, NULL, 64, NULL, (const int32_t *)ws.dw.data,
                                        1, 1, 4, NULL, s) == FY_OK);
        fy_log(FY_LOG_INFO, "test: three invalid-argument errors follow");
        FY_EXPECT(fy_gpu_matmul((float *)ws.dw.data, &ws.dw, N_MAT, (const float *)ws.dw.data, 1,
                                NULL, s) == FY_E_INVAL);
        struct fy_mat bad = ws.dw;
        bad.n_in = 48;
        FY_EXPECT(fy_gpu_matmul((float *)ws.dw.data, &bad, 0, (const float *)ws.dw.data, 1, NULL,
                                s) == FY_E_INVAL);
        FY_EXPECT(fy_gpu_matmul_grouped((float *)ws.dw.data, &ws.dw, (const float *)ws.dw.data,
                                        64, NULL, (const int32_t *)ws.dw.data, 2, 1, 4, NULL,
                                        s) == FY_E_INVAL);
        free_weights(&ws);
    }
    unsetenv("FY_GPU_MMA");
    if (!failed)
        printf("all matmul cases passed\n");
    return fy_test_gpu_end(s, failed, "matmul");
}
