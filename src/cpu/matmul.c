/* y = W_e x + b for every weight type (F32, F16, BF16, Q8_0, MXFP4), parallel over output rows.
 *
 * Two paths with bit-identical results (fy_vec_dot decodes each block to exact f32 and reduces it
 * in the same fixed order as an F32 row, see quant.c):
 *   - n_tok < FY_MM_BATCH: fused dequant-dot (fy_vec_dot) per row and token;
 *   - otherwise: each thread dequantizes a tile of FY_MM_TILE weight rows once into an f32
 *     buffer and dots it with every token row, so the weights are decoded once per call.
 * So a token's result never depends on how many other tokens share the call. */
#include "ops.h"
#include "../quant.h"

#include <stdlib.h>

#define FY_MM_BATCH 2          /* n_tok from which weight rows are dequantized once */
#define FY_MM_TILE 16          /* weight rows per dequantized tile (16 x 2880 f32 = 180 KiB) */
#define FY_MM_PAR_WORK 32768   /* below this many multiply-adds, stay on one thread */

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

void fy_cpu_matmul(float *y, const struct fy_mat *w, int64_t e, const float *x, int64_t n_tok,
                   const float *bias)
{
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
            for (int64_t t = 0; t < n_tok; t++) {
                const float *xt = x + t * n_in;
                float *yt = y + t * n_out;
                for (int64_t o = o0; o < o1; o++)
                    yt[o] = fy_vec_dot(FY_F32, buf + (o - o0) * n_in, xt, n_in) +
                            (bias ? bias[o] : 0.0f);
            }
        }
        free(buf);
    }
}
