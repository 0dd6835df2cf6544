/* fy_gpu_get_rows against fy_cpu_get_rows, bit for bit, for every weight type (rows built with
 * the CPU quantizers), widths 2880, 7*32 (an odd multiple of 32) and, for the element types, 33;
 * n_tok 1, 7, 33, 512; a padded row stride; token ids 0, n_out-1 and random. Row 1 holds edge
 * blocks: MXFP4 exponents 0, 1, 254, 255 (255 gives inf), Q8_0 scales f16-subnormal and max,
 * F16/BF16 values beyond the f16 range (inf). Decoding is exact products on both sides, so any
 * difference is a bug: the only tolerance is that NaN equals NaN. */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"
#include "quant.h"

#define N_OUT 300

static const enum fy_dtype types[] = { FY_F32, FY_F16, FY_BF16, FY_Q8_0, FY_MXFP4 };
static const int64_t widths[] = { 2880, 7 * 32, 33 };
static const int64_t ntoks[] = { 1, 7, 33, 512 };

static void edge_row(enum fy_dtype t, uint8_t *row, int64_t n_in)
{
    if (t == FY_MXFP4) {
        static const uint8_t e[] = { 0, 1, 254, 255, 127, 128 };
        for (int64_t b = 0; b < n_in / 32; b++)
            row[b * 17] = e[b % FY_ARRAY_LEN(e)];
    } else if (t == FY_Q8_0) {
        static const uint16_t d[] = { 0x0001, 0x7bff, 0x03ff, 0x3c00 };
        for (int64_t b = 0; b < n_in / 32; b++) {
            row[b * 34] = (uint8_t)(d[b % 4] & 0xff);
            row[b * 34 + 1] = (uint8_t)(d[b % 4] >> 8);
        }
    }
}

static int same(float a, float b)
{
    return !memcmp(&a, &b, sizeof(float)) || (isnan(a) && isnan(b));
}

static int run_case(fy_gpu_stream s, enum fy_dtype t, int64_t n_in, int64_t n_tok, size_t pad,
                    uint64_t seed)
{
    struct fy_rng rng = { seed };
    const size_t row_bytes = fy_dtype_row_bytes(t, n_in) + pad;
    const size_t out_bytes = (size_t)(n_tok * n_in) * sizeof(float);
    const size_t tok_bytes = (size_t)n_tok * sizeof(int32_t);
    struct fy_bufs b = { .s = s };
    float *src = fy_bufs_host(&b, (size_t)n_in * sizeof(float));
    uint8_t *w = fy_bufs_host(&b, row_bytes * N_OUT);   /* zeroed: the padding */
    int32_t *tok = fy_bufs_host(&b, tok_bytes);
    float *ref = fy_bufs_host(&b, out_bytes), *got = fy_bufs_host(&b, out_bytes);
    int bad = 1;

    if (b.err)
        goto done;
    for (int64_t r = 0; r < N_OUT; r++) {
        for (int64_t i = 0; i < n_in; i++)
            src[i] = (float)(fy_rng_normal(&rng) * pow(2.0, fy_rng_range(&rng, -6.0f, 6.0f)));
        if (r == 1 && (t == FY_F16 || t == FY_BF16))
            for (int64_t i = 0; i < n_in; i += 5)
                src[i] = (i & 1 ? -1.0f : 1.0f) * (t == FY_F16 ? 1e5f : 3e38f);
        fy_quant_row(t, src, w + (size_t)r * row_bytes, n_in);
    }
    edge_row(t, w + row_bytes, n_in);
    for (int64_t i = 0; i < n_tok; i++)
        tok[i] = (int32_t)(fy_rng_u64(&rng) % N_OUT);
    tok[0] = n_tok > 2 ? 1 : 0;
    tok[n_tok - 1] = N_OUT - 1;
    if (n_tok > 3)
        tok[1] = 0;

    struct fy_mat m = { .type = t, .n_in = n_in, .n_out = N_OUT, .n_mat = 1,
                        .row_bytes = row_bytes, .mat_bytes = row_bytes * N_OUT, .data = w };
    fy_cpu_get_rows(ref, &m, tok, n_tok);

    struct fy_mat dm = m;
    dm.data = fy_bufs_up(&b, w, row_bytes * N_OUT, "weights");
    int32_t *dtok = fy_bufs_up(&b, tok, tok_bytes, "tokens");
    float *dy = fy_bufs_dev(&b, out_bytes, "y");
    if (b.err || fy_gpu_get_rows(dy, &dm, dtok, n_tok, s) != FY_OK ||
        fy_bufs_down(&b, got, dy, out_bytes))
        goto done;
    int64_t first = -1, n_bad = 0;
    for (int64_t i = 0; i < n_tok * n_in; i++)
        if (!same(got[i], ref[i])) {
            if (first < 0)
                first = i;
            n_bad++;
        }
    bad = first >= 0;
    printf("%s get_rows %s n_in %lld n_tok %lld pad %zu: %lld elements differ (bit-exact)",
           bad ? "FAIL" : "PASS", fy_dtype_name(t), (long long)n_in, (long long)n_tok, pad,
           (long long)n_bad);
    fy_test_first_bad(first, got, ref);
done:
    fy_bufs_free(&b);
    return bad;
}

int main(void)
{
    fy_gpu_stream s = NULL;
    int failed = 0, rc = fy_test_gpu_start(NULL, &s);

    if (rc)
        return rc;
    for (size_t ti = 0; ti < FY_ARRAY_LEN(types); ti++)
        for (size_t wi = 0; wi < FY_ARRAY_LEN(widths); wi++) {
            const enum fy_dtype t = types[ti];
            if (widths[wi] % fy_dtype_block_elems(t))
                continue;
            for (size_t ni = 0; ni < FY_ARRAY_LEN(ntoks); ni++)
                failed += run_case(s, t, widths[wi], ntoks[ni], ni == 2 ? 6 : 0,
                                   1 + 100 * ti + 10 * wi + ni);
        }
    /* n_tok == 0 launches nothing and succeeds */
    struct fy_mat m0 = { .type = FY_F32, .n_in = 64, .n_out = 1, .n_mat = 1, .row_bytes = 256,
                         .mat_bytes = 256, .data = NULL };
    FY_EXPECT(fy_gpu_get_rows(NULL, &m0, NULL, 0, s) == FY_OK);
    return fy_test_gpu_end(s, failed, "get_rows");
}
