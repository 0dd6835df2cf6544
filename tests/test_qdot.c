/* The integer dot-product kernel sets (src/cpu/qdot.h), each against the portable C set and a
 * double-precision reference, on random inputs: Q8_0 rows (the int8 -128 included) and MXFP4
 * rows (every nibble, exponents around 2^0 and the subnormal scales e = 0, 1), activations of
 * mixed magnitudes with all-zero blocks; row counts 1, 5, 16, 37, n_in = 32, 96, 2880,
 * n_tok = 1, 2, 3, 7, 8, 9, 33, 512; with and without bias.
 *   - the quantizer: bit-identical to the reference in every set; |x - d q| <= 0.505 d (d/2
 *     and the f32 rounding of x * (1/d));
 *   - every set's mm: bit-identical to its C reference (mm_ref: qdot.h's "lanes" or "block
 *     sums"; the sets' 16-row groups and their tails are covered by 16 and 37 rows), and within
 *     1e-5 of the double dot of the quantized values relative to sum |w q d| (the f32 error);
 *   - against the unquantized x: within the bound sum |w| 0.505 d of the int16 rounding;
 *   - a token's result does not depend on how many tokens share the call (bit for bit);
 *   - the same for q8 (int8 activations, MXFP4 weights: quantize8, mm8), with s = sum of q.
 * A set this build lacks or this CPU cannot run prints a skip line. */
#include "cpu/qdot.h"
#include "fy_test.h"
#include "quant.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define MAX_TOK 512

static size_t block_bytes(enum fy_dtype t)
{
    return t == FY_Q8_0 ? 34 : 17;
}

/* rows of random blocks */
static uint8_t *make_rows(struct fy_rng *r, enum fy_dtype t, int64_t rows, int64_t nb)
{
    size_t n = (size_t)rows * (size_t)nb * block_bytes(t);
    uint8_t *w = malloc(n);
    for (size_t i = 0; i < n; i++)
        w[i] = (uint8_t)fy_rng_u64(r);
    for (int64_t b = 0; b < rows * nb; b++) {
        uint8_t *p = w + (size_t)b * block_bytes(t);
        if (t == FY_Q8_0) {
            /* d: a normal fp16 of magnitude 2^-10 .. 2^1, either sign */
            uint16_t h = fy_f32_to_fp16(
                (float)((fy_rng_unif(r) * 2 - 1) * ldexp(1.0, (int)(fy_rng_u64(r) % 12) - 10)));
            p[0] = (uint8_t)h;
            p[1] = (uint8_t)(h >> 8);
        } else {
            /* e: mostly 120..135; e = 0 and 1 (subnormal scales) now and then */
            uint64_t k = fy_rng_u64(r) % 64;
            p[0] = k == 0 ? 0 : k == 1 ? 1 : (uint8_t)(120 + k % 16);
        }
    }
    return w;
}

/* activations: blocks of mixed scale, some all zero */
static void make_x(struct fy_rng *r, float *x, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++) {
        uint64_t k = fy_rng_u64(r) % 16;
        float s = k == 0 ? 0.0f : (float)ldexp(1.0, (int)(fy_rng_u64(r) % 20) - 10);
        fy_rng_fill(r, x + b * 32, 32, s);
    }
}

static float wval(enum fy_dtype t, const uint8_t *p, int j)
{
    if (t == FY_Q8_0)
        return (float)(int8_t)p[2 + j] * fy_fp16_to_f32((uint16_t)(p[0] | p[1] << 8));
    uint8_t q = j < 16 ? p[1 + j] & 0x0f : p[1 + j - 16] >> 4;
    return (float)fy_mxfp4_table[q] * fy_e8m0_half(p[0]);
}

/* the value q d and scale d of each element of n quantized activations (int16 or q8 blocks) */
static void element_values(bool q8, const uint8_t *xq, int64_t n, double *qv, double *qd)
{
    for (int64_t i = 0; i < n; i++) {
        if (q8) {
            const struct fy_q8_block *b = (const struct fy_q8_block *)xq + i / 32;
            qd[i] = b->d;
            qv[i] = (double)b->q[i % 32] * qd[i];
        } else {
            const struct fy_qx_block *b = (const struct fy_qx_block *)xq + i / 32;
            qd[i] = b->d;
            qv[i] = (double)b->q[i % 32] * qd[i];
        }
    }
}

/* blocks 3 and 4 of x: one tiny value among zeros, one value just under qdot.h's
 * FY_QX_TINY with a normal one (1/d would overflow for d = amax/FY_QX_QMAX subnormal): such blocks
 * are all zeros, with no NaN or -32768 */
static void tiny_blocks(float *x)
{
    memset(x + 96, 0, 64 * sizeof(float));
    x[100] = -3e-38f;
    x[130] = 0x1p-97f;
    x[131] = -0x1p-98f;
}

/* the quantizers' input: mixed magnitudes, a huge value (its block still quantizes), a block
 * of tiny values, and tiny_blocks */
static void quantizer_input(struct fy_rng *r, float *x, int64_t n)
{
    make_x(r, x, n);
    x[5] = 1e30f;
    x[40] = -3e-38f;
    tiny_blocks(x);
}

/* |x - d q| <= 0.505 d for every element (d/2 and the f32 rounding of x * (1/d)); failures */
static int check_rounding(bool q8, const float *x, const uint8_t *blocks, int64_t n)
{
    int failed = 0;
    double *qv = malloc((size_t)n * sizeof(double)), *qd = malloc((size_t)n * sizeof(double));
    element_values(q8, blocks, n, qv, qd);
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)x[i] - qv[i]);
        if (!(e <= 0.505 * qd[i] + 0x1p-96) && failed++ < 3)
            fprintf(stderr, "FAIL x[%lld] = %g: d %g, q d %g\n", (long long)i, x[i], qd[i],
                    qv[i]);
    }
    free(qv);
    free(qd);
    return failed;
}

static int check_quantize(const struct fy_cpu_set *s, struct fy_rng *r)
{
    int failed = 0;
    const int64_t n = 2880;
    float *x = malloc(n * sizeof(float));
    struct fy_qx_block *a = malloc((n / 32) * sizeof(*a));
    struct fy_qx_block *b = malloc((n / 32) * sizeof(*b));
    quantizer_input(r, x, n);
    fy_qdot_quantize_ref(x, a, n);
    s->quantize(x, b, n);
    FY_EXPECT(memcmp(a, b, (n / 32) * sizeof(*a)) == 0);
    failed += check_rounding(false, x, (const uint8_t *)b, n);
    FY_EXPECT(b[3].d == 0.0f && b[3].q[4] == 0 && b[4].d == 0.0f && b[4].q[2] == 0);
    for (int64_t i = 0; i < n; i++) /* the range the byte split of qdot_avx512.c needs */
        if (abs(b[i / 32].q[i % 32]) > FY_QX_QMAX && failed++ < 3)
            fprintf(stderr, "FAIL q[%lld] = %d past %d\n", (long long)i, b[i / 32].q[i % 32],
                    FY_QX_QMAX);
    printf("%s quantize [%s]: bit-identical to the reference, |x - d q| <= 0.505 d\n",
           failed ? "FAIL" : "ok  ", s->name);
    free(x);
    free(a);
    free(b);
    return failed;
}

/* worst errors of y [n_tok][rows] (w rows of type t, bias optional) against the double dot of
 * the quantized activations (qv = q d, qd = d per element) and of the unquantized x: the f32
 * error relative to sum |w q d|, and the error over its quantization bound sum |w| 0.505 d */
static void worst_errors(enum fy_dtype t, const uint8_t *w, size_t row_bytes, int64_t rows,
                         int64_t n_in, int64_t n_tok, const float *x, const double *qv,
                         const double *qd, const float *bias, const float *y, double *worst_f32,
                         double *worst_q)
{
    *worst_f32 = 0;
    *worst_q = 0;
    for (int64_t tk = 0; tk < n_tok; tk++)
        for (int64_t o = 0; o < rows; o++) {
            double dq = bias ? bias[o] : 0, dx = dq, mag_q = 0, bound = 0;
            for (int64_t j = 0; j < n_in; j++) {
                const uint8_t *p = w + (size_t)o * row_bytes + (size_t)(j / 32) * block_bytes(t);
                double wv = wval(t, p, (int)(j % 32));
                dq += wv * qv[tk * n_in + j];
                dx += wv * x[tk * n_in + j];
                mag_q += fabs(wv * qv[tk * n_in + j]);
                bound += fabs(wv) * 0.505 * qd[tk * n_in + j]; /* d/2, and x * (1/d) in f32 */
            }
            double got = y[tk * rows + o];
            double e1 = fabs(got - dq) / (mag_q + fabs(dq) + 1e-30);
            /* the quantization error over its bound (plus the f32 error): <= 1 */
            double e2 = fabs(got - dx) / (bound * 1.0001 + 1e-5 * (mag_q + fabs(dq)) + 1e-30);
            *worst_f32 = e1 > *worst_f32 ? e1 : *worst_f32;
            *worst_q = e2 > *worst_q ? e2 : *worst_q;
        }
}

/* the activations of n_tok rows quantized (int16 blocks, or int8 with q8), the kernel run on
 * them, and the value q d and scale d of each element */
static size_t qblock_bytes(bool q8)
{
    return q8 ? sizeof(struct fy_q8_block) : sizeof(struct fy_qx_block);
}

static void quantize_rows(bool q8, const float *x, uint8_t *xq, int64_t n_tok, int64_t n_in)
{
    const size_t row = (size_t)(n_in / 32) * qblock_bytes(q8);
    for (int64_t i = 0; i < n_tok; i++) {
        if (q8)
            fy_qdot_quantize8_ref(x + i * n_in, (struct fy_q8_block *)(xq + i * row), n_in);
        else
            fy_qdot_quantize_ref(x + i * n_in, (struct fy_qx_block *)(xq + i * row), n_in);
    }
}

static void run_set(const struct fy_cpu_set *s, bool q8, enum fy_dtype t, const uint8_t *w,
                    size_t row_bytes, int64_t rows, const uint8_t *xq, int64_t nb, int64_t n_tok,
                    float *y, const float *bias)
{
    if (q8)
        s->mm8(w, row_bytes, rows, (const struct fy_q8_block *)xq, nb, n_tok, y, rows, bias);
    else
        s->mm(t, w, row_bytes, rows, (const struct fy_qx_block *)xq, nb, n_tok, y, rows, bias);
}


/* mm (int16 activations), or mm8 (q8: int8 activations, MXFP4 weights only) */
static int check_mm(const struct fy_cpu_set *s, enum fy_dtype t, bool q8, int64_t rows,
                    int64_t n_in, int64_t n_tok, int with_bias, struct fy_rng *r)
{
    int failed = 0;
    const int64_t nb = n_in / 32;
    const size_t row_bytes = (size_t)nb * block_bytes(t), xrow = (size_t)nb * qblock_bytes(q8);
    uint8_t *w = make_rows(r, t, rows, nb);
    float *x = malloc((size_t)n_tok * n_in * sizeof(float));
    uint8_t *xq = malloc((size_t)n_tok * xrow);
    float *bias = malloc((size_t)rows * sizeof(float));
    float *y = malloc((size_t)n_tok * rows * sizeof(float));
    float *yc = malloc((size_t)n_tok * rows * sizeof(float));
    float *y1 = malloc((size_t)rows * sizeof(float));
    double *qv = malloc((size_t)n_tok * n_in * sizeof(double));
    double *qd = malloc((size_t)n_tok * n_in * sizeof(double));
    make_x(r, x, n_tok * n_in);
    fy_rng_fill(r, bias, rows, 1.0f);
    const float *bp = with_bias ? bias : NULL;
    quantize_rows(q8, x, xq, n_tok, n_in);

    run_set(s, q8, t, w, row_bytes, rows, xq, nb, n_tok, y, bp);
    /* the set's C reference (its numerics; mm8's are the same in every set) */
    if (q8)
        run_set(&fy_cpu_set_c, q8, t, w, row_bytes, rows, xq, nb, n_tok, yc, bp);
    else
        s->mm_ref(t, w, row_bytes, rows, (const struct fy_qx_block *)xq, nb, n_tok, yc, rows, bp);
    if (memcmp(y, yc, (size_t)n_tok * rows * sizeof(float)) != 0) {
        failed++;
        fprintf(stderr, "FAIL %s differs from its C reference\n", s->name);
    }
    for (int64_t tk = 0; tk < n_tok; tk++)
        if (tk < 9 || tk == n_tok - 1) { /* the same token alone: the same bits */
            run_set(s, q8, t, w, row_bytes, rows, xq + tk * xrow, nb, 1, y1, bp);
            if (memcmp(y1, y + tk * rows, (size_t)rows * sizeof(float)) != 0) {
                failed++;
                fprintf(stderr, "FAIL token %lld alone differs\n", (long long)tk);
            }
        }
    element_values(q8, xq, n_tok * n_in, qv, qd);
    double worst_f32, worst_q;
    worst_errors(t, w, row_bytes, rows, n_in, n_tok, x, qv, qd, bp, y, &worst_f32, &worst_q);
    if (worst_f32 > 1e-5 || worst_q > 1.0)
        failed++;
    printf("%s %s %s [%s] rows=%lld n_in=%lld n_tok=%lld bias=%d: rel err %.2g (f32), %.2g "
           "of the bound (x)\n",
           failed ? "FAIL" : "ok  ", q8 ? "mm8" : "mm", fy_dtype_name(t), s->name,
           (long long)rows, (long long)n_in, (long long)n_tok, with_bias, worst_f32, worst_q);
    free(w);
    free(x);
    free(xq);
    free(bias);
    free(y);
    free(yc);
    free(y1);
    free(qv);
    free(qd);
    return failed;
}

/* q8 (int8 activations, MXFP4 weights): the quantizer and mm8 as above, with the int8 bound */
static int check_quantize8(const struct fy_cpu_set *s, struct fy_rng *r)
{
    int failed = 0;
    const int64_t n = 2880;
    float *x = malloc(n * sizeof(float));
    struct fy_q8_block *a = malloc((n / 32) * sizeof(*a));
    struct fy_q8_block *b = malloc((n / 32) * sizeof(*b));
    quantizer_input(r, x, n);
    fy_qdot_quantize8_ref(x, a, n);
    s->quantize8(x, b, n);
    FY_EXPECT(memcmp(a, b, (n / 32) * sizeof(*a)) == 0);
    failed += check_rounding(true, x, (const uint8_t *)b, n);
    FY_EXPECT(b[3].d == 0.0f && b[3].q[4] == 0 && b[4].d == 0.0f && b[4].q[2] == 0);
    for (int64_t k = 0; k < n / 32; k++) {
        int32_t sum = 0;
        for (int j = 0; j < 32; j++)
            sum += b[k].q[j];
        if (sum != b[k].s && failed++ < 3)
            fprintf(stderr, "FAIL block %lld: s %d, sum of q %d\n", (long long)k, b[k].s, sum);
    }
    printf("%s quantize8 [%s]: bit-identical to the reference, |x - d q| <= 0.505 d, s = sum q\n",
           failed ? "FAIL" : "ok  ", s->name);
    free(x);
    free(a);
    free(b);
    return failed;
}

int main(void)
{
    static const enum fy_dtype types[] = {FY_Q8_0, FY_MXFP4};
    static const int64_t rows[] = {1, 5, 16, 37};
    static const int64_t n_ins[] = {32, 96, 2880};
    static const int64_t n_toks[] = {1, 2, 3, 7, 8, 9, 33, MAX_TOK};
    struct fy_rng r = {2026};
    int failed = 0, tested = 0;

    for (int i = 0; fy_cpu_set_name(i); i++) {
        const char *name = fy_cpu_set_name(i);
        const struct fy_cpu_set *s = fy_cpu_set_named(name);
        if (!s) {
            printf("skip %s: %s\n", name,
                   fy_cpu_set_supported(name) ? "not in this build" : "this CPU lacks it");
            continue;
        }
        tested++;
        failed += check_quantize(s, &r);
        for (size_t it = 0; it < FY_ARRAY_LEN(types); it++)
            for (size_t ir = 0; ir < FY_ARRAY_LEN(rows); ir++)
                for (size_t ii = 0; ii < FY_ARRAY_LEN(n_ins); ii++)
                    for (size_t in = 0; in < FY_ARRAY_LEN(n_toks); in++) {
                        /* the largest shapes once per type (they take the time) */
                        if (n_toks[in] == MAX_TOK && (rows[ir] != 37 || n_ins[ii] != 96))
                            continue;
                        failed += check_mm(s, types[it], false, rows[ir], n_ins[ii],
                                           n_toks[in], (int)(in % 2), &r);
                    }
        failed += check_quantize8(s, &r);
        for (size_t ir = 0; ir < FY_ARRAY_LEN(rows); ir++)
            for (size_t ii = 0; ii < FY_ARRAY_LEN(n_ins); ii++)
                for (size_t in = 0; in < FY_ARRAY_LEN(n_toks); in++) {
                    if (n_toks[in] == MAX_TOK && (rows[ir] != 37 || n_ins[ii] != 96))
                        continue;
                    failed += check_mm(s, FY_MXFP4, true, rows[ir], n_ins[ii], n_toks[in],
                                       (int)(in % 2), &r);
                }
    }
    printf("in use: %s\n", fy_cpu_set()->name);
    printf("%s (%d kernel sets tested)\n", failed ? "FAILED" : "all qdot checks passed", tested);
    return failed ? 1 : 0;
}
