/* fy_cpu_matmul for every weight type against a double reference over the exactly dequantized
 * weights, under the kernel set in use (meson runs it once per set: FY_CPU=c, the f32 path, and
 * the best set, the integer path for Q8_0/MXFP4; the gate is the path's): expert e = 2 of a stack of 3 (unaligned matrix starts), with and without bias, token
 * counts on both sides of the batched path. Also: nothing outside y is written, and a token's
 * result does not depend on how many tokens share the call (bit-identical to n_tok = 1). */
#include "cpu/ops.h"
#include "fy_test.h"
#include "quant.h"

#include <string.h>

#define GUARD 16
#define GUARD_VAL 12345.678f
#define N_MAT 3
#define EXPERT 2

/* a stack of N_MAT random matrices of `type`, each padded so that the next starts unaligned */
static uint8_t *make_weights(enum fy_dtype type, int64_t n_in, int64_t n_out, uint64_t seed,
                             struct fy_mat *w)
{
    struct fy_rng r = {seed};
    size_t row_bytes = fy_dtype_row_bytes(type, n_in);
    size_t mat_bytes = (size_t)n_out * row_bytes + 34;
    uint8_t *data = malloc(mat_bytes * N_MAT);
    float *src = malloc((size_t)n_in * sizeof(float));

    memset(data, 0xa5, mat_bytes * N_MAT);
    for (int m = 0; m < N_MAT; m++)
        for (int64_t o = 0; o < n_out; o++) {
            fy_rng_fill(&r, src, n_in, 1.0f);
            fy_quant_row(type, src, data + m * mat_bytes + o * row_bytes, n_in);
        }
    free(src);
    *w = (struct fy_mat){.type = type, .n_in = n_in, .n_out = n_out, .n_mat = N_MAT,
                         .row_bytes = row_bytes, .mat_bytes = mat_bytes, .data = data};
    return data;
}

static int run_case(const struct fy_mat *w, int64_t n_tok, int with_bias, uint64_t seed)
{
    struct fy_rng r = {seed};
    const enum fy_dtype type = w->type;
    const int64_t n_in = w->n_in, n_out = w->n_out;
    const uint8_t *data = w->data;
    const size_t row_bytes = w->row_bytes, mat_bytes = w->mat_bytes;
    float *deq = malloc((size_t)n_in * sizeof(float));
    float *x = malloc((size_t)n_tok * n_in * sizeof(float));
    float *bias = malloc((size_t)n_out * sizeof(float));
    float *ybuf = malloc(((size_t)n_tok * n_out + 2 * GUARD) * sizeof(float));
    float *y1 = malloc((size_t)n_out * sizeof(float));
    double *ref = malloc((size_t)n_tok * n_out * sizeof(double));
    float *y = ybuf + GUARD;
    int bad = 0;

    fy_rng_fill(&r, x, n_tok * n_in, 1.0f);
    fy_rng_fill(&r, bias, n_out, 1.0f);
    for (int64_t i = 0; i < n_tok * n_out + 2 * GUARD; i++)
        ybuf[i] = GUARD_VAL;

    fy_cpu_matmul(y, w, EXPERT, x, n_tok, with_bias ? bias : NULL);

    for (int64_t o = 0; o < n_out; o++) {
        fy_dequant_row(type, data + EXPERT * mat_bytes + o * row_bytes, deq, n_in);
        for (int64_t t = 0; t < n_tok; t++) {
            double s = with_bias ? bias[o] : 0.0;
            for (int64_t i = 0; i < n_in; i++)
                s += (double)deq[i] * x[t * n_in + i];
            ref[t * n_out + o] = s;
        }
    }

    char what[128];
    snprintf(what, sizeof(what), "matmul %s n_in=%lld n_out=%lld n_tok=%lld bias=%d",
             fy_dtype_name(type), (long long)n_in, (long long)n_out, (long long)n_tok, with_bias);
    /* the f32 path (kernel set "c", or F32/F16/BF16 weights) decodes the weights exactly: 1e-10;
     * the integer path (qdot.h) rounds the activations to int16 (1/32639 of each block's
     * largest): about 3e-8, at most 1.01e-7 seen on one output of 64 inputs: 2e-7 (int8
     * activations would be ~1e-5) */
    bad += fy_check_nmse(what, y, ref, n_tok * n_out, fy_cpu_qdot_ok(w) ? 2e-7 : 1e-10);
    for (int i = 0; i < GUARD; i++) {
        if (ybuf[i] != GUARD_VAL || ybuf[GUARD + n_tok * n_out + i] != GUARD_VAL) {
            fprintf(stderr, "FAIL %s: write outside y (guard %d)\n", what, i);
            bad++;
            break;
        }
    }
    /* batch invariance: every token bit-identical to a call with that token alone */
    for (int64_t t = 0; t < n_tok && n_tok > 1; t++) {
        fy_cpu_matmul(y1, w, EXPERT, x + t * n_in, 1, with_bias ? bias : NULL);
        if (memcmp(y1, y + t * n_out, (size_t)n_out * sizeof(float)) != 0) {
            fprintf(stderr, "FAIL %s: token %lld differs from its n_tok=1 result\n", what,
                    (long long)t);
            bad++;
            break;
        }
    }

    free(deq);
    free(x);
    free(bias);
    free(ybuf);
    free(y1);
    free(ref);
    return bad;
}

/* get_rows: each row equals the exact decode of its embedding row; add: plain sums, in place */
static int check_get_rows_add(enum fy_dtype type)
{
    struct fy_mat emb;
    const int64_t n_in = 96, n_rows = 11, n_tok = 7;
    uint8_t *data = make_weights(type, n_in, n_rows, 1000 + (uint64_t)type, &emb);
    int32_t tok[7] = {3, 0, 10, 3, 7, 1, 9};
    float y[7 * 96], want[96];
    int bad = 0;

    fy_cpu_get_rows(y, &emb, tok, n_tok);
    for (int64_t t = 0; t < n_tok; t++) {
        fy_dequant_row(type, data + tok[t] * emb.row_bytes, want, n_in);
        if (memcmp(want, y + t * n_in, sizeof(want)) != 0) {
            fprintf(stderr, "FAIL get_rows %s: token %lld\n", fy_dtype_name(type), (long long)t);
            bad++;
        }
    }
    free(data);

    struct fy_rng r = {5};
    enum { N = 70001 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    float *c = malloc(N * sizeof(float)), *a0 = malloc(N * sizeof(float));
    fy_rng_fill(&r, a, N, 1.0f);
    fy_rng_fill(&r, b, N, 1.0f);
    memcpy(a0, a, N * sizeof(float));
    fy_cpu_add(c, a, b, N);
    fy_cpu_add(a, a, b, N);  /* y aliasing a */
    for (int64_t i = 0; i < N; i++)
        if (c[i] != a0[i] + b[i] || a[i] != c[i]) {
            fprintf(stderr, "FAIL add index %lld\n", (long long)i);
            bad++;
            break;
        }
    free(a);
    free(b);
    free(c);
    free(a0);
    if (!bad)
        printf("ok   get_rows %s, add\n", fy_dtype_name(type));
    return bad;
}

int main(void)
{
    static const enum fy_dtype types[] = {FY_F32, FY_F16, FY_BF16, FY_Q8_0, FY_MXFP4};
    static const int64_t n_ins[] = {32, 64, 2880, 100};
    static const int64_t n_outs[] = {1, 7, 64};
    static const int64_t n_toks[] = {1, 2, 3, 5, 17, 64};
    int failed = 0;
    uint64_t seed = 1;

    for (size_t it = 0; it < FY_ARRAY_LEN(types); it++)
        for (size_t ii = 0; ii < FY_ARRAY_LEN(n_ins); ii++) {
            if (n_ins[ii] % 32 && fy_dtype_block_elems(types[it]) > 1)
                continue;
            for (size_t io = 0; io < FY_ARRAY_LEN(n_outs); io++) {
                struct fy_mat w;
                uint8_t *data = make_weights(types[it], n_ins[ii], n_outs[io], seed++, &w);
                for (size_t in = 0; in < FY_ARRAY_LEN(n_toks); in++)
                    for (int b = 0; b < 2; b++)
                        failed += run_case(&w, n_toks[in], b, seed++);
                free(data);
            }
        }
    for (size_t it = 0; it < FY_ARRAY_LEN(types); it++)
        failed += check_get_rows_add(types[it]);
    if (failed)
        fprintf(stderr, "%d failure(s)\n", failed);
    return failed ? 1 : 0;
}
