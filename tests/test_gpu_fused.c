/* The fused decode kernels (issue 12 item 3) against the CPU ops they replace, on random inputs:
 *   fy_gpu_rmsnorm_matmul   vs fy_cpu_rmsnorm + fy_cpu_matmul per matrix (1-3 matrices, biases
 *                           on some, every weight type, n_in not a multiple of 8 for the float
 *                           types, n_tok 1..8, the 2880 width with x staged in chunks)
 *   fy_gpu_matmul_residual  vs fy_cpu_matmul + fy_cpu_add (separate and in-place residual)
 *   fy_gpu_rope_kv_store    vs fy_cpu_rope_yarn twice + fy_cpu_kv_store (F16, F32 and Q8_0
 *                           caches; Q8_0's V cache, not rotated, bit for bit)
 *   fy_gpu_rmsnorm_router   (split along d: 1, 3 and 8 splits)
 *                           vs fy_cpu_rmsnorm + fy_cpu_matmul + fy_cpu_router_topk (h, logits,
 *                           ids exactly, weights), then fy_gpu_moe_ffn_residual on its grouping
 *                           vs fy_cpu_moe_ffn + fy_cpu_add; the router twice in a row (its
 *                           ticket goes back to 0), each time over another grouping left in
 *                           the workspace, the MoE alone (grouping kernel) too, both gate/up
 *                           layouts (one stack, two stacks)
 * Gates: relative error per row (max |got - ref| / max |ref|) <= 1e-5 for the f32 products (the
 * GPU decodes weights exactly; FY_CPU=c makes the CPU's products f32 too), 1e-4 for the MoE
 * (SwiGLU's exp), 2e-3 for the F16 cache (one rounding of a value a few ulp apart), 1e-2 for
 * the Q8_0 cache (a K a few ulp apart may round to the next step: 1/127 of the block max); 5e-2 for
 * Q8_0 and MXFP4 weights when the GEMV takes int8 activations (fy_gpu_q8_enabled). */
#include <math.h>
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"
#include "quant.h"

static int failed;

/* max over rows of max_c |got - ref| / max_c |ref| */
static double row_err(const float *got, const float *ref, int64_t rows, int64_t n)
{
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        double num = 0, den = 0;
        for (int64_t c = 0; c < n; c++) {
            num = fmax(num, fabs((double)got[r * n + c] - ref[r * n + c]));
            den = fmax(den, fabs((double)ref[r * n + c]));
        }
        const double e = den > 0 ? num / den : num;
        worst = e > worst || isnan(e) ? e : worst;
    }
    return worst;
}

/* tol, or for Q8_0 / MXFP4 weights under int8 activations (fy_gpu_q8_enabled, the default on
 * a GPU) the GEMV's q8 numerics: 5e-2 of the row's largest value */
static double qtol(enum fy_dtype t, double tol)
{
    return fy_gpu_q8_enabled() && (t == FY_Q8_0 || t == FY_MXFP4) ? 5e-2 : tol;
}

static void report(const char *what, double err, double tol)
{
    const int ok = err <= tol;
    printf("%s %-64s rel err %.2e (tol %.0e)\n", ok ? "PASS" : "FAIL", what, err, tol);
    failed += !ok;
}

/* a random [n_mat][n_out][n_in] matrix of type t (host), described in *m */
static void *make_mat(struct fy_rng *r, enum fy_dtype t, int64_t n_mat, int64_t n_out,
                      int64_t n_in, float scale, struct fy_mat *m)
{
    const size_t rb = fy_dtype_row_bytes(t, n_in);
    uint8_t *data = calloc((size_t)(n_mat * n_out), rb);
    float *src = malloc((size_t)n_in * sizeof(float));
    if (!data || !src) {
        free(data);
        free(src);
        return NULL;
    }
    for (int64_t i = 0; i < n_mat * n_out; i++) {
        fy_rng_fill(r, src, n_in, scale);
        fy_quant_row(t, src, data + (size_t)i * rb, n_in);
    }
    free(src);
    *m = (struct fy_mat){t, n_in, n_out, n_mat, rb, rb * (size_t)n_out, data};
    return data;
}

static float *randv(struct fy_bufs *b, struct fy_rng *r, int64_t n, float scale)
{
    float *x = fy_bufs_host(b, (size_t)n * sizeof(float));
    if (x)
        fy_rng_fill(r, x, n, scale);
    return x;
}

/* ---- RMSNorm + 1..3 matmuls ---- */
static void case_norm_matmul(fy_gpu_stream s, enum fy_dtype t, int64_t d, int64_t n_tok, int np)
{
    static const int64_t outs[3] = {64, 16, 25};
    struct fy_rng r = {0x5eed + (uint64_t)(t * 131 + d * 7 + n_tok + np)};
    struct fy_bufs b = {.s = s};
    struct fy_mat hm[3], dm[3];
    void *wh[3] = {0};
    float *bias[3] = {0}, *dbias[3] = {0}, *dy[3] = {0};
    struct fy_gpu_mv_part parts[3];
    float *x = randv(&b, &r, n_tok * d, 2.0f), *nw = randv(&b, &r, d, 1.0f);
    float *h = fy_bufs_host(&b, (size_t)(n_tok * d) * 4), *gh = fy_bufs_host(&b, (size_t)(n_tok * d) * 4);
    float *dx = fy_bufs_up(&b, x, (size_t)(n_tok * d) * 4, "x");
    float *dnw = fy_bufs_up(&b, nw, (size_t)d * 4, "norm");
    float *dh = fy_bufs_dev(&b, (size_t)(n_tok * d) * 4, "h");
    for (int p = 0; p < np && !b.err; p++) {
        wh[p] = make_mat(&r, t, 1, outs[p], d, 0.1f, &hm[p]);
        dm[p] = hm[p];
        dm[p].data = wh[p] ? fy_bufs_up(&b, wh[p], hm[p].mat_bytes, "w") : NULL;
        if (p != 1) {
            bias[p] = randv(&b, &r, outs[p], 0.5f);
            dbias[p] = fy_bufs_up(&b, bias[p], (size_t)outs[p] * 4, "bias");
        }
        dy[p] = fy_bufs_dev(&b, (size_t)(n_tok * outs[p]) * 4, "y");
        parts[p] = (struct fy_gpu_mv_part){&dm[p], dbias[p], dy[p]};
    }
    char what[128];
    snprintf(what, sizeof(what), "rmsnorm_matmul %-5s d %4lld n_tok %lld, %d matrices",
             fy_dtype_name(t), (long long)d, (long long)n_tok, np);
    if (b.err || fy_gpu_rmsnorm_matmul(dh, dx, n_tok, dnw, 1e-5f, parts, np, s) != FY_OK ||
        fy_bufs_down(&b, gh, dh, (size_t)(n_tok * d) * 4)) {
        printf("FAIL %s: launch\n", what);
        failed++;
        goto done;
    }
    fy_cpu_rmsnorm(h, x, nw, n_tok, d, 1e-5f);
    double e = row_err(gh, h, n_tok, d);
    for (int p = 0; p < np; p++) {
        float *ref = malloc((size_t)(n_tok * outs[p]) * 4), *got = malloc((size_t)(n_tok * outs[p]) * 4);
        fy_cpu_matmul(ref, &hm[p], 0, h, n_tok, bias[p]);
        if (fy_bufs_down(&b, got, dy[p], (size_t)(n_tok * outs[p]) * 4))
            e = INFINITY;
        else
            e = fmax(e, row_err(got, ref, n_tok, outs[p]));
        free(ref);
        free(got);
    }
    report(what, e, qtol(t, 1e-5));
done:
    for (int p = 0; p < 3; p++)
        free(wh[p]);
    fy_bufs_free(&b);
}

/* ---- matmul + residual ---- */
static void case_residual(fy_gpu_stream s, enum fy_dtype t, int64_t n_tok, int in_place)
{
    const int64_t d = 256, n = 96;
    struct fy_rng r = {0xadd + (uint64_t)(t * 3 + n_tok + in_place)};
    struct fy_bufs b = {.s = s};
    struct fy_mat hm, dm;
    void *wh = make_mat(&r, t, 1, n, d, 0.1f, &hm);
    float *x = randv(&b, &r, n_tok * d, 1.0f), *res = randv(&b, &r, n_tok * n, 1.0f);
    float *bias = randv(&b, &r, n, 0.5f);
    float *got = fy_bufs_host(&b, (size_t)(n_tok * n) * 4), *gotp = fy_bufs_host(&b, (size_t)(n_tok * n) * 4);
    float *ref = fy_bufs_host(&b, (size_t)(n_tok * n) * 4), *refp = fy_bufs_host(&b, (size_t)(n_tok * n) * 4);
    dm = hm;
    dm.data = wh ? fy_bufs_up(&b, wh, hm.mat_bytes, "w") : NULL;
    float *dx = fy_bufs_up(&b, x, (size_t)(n_tok * d) * 4, "x");
    float *dres = fy_bufs_up(&b, res, (size_t)(n_tok * n) * 4, "res");
    float *dbias = fy_bufs_up(&b, bias, (size_t)n * 4, "bias");
    float *dy = in_place ? dres : fy_bufs_dev(&b, (size_t)(n_tok * n) * 4, "y");
    float *dp = fy_bufs_dev(&b, (size_t)(n_tok * n) * 4, "y_plain");
    char what[128];
    snprintf(what, sizeof(what), "matmul_residual %-5s n_tok %lld%s", fy_dtype_name(t),
             (long long)n_tok, in_place ? ", in place" : "");
    if (b.err || fy_gpu_matmul_residual(dy, dp, &dm, dx, n_tok, dbias, dres, s) != FY_OK ||
        fy_bufs_down(&b, got, dy, (size_t)(n_tok * n) * 4) ||
        fy_bufs_down(&b, gotp, dp, (size_t)(n_tok * n) * 4)) {
        printf("FAIL %s: launch\n", what);
        failed++;
    } else {
        fy_cpu_matmul(refp, &hm, 0, x, n_tok, bias);
        fy_cpu_add(ref, res, refp, n_tok * n);
        report(what, fmax(row_err(got, ref, n_tok, n), row_err(gotp, refp, n_tok, n)),
               qtol(t, 1e-5));
    }
    free(wh);
    fy_bufs_free(&b);
}

/* ---- RoPE q, k + KV store ---- */
static void case_rope_kv(fy_gpu_stream s, enum fy_dtype kvt, int64_t n_tok)
{
    const int64_t nh = 8, nkv = 2, hd = 64, n_ctx = 40, w = nkv * hd, cb = n_ctx * w;
    const struct fy_rope rp = {64, 4096, 150000.0f, 1.0f / 32, 1.0f, 1.0f, 32.0f, 1.0f, 0};
    struct fy_rng r = {0x707e + (uint64_t)(kvt + n_tok)};
    struct fy_bufs b = {.s = s};
    const size_t cbytes = fy_dtype_row_bytes(kvt, cb); /* n_ctx rows of w */
    float *q = randv(&b, &r, n_tok * nh * hd, 1.0f), *k = randv(&b, &r, n_tok * w, 1.0f);
    float *v = randv(&b, &r, n_tok * w, 1.0f);
    int32_t *pos = fy_bufs_host(&b, (size_t)n_tok * 4);
    float *gq = fy_bufs_host(&b, (size_t)(n_tok * nh * hd) * 4), *gk = fy_bufs_host(&b, (size_t)(n_tok * w) * 4);
    void *kc = fy_bufs_host(&b, cbytes), *vc = fy_bufs_host(&b, cbytes);
    void *gkc = fy_bufs_host(&b, cbytes), *gvc = fy_bufs_host(&b, cbytes);
    if (b.err)
        goto done;
    for (int64_t t = 0; t < n_tok; t++)
        pos[t] = (int32_t)((t * 7 + 3) % n_ctx); /* distinct for n_tok <= 40 */
    float *dq = fy_bufs_up(&b, q, (size_t)(n_tok * nh * hd) * 4, "q");
    float *dk = fy_bufs_up(&b, k, (size_t)(n_tok * w) * 4, "k");
    float *dv = fy_bufs_up(&b, v, (size_t)(n_tok * w) * 4, "v");
    int32_t *dpos = fy_bufs_up(&b, pos, (size_t)n_tok * 4, "pos");
    void *dkc = fy_bufs_up(&b, kc, cbytes, "kc"), *dvc = fy_bufs_up(&b, vc, cbytes, "vc");
    char what[128];
    snprintf(what, sizeof(what), "rope_kv_store %s cache, n_tok %lld", fy_dtype_name(kvt),
             (long long)n_tok);
    if (b.err || fy_gpu_rope_kv_store(dq, dk, dv, n_tok, nh, nkv, hd, dpos, &rp, dkc, dvc, kvt, 0, s) != FY_OK ||
        fy_bufs_down(&b, gq, dq, (size_t)(n_tok * nh * hd) * 4) ||
        fy_bufs_down(&b, gk, dk, (size_t)(n_tok * w) * 4) ||
        fy_bufs_down(&b, gkc, dkc, cbytes) || fy_bufs_down(&b, gvc, dvc, cbytes)) {
        printf("FAIL %s: launch\n", what);
        failed++;
        goto done;
    }
    fy_cpu_rope_yarn(q, n_tok, nh, hd, pos, &rp);
    fy_cpu_rope_yarn(k, n_tok, nkv, hd, pos, &rp);
    fy_cpu_kv_store(kc, vc, kvt, k, v, n_tok, w, pos, 0);
    double e = fmax(row_err(gq, q, n_tok, nh * hd), row_err(gk, k, n_tok, w));
    /* the caches: every slot, stored ones against the CPU's, the others untouched (zero) */
    float *a = malloc((size_t)cb * 4), *c = malloc((size_t)cb * 4);
    for (int pass = 0; pass < 2 && a && c; pass++) {
        fy_dequant_row(kvt, pass ? gvc : gkc, a, cb);
        fy_dequant_row(kvt, pass ? vc : kc, c, cb);
        e = fmax(e, row_err(a, c, n_ctx, w) /
                        (kvt == FY_F16 ? 200.0 : kvt == FY_Q8_0 ? 1000.0 : 1.0));
    }
    if (kvt == FY_Q8_0 && memcmp(gvc, vc, cbytes) != 0) {
        printf("FAIL %s: the V cache is not the CPU's Q8_0 bytes\n", what);
        failed++;
    }
    free(a);
    free(c);
    report(what, e, 1e-5); /* F16: 2e-3, Q8_0: 1e-2 scaled into the same gate */
done:
    fy_bufs_free(&b);
}

/* ---- router + MoE ---- */
struct moe_host {
    struct fy_moe_layer L, dL;
    void *gate, *up, *down;
};

static void case_router_moe(fy_gpu_stream s, struct fy_gpu_moe_ws *ws, enum fy_dtype t,
                            enum fy_dtype rt, int64_t d, int64_t ff, int64_t n_tok, int fused_gu)
{
    const int64_t E = 32;
    const int k = 4;
    struct fy_rng r = {0x3035 + (uint64_t)(t * 5 + rt + d + n_tok * 11 + fused_gu)};
    struct fy_bufs b = {.s = s};
    struct fy_mat rm, drm, gu = {0}, dn;
    void *rh = make_mat(&r, rt, 1, E, d, 0.2f, &rm);
    void *guh = make_mat(&r, t, E, 2 * ff, d, 0.3f, &gu); /* [E][2ff][d]: gate rows, then up */
    void *dnh = make_mat(&r, t, E, d, ff, 0.1f, &dn);
    float *x = randv(&b, &r, n_tok * d, 2.0f), *nw = randv(&b, &r, d, 1.0f);
    float *rb = randv(&b, &r, E, 0.5f), *res = randv(&b, &r, n_tok * d, 1.0f);
    float *bgu = randv(&b, &r, E * 2 * ff, 0.5f), *bdn = randv(&b, &r, E * d, 0.5f);
    const size_t xb = (size_t)(n_tok * d) * 4;
    float *h = fy_bufs_host(&b, xb), *gh = fy_bufs_host(&b, xb), *y = fy_bufs_host(&b, xb);
    if (b.err || !rh || !guh || !dnh)
        goto done;
    struct fy_moe_layer L = {0};
    L.gate = gu;
    L.gate.n_out = ff;
    L.up = L.gate;
    L.down = dn;
    L.alpha = 1.702f;
    L.limit = 7.0f;
    if (fused_gu) { /* views of one stack, as model.c binds a fused gate_up tensor */
        L.up.data = (const uint8_t *)guh + (size_t)ff * gu.row_bytes;
        L.gate_b = (struct fy_bias){bgu, 2 * ff};
        L.up_b = (struct fy_bias){bgu + ff, 2 * ff};
    } else { /* two stacks: the gate rows of each expert, then the up rows, as separate tensors */
        L.gate.mat_bytes = L.up.mat_bytes = (size_t)ff * gu.row_bytes;
        L.up.data = (const uint8_t *)guh + (size_t)E * ff * gu.row_bytes;
        L.gate_b = (struct fy_bias){bgu, ff};
        L.up_b = (struct fy_bias){bgu + E * ff, ff};
    }
    L.down_b = (struct fy_bias){bdn, d};
    /* device copies */
    uint8_t *dgu = fy_bufs_up(&b, guh, gu.mat_bytes * (size_t)E, "gate_up");
    float *dbgu = fy_bufs_up(&b, bgu, (size_t)(E * 2 * ff) * 4, "bgu");
    struct fy_moe_layer dL = L;
    dL.gate.data = dgu;
    dL.up.data = dgu + ((const uint8_t *)L.up.data - (const uint8_t *)guh);
    dL.down.data = fy_bufs_up(&b, dnh, dn.mat_bytes * (size_t)E, "down");
    dL.gate_b.data = dbgu;
    dL.up_b.data = dbgu + (L.up_b.data - bgu);
    dL.down_b.data = fy_bufs_up(&b, bdn, (size_t)(E * d) * 4, "bdn");
    drm = rm;
    drm.data = fy_bufs_up(&b, rh, rm.mat_bytes, "router");
    float *dx = fy_bufs_up(&b, x, xb, "x"), *dnw = fy_bufs_up(&b, nw, (size_t)d * 4, "norm");
    float *drb = fy_bufs_up(&b, rb, (size_t)E * 4, "rb");
    float *dh = fy_bufs_dev(&b, xb, "h"), *dl = fy_bufs_dev(&b, (size_t)(n_tok * E) * 4, "logits");
    float *dw = fy_bufs_dev(&b, (size_t)(n_tok * k) * 4, "w");
    int32_t *dids = fy_bufs_dev(&b, (size_t)(n_tok * k) * 4, "ids");
    float *dy = fy_bufs_dev(&b, xb, "y"), *dmo = fy_bufs_dev(&b, xb, "moe");
    int32_t *fake = fy_bufs_host(&b, (size_t)(n_tok * k) * 4);
    if (b.err)
        goto done;
    for (int64_t i = 0; i < n_tok * k; i++)
        fake[i] = (int32_t)(i % k); /* every token on experts 0..k-1 */
    int32_t *dfake = fy_bufs_up(&b, fake, (size_t)(n_tok * k) * 4, "fake ids");
    if (b.err)
        goto done;
    /* the CPU reference */
    float *logits = malloc((size_t)(n_tok * E) * 4), *w = malloc((size_t)(n_tok * k) * 4);
    float *gl = malloc((size_t)(n_tok * E) * 4), *gw = malloc((size_t)(n_tok * k) * 4);
    int32_t *ids = malloc((size_t)(n_tok * k) * 4), *gids = malloc((size_t)(n_tok * k) * 4);
    float *moe = malloc(xb);
    fy_cpu_rmsnorm(h, x, nw, n_tok, d, 1e-5f);
    fy_cpu_matmul(logits, &rm, 0, h, n_tok, rb);
    fy_cpu_router_topk(ids, w, logits, n_tok, E, k);
    fy_cpu_moe_ffn(moe, h, n_tok, ids, w, k, &L);
    fy_cpu_add(y, res, moe, n_tok * d);
    char what[160];
    for (int pass = 0; pass < 3; pass++) {
        /* 0 and 1: the fused router (twice: the ticket must be back at 0), its grouping used;
         * 2: the router's outputs reused, the MoE grouping by itself */
        const bool routed = pass < 2;
        snprintf(what, sizeof(what), "%s %-5s router %-4s d %4lld ff %4lld n_tok %lld %s",
                 routed ? "router+moe" : "moe       ", fy_dtype_name(t), fy_dtype_name(rt),
                 (long long)d, (long long)ff, (long long)n_tok, fused_gu ? "gate_up" : "gate,up");
        /* another grouping in the workspace first (the MoE's own kernel, other ids): the
         * router must replace it, on every call */
        fy_status st = fy_gpu_moe_ffn(ws, dmo, dh, n_tok, dfake, dw, k, &dL, s);
        if (st == FY_OK && routed)
            st = fy_gpu_rmsnorm_router(dh, dl, dids, dw, dx, n_tok, dnw, 1e-5f, &drm, drb, k, ws, s);
        float *dres = dy; /* y = res + MoE: in place */
        if (st == FY_OK && fy_gpu_copy_h2d(dy, res, xb, s) != FY_OK)
            st = FY_E_GPU;
        if (st == FY_OK && !b.err)
            st = fy_gpu_moe_ffn_residual(ws, dres, dmo, dh, n_tok, dids, dw, k, &dL, dres,
                                         routed, s);
        if (st != FY_OK || b.err || fy_bufs_down(&b, gh, dres, xb) ||
            fy_gpu_copy_d2h(gl, dl, (size_t)(n_tok * E) * 4, s) != FY_OK ||
            fy_gpu_copy_d2h(gw, dw, (size_t)(n_tok * k) * 4, s) != FY_OK ||
            fy_gpu_copy_d2h(gids, dids, (size_t)(n_tok * k) * 4, s) != FY_OK ||
            fy_gpu_stream_sync(s) != FY_OK) {
            printf("FAIL %s: launch (%s)\n", what, fy_status_str(st));
            failed++;
            break;
        }
        const bool same_ids = !memcmp(ids, gids, (size_t)(n_tok * k) * 4);
        if (!same_ids) {
            printf("FAIL %s: expert ids differ from the CPU's\n", what);
            failed++;
            continue;
        }
        double e = fmax(row_err(gl, logits, n_tok, E) * 10, row_err(gw, w, n_tok, k) * 10);
        e = fmax(e, row_err(gh, y, n_tok, d));
        report(what, e, qtol(t, 1e-4)); /* logits and weights to 1e-5 */
    }
    free(logits);
    free(w);
    free(gl);
    free(gw);
    free(ids);
    free(gids);
    free(moe);
done:
    free(rh);
    free(guh);
    free(dnh);
    fy_bufs_free(&b);
}

int main(void)
{
    fy_gpu_stream s;
    const int st = fy_test_gpu_start(NULL, &s);
    if (st)
        return st;
    const enum fy_dtype types[] = {FY_F32, FY_F16, FY_BF16, FY_Q8_0, FY_MXFP4};
    for (size_t i = 0; i < FY_ARRAY_LEN(types); i++) {
        const enum fy_dtype t = types[i];
        const bool blocked = t == FY_Q8_0 || t == FY_MXFP4;
        case_norm_matmul(s, t, 256, 1, 3);
        case_norm_matmul(s, t, 256, 3, 2);
        case_norm_matmul(s, t, blocked ? 2880 : 100, 8, 3);
        case_norm_matmul(s, t, blocked ? 64 : 36, 5, 1);
        case_residual(s, t, 1, 0);
        case_residual(s, t, 5, 1);
    }
    case_norm_matmul(s, FY_MXFP4, 2880, 1, 3);
    case_rope_kv(s, FY_F16, 1);
    case_rope_kv(s, FY_F16, 9);
    case_rope_kv(s, FY_F32, 4);
    case_rope_kv(s, FY_Q8_0, 1);
    case_rope_kv(s, FY_Q8_0, 9);
    struct fy_gpu_moe_ws *ws = NULL;
    if (fy_gpu_moe_ws_new(&ws) != FY_OK)
        return FY_TEST_HARD;
    case_router_moe(s, ws, FY_MXFP4, FY_F32, 256, 256, 1, 0);
    case_router_moe(s, ws, FY_MXFP4, FY_BF16, 256, 128, 8, 1);
    case_router_moe(s, ws, FY_Q8_0, FY_F32, 256, 256, 3, 0);
    case_router_moe(s, ws, FY_BF16, FY_F16, 128, 256, 2, 1);
    case_router_moe(s, ws, FY_MXFP4, FY_F32, 2880, 2880, 1, 0); /* the router in 8 splits */
    case_router_moe(s, ws, FY_Q8_0, FY_BF16, 800, 256, 5, 1);   /* 3 splits (one short) x 5 */
    (void)fy_gpu_stream_sync(s);
    fy_gpu_moe_ws_free(ws);
    return fy_test_gpu_end(s, failed, "fused kernel");
}
