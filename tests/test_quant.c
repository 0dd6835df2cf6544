/* Block decode, scalar conversions, fused dots and quantizers (gpt-oss.md section 5, test ladder
 * step 1). Decodes are checked exactly against values computed in double from the format
 * definition; dots against a double reference by NMSE. */
#include "fy_test.h"
#include "quant.h"

#include <float.h>
#include <string.h>

static int failed;

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* IEEE binary16 value from its definition, in double */
static double ref_half(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* E2M1 nibble value: sign bit 3, magnitudes {0, .5, 1, 1.5, 2, 3, 4, 6} */
static double ref_fp4(int n)
{
    static const double mag[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    return (n & 8) ? -mag[n & 7] : mag[n & 7];
}

/* double -> float where the true value overflows float: expect +-inf */
static float to_f32_inf(double v)
{
    if (v > FLT_MAX)
        return INFINITY;
    if (v < -FLT_MAX)
        return -INFINITY;
    return (float)v;
}

static void test_e8m0(void)
{
    for (int e = 0; e < 256; e++) {
        float got = fy_e8m0_half((uint8_t)e);
        if ((double)got != ldexp(1.0, e - 128)) {
            fprintf(stderr, "FAIL e8m0_half(%d) = %a\n", e, (double)got);
            failed++;
        }
        if (e >= 2 && fbits(got) != (uint32_t)(e - 1) << 23) {
            fprintf(stderr, "FAIL e8m0_half(%d) bits %08x\n", e, fbits(got));
            failed++;
        }
    }
    FY_EXPECT(fbits(fy_e8m0_half(1)) == 0x00400000u);
    FY_EXPECT(fbits(fy_e8m0_half(0)) == 0x00200000u);
    static const int8_t tab[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    for (int n = 0; n < 16; n++)
        FY_EXPECT(fy_mxfp4_table[n] == tab[n] && tab[n] == 2 * ref_fp4(n));
    printf("ok   e8m0 scales and MXFP4 table\n");
}

/* every nibble in both halves of the block, for e = 0, 1, 2, 127, 128, 254; two blocks back
 * to back so that the second one sits at an odd offset */
static void test_mxfp4_decode(void)
{
    static const int es[] = {0, 1, 2, 127, 128, 254};
    for (size_t ie = 0; ie < FY_ARRAY_LEN(es); ie++) {
        for (int shift = 0; shift < 16; shift += 5) {
            uint8_t blk[2 * 17];
            double want[64];
            for (int b = 0; b < 2; b++) {
                int e = es[ie] + (b ? (es[ie] < 254 ? 1 : -1) : 0);
                uint8_t *p = blk + 17 * b;
                p[0] = (uint8_t)e;
                for (int j = 0; j < 16; j++) {
                    int lo = (j + shift + b) & 15, hi = (j * 7 + 3 + shift) & 15;
                    p[1 + j] = (uint8_t)(lo | (hi << 4));
                    want[32 * b + j] = ref_fp4(lo) * ldexp(1.0, e - 127);
                    want[32 * b + j + 16] = ref_fp4(hi) * ldexp(1.0, e - 127);
                }
            }
            float got[64];
            fy_dequant_row(FY_MXFP4, blk, got, 64);
            for (int i = 0; i < 64; i++) {
                if (got[i] != to_f32_inf(want[i])) {
                    fprintf(stderr, "FAIL mxfp4 e=%d shift=%d index %d: %a vs %a\n", es[ie],
                            shift, i, (double)got[i], want[i]);
                    failed++;
                    break;
                }
            }
        }
    }
    printf("ok   MXFP4 decode (all nibbles, e = 0,1,2,127,128,254)\n");
}

static void test_q8_0_decode(void)
{
    static const uint16_t ds[] = {0x3c00, 0xb800, 0x0001, 0x03ff, 0x8200, 0x7bff, 0x2e66, 0xd140};
    for (size_t id = 0; id < FY_ARRAY_LEN(ds); id++) {
        uint8_t blk[8 * 34 + 1];
        double want[256];
        /* 8 blocks hold q = -128..127; start at offset 1 to exercise unaligned d */
        for (int b = 0; b < 8; b++) {
            uint8_t *p = blk + 1 + 34 * b;
            p[0] = (uint8_t)(ds[id] & 0xff);
            p[1] = (uint8_t)(ds[id] >> 8);
            for (int j = 0; j < 32; j++) {
                int q = -128 + 32 * b + j;
                p[2 + j] = (uint8_t)(int8_t)q;
                want[32 * b + j] = ref_half(ds[id]) * q;
            }
        }
        float got[256];
        fy_dequant_row(FY_Q8_0, blk + 1, got, 256);
        for (int i = 0; i < 256; i++) {
            if ((double)got[i] != want[i]) {
                fprintf(stderr, "FAIL q8_0 d=0x%04x index %d: %a vs %a\n", ds[id], i,
                        (double)got[i], want[i]);
                failed++;
                break;
            }
        }
    }
    printf("ok   Q8_0 decode (all q, d normal/subnormal/negative/max)\n");
}

/* reference f32 -> fp16: nearest finite half by search over the ordered magnitudes, ties to
 * the even encoding, overflow to inf at >= 65520 */
static uint16_t ref_to_half(float f)
{
    double a = fabs((double)f);
    uint16_t s = signbit(f) ? 0x8000 : 0;
    if (isnan(f))
        return 0x7e00;
    if (a >= 65520.0)
        return s | 0x7c00;
    int lo = 0, hi = 0x7bff;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (ref_half((uint16_t)mid) <= a)
            lo = mid;
        else
            hi = mid;
    }
    double dl = a - ref_half((uint16_t)lo), dh = ref_half((uint16_t)hi) - a;
    int pick = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
    if (a >= ref_half(0x7bff))
        pick = 0x7bff;
    return (uint16_t)(s | pick);
}

static void test_fp16(void)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fy_fp16_to_f32((uint16_t)h);
        double r = ref_half((uint16_t)h);
        int nan = isnan(r);
        if (nan ? !isnan(f) || (fbits(f) & 0x807fffffu) != (((h & 0x8000u) << 16) |
                                                             ((h & 0x3ffu) << 13))
                : (double)f != r || !signbit(f) != !signbit(r)) {
            fprintf(stderr, "FAIL fp16_to_f32(0x%04x) = %a (bits %08x)\n", h, (double)f,
                    fbits(f));
            failed++;
            break;
        }
        uint16_t back = fy_f32_to_fp16(f);
        if (nan ? ((back & 0x7c00) != 0x7c00 || !(back & 0x3ff) || (back & 0x8000) != (h & 0x8000))
                : back != h) {
            fprintf(stderr, "FAIL fp16 round trip 0x%04x -> 0x%04x\n", h, back);
            failed++;
            break;
        }
    }
    static const struct {
        float f;
        uint16_t h;
    } cases[] = {
        {1.0f + 0x1p-11f, 0x3c00},             /* tie -> even */
        {1.0f + 3 * 0x1p-11f, 0x3c02},         /* tie -> even (up) */
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01},  /* above the tie */
        {65504.0f, 0x7bff},
        {65519.0f, 0x7bff},
        {65520.0f, 0x7c00},                    /* tie between 65504 and 2^16 -> inf */
        {1e6f, 0x7c00},
        {FLT_MAX, 0x7c00},
        {-INFINITY, 0xfc00},
        {0x1p-24f, 0x0001},
        {0x1p-25f, 0x0000},                    /* tie -> 0 */
        {0x1.000002p-25f, 0x0001},
        {3 * 0x1p-25f, 0x0002},                /* tie between 1 and 2 ulps -> 2 */
        {0x1p-14f - 0x1p-25f, 0x0400},         /* tie between max subnormal and min normal */
        {0x1p-14f, 0x0400},
        {0x1p-26f, 0x0000},
        {0x1p-149f, 0x0000},
        {-0x1p-24f, 0x8001},
        {-0.0f, 0x8000},
    };
    for (size_t i = 0; i < FY_ARRAY_LEN(cases); i++) {
        uint16_t h = fy_f32_to_fp16(cases[i].f);
        if (h != cases[i].h) {
            fprintf(stderr, "FAIL f32_to_fp16(%a) = 0x%04x, want 0x%04x\n", (double)cases[i].f, h,
                    cases[i].h);
            failed++;
        }
    }
    FY_EXPECT(isnan(fy_fp16_to_f32(fy_f32_to_fp16(NAN))));
    FY_EXPECT(isnan(fy_fp16_to_f32(fy_f32_to_fp16(bitsf(0x7f800001u)))));
    /* random floats over the whole fp16 range and beyond */
    struct fy_rng r = {1};
    for (int i = 0; i < 200000; i++) {
        float f = (float)ldexp(fy_rng_unif(&r) + 0.5, (int)(fy_rng_u64(&r) % 50) - 30);
        if (i & 1)
            f = -f;
        uint16_t h = fy_f32_to_fp16(f), want = ref_to_half(f);
        if (h != want) {
            fprintf(stderr, "FAIL f32_to_fp16(%a) = 0x%04x, want 0x%04x\n", (double)f, h, want);
            failed++;
            break;
        }
    }
    printf("ok   fp16 conversions (all 65536 patterns, rounding cases, random)\n");
}

static uint16_t ref_to_bf16(float f)
{
    uint32_t u = fbits(f);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double a = (double)f;
    double dl = fabs(a - (double)bitsf((uint32_t)lo << 16));
    double dh = fabs((double)bitsf((uint32_t)hi << 16) - a);
    if (isinf(bitsf((uint32_t)hi << 16)) && !isinf(f))  /* beyond max: half-ulp rule */
        dh = fabs(ldexp(1.0, 128) - fabs(a));
    return dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
}

static void test_bf16(void)
{
    for (uint32_t b = 0; b < 65536; b++) {
        float f = fy_bf16_to_f32((uint16_t)b);
        if (fbits(f) != b << 16) {
            fprintf(stderr, "FAIL bf16_to_f32(0x%04x)\n", b);
            failed++;
            break;
        }
        uint16_t back = fy_f32_to_bf16(f);
        int ok = isnan(f) ? isnan(fy_bf16_to_f32(back)) && (back & 0x8000) == (b & 0x8000)
                          : back == b;
        if (!ok) {
            fprintf(stderr, "FAIL bf16 round trip 0x%04x -> 0x%04x\n", b, back);
            failed++;
            break;
        }
    }
    FY_EXPECT(fy_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);
    FY_EXPECT(fy_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);
    FY_EXPECT(fy_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
    FY_EXPECT(fy_f32_to_bf16(FLT_MAX) == 0x7f80);
    FY_EXPECT(fy_f32_to_bf16(-INFINITY) == 0xff80);
    FY_EXPECT(fy_f32_to_bf16(bitsf(0x00008000u)) == 0x0000);  /* subnormal tie -> even */
    FY_EXPECT(fy_f32_to_bf16(bitsf(0x00018000u)) == 0x0002);
    FY_EXPECT(isnan(fy_bf16_to_f32(fy_f32_to_bf16(bitsf(0x7f800001u)))));  /* low payload */
    FY_EXPECT(isnan(fy_bf16_to_f32(fy_f32_to_bf16(bitsf(0xffc00000u)))));
    struct fy_rng r = {2};
    for (int i = 0; i < 200000; i++) {
        float f = bitsf((uint32_t)fy_rng_u64(&r));
        if (isnan(f))
            continue;
        uint16_t b = fy_f32_to_bf16(f), want = ref_to_bf16(f);
        if (b != want) {
            fprintf(stderr, "FAIL f32_to_bf16(%a) = 0x%04x, want 0x%04x\n", (double)f, b, want);
            failed++;
            break;
        }
    }
    printf("ok   bf16 conversions\n");
}

static const enum fy_dtype types[] = {FY_F32, FY_F16, FY_BF16, FY_Q8_0, FY_MXFP4};

/* fused dot vs double over exactly dequantized values, and bit-identical to the F32 dot of the
 * dequantized row (fy_cpu_matmul relies on that) */
static void test_vec_dot(void)
{
    static const int64_t ns[] = {32, 64, 2880, 33, 100};
    enum { ROWS = 16 };
    for (size_t it = 0; it < FY_ARRAY_LEN(types); it++) {
        enum fy_dtype t = types[it];
        for (size_t in = 0; in < FY_ARRAY_LEN(ns); in++) {
            int64_t n = ns[in];
            if (n % 32 && fy_dtype_block_elems(t) > 1)
                continue;
            struct fy_rng r = {100 + it * 10 + in};
            size_t rb = fy_dtype_row_bytes(t, n);
            float *src = malloc(n * sizeof(float)), *x = malloc(n * sizeof(float));
            float *deq = malloc(n * sizeof(float));
            uint8_t *row = malloc(rb);
            float got[ROWS];
            double want[ROWS];
            int same = 1;
            for (int k = 0; k < ROWS; k++) {
                fy_rng_fill(&r, src, n, 1.0f);
                fy_rng_fill(&r, x, n, 1.0f);
                fy_quant_row(t, src, row, n);
                fy_dequant_row(t, row, deq, n);
                double s = 0;
                for (int64_t i = 0; i < n; i++)
                    s += (double)deq[i] * x[i];
                want[k] = s;
                got[k] = fy_vec_dot(t, row, x, n);
                same &= fbits(got[k]) == fbits(fy_vec_dot(FY_F32, deq, x, n));
            }
            char what[64];
            snprintf(what, sizeof(what), "vec_dot %s n=%lld", fy_dtype_name(t), (long long)n);
            failed += fy_check_nmse(what, got, want, ROWS, 1e-10);
            if (!same) {
                fprintf(stderr, "FAIL %s: not bit-identical to the F32 dot of the dequantized "
                                "row\n", what);
                failed++;
            }
            free(src);
            free(x);
            free(deq);
            free(row);
        }
    }
}

static void test_quantizers(void)
{
    enum { N = 32 * 64 };
    struct fy_rng r = {7};
    float x[N], deq[N];
    uint8_t buf[N * 4];

    /* Q8_0: |x - deq| <= d/2 + 127 |d - fp16(d)|, d = amax/127 (the unrounded d picks q) */
    for (int i = 0; i < N; i++)
        x[i] = (float)(fy_rng_normal(&r) * ldexp(1.0, (i / 32) % 20 - 10));
    fy_quant_row_q8_0(x, buf, N);
    fy_dequant_row(FY_Q8_0, buf, deq, N);
    for (int b = 0; b < N / 32; b++) {
        double amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmax(amax, fabs((double)x[32 * b + j]));
        double d = amax / 127, d16 = ref_half((uint16_t)(buf[34 * b] | buf[34 * b + 1] << 8));
        double bound = d / 2 * (1 + 1e-6) + 127 * fabs(d - d16);
        for (int j = 0; j < 32; j++) {
            double err = fabs((double)deq[32 * b + j] - x[32 * b + j]);
            if (err > bound) {
                fprintf(stderr, "FAIL q8_0 quant block %d index %d: err %g > %g\n", b, j, err,
                        bound);
                failed++;
                b = N;
                break;
            }
        }
    }
    memset(x, 0, 32 * sizeof(float));
    fy_quant_row_q8_0(x, buf, 32);
    fy_dequant_row(FY_Q8_0, buf, deq, 32);
    for (int j = 0; j < 32; j++)
        FY_EXPECT(deq[j] == 0.0f);
    printf("ok   Q8_0 quantizer error bound\n");

    /* MXFP4 on normal data: NMSE, and the exponent is the smallest that fits amax in 6 */
    fy_rng_fill(&r, x, N, 1.0f);
    fy_quant_row_mxfp4(x, buf, N);
    fy_dequant_row(FY_MXFP4, buf, deq, N);
    double want[N];
    for (int i = 0; i < N; i++)
        want[i] = x[i];
    failed += fy_check_nmse("MXFP4 quantizer round trip", deq, want, N, 2e-2);
    for (int b = 0; b < N / 32; b++) {
        double amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmax(amax, fabs((double)x[32 * b + j]));
        int e = buf[17 * b];
        if (!(amax <= 6 * ldexp(1.0, e - 127) && amax > 6 * ldexp(1.0, e - 128))) {
            fprintf(stderr, "FAIL mxfp4 exponent block %d: e=%d amax=%g\n", b, e, amax);
            failed++;
            break;
        }
        for (int j = 0; j < 32; j++) {  /* nearest representable: error <= half a step */
            double s = ldexp(1.0, e - 127), v = fabs((double)x[32 * b + j]) / s;
            double step = v < 2 ? 0.5 : v < 4 ? 1 : 2;
            if (fabs((double)deq[32 * b + j] - x[32 * b + j]) > step / 2 * s * (1 + 1e-12)) {
                fprintf(stderr, "FAIL mxfp4 quant block %d index %d not nearest\n", b, j);
                failed++;
                b = N;
                break;
            }
        }
    }
    /* representable data (a nibble 7 in each block, so e is determined) round-trips exactly */
    for (int b = 0; b < N / 32; b++) {
        uint8_t *p = buf + 17 * b;
        p[0] = (uint8_t)(1 + fy_rng_u64(&r) % 250);
        for (int j = 0; j < 16; j++)
            p[1 + j] = (uint8_t)fy_rng_u64(&r);
        p[1 + b % 16] = (uint8_t)((p[1 + b % 16] & 0xf0) | ((b & 1) ? 0x7 : 0xf));
    }
    fy_dequant_row(FY_MXFP4, buf, x, N);
    fy_quant_row_mxfp4(x, buf + 17 * (N / 32), N);
    fy_dequant_row(FY_MXFP4, buf + 17 * (N / 32), deq, N);
    for (int i = 0; i < N; i++) {
        if (deq[i] != x[i]) {
            fprintf(stderr, "FAIL mxfp4 exact round trip index %d: %g vs %g\n", i,
                    (double)deq[i], (double)x[i]);
            failed++;
            break;
        }
    }
    printf("ok   MXFP4 quantizer\n");

    /* F16 / BF16 / F32 rows are plain conversions */
    fy_rng_fill(&r, x, N, 100.0f);
    fy_quant_row(FY_F16, x, buf, N);
    fy_dequant_row(FY_F16, buf, deq, N);
    for (int i = 0; i < N; i++)
        FY_EXPECT(deq[i] == fy_fp16_to_f32(fy_f32_to_fp16(x[i])));
    fy_quant_row(FY_BF16, x, buf, N);
    fy_dequant_row(FY_BF16, buf, deq, N);
    for (int i = 0; i < N; i++)
        FY_EXPECT(deq[i] == fy_bf16_to_f32(fy_f32_to_bf16(x[i])));
    fy_quant_row(FY_F32, x, buf, N);
    fy_dequant_row(FY_F32, buf, deq, N);
    FY_EXPECT(memcmp(deq, x, sizeof(x)) == 0);
}

int main(void)
{
    test_e8m0();
    test_mxfp4_decode();
    test_q8_0_decode();
    test_fp16();
    test_bf16();
    test_vec_dot();
    test_quantizers();
    if (failed)
        fprintf(stderr, "%d failure(s)\n", failed);
    return failed ? 1 : 0;
}
