/* The "c" kernel set: the portable C references of the integer dot products (qdot.h): the lane
 * order of the "avx2" set (fy_qdot_mm_ref) and the block sums of the "avx512" sets
 * (fy_qdot_mm_bs_ref), so that every set gives the same bits as its reference. */
#include "qdot.h"
#include "quant.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define FY_Q8_0_BYTES 34  /* fp16 d, int8 q[32] */
#define FY_MXFP4_BYTES 17 /* u8 e, nibbles[16]: element j low nibble of byte j, j+16 high */

static float block_amax(const float *xb)
{
    float amax = 0.0f;
    for (int j = 0; j < FY_QX_BLOCK; j++) {
        float a = fabsf(xb[j]);
        amax = a > amax ? a : amax;
    }
    return amax;
}

void fy_qdot_quantize_ref(const float *x, struct fy_qx_block *y, int64_t n)
{
    for (int64_t b = 0; b < n / FY_QX_BLOCK; b++) {
        const float *xb = x + b * FY_QX_BLOCK;
        float id;
        float d = fy_qx_scale(block_amax(xb), (float)FY_QX_QMAX, &id);
        y[b].d = d;
        const float qmax = (float)FY_QX_QMAX;
        for (int j = 0; j < FY_QX_BLOCK; j++) {
            float v = nearbyintf(xb[j] * id);
            v = v > qmax ? qmax : v < -qmax ? -qmax : v;
            y[b].q[j] = (int16_t)v;
        }
    }
}

/* one weight block as 32 int8 values, and its scale */
static float weight_block(enum fy_dtype type, const uint8_t *p, int8_t w[FY_QX_BLOCK])
{
    if (type == FY_Q8_0) {
        memcpy(w, p + 2, FY_QX_BLOCK);
        return fy_fp16_to_f32((uint16_t)(p[0] | p[1] << 8));
    }
    for (int j = 0; j < FY_QX_BLOCK / 2; j++) {
        w[j] = fy_mxfp4_table[p[1 + j] & 0x0f];
        w[j + 16] = fy_mxfp4_table[p[1 + j] >> 4];
    }
    return fy_e8m0_half(p[0]);
}

static float dot(enum fy_dtype type, const uint8_t *w, const struct fy_qx_block *x, int64_t nb)
{
    const size_t bb = type == FY_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
    float acc[8] = {0};
    int8_t wq[FY_QX_BLOCK];
    for (int64_t b = 0; b < nb; b++) {
        const int16_t *q = x[b].q;
        float s = weight_block(type, w + (size_t)b * bb, wq) * x[b].d;
        for (int i = 0; i < 8; i++) {
            int32_t lane = wq[2 * i] * q[2 * i] + wq[2 * i + 1] * q[2 * i + 1] +
                           wq[16 + 2 * i] * q[16 + 2 * i] + wq[17 + 2 * i] * q[17 + 2 * i];
            acc[i] = fmaf((float)lane, s, acc[i]);
        }
    }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

void fy_qdot_mm_ref(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                    const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y, int64_t ldy,
                    const float *bias)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < n_tok; t++)
            y[t * ldy + r] =
                dot(type, w + (size_t)r * row_bytes, x + t * nb, nb) + (bias ? bias[r] : 0.0f);
}

/* one row's dot in the "block sums" numerics (qdot.h): per block the exact int32 sum, one fmaf
 * per block; x: int16 blocks, or int8 blocks (q8) */
static float dot_bs(enum fy_dtype type, const uint8_t *w, const void *x, bool q8, int64_t nb)
{
    const size_t bb = type == FY_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
    int8_t wq[FY_QX_BLOCK];
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        const float dw = weight_block(type, w + (size_t)b * bb, wq);
        int32_t s = 0;
        float dx;
        if (q8) {
            const struct fy_q8_block *xb = (const struct fy_q8_block *)x + b;
            for (int j = 0; j < FY_QX_BLOCK; j++)
                s += wq[j] * xb->q[j];
            dx = xb->d;
        } else {
            const struct fy_qx_block *xb = (const struct fy_qx_block *)x + b;
            for (int j = 0; j < FY_QX_BLOCK; j++)
                s += wq[j] * xb->q[j];
            dx = xb->d;
        }
        acc = fmaf((float)s, dw * dx, acc);
    }
    return acc;
}

void fy_qdot_mm_bs_ref(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                       const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y,
                       int64_t ldy, const float *bias)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < n_tok; t++)
            y[t * ldy + r] = dot_bs(type, w + (size_t)r * row_bytes, x + t * nb, false, nb) +
                             (bias ? bias[r] : 0.0f);
}

void fy_qdot_quantize8_ref(const float *x, struct fy_q8_block *y, int64_t n)
{
    for (int64_t b = 0; b < n / FY_QX_BLOCK; b++) {
        const float *xb = x + b * FY_QX_BLOCK;
        float id;
        float d = fy_qx_scale(block_amax(xb), 127.0f, &id);
        int32_t s = 0;
        y[b].d = d;
        for (int j = 0; j < FY_QX_BLOCK; j++) {
            float v = nearbyintf(xb[j] * id);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            y[b].q[j] = (int8_t)v;
            s += y[b].q[j];
        }
        y[b].s = s;
    }
}

/* MXFP4 rows x q8 activations: the block sums numerics too (qdot.h) */
static void mm8_c(const uint8_t *w, size_t row_bytes, int64_t rows, const struct fy_q8_block *x,
                  int64_t nb, int64_t n_tok, float *y, int64_t ldy, const float *bias)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < n_tok; t++)
            y[t * ldy + r] = dot_bs(FY_MXFP4, w + (size_t)r * row_bytes, x + t * nb, true, nb) +
                             (bias ? bias[r] : 0.0f);
}

const struct fy_cpu_set fy_cpu_set_c = {
    .name = "c",
    .quantize = fy_qdot_quantize_ref,
    .mm = fy_qdot_mm_ref,
    .mm_ref = fy_qdot_mm_ref,
    .mm_rows = 16,
    .mm_tok = 32,
    .quantize8 = fy_qdot_quantize8_ref,
    .mm8 = mm8_c,
};
