/* Scalar conversions and row (de)quantization for F32, F16, BF16, Q8_0 and MXFP4
 * (gpt-oss.md section 5). Blocks are read byte-wise (MXFP4 blocks are 17 bytes, so nothing
 * in a quantized row is aligned). The host is assumed little-endian, like the GGUF files. */
#include "quant.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "simd.h"

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

/* ---- block decode and dot products ---------------------------------------------------------
 *
 * The hot loops use GCC/Clang vector extensions on 8-float vectors (AVX registers with
 * -march=native, pairs of SSE registers otherwise): plain loops over these blocks did not
 * vectorize at -O2. gcc 12 lowers some vector conversions badly (int8 -> float, byte
 * widening), so with AVX2 the MXFP4 and Q8_0 decoders use intrinsics (pshufb table lookup,
 * vpmovsxbd); otherwise they go through int16 in portable vector code. Every block of 32
 * elements is decoded to four vectors holding its exact f32 values, by one decoder per type
 * shared by fy_dequant_row and fy_vec_dot.
 *
 * Accumulation order of fy_vec_dot (the same for every type): 32 f32 lanes, lane k holds the
 * sum of the products of elements j = k mod 32, in increasing j (acc.v0..v3 = a0..a3 hold
 * lanes 0-7, 8-15, 16-23, 24-31). At the end s = (a0 + a2) + (a1 + a3) lane-wise, then
 * ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)). A partial last block (F32/F16/BF16 rows
 * with n not a multiple of 32) is zero-padded. Because the weights enter as exact decoded
 * values, the fused dot of a quantized row is bit-identical to the F32 dot of its dequantized
 * row; fy_cpu_matmul relies on this to make results independent of the token count. */

typedef int32_t fy_v8i __attribute__((vector_size(32)));
typedef uint32_t fy_v8u __attribute__((vector_size(32)));
typedef int16_t fy_v8s __attribute__((vector_size(16)));
typedef uint16_t fy_v8u16 __attribute__((vector_size(16)));
typedef int16_t fy_v16s __attribute__((vector_size(32)));
typedef int8_t fy_v16i8 __attribute__((vector_size(16)));
typedef uint8_t fy_v16u8 __attribute__((vector_size(16)));

/* one decoded block: elements 0-7, 8-15, 16-23, 24-31 */
struct fy_blk {
    fy_v8f v0, v1, v2, v3;
};

static inline fy_v8f s16x8_to_f32(fy_v8s v)
{
    return __builtin_convertvector(__builtin_convertvector(v, fy_v8i), fy_v8f);
}

/* 16 int8 (in a register) -> elements 0-7 and 8-15 as floats, times s */
static inline void i8x16_to_f32(fy_v16i8 v, float s, fy_v8f *a, fy_v8f *b)
{
    fy_v16s v16 = __builtin_convertvector(v, fy_v16s);
    *a = s16x8_to_f32(__builtin_shufflevector(v16, v16, 0, 1, 2, 3, 4, 5, 6, 7)) * s;
    *b = s16x8_to_f32(__builtin_shufflevector(v16, v16, 8, 9, 10, 11, 12, 13, 14, 15)) * s;
}

#if defined(__AVX2__)
/* AVX2 form of i8x16_to_f32: 16 int8 -> elements 0-7 and 8-15 as floats, times s */
static inline void i8x16_to_f32_avx2(__m128i v, __m256 s, fy_v8f *a, fy_v8f *b)
{
    *a = (fy_v8f)_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), s);
    *b = (fy_v8f)_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8))),
                               s);
}
#endif

/* MXFP4 block -> 32 floats: table value (doubled E2M1, an exact small integer) times
 * 2^(e-128). Both factors are exact, so the product is the exact element value (it overflows
 * to inf only where the true value exceeds FLT_MAX, e.g. nibble 6.0 at e = 254). */
static inline struct fy_blk blk_mxfp4(const uint8_t *b)
{
    const float s = fy_e8m0_half(b[0]);
    struct fy_blk w;
#if defined(__AVX2__)
    /* table lookup with pshufb, then int8 -> int32 -> float */
    const __m128i tab = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m256 vs = _mm256_set1_ps(s);
    __m128i qs = _mm_loadu_si128((const __m128i *)(b + 1));
    __m128i lo = _mm_shuffle_epi8(tab, _mm_and_si128(qs, m4));
    __m128i hi = _mm_shuffle_epi8(tab, _mm_and_si128(_mm_srli_epi16(qs, 4), m4));
    i8x16_to_f32_avx2(lo, vs, &w.v0, &w.v1);
    i8x16_to_f32_avx2(hi, vs, &w.v2, &w.v3);
#else
    fy_v16i8 lo, hi;
#if defined(__GNUC__) && !defined(__clang__)
    const fy_v16i8 tab = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    fy_v16u8 qs;
    memcpy(&qs, b + 1, sizeof(qs));
    lo = __builtin_shuffle(tab, (fy_v16i8)(qs & 0x0f));
    hi = __builtin_shuffle(tab, (fy_v16i8)(qs >> 4));
#else
    for (int j = 0; j < FY_QK / 2; j++) {
        lo[j] = fy_mxfp4_table[b[1 + j] & 0x0f];
        hi[j] = fy_mxfp4_table[b[1 + j] >> 4];
    }
#endif
    i8x16_to_f32(lo, s, &w.v0, &w.v1);
    i8x16_to_f32(hi, s, &w.v2, &w.v3);
#endif
    return w;
}

static inline struct fy_blk blk_q8_0(const uint8_t *b)
{
    const float d = fy_fp16_to_f32(load_u16(b));
    struct fy_blk w;
#if defined(__AVX2__)
    const __m256 vd = _mm256_set1_ps(d);
    __m128i q0 = _mm_loadu_si128((const __m128i *)(b + 2));
    __m128i q1 = _mm_loadu_si128((const __m128i *)(b + 18));
    i8x16_to_f32_avx2(q0, vd, &w.v0, &w.v1);
    i8x16_to_f32_avx2(q1, vd, &w.v2, &w.v3);
#else
    fy_v16u8 q0, q1;
    memcpy(&q0, b + 2, sizeof(q0));
    memcpy(&q1, b + 18, sizeof(q1));
    i8x16_to_f32((fy_v16i8)q0, d, &w.v0, &w.v1);
    i8x16_to_f32((fy_v16i8)q1, d, &w.v2, &w.v3);
#endif
    return w;
}

/* 8 halves -> 8 floats, the same arithmetic as fy_fp16_to_f32 on vectors */
static inline fy_v8f f16x8(const uint8_t *p)
{
    fy_v8u16 h16;
    memcpy(&h16, p, sizeof(h16));
    fy_v8u h = __builtin_convertvector(h16, fy_v8u);
    fy_v8u sign = (h & 0x8000u) << 16;
    fy_v8u em = h & 0x7fffu;
    fy_v8u exp = em & 0x7c00u;
    fy_v8u nb = (em << 13) + 0x38000000u;
    nb += (fy_v8u)(exp == 0x7c00u) & 0x38000000u;
    fy_v8f sub = __builtin_convertvector((fy_v8i)(em & 0x3ffu), fy_v8f) * 0x1p-24f;
    fy_v8u is_sub = (fy_v8u)(exp == 0u);
    fy_v8u r = (is_sub & (fy_v8u)sub) | (~is_sub & nb);
    return (fy_v8f)(r | sign);
}

static inline fy_v8f bf16x8(const uint8_t *p)
{
    fy_v8u16 h16;
    memcpy(&h16, p, sizeof(h16));
    return (fy_v8f)(__builtin_convertvector(h16, fy_v8u) << 16);
}

static inline fy_v8f load_f32x8(const void *p)
{
    fy_v8f v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline struct fy_blk blk_f16(const uint8_t *b)
{
    struct fy_blk w = {f16x8(b), f16x8(b + 16), f16x8(b + 32), f16x8(b + 48)};
    return w;
}

static inline struct fy_blk blk_bf16(const uint8_t *b)
{
    struct fy_blk w = {bf16x8(b), bf16x8(b + 16), bf16x8(b + 32), bf16x8(b + 48)};
    return w;
}

static inline struct fy_blk blk_f32(const uint8_t *b)
{
    struct fy_blk w = {load_f32x8(b), load_f32x8(b + 32), load_f32x8(b + 64),
                       load_f32x8(b + 96)};
    return w;
}

static inline float scalar_decode(enum fy_dtype t, const uint8_t *row, int64_t j)
{
    if (t == FY_F16)
        return fy_fp16_to_f32(load_u16(row + 2 * j));
    if (t == FY_BF16)
        return fy_bf16_to_f32(load_u16(row + 2 * j));
    float f;
    memcpy(&f, row + 4 * j, sizeof(f));
    return f;
}

#define FY_DEQUANT_LOOP(blk_fn, stride)                                                            \
    for (int64_t b = 0; b < nb; b++) {                                                             \
        struct fy_blk w = blk_fn(p + b * (stride));                                                \
        float *d = dst + b * FY_QK;                                                                \
        memcpy(d, &w.v0, sizeof(fy_v8f));                                                          \
        memcpy(d + 8, &w.v1, sizeof(fy_v8f));                                                      \
        memcpy(d + 16, &w.v2, sizeof(fy_v8f));                                                     \
        memcpy(d + 24, &w.v3, sizeof(fy_v8f));                                                     \
    }

void fy_dequant_row(enum fy_dtype t, const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    const int64_t nb = n / FY_QK;

    switch (t) {
    case FY_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case FY_F16: FY_DEQUANT_LOOP(blk_f16, FY_QK * 2); break;
    case FY_BF16: FY_DEQUANT_LOOP(blk_bf16, FY_QK * 2); break;
    case FY_Q8_0: FY_DEQUANT_LOOP(blk_q8_0, FY_Q8_0_BYTES); break;
    case FY_MXFP4: FY_DEQUANT_LOOP(blk_mxfp4, FY_MXFP4_BYTES); break;
    }
    for (int64_t j = nb * FY_QK; j < n; j++)  /* F16/BF16 tail */
        dst[j] = scalar_decode(t, p, j);
}

/* 32 lanes -> 1 float, in the fixed order described above */
static inline float reduce32(const struct fy_blk *a)
{
    fy_v8f s = (a->v0 + a->v2) + (a->v1 + a->v3);
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/* One loop per type so that the switch stays outside the block loop. */
#define FY_DOT_LOOP(blk_fn, stride)                                                                \
    for (int64_t b = 0; b < nb; b++) {                                                             \
        struct fy_blk w = blk_fn(p + b * (stride));                                                \
        const float *xb = x + b * FY_QK;                                                           \
        acc.v0 += w.v0 * load_f32x8(xb);                                                           \
        acc.v1 += w.v1 * load_f32x8(xb + 8);                                                       \
        acc.v2 += w.v2 * load_f32x8(xb + 16);                                                      \
        acc.v3 += w.v3 * load_f32x8(xb + 24);                                                      \
    }

float fy_vec_dot(enum fy_dtype t, const void *row, const float *x, int64_t n)
{
    const uint8_t *p = row;
    const int64_t nb = n / FY_QK;
    struct fy_blk acc = {{0}, {0}, {0}, {0}};  /* the 32 lanes */

    switch (t) {
    case FY_F32: FY_DOT_LOOP(blk_f32, FY_QK * 4); break;
    case FY_F16: FY_DOT_LOOP(blk_f16, FY_QK * 2); break;
    case FY_BF16: FY_DOT_LOOP(blk_bf16, FY_QK * 2); break;
    case FY_Q8_0: FY_DOT_LOOP(blk_q8_0, FY_Q8_0_BYTES); break;
    case FY_MXFP4: FY_DOT_LOOP(blk_mxfp4, FY_MXFP4_BYTES); break;
    }
    if (n > nb * FY_QK) {  /* F32/F16/BF16 tail, zero-padded to one more block */
        float wt[FY_QK] = {0};
        float xt[FY_QK] = {0};
        for (int64_t j = nb * FY_QK; j < n; j++) {
            wt[j - nb * FY_QK] = scalar_decode(t, p, j);
            xt[j - nb * FY_QK] = x[j];
        }
        acc.v0 += load_f32x8(wt) * load_f32x8(xt);
        acc.v1 += load_f32x8(wt + 8) * load_f32x8(xt + 8);
        acc.v2 += load_f32x8(wt + 16) * load_f32x8(xt + 16);
        acc.v3 += load_f32x8(wt + 24) * load_f32x8(xt + 24);
    }
    return reduce32(&acc);
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
