/* y = W_e x + b for every weight type (F32, F16, BF16, Q8_0, MXFP4), parallel over output rows.
 *
 * Two paths with bit-identical results:
 *   - n_tok < FY_MM_BATCH: fused dequant-dot (fy_vec_dot) per row and token;
 *   - otherwise: each thread dequantizes a tile of FY_MM_TILE weight rows once into an f32
 *     buffer and dots it with every token row, so the weights are decoded once per call.
 * fy_vec_dot decodes each block to exact f32 values and reduces in a fixed order (quant.c), so
 * the F32 dot of a dequantized row gives the same bits as the fused dot; dot_f32_x2 below
 * repeats that order for two tokens at once (one weight load for two tokens). So a token's
 * result never depends on how many other tokens share the call (tests/test_matmul.c checks). */
#include "ops.h"
#include "qdot.h"
#include "quant.h"

#include <stdbool.h>

#include <stdlib.h>
#include <string.h>

#define FY_MM_BATCH 3          /* n_tok from which weight rows are dequantized once */
#define FY_MM_TILE FY_CPU_MM_TILE /* weight rows per dequantized tile (16 x 2880 f32 = 180 KiB) */
#define FY_MM_PAR_WORK 262144  /* below this many multiply-adds, stay on one thread */
#define FY_QK 32

#include "simd.h"


/* 32 f32 lanes (lane k: elements j = k mod 32), as in fy_vec_dot */
struct fy_acc32 {
    fy_v8f v0, v1, v2, v3;
};

static inline fy_v8f ld8(const float *p)
{
    fy_v8f v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* the final reduction of fy_vec_dot: s = (a0 + a2) + (a1 + a3), then a fixed tree */
static inline float reduce32(const struct fy_acc32 *a)
{
    fy_v8f s = (a->v0 + a->v2) + (a->v1 + a->v3);
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

static inline void mac32(struct fy_acc32 *a, const float *w, const float *x)
{
    a->v0 += ld8(w) * ld8(x);
    a->v1 += ld8(w + 8) * ld8(x + 8);
    a->v2 += ld8(w + 16) * ld8(x + 16);
    a->v3 += ld8(w + 24) * ld8(x + 24);
}

/* out[i] = fy_vec_dot(FY_F32, w, x_i, n) for two token rows, bit for bit */
static void dot_f32_x2(const float *w, const float *x0, const float *x1, int64_t n, float out[2])
{
    struct fy_acc32 a = {{0}, {0}, {0}, {0}};
    struct fy_acc32 b = {{0}, {0}, {0}, {0}};
    const int64_t nb = n / FY_QK;

    for (int64_t blk = 0; blk < nb; blk++) {
        mac32(&a, w + blk * FY_QK, x0 + blk * FY_QK);
        mac32(&b, w + blk * FY_QK, x1 + blk * FY_QK);
    }
    if (n > nb * FY_QK) {  /* zero-padded last block, as fy_vec_dot does */
        float wt[FY_QK] = {0};
        float xt0[FY_QK] = {0};
        float xt1[FY_QK] = {0};
        for (int64_t j = nb * FY_QK; j < n; j++) {
            wt[j - nb * FY_QK] = w[j];
            xt0[j - nb * FY_QK] = x0[j];
            xt1[j - nb * FY_QK] = x1[j];
        }
        mac32(&a, wt, xt0);
        mac32(&b, wt, xt1);
    }
    out[0] = reduce32(&a);
    out[1] = reduce32(&b);
}

static void matmul_rows_vecdot(float *y, const struct fy_mat *w, const uint8_t *base,
                               const float *x, int64_t n_tok, const float *bias, int64_t o0,
                               int64_t o1)
{
    for (int64_t o = o0; o < o1; o++) {
        const void *row = base + (size_t)o * w->row_bytes;
        float b = bias ? bias[o] : 0.0f;
        for (int64_t t = 0; t < n_tok; t++)
            y[t * w->n_out + o] = fy_vec_dot(w->type, row, x + t * w->n_in, w->n_in) + b;
    }
}

/* rows o0..o1 dequantized in buf, dotted with every token, two tokens at a time */
static void matmul_tile_f32(float *y, const float *buf, int64_t n_in, int64_t n_out,
                            const float *x, int64_t n_tok, const float *bias, int64_t o0,
                            int64_t o1)
{
    int64_t t = 0;
    for (; t + 1 < n_tok; t += 2) {
        const float *x0 = x + t * n_in;
        for (int64_t o = o0; o < o1; o++) {
            float d[2];
            float b = bias ? bias[o] : 0.0f;
            dot_f32_x2(buf + (o - o0) * n_in, x0, x0 + n_in, n_in, d);
            y[t * n_out + o] = d[0] + b;
            y[(t + 1) * n_out + o] = d[1] + b;
        }
    }
    if (t < n_tok)
        for (int64_t o = o0; o < o1; o++)
            y[t * n_out + o] = fy_vec_dot(FY_F32, buf + (o - o0) * n_in, x + t * n_in, n_in) +
                               (bias ? bias[o] : 0.0f);
}

void fy_cpu_matmul_rows_f32(float *y, const struct fy_mat *w, int64_t e, const float *x,
                            int64_t n_tok, const float *bias, int64_t o0, int64_t o1, float *buf)
{
    const uint8_t *base = (const uint8_t *)w->data + (size_t)e * w->mat_bytes;
    if (n_tok < FY_MM_BATCH || !buf) {
        matmul_rows_vecdot(y, w, base, x, n_tok, bias, o0, o1);
        return;
    }
    for (int64_t a = o0; a < o1; a += FY_MM_TILE) {
        const int64_t b = a + FY_MM_TILE < o1 ? a + FY_MM_TILE : o1;
        for (int64_t o = a; o < b; o++)
            fy_dequant_row(w->type, base + (size_t)o * w->row_bytes, buf + (o - a) * w->n_in,
                           w->n_in);
        matmul_tile_f32(y, buf, w->n_in, w->n_out, x, n_tok, bias, a, b);
    }
}

/* ---- the integer path (qdot.h): every set but "c" ---- */

/* weight rows per parallel work item and tokens per kernel call: the set's mm_rows, mm_tok
 * (16 and 32 but for amx: its tiles want more rows and tokens per call); one token: */
#define FY_MM_QX_ROWS_1 64
#define FY_MM_QX_STACK 1024 /* blocks quantized on the stack (68 KiB); more are malloc'd */

bool fy_cpu_qdot_ok(const struct fy_mat *w)
{
    return (w->type == FY_Q8_0 || w->type == FY_MXFP4) && w->n_in % FY_QX_BLOCK == 0 &&
           fy_cpu_set() != &fy_cpu_set_c;
}

void fy_cpu_qdot_rows(const struct fy_mat *w, int64_t e, int64_t r0, int64_t rows, const void *xq,
                      bool q8, int64_t n_tok, float *y, const float *bias)
{
    const struct fy_cpu_set *set = fy_cpu_set();
    const uint8_t *wr = (const uint8_t *)w->data + (size_t)e * w->mat_bytes + (size_t)r0 * w->row_bytes;
    const float *br = bias ? bias + r0 : NULL;
    const int64_t nb = w->n_in / FY_QX_BLOCK;
    if (q8) { /* the q8 kernel decodes the rows once and walks every token itself */
        set->mm8(wr, w->row_bytes, rows, xq, nb, n_tok, y + r0, w->n_out, br);
        return;
    }
    const struct fy_qx_block *x16 = xq;
    for (int64_t t0 = 0; t0 < n_tok; t0 += set->mm_tok) {
        int64_t nt = n_tok - t0 < set->mm_tok ? n_tok - t0 : set->mm_tok;
        set->mm(w->type, wr, w->row_bytes, rows, x16 + t0 * nb, nb, nt, y + t0 * w->n_out + r0,
                w->n_out, br);
    }
}

static void qdot_quantize(struct fy_qx_block *xq, const float *x, int64_t n_tok, int64_t n_in)
{
    const struct fy_cpu_set *set = fy_cpu_set();
    const int64_t nb = n_in / FY_QX_BLOCK;
#pragma omp parallel for schedule(static) if (n_tok * n_in > FY_MM_PAR_WORK)
    for (int64_t t = 0; t < n_tok; t++)
        set->quantize(x + t * n_in, xq + t * nb, n_in);
}

static void matmul_qdot_rows(float *y, const struct fy_mat *w, int64_t e,
                             const struct fy_qx_block *xq, int64_t n_tok, const float *bias)
{
    const int64_t n_out = w->n_out;
    /* the set's rows per call (one token: FY_MM_QX_ROWS_1, fewer calls each preparing x once),
     * but at least 4 chunks for the threads to share */
    int64_t ir = n_tok > 1 ? fy_cpu_set()->mm_rows : FY_MM_QX_ROWS_1;
    while (ir > 16 && (n_out + ir - 1) / ir < 4)
        ir = (ir / 2 + 15) / 16 * 16;
    const int64_t n_chunks = (n_out + ir - 1) / ir;
    const int par = (double)n_out * (double)w->n_in * (double)n_tok > FY_MM_PAR_WORK;

#pragma omp parallel for schedule(static) if (par)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t o0 = c * ir;
        int64_t rows = n_out - o0 < ir ? n_out - o0 : ir;
        fy_cpu_qdot_rows(w, e, o0, rows, xq, false, n_tok, y, bias);
    }
}

/* quantizes x once, then the integer matmul; false if out of memory (the caller goes on with
 * the f32 path) */
static bool matmul_qdot(float *y, const struct fy_mat *w, int64_t e, const float *x, int64_t n_tok,
                      const float *bias)
{
    const int64_t n_blk = n_tok * (w->n_in / FY_QX_BLOCK);
    struct fy_qx_block stack[n_blk <= FY_MM_QX_STACK ? n_blk : 1];
    struct fy_qx_block *xq = n_blk <= FY_MM_QX_STACK ? stack : malloc((size_t)n_blk * sizeof(*xq));
    if (!xq)
        return false;
    qdot_quantize(xq, x, n_tok, w->n_in);
    matmul_qdot_rows(y, w, e, xq, n_tok, bias);
    if (xq != stack)
        free(xq);
    return true;
}

void fy_cpu_matmul(float *y, const struct fy_mat *w, int64_t e, const float *x, int64_t n_tok,
                   const float *bias)
{
    if (fy_cpu_qdot_ok(w) && n_tok > 0 && matmul_qdot(y, w, e, x, n_tok, bias))
        return;

    const uint8_t *base = (const uint8_t *)w->data + (size_t)e * w->mat_bytes;
    const int64_t n_in = w->n_in;
    const int64_t n_out = w->n_out;
    const int par = (double)n_out * (double)n_in * (double)n_tok > FY_MM_PAR_WORK;

    if (n_tok < FY_MM_BATCH) {
#pragma omp parallel for schedule(static) if (par)
        for (int64_t o = 0; o < n_out; o++)
            matmul_rows_vecdot(y, w, base, x, n_tok, bias, o, o + 1);
        return;
    }

    const int64_t n_tiles = (n_out + FY_MM_TILE - 1) / FY_MM_TILE;
#pragma omp parallel if (par)
    {
        /* per-thread tile buffer; without it this thread falls back to the fused dot,
         * which gives the same bits, just slower */
        float *buf = malloc((size_t)FY_MM_TILE * (size_t)n_in * sizeof(float));
#pragma omp for schedule(static)
        for (int64_t tile = 0; tile < n_tiles; tile++) {
            int64_t o0 = tile * FY_MM_TILE;
            int64_t o1 = o0 + FY_MM_TILE < n_out ? o0 + FY_MM_TILE : n_out;
            if (!buf) {
                matmul_rows_vecdot(y, w, base, x, n_tok, bias, o0, o1);
                continue;
            }
            for (int64_t o = o0; o < o1; o++)
                fy_dequant_row(w->type, base + (size_t)o * w->row_bytes, buf + (o - o0) * n_in,
                               n_in);
            matmul_tile_f32(y, buf, n_in, n_out, x, n_tok, bias, o0, o1);
        }
        free(buf);
    }
}
