/* Scalar conversions and row (de)quantization for F32, F16, BF16, Q8_0 and MXFP4
 * (gpt-oss.md section 5). Blocks are read byte-wise (MXFP4 blocks are 17 bytes, so nothing
 * in a quantized row is aligned). The host is assumed little-endian, like the GGUF files. */
#include "quant.h"

#include <math.h>
#include <string.h>

#define FY_QK 32              /* elements per Q8_0 / MXFP4 block */
#define FY_Q8_0_BYTES 34      /* u16 d, i8 q[32] */
#define FY_MXFP4_BYTES 17     /* u8 e, u8 qs[16] */

static inline float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline uint32_t f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static inline uint16_t load_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline void store_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

/* ---- scalar conversions ---------------------------------------------------------------- */

/* Branch-free so that row loops over it vectorize: normals are rebiased (+112 in the exponent),
 * inf/NaN get the all-ones exponent with the payload kept, subnormals are man * 2^-24 (exact). */
float fy_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t em = h & 0x7fffu;
    uint32_t exp = em & 0x7c00u;
    uint32_t nb = (em << 13) + 0x38000000u;
    if (exp == 0x7c00u)
        nb += 0x38000000u;
    float sub = (float)(em & 0x3ffu) * 0x1p-24f;
    uint32_t r = exp == 0 ? f32_to_bits(sub) : nb;
    return bits_to_f32(r | sign);
}

uint16_t fy_f32_to_fp16(float f)
{
    uint32_t x = f32_to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;

    if (a > 0x7f800000u)  /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x38800000u) {
        /* result normal (or overflow): rebias, then round to nearest even on 13 dropped bits;
         * a carry out of the mantissa correctly bumps the exponent, up to inf */
        if (a >= 0x47800000u)  /* >= 65536 (includes inf) */
            return (uint16_t)(sign | 0x7c00);
        uint32_t h = (a >> 13) - (112u << 10);
        uint32_t rem = a & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
            h++;
        if (h >= 0x7c00)
            h = 0x7c00;
        return (uint16_t)(sign | h);
    }
    if (a <= 0x33000000u)  /* <= 2^-25: rounds to zero (2^-25 is a tie to even 0) */
        return sign;
    /* subnormal result: value / 2^-24 = m * 2^(e - 126), with shift = 126 - e in 14..24 */
    uint32_t e = a >> 23;
    uint32_t m = (a & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;
    uint32_t h = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
        h++;  /* may carry into 0x400 = smallest normal, which is the right encoding */
    return (uint16_t)(sign | h);
}

float fy_bf16_to_f32(uint16_t b)
{
    return bits_to_f32((uint32_t)b << 16);
}

uint16_t fy_f32_to_bf16(float f)
{
    uint32_t x = f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)  /* NaN: keep sign and top payload, force quiet */
        return (uint16_t)((x >> 16) | 0x40);
    /* round to nearest even; overflow carries into the exponent and gives inf */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

float fy_e8m0_half(uint8_t e)
{
    if (e >= 2)
        return bits_to_f32((uint32_t)(e - 1) << 23);
    return bits_to_f32(e == 1 ? 0x00400000u : 0x00200000u);
}

const int8_t fy_mxfp4_table[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* ---- block decode ------------------------------------------------------------------------ */

/* MXFP4 block -> 32 floats: table value (doubled E2M1, an exact small integer) times
 * 2^(e-128). Both factors are exact, so the product is the exact element value (it overflows
 * to inf only where the true value exceeds FLT_MAX, e.g. nibble 6.0 at e = 254). */
static inline void decode_mxfp4(const uint8_t *b, float *dst)
{
    float s = fy_e8m0_half(b[0]);
    const uint8_t *qs = b + 1;
    for (int j = 0; j < FY_QK / 2; j++) {
        dst[j] = (float)fy_mxfp4_table[qs[j] & 0x0f] * s;
        dst[j + FY_QK / 2] = (float)fy_mxfp4_table[qs[j] >> 4] * s;
    }
}

static inline void decode_q8_0(const uint8_t *b, float *dst)
{
    float d = fy_fp16_to_f32(load_u16(b));
    const int8_t *q = (const int8_t *)(b + 2);
    for (int j = 0; j < FY_QK; j++)
        dst[j] = d * (float)q[j];
}

static inline void decode_f16(const uint8_t *b, float *dst, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        dst[j] = fy_fp16_to_f32(load_u16(b + 2 * j));
}

static inline void decode_bf16(const uint8_t *b, float *dst, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        dst[j] = fy_bf16_to_f32(load_u16(b + 2 * j));
}

void fy_dequant_row(enum fy_dtype t, const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    switch (t) {
    case FY_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case FY_F16:
        decode_f16(p, dst, n);
        return;
    case FY_BF16:
        decode_bf16(p, dst, n);
        return;
    case FY_Q8_0:
        for (int64_t b = 0; b < n / FY_QK; b++)
            decode_q8_0(p + b * FY_Q8_0_BYTES, dst + b * FY_QK);
        return;
    case FY_MXFP4:
        for (int64_t b = 0; b < n / FY_QK; b++)
            decode_mxfp4(p + b * FY_MXFP4_BYTES, dst + b * FY_QK);
        return;
    }
}

/* ---- dot products ------------------------------------------------------------------------ */

/* Dot of len <= 32 floats, in f32 with a fixed order: 8 lane sums (lane k takes elements
 * k, k+8, k+16, k+24 in that order), then ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
 * Written as independent lanes so gcc vectorizes it without reassociating anything. */
static inline float dot_block(const float *a, const float *x, int64_t len)
{
    float l[8] = {0};
    if (len == FY_QK) {
        for (int c = 0; c < FY_QK; c += 8)
            for (int k = 0; k < 8; k++)
                l[k] += a[c + k] * x[c + k];
    } else {
        for (int64_t j = 0; j < len; j++)
            l[j & 7] += a[j] * x[j];
    }
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* fy_vec_dot accumulation order (the same for every type, so that dot(dequant(row), x) over
 * F32 gives bit-identical results to the fused dot over the quantized row; fy_cpu_matmul
 * relies on this): the row is cut into blocks of 32 elements (plus a tail for F32/F16/BF16
 * rows whose length is not a multiple of 32); each block is decoded to exact f32 values and
 * reduced by dot_block; block sums are added left to right into one f32 accumulator. */
float fy_vec_dot(enum fy_dtype t, const void *row, const float *x, int64_t n)
{
    const uint8_t *p = row;
    float tmp[FY_QK];
    float acc = 0.0f;
    int64_t nb = n / FY_QK;
    int64_t tail = n - nb * FY_QK;

    switch (t) {
    case FY_F32: {
        const float *a = row;
        for (int64_t b = 0; b < nb; b++)
            acc += dot_block(a + b * FY_QK, x + b * FY_QK, FY_QK);
        if (tail)
            acc += dot_block(a + nb * FY_QK, x + nb * FY_QK, tail);
        return acc;
    }
    case FY_F16:
        for (int64_t b = 0; b < nb; b++) {
            decode_f16(p + b * FY_QK * 2, tmp, FY_QK);
            acc += dot_block(tmp, x + b * FY_QK, FY_QK);
        }
        if (tail) {
            decode_f16(p + nb * FY_QK * 2, tmp, tail);
            acc += dot_block(tmp, x + nb * FY_QK, tail);
        }
        return acc;
    case FY_BF16:
        for (int64_t b = 0; b < nb; b++) {
            decode_bf16(p + b * FY_QK * 2, tmp, FY_QK);
            acc += dot_block(tmp, x + b * FY_QK, FY_QK);
        }
        if (tail) {
            decode_bf16(p + nb * FY_QK * 2, tmp, tail);
            acc += dot_block(tmp, x + nb * FY_QK, tail);
        }
        return acc;
    case FY_Q8_0:
        for (int64_t b = 0; b < nb; b++) {
            decode_q8_0(p + b * FY_Q8_0_BYTES, tmp);
            acc += dot_block(tmp, x + b * FY_QK, FY_QK);
        }
        return acc;
    case FY_MXFP4:
        for (int64_t b = 0; b < nb; b++) {
            decode_mxfp4(p + b * FY_MXFP4_BYTES, tmp);
            acc += dot_block(tmp, x + b * FY_QK, FY_QK);
        }
        return acc;
    }
    return 0.0f;
}

/* ---- quantizers (synthetic models and tests) ---------------------------------------------- */

/* gpt-oss.md section 5: d = amax/127 and q = round(x/d) (half away from zero) with the
 * unrounded d; d is then stored as fp16. So the decode error is at most
 * d/2 + 127*|d - fp16(d)| per element. An all-zero block stores d = 0, q = 0. */
void fy_quant_row_q8_0(const float *x, void *dst, int64_t n)
{
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / FY_QK; b++) {
        const float *xb = x + b * FY_QK;
        uint8_t *ob = out + b * FY_Q8_0_BYTES;
        float amax = 0.0f;
        for (int j = 0; j < FY_QK; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f;
        store_u16(ob, fy_f32_to_fp16(d));
        for (int j = 0; j < FY_QK; j++) {
            float q = d > 0.0f ? roundf(xb[j] / d) : 0.0f;
            q = fminf(fmaxf(q, -127.0f), 127.0f);
            ob[2 + j] = (uint8_t)(int8_t)q;
        }
    }
}

/* Nearest E2M1 code (0..7) for a magnitude v >= 0 already divided by the block scale; ties go
 * to the even code (the one with mantissa bit 0), as in IEEE round-to-nearest-even. */
static int e2m1_code(double v)
{
    static const double mag[8] = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0};
    int best = 0;
    for (int c = 1; c < 8; c++) {
        double dc = fabs(v - mag[c]);
        double db = fabs(v - mag[best]);
        if (dc < db || (dc == db && (c & 1) == 0))
            best = c;
    }
    return best;
}

/* MXFP4 quantizer. Shared exponent: the smallest e with amax <= 6 * 2^(e-127), so the block
 * maximum maps into the E2M1 range without clipping (e clamped to 0..254; an all-zero block
 * gets e = 0 and zero codes). Each element then takes the nearest E2M1 value (ties to even
 * code); zero magnitudes use code 0 (+0). This is for tests and synthetic data only: it
 * minimises no error norm, it just never saturates. */
void fy_quant_row_mxfp4(const float *x, void *dst, int64_t n)
{
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / FY_QK; b++) {
        const float *xb = x + b * FY_QK;
        uint8_t *ob = out + b * FY_MXFP4_BYTES;
        double amax = 0.0;
        for (int j = 0; j < FY_QK; j++)
            amax = fmax(amax, fabs((double)xb[j]));
        int e = 0;
        if (amax > 0.0) {
            int p;
            double m = frexp(amax / 6.0, &p);  /* amax/6 = m * 2^p, m in [0.5, 1) */
            int k = (m == 0.5) ? p - 1 : p;    /* ceil(log2(amax/6)) */
            e = 127 + k;
            if (e < 0)
                e = 0;
            if (e > 254)
                e = 254;
        }
        ob[0] = (uint8_t)e;
        double inv = ldexp(1.0, 127 - e);  /* 1 / 2^(e-127), exact */
        uint8_t nib[FY_QK];
        for (int j = 0; j < FY_QK; j++) {
            double v = (double)xb[j] * inv;
            int c = e2m1_code(fabs(v));
            nib[j] = (uint8_t)((v < 0.0 && c != 0) ? (c | 8) : c);
        }
        for (int j = 0; j < FY_QK / 2; j++)
            ob[1 + j] = (uint8_t)(nib[j] | (nib[j + FY_QK / 2] << 4));
    }
}

void fy_quant_row(enum fy_dtype t, const float *x, void *dst, int64_t n)
{
    uint8_t *out = dst;
    switch (t) {
    case FY_F32:
        memcpy(dst, x, (size_t)n * sizeof(float));
        return;
    case FY_F16:
        for (int64_t j = 0; j < n; j++)
            store_u16(out + 2 * j, fy_f32_to_fp16(x[j]));
        return;
    case FY_BF16:
        for (int64_t j = 0; j < n; j++)
            store_u16(out + 2 * j, fy_f32_to_bf16(x[j]));
        return;
    case FY_Q8_0:
        fy_quant_row_q8_0(x, dst, n);
        return;
    case FY_MXFP4:
        fy_quant_row_mxfp4(x, dst, n);
        return;
    }
}
