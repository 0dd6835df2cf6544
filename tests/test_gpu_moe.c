/* fy_gpu_moe_ffn against fy_cpu_moe_ffn on random inputs, random MXFP4 / Q8_0 / BF16 expert
 * stacks and random biases (gate/up scaled so that the +-7 clamps engage), and the split call
 * (begin, experts over three uneven ranges plus an empty one, end) against fy_gpu_moe_ffn bit for
 * bit. Boundaries probed:
 *   - n_tok 1 (the matmul's GEMV path, f32 throughout: relative error <= 1e-4 per row), and
 *     7, 33, 160, 512 (tiled GEMM, possibly on bf16 matrix units: relative error <= 2e-2 per
 *     row), d = n_ff = 256 with 8 and 32 experts, and the real width 2880 with few tokens;
 *   - ids from the CPU router on random logits; all tokens on one expert (an expert with exactly
 *     n_tok = max_rows rows); ids from a few experts only (the others unused);
 *   - the fused gate_up layout of model.c (gate and up views of one [E][2ff][d] stack);
 *   - unused experts whose weights are unreadable: the stacks hold only the experts [a, b) that
 *     the ids use (on the emulator the others are PROT_NONE pages, so a read kills the test; on a
 *     GPU they lie outside any allocation), with an expert stride larger than the matrix;
 *   - one workspace across all cases (it grows with n_tok; on the emulator, checked not to grow
 *     when it need not), y overwritten (filled with NaN before), argument checks.
 * Row error: max_c |y - ref| / max_c |ref| (ref = fy_cpu_moe_ffn, f32, terms in expert order;
 * the GPU adds them in slot order). */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"
#include "quant.h"

#ifdef FY_TEST_EMU
#include "hip/emu/fy_emu_ctl.h"

#include <sys/mman.h>
#include <unistd.h>
#endif

enum ids_mode { IDS_ROUTER, IDS_ONE_EXPERT, IDS_FEW };

struct moe_case {
    enum fy_dtype type;
    int64_t n_exp, d, ff, n_tok;
    int k;
    enum ids_mode mode;
    int fused;      /* gate and up as views of one stack */
    int restricted; /* only the experts the ids use are readable */
};

/* host stack [n_exp][n_out][n_in] with expert stride mat_bytes >= n_out * row_bytes */
static uint8_t *make_stack(struct fy_rng *r, enum fy_dtype type, int64_t n_exp, int64_t n_out,
                           int64_t n_in, size_t mat_bytes, float scale)
{
    const size_t row_bytes = fy_dtype_row_bytes(type, n_in);
    uint8_t *data = calloc((size_t)n_exp, mat_bytes);
    float *src = malloc((size_t)n_in * sizeof(float));
    if (!data || !src) {
        free(data);
        free(src);
        return NULL;
    }
    for (int64_t e = 0; e < n_exp; e++)
        for (int64_t o = 0; o < n_out; o++) {
            uint8_t *row = data + (size_t)e * mat_bytes + (size_t)o * row_bytes;
            if (type == FY_MXFP4) { /* random blocks, exponent around the scale (fast) */
                const int e0 = 127 + (int)floor(log2(scale)) - 1;
                for (int64_t b = 0; b < n_in / 32; b++) {
                    uint8_t *p = row + 17 * b;
                    uint64_t v0 = fy_rng_u64(r), v1 = fy_rng_u64(r);
                    p[0] = (uint8_t)(e0 + (int)(v0 % 3));
                    memcpy(p + 1, &v1, 8);
                    v1 = fy_rng_u64(r);
                    memcpy(p + 9, &v1, 8);
                }
            } else {
                fy_rng_fill(r, src, n_in, scale);
                fy_quant_row(type, src, row, n_in);
            }
        }
    free(src);
    return data;
}

/* A device copy of a host stack. Restricted: only experts [a, b) are readable. */
struct dev_stack {
    void *alloc; /* fy_gpu_malloc'd */
    void *map;   /* emulator: the mmap'd region */
    size_t map_len;
    const uint8_t *data;
};

static int upload_stack(struct dev_stack *ds, const uint8_t *host, size_t mat_bytes, int64_t n_exp,
                        int64_t a, int64_t b, int restricted, fy_gpu_stream s)
{
    memset(ds, 0, sizeof(*ds));
    if (!restricted) {
        if (fy_gpu_malloc(&ds->alloc, mat_bytes * (size_t)n_exp, "expert stack") ||
            fy_gpu_copy_h2d(ds->alloc, host, mat_bytes * (size_t)n_exp, s))
            return 1;
        ds->data = ds->alloc;
        return 0;
    }
#ifdef FY_TEST_EMU
    /* device memory is host memory on the emulator: experts outside [a, b) are PROT_NONE */
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (mat_bytes % pg) {
        fprintf(stderr, "restricted stack: expert stride %zu is not a page multiple\n", mat_bytes);
        return 1;
    }
    ds->map_len = mat_bytes * (size_t)n_exp;
    ds->map = mmap(NULL, ds->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ds->map == MAP_FAILED) {
        ds->map = NULL;
        return 1;
    }
    uint8_t *base = (uint8_t *)ds->map;
    if (mprotect(base + (size_t)a * mat_bytes, (size_t)(b - a) * mat_bytes, PROT_READ | PROT_WRITE))
        return 1;
    memcpy(base + (size_t)a * mat_bytes, host + (size_t)a * mat_bytes, (size_t)(b - a) * mat_bytes);
    ds->data = base;
#else
    /* experts [a, b) only; the pointer for expert 0 lies before the allocation */
    if (fy_gpu_malloc(&ds->alloc, mat_bytes * (size_t)(b - a), "expert stack [a, b)") ||
        fy_gpu_copy_h2d(ds->alloc, host + (size_t)a * mat_bytes, mat_bytes * (size_t)(b - a), s))
        return 1;
    ds->data = (const uint8_t *)ds->alloc - (size_t)a * mat_bytes;
#endif
    return 0;
}

static void free_stack(struct dev_stack *ds)
{
    fy_gpu_free(ds->alloc);
#ifdef FY_TEST_EMU
    if (ds->map)
        munmap(ds->map, ds->map_len);
#endif
    memset(ds, 0, sizeof(*ds));
}

/* k distinct experts per token */
static void make_ids(struct fy_rng *r, const struct moe_case *c, int32_t *ids, float *w,
                     int64_t *lo, int64_t *hi)
{
    const int64_t E = c->n_exp, n = c->n_tok;
    const int k = c->k;
    int64_t a = 0, span = E;
    if (c->mode == IDS_ROUTER) {
        float *logits = malloc((size_t)(n * E) * sizeof(float));
        fy_rng_fill(r, logits, n * E, 1.0f);
        fy_cpu_router_topk(ids, w, logits, n, E, k);
        free(logits);
    } else {
        int32_t perm[256];
        const int32_t hot = (int32_t)(E / 2);
        if (c->mode == IDS_FEW) { /* experts [a, a + k + 2) only */
            a = E / 4 + 1;
            span = k + 2;
        }
        for (int64_t t = 0; t < n; t++) {
            int m = 0;
            for (int64_t e = a; e < a + span; e++)
                if (c->mode != IDS_ONE_EXPERT || e != hot)
                    perm[m++] = (int32_t)e;
            for (int j = 0; j < k; j++) {
                int64_t p = j + (int64_t)(fy_rng_u64(r) % (uint64_t)(m - j));
                int32_t tmp = perm[j];
                perm[j] = perm[p];
                perm[p] = tmp;
                ids[t * k + j] = perm[j];
                w[t * k + j] = fy_rng_range(r, 0.05f, 1.0f);
            }
            if (c->mode == IDS_ONE_EXPERT)
                ids[t * k + t % k] = hot; /* every token, in every slot position in turn */
        }
    }
    *lo = E;
    *hi = 0;
    for (int64_t i = 0; i < n * k; i++) {
        if (ids[i] < *lo)
            *lo = ids[i];
        if (ids[i] + 1 > *hi)
            *hi = ids[i] + 1;
    }
}

/* max over rows of max_c |y - ref| / max_c |ref| */
static double row_error(const float *y, const float *ref, int64_t n, int64_t d, int64_t *worst)
{
    double m = 0.0;
    *worst = 0;
    for (int64_t t = 0; t < n; t++) {
        double num = 0.0, den = 0.0;
        for (int64_t c = 0; c < d; c++) {
            double e = fabs((double)y[t * d + c] - ref[t * d + c]);
            if (e != e) { /* NaN: the worst */
                *worst = t;
                return INFINITY;
            }
            if (e > num)
                num = e;
            if (fabs(ref[t * d + c]) > den)
                den = fabs(ref[t * d + c]);
        }
        double rel = num / (den > 1e-30 ? den : 1e-30);
        if (!(rel <= m)) {
            m = rel;
            *worst = t;
        }
    }
    return m;
}

#ifdef FY_TEST_EMU
static size_t emu_mem_used(void)
{
    struct fy_emu_stats st;
    fy_emu_stats_get(&st);
    return st.mem_used;
}
#endif

static int run_case(struct fy_gpu_moe_ws *ws, fy_gpu_stream s, const struct moe_case *c,
                    uint64_t seed)
{
    struct fy_rng r = {seed};
    const int64_t E = c->n_exp, d = c->d, ff = c->ff, n = c->n_tok;
    const int k = c->k;
    const enum fy_dtype type = c->type;
    const size_t rb_d = fy_dtype_row_bytes(type, d), rb_ff = fy_dtype_row_bytes(type, ff);
    const int64_t n_gu = c->fused ? 2 * ff : ff; /* rows of one gate (or gate_up) matrix */
    const int64_t bstride = c->fused ? 2 * ff : ff + 3;
    size_t mb_gu = rb_d * (size_t)n_gu, mb_dn = rb_ff * (size_t)d;
    if (c->restricted) { /* expert strides padded to pages (and larger than the matrices) */
        mb_gu = (mb_gu / 4096 + 1) * 4096;
        mb_dn = (mb_dn / 4096 + 1) * 4096;
    }
    /* bytes: gate (and up) biases, down biases, n x d floats, n x k weights, n x k ids */
    const size_t bb_gu = (size_t)(E * bstride) * sizeof(float);
    const size_t bb_dn = (size_t)(E * d) * sizeof(float);
    const size_t xb = (size_t)(n * d) * sizeof(float), kb = (size_t)(n * k) * sizeof(float);
    const size_t ib = (size_t)(n * k) * sizeof(int32_t);
    uint8_t *hg = NULL, *hu = NULL, *hd = NULL;
    struct fy_bufs bufs = {.s = s};
    float *bg = fy_bufs_host(&bufs, bb_gu);
    float *bu = c->fused ? NULL : fy_bufs_host(&bufs, bb_gu);
    float *bd = fy_bufs_host(&bufs, bb_dn), *x = fy_bufs_host(&bufs, xb);
    float *w = fy_bufs_host(&bufs, kb);
    int32_t *ids = fy_bufs_host(&bufs, ib);
    float *ref = fy_bufs_host(&bufs, xb);
    float *y1 = fy_bufs_host(&bufs, xb), *y2 = fy_bufs_host(&bufs, xb);
    struct dev_stack sg = {0}, su = {0}, sd = {0};
    int64_t lo = 0, hi = 0;
    int bad = 1;
    char what[200];

    snprintf(what, sizeof(what), "moe %s E=%lld k=%d d=%lld ff=%lld n_tok=%lld ids=%s%s%s",
             fy_dtype_name(type), (long long)E, k, (long long)d, (long long)ff, (long long)n,
             c->mode == IDS_ROUTER       ? "router"
             : c->mode == IDS_ONE_EXPERT ? "one-expert"
                                         : "few",
             c->fused ? " fused" : "", c->restricted ? " restricted" : "");
    if (bufs.err)
        goto done;
    hg = make_stack(&r, type, E, n_gu, d, mb_gu, 4.0f / sqrtf((float)d));
    hu = c->fused ? NULL : make_stack(&r, type, E, ff, d, mb_gu, 4.0f / sqrtf((float)d));
    hd = make_stack(&r, type, E, d, ff, mb_dn, 1.0f / sqrtf((float)ff));
    if (!hg || (!c->fused && !hu) || !hd)
        goto done;
    fy_rng_fill(&r, bg, E * bstride, 1.0f);
    if (bu)
        fy_rng_fill(&r, bu, E * bstride, 1.0f);
    fy_rng_fill(&r, bd, E * d, 1.0f);
    fy_rng_fill(&r, x, n * d, 1.0f);
    make_ids(&r, c, ids, w, &lo, &hi);

    /* CPU reference on the host layer */
    struct fy_moe_layer L = {
        .gate = {type, d, ff, E, rb_d, mb_gu, hg},
        .up = {type, d, ff, E, rb_d, mb_gu, c->fused ? hg + (size_t)ff * rb_d : hu},
        .down = {type, ff, d, E, rb_ff, mb_dn, hd},
        .gate_b = {bg, bstride},
        .up_b = {c->fused ? bg + ff : bu, bstride},
        .down_b = {bd, d},
        .alpha = 1.702f,
        .limit = 7.0f,
    };
    if (fy_cpu_moe_ffn(ref, x, n, ids, w, k, &L) != FY_OK) {
        fprintf(stderr, "FAIL %s: CPU reference failed\n", what);
        goto done;
    }

    /* device layer: same views over device copies */
    const int64_t a = c->restricted ? lo : 0, b = c->restricted ? hi : E;
    if (upload_stack(&sg, hg, mb_gu, E, a, b, c->restricted, s) ||
        (!c->fused && upload_stack(&su, hu, mb_gu, E, a, b, c->restricted, s)) ||
        upload_stack(&sd, hd, mb_dn, E, a, b, c->restricted, s))
        goto fail_gpu;
    float *dbg = fy_bufs_up(&bufs, bg, bb_gu, "gate bias");
    float *dbu = bu ? fy_bufs_up(&bufs, bu, bb_gu, "up bias") : NULL;
    float *dbd = fy_bufs_up(&bufs, bd, bb_dn, "down bias"), *dx = fy_bufs_up(&bufs, x, xb, "x");
    float *dw = fy_bufs_up(&bufs, w, kb, "w");
    int32_t *dids = fy_bufs_up(&bufs, ids, ib, "ids");
    float *dy = fy_bufs_dev(&bufs, xb, "y");
    if (bufs.err)
        goto fail_gpu;
    struct fy_moe_layer G = L;
    G.gate.data = sg.data;
    G.up.data = c->fused ? sg.data + (size_t)ff * rb_d : su.data;
    G.down.data = sd.data;
    G.gate_b.data = dbg;
    G.up_b.data = c->fused ? dbg + ff : dbu;
    G.down_b.data = dbd;

    /* whole call */
    if (fy_gpu_memset(dy, 0xff, xb, s) ||
        fy_gpu_moe_ffn(ws, dy, dx, n, dids, dw, k, &G, s) != FY_OK ||
        fy_bufs_down(&bufs, y1, dy, xb))
        goto fail_gpu;
    /* split call: uneven ranges and an empty one */
    const int64_t e1 = E / 8 > 1 ? E / 8 : 1, e2 = E - E / 4;
    if (fy_gpu_memset(dy, 0xff, xb, s) || fy_gpu_moe_begin(ws, dx, n, dids, k, &G, s) != FY_OK ||
        fy_gpu_moe_experts(ws, &G, 0, e1, s) != FY_OK ||
        fy_gpu_moe_experts(ws, &G, e1, e1, s) != FY_OK ||
        fy_gpu_moe_experts(ws, &G, e1, e2, s) != FY_OK ||
        fy_gpu_moe_experts(ws, &G, e2, E, s) != FY_OK || fy_gpu_moe_end(ws, dy, dw, s) != FY_OK ||
        fy_bufs_down(&bufs, y2, dy, xb))
        goto fail_gpu;

    /* n_tok = 1: GEMV in f32 everywhere; more rows may use bf16 matrix units in the matmul */
    const double gate = n == 1 ? 1e-4 : 2e-2;
    int64_t worst = 0;
    const double err = row_error(y1, ref, n, d, &worst);
    const int split_same = !memcmp(y1, y2, xb);
    bad = !(err <= gate) || !split_same;
    printf("%s %s: max row rel err %.3g (gate %.0e, worst row %lld), split [0,%lld) [%lld,%lld) "
           "[%lld,%lld) %s\n",
           bad ? "FAIL" : "ok  ", what, err, gate, (long long)worst, (long long)e1, (long long)e1,
           (long long)e2, (long long)e2, (long long)E, split_same ? "same bits" : "DIFFERENT BITS");
    if (!(err <= gate))
        fprintf(stderr, "  row %lld col 0..3: gpu %g %g %g %g, cpu %g %g %g %g\n", (long long)worst,
                y1[worst * d], y1[worst * d + 1], y1[worst * d + 2], y1[worst * d + 3],
                ref[worst * d], ref[worst * d + 1], ref[worst * d + 2], ref[worst * d + 3]);
    goto done;
fail_gpu:
    fprintf(stderr, "FAIL %s: a GPU call failed\n", what);
done:
    free_stack(&sg);
    free_stack(&su);
    free_stack(&sd);
    fy_bufs_free(&bufs);
    free(hg);
    free(hu);
    free(hd);
    return bad;
}

/* wrong shapes and call order give FY_E_INVAL before anything is launched */
static int check_args(struct fy_gpu_moe_ws *ws, fy_gpu_stream s)
{
    int failed = 0;
    static const float fake[1];
    static const int32_t fake_ids[1];
    struct fy_moe_layer L = {
        .gate = {FY_F32, 32, 64, 4, 128, 128 * 64, fake},
        .up = {FY_F32, 32, 64, 4, 128, 128 * 64, fake},
        .down = {FY_F32, 64, 32, 4, 256, 256 * 32, fake},
        .alpha = 1.702f,
        .limit = 7.0f,
    };
    float *y = (float *)fake;
    fflush(stdout);
    fprintf(stderr, "argument checks: the errors logged below are expected\n");
    FY_EXPECT(fy_gpu_moe_experts(ws, &L, 0, 4, s) == FY_E_INVAL); /* before begin */
    FY_EXPECT(fy_gpu_moe_end(ws, y, fake, s) == FY_E_INVAL);
    FY_EXPECT(fy_gpu_moe_begin(ws, fake, 1, fake_ids, 5, &L, s) == FY_E_INVAL); /* k > E */
    FY_EXPECT(fy_gpu_moe_begin(ws, fake, -1, fake_ids, 4, &L, s) == FY_E_INVAL);
    L.down.n_out = 31;
    FY_EXPECT(fy_gpu_moe_ffn(ws, y, fake, 1, fake_ids, fake, 4, &L, s) == FY_E_INVAL);
    L.down.n_out = 32;
    FY_EXPECT(fy_gpu_moe_begin(ws, fake, 0, NULL, 4, &L, s) == FY_OK); /* no tokens: no work */
    FY_EXPECT(fy_gpu_moe_experts(ws, &L, 3, 5, s) == FY_E_INVAL);      /* past the experts */
    FY_EXPECT(fy_gpu_moe_experts(ws, &L, 2, 1, s) == FY_E_INVAL);
    FY_EXPECT(fy_gpu_moe_experts(ws, &L, 0, 4, s) == FY_OK);
    FY_EXPECT(fy_gpu_moe_end(ws, NULL, NULL, s) == FY_OK);
    FY_EXPECT(fy_gpu_moe_end(ws, NULL, NULL, s) == FY_E_INVAL); /* end twice */
    FY_EXPECT(fy_gpu_stream_sync(s) == FY_OK);
    printf("%s argument checks\n", failed ? "FAIL" : "ok  ");
    return failed;
}

int main(void)
{
    fy_gpu_stream s = NULL;
    struct fy_gpu_moe_ws *ws = NULL;
    const int rc = fy_test_gpu_start(NULL, &s);
    if (rc)
        return rc;
    if (fy_gpu_moe_ws_new(&ws) != FY_OK)
        return FY_TEST_HARD;

    static const enum fy_dtype types[] = {FY_MXFP4, FY_Q8_0, FY_BF16};
    static const int64_t n_toks[] = {1, 7, 33};
    int failed = 0;
    uint64_t seed = 101;

    /* one workspace throughout: it grows with n_tok (1, 7, 33, then 512), never shrinks */
    for (size_t in = 0; in < FY_ARRAY_LEN(n_toks); in++)
        for (size_t it = 0; it < FY_ARRAY_LEN(types); it++) {
            struct moe_case c = {types[it], 8, 256, 256, n_toks[in], 4, IDS_ROUTER, 0, 0};
            failed += run_case(ws, s, &c, seed++);
        }
    const struct moe_case cases[] = {
        {FY_MXFP4, 32, 256, 256, 512, 4, IDS_ROUTER, 0, 0},
        {FY_BF16, 8, 256, 256, 160, 4, IDS_ROUTER, 0, 0},
        {FY_Q8_0, 32, 256, 256, 33, 4, IDS_ONE_EXPERT, 0, 0},
        {FY_MXFP4, 32, 256, 256, 512, 4, IDS_ONE_EXPERT, 0, 0},
        {FY_MXFP4, 32, 256, 256, 7, 4, IDS_FEW, 0, 1},
        {FY_BF16, 32, 256, 256, 33, 4, IDS_FEW, 0, 1},
        {FY_Q8_0, 32, 256, 256, 1, 4, IDS_ROUTER, 1, 0},
        {FY_MXFP4, 8, 256, 256, 33, 4, IDS_ROUTER, 1, 0},
        {FY_BF16, 32, 256, 256, 7, 4, IDS_FEW, 1, 0},
        {FY_MXFP4, 8, 2880, 2880, 1, 4, IDS_ROUTER, 0, 0},
        {FY_MXFP4, 4, 2880, 2880, 2, 4, IDS_ROUTER, 1, 0},
    };
#ifdef FY_TEST_EMU
    size_t mem_before = emu_mem_used();
#endif
    for (size_t i = 0; i < FY_ARRAY_LEN(cases); i++) {
        failed += run_case(ws, s, &cases[i], seed++);
#ifdef FY_TEST_EMU
        if (i == 0) { /* the largest workspace of the 256-wide cases */
            if (emu_mem_used() <= mem_before) {
                fprintf(stderr, "FAIL the workspace did not grow for n_tok 512\n");
                failed++;
            }
            mem_before = emu_mem_used();
        }
        if (i > 0 && cases[i].d == 256 && emu_mem_used() != mem_before) {
            fprintf(stderr, "FAIL the workspace changed size (%zu -> %zu bytes) without need\n",
                    mem_before, emu_mem_used());
            failed++;
        }
#endif
    }
    failed += check_args(ws, s);

    fy_gpu_stream_sync(s);
    fy_gpu_moe_ws_free(ws);
    return fy_test_gpu_end(s, failed, "moe");
}
