/* fy_gpu_kv_store against fy_cpu_kv_store, F32, F16 and Q8_0 caches, bit for bit over the whole
 * caches (slots not written must keep their contents; Q8_0 compared block by block, 34 bytes,
 * so a GPU that stored another encoding fails). Positions are distinct and scattered over 8192
 * slots; widths 512 (gpt-oss: 8 KV heads x 64), 64 and 33 (Q8_0: 512 and 64; 33 is refused);
 * n_tok 1, 7, 33, 512. Values
 * span the f16 range (subnormals, overflow to inf) plus exact ties of round-to-nearest-even,
 * 65504 / 65520, 2^-25, -0, +-inf and NaN (the CPU's NaN encoding is reproduced). Two cases
 * store into a ring (positions past the cache's end, at slot pos % ring). */
#include <string.h>

#include "cpu/ops.h"
#include "fy_test_gpu.h"

#define N_SLOTS 8192

static float bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static void fill(struct fy_rng *rng, float *x, int64_t n)
{
    const float special[] = {
        1.0f + 0x1p-11f,      /* tie: down to even 1.0 */
        1.0f + 3 * 0x1p-11f,  /* tie: up to even */
        65504.0f, 65519.0f, 65520.0f, -65520.0f, 1e6f,
        0x1p-25f,             /* tie to 0 */
        3 * 0x1p-26f, 0x1p-24f, 3 * 0x1p-25f, 0x1p-14f - 0x1p-25f, 0x1p-14f,
        -0.0f, bits(0x7f800000u), bits(0xff800000u), bits(0x7fc00000u), bits(0xffa12345u),
        bits(0x7f800001u),
    };
    for (int64_t i = 0; i < n; i++) {
        if (fy_rng_unif(rng) < 0.05)
            x[i] = special[fy_rng_u64(rng) % FY_ARRAY_LEN(special)];
        else
            x[i] = (float)(fy_rng_normal(rng) * pow(2.0, fy_rng_range(rng, -28.0f, 17.0f)));
    }
}

static int run_case(fy_gpu_stream s, enum fy_dtype t, int64_t n_tok, int64_t width, uint64_t seed,
                    int64_t ring)
{
    struct fy_rng rng = { seed };
    /* the unit compared: an element, or a Q8_0 block */
    const size_t esz = t == FY_Q8_0 ? 34 : t == FY_F16 ? 2 : 4;
    const int64_t per_row = t == FY_Q8_0 ? width / 32 : width;
    const size_t cache_bytes = (size_t)N_SLOTS * fy_dtype_row_bytes(t, width);
    const size_t in_bytes = (size_t)(n_tok * width) * sizeof(float);
    const size_t pos_bytes = (size_t)n_tok * sizeof(int32_t);
    struct fy_bufs b = { .s = s };
    float *k = fy_bufs_host(&b, in_bytes), *v = fy_bufs_host(&b, in_bytes);
    int32_t *pos = fy_bufs_host(&b, pos_bytes);
    int32_t *perm = fy_bufs_host(&b, N_SLOTS * sizeof(int32_t));
    uint8_t *kc = fy_bufs_host(&b, cache_bytes), *vc = fy_bufs_host(&b, cache_bytes);
    uint8_t *gk = fy_bufs_host(&b, cache_bytes), *gv = fy_bufs_host(&b, cache_bytes);
    int bad = 1;

    if (b.err)
        goto done;
    fill(&rng, k, n_tok * width);
    fill(&rng, v, n_tok * width);
    for (size_t i = 0; i < cache_bytes; i++) {
        kc[i] = (uint8_t)fy_rng_u64(&rng);
        vc[i] = (uint8_t)(kc[i] ^ 0x5a);
    }
    /* distinct scattered slots: 0, the last slot, and a random permutation of the others */
    for (int32_t i = 0; i < N_SLOTS - 2; i++)
        perm[i] = i + 1;
    for (int32_t i = N_SLOTS - 3; i > 0; i--) {
        int32_t j = (int32_t)(fy_rng_u64(&rng) % (uint64_t)(i + 1));
        int32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int64_t i = 0; i < n_tok; i++)
        pos[i] = perm[i];
    pos[0] = 0;
    if (n_tok > 1)
        pos[n_tok - 1] = N_SLOTS - 1;
    for (int64_t i = 0; ring && i < n_tok; i++) /* a ring of N_SLOTS: positions past its end */
        pos[i] += (int32_t)(ring * (1 + i % 3));

    void *dkc = fy_bufs_up(&b, kc, cache_bytes, "k cache");
    void *dvc = fy_bufs_up(&b, vc, cache_bytes, "v cache");
    float *dk = fy_bufs_up(&b, k, in_bytes, "k"), *dv = fy_bufs_up(&b, v, in_bytes, "v");
    int32_t *dpos = fy_bufs_up(&b, pos, pos_bytes, "pos");
    if (b.err || fy_gpu_kv_store(dkc, dvc, t, dk, dv, n_tok, width, dpos, ring, s) != FY_OK ||
        fy_bufs_down(&b, gk, dkc, cache_bytes) || fy_bufs_down(&b, gv, dvc, cache_bytes))
        goto done;
    fy_cpu_kv_store(kc, vc, t, k, v, n_tok, width, pos, ring);

    int64_t first = -1, n_bad = 0;
    for (size_t i = 0; i < cache_bytes; i += esz) {
        if (memcmp(gk + i, kc + i, esz) || memcmp(gv + i, vc + i, esz)) {
            if (first < 0)
                first = (int64_t)(i / esz);
            n_bad++;
        }
    }
    bad = first >= 0;
    printf("%s kv_store %s n_tok %lld width %lld ring %lld: %lld cache %s differ (bit-exact)",
           bad ? "FAIL" : "PASS", fy_dtype_name(t), (long long)n_tok, (long long)width,
           (long long)ring, (long long)n_bad, t == FY_Q8_0 ? "blocks" : "elements");
    if (bad)
        printf(" (first bad: slot %lld %s %lld)", (long long)(first / per_row),
               t == FY_Q8_0 ? "block" : "column", (long long)(first % per_row));
    printf("\n");
done:
    fy_bufs_free(&b);
    return bad;
}

int main(void)
{
    static const int64_t ntoks[] = { 1, 7, 33, 512 };
    static const int64_t widths[] = { 512, 64, 33 };
    fy_gpu_stream s = NULL;
    int failed = 0, rc = fy_test_gpu_start(NULL, &s);

    if (rc)
        return rc;
    static const enum fy_dtype types[] = { FY_F32, FY_F16, FY_Q8_0 };
    for (size_t ty = 0; ty < FY_ARRAY_LEN(types); ty++)
        for (size_t i = 0; i < FY_ARRAY_LEN(ntoks); i++)
            for (size_t w = 0; w < FY_ARRAY_LEN(widths); w++)
                if (types[ty] != FY_Q8_0 || widths[w] % 32 == 0)
                    failed += run_case(s, types[ty], ntoks[i], widths[w],
                                       100 * (uint64_t)ty + 10 * i + w, 0);
    /* a sliding-window layer's ring: position p at slot p % ring */
    failed += run_case(s, FY_F16, 33, 512, 7, N_SLOTS);
    failed += run_case(s, FY_F32, 7, 64, 8, N_SLOTS);
    failed += run_case(s, FY_Q8_0, 33, 512, 9, N_SLOTS);
    float *d4 = NULL;
    if (fy_gpu_malloc((void **)&d4, 4096, "dummy") == FY_OK) {   /* Q8_0 needs whole blocks */
        FY_EXPECT(fy_gpu_kv_store(d4, d4, FY_Q8_0, d4, d4, 1, 33, (const int32_t *)d4, 0, s) ==
                  FY_E_INVAL);
        fy_gpu_free(d4);
    }
    FY_EXPECT(fy_gpu_kv_store(NULL, NULL, FY_F16, NULL, NULL, 0, 512, NULL, 0, s) == FY_OK);
    FY_EXPECT(fy_gpu_kv_store(NULL, NULL, FY_Q8_0, NULL, NULL, 1, 512, NULL, 0, s) == FY_E_INVAL);
    return fy_test_gpu_end(s, failed, "kv_store");
}
