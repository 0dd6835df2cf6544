/* Scalar conversions and row (de)quantization for F32, F16, BF16, Q8_0 and MXFP4. */
#ifndef FY_QUANT_H
#define FY_QUANT_H

#include "ferry.h"

float fy_fp16_to_f32(uint16_t h);          /* exact, including subnormals, inf, NaN */
uint16_t fy_f32_to_fp16(float f);          /* round to nearest even; overflow -> inf */
float fy_bf16_to_f32(uint16_t b);          /* bits << 16 */
uint16_t fy_f32_to_bf16(float f);          /* round to nearest even; NaN stays NaN */
float fy_e8m0_half(uint8_t e);             /* 2^(e-128) exactly (ggml's MXFP4 scale) */
extern const int8_t fy_mxfp4_table[16];    /* doubled E2M1 values {0,1,2,3,4,6,8,12,-0,-1,...} */

/* Decode n elements (n a multiple of the block size) of one row of type t into dst. */
void fy_dequant_row(enum fy_dtype t, const void *src, float *dst, int64_t n);

/* dot(row of type t, x) over n elements, accumulated in f32 per block / float overall. */
float fy_vec_dot(enum fy_dtype t, const void *row, const float *x, int64_t n);

/* Quantizers (synthetic models and tests). n is a multiple of 32 for the block types. */
void fy_quant_row_q8_0(const float *x, void *dst, int64_t n);   /* d = amax/127, q = round(x/d) */
void fy_quant_row_mxfp4(const float *x, void *dst, int64_t n);  /* shared exponent + nearest E2M1 */
void fy_quant_row(enum fy_dtype t, const float *x, void *dst, int64_t n);

#endif
