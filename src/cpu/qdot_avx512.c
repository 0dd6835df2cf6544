/* The "avx512" (AVX-512 F/BW/VL) and "avx512vnni" (+ AVX512-VNNI) kernel sets. This one file
 * is compiled twice, each time with its set's flags only, in its own static library
 * (FY_SET_VNNI 0 or 1), and called only when CPUID says the CPU has them (dispatch.c).
 *
 * Lanes are rows: 16 weight rows (a group) fill the 16 int32 lanes of a zmm, so a block's
 * scale is applied once per 16 (row, token) pairs and the per-block sums need no horizontal
 * reduction per pair. The numerics are qdot.h's "block sums" (fy_qdot_mm_bs_ref): per block
 * the exact int32 S = sum w_j q_j, acc = fmaf((float)S, d_w * d_x, acc) block after block,
 * then + bias. The int32 sums are exact whatever the order of their additions, so the paths
 * below give the same bits, and a result does not depend on n_tok:
 *   - one token (decode), in bytes: x split into two signed bytes, the weights as unsigned
 *     bytes, two rows per zmm and VPDPBUSD (VPMADDUBSW without VNNI), a transposing reduction
 *     of 8 vectors gives the 16 rows' S (see "one token in bytes" below);
 *   - 2 to 4 tokens, in bytes as one token: each block's weights unpacked once, then dotted with
 *     every token's split bytes (gemv8_multi: the experts' small groups and B sequences decoding
 *     together);
 *   - one token, Q8_0 without VNNI (VPMADDUBSW could saturate there): each row's block widened
 *     to 32 int16, one VPMADDWD against the token's block, a transposing reduction of the 16
 *     rows' vectors;
 *   - several tokens: the group's weights are decoded once per call into a per-thread buffer,
 *     per block 16 vectors, vector k = elements 2k, 2k+1 of the 16 rows (int16 pairs); a token
 *     tile of T tokens then does, per vector, one VPDPWSSD (VNNI; VPMADDWD + VPADDD without)
 *     per token with the token's pair k broadcast: 32 products each.
 * MXFP4 nibbles become int8 by VPSHUFB from the doubled E2M1 table; the block scales of the 16
 * rows are gathered (E8M0 -> 2^(e-128) in integer ops; Q8_0's fp16 by VCVTPH2PS). */
#include "qdot.h"
#include "simd_avx512.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#if FY_SET_VNNI
#define FY_SET_SYM fy_cpu_set_avx512vnni
#define FY_SET_NAME "avx512vnni"
static inline __m512i dp_pairs(__m512i acc, __m512i w, __m512i x)
{
    return _mm512_dpwssd_epi32(acc, w, x);
}
#else
#define FY_SET_SYM fy_cpu_set_avx512
#define FY_SET_NAME "avx512"
static inline __m512i dp_pairs(__m512i acc, __m512i w, __m512i x)
{
    return _mm512_add_epi32(acc, _mm512_madd_epi16(w, x));
}
#endif

#define FY_Q8_0_BYTES 34
#define FY_MXFP4_BYTES 17
#define GROUP 16 /* rows per group: one per int32 lane */
#define TMAX 8   /* tokens per tile of the several-token path */
#define FY_MULTI_MAX 4 /* up to this many tokens: the bytes path, weights unpacked once per block */
#define BLOCK_VECS (GROUP + 1) /* per block in the buffer: 16 pair vectors, the 16 scales */






#define INLINE static inline __attribute__((always_inline))

/* one weight block as 32 int16 in element order */
INLINE __m512i wblock(enum fy_dtype type, const uint8_t *p)
{
    return _mm512_cvtepi8_epi16(fy_avx512_block_i8(type, p));
}

/* lane r of the result = the sum of v[r]'s 16 lanes */
INLINE __m512i hsum16(__m512i v[GROUP])
{
    __m512i a[8], b[4];
    for (int i = 0; i < 8; i++) /* per 128-bit chunk: [v2i, v2i+1, v2i, v2i+1] partial sums */
        a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
    for (int j = 0; j < 4; j++) /* per chunk: rows 4j..4j+3, each the chunk's sum */
        b[j] = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2 * j], a[2 * j + 1]),
                                _mm512_unpackhi_epi64(a[2 * j], a[2 * j + 1]));
    const __m512i p = _mm512_add_epi32(_mm512_shuffle_i32x4(b[0], b[1], 0x88),
                                       _mm512_shuffle_i32x4(b[0], b[1], 0xdd));
    const __m512i q = _mm512_add_epi32(_mm512_shuffle_i32x4(b[2], b[3], 0x88),
                                       _mm512_shuffle_i32x4(b[2], b[3], 0xdd));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(p, q, 0x88), _mm512_shuffle_i32x4(p, q, 0xdd));
}



/* The one-token paths read 16 rows at once, 16 streams per thread at a few bytes per row and
 * block, which the hardware prefetchers follow poorly (MXFP4: 14.5 GB/s of a 24 GB/s probe on
 * a 2-core Xeon). The 16 rows after the group (the next group of a static split: the thread's
 * next call) are one contiguous range: block b's iteration prefetches its b-th slice into L2,
 * linearly (MXFP4 14.5 -> 17.9 GB/s there, Q8_0 21 -> 27). Past the matrix's end a prefetch
 * does nothing (it never faults). */
INLINE size_t prefetch_step(size_t row_bytes, int64_t nb)
{
    return (GROUP * row_bytes / (size_t)nb + 63) / 64 * 64;
}

INLINE void prefetch_next(const uint8_t *w, size_t row_bytes, int64_t b, size_t step)
{
    const char *p = (const char *)w + GROUP * row_bytes + (size_t)b * step;
    for (size_t o = 0; o < step; o += 64)
        _mm_prefetch(p + o, _MM_HINT_T1);
}


/* one token, nr <= 16 rows (16 a constant after inlining for full groups) */
INLINE void gemv_group(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int nr,
                       const struct fy_qx_block *x, int64_t nb, float *y, const float *bias)
{
    const size_t bb = type == FY_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
    const __m512i idx = fy_avx512_row_offsets(row_bytes);
    const __mmask16 m = fy_avx512_lanes(nr);
    const size_t per_iter = prefetch_step(row_bytes, nb);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = w + (size_t)b * bb;
        prefetch_next(w, row_bytes, b, per_iter);
        const __m512i xv = _mm512_loadu_si512(x[b].q);
        __m512i v[GROUP];
#pragma GCC unroll 16
        for (int r = 0; r < GROUP; r++)
            v[r] = r < nr ? _mm512_madd_epi16(wblock(type, wb + (size_t)r * row_bytes), xv)
                          : _mm512_setzero_si512();
        const __m512 s = _mm512_mul_ps(fy_avx512_wscales(type, wb, idx, m), _mm512_set1_ps(x[b].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hsum16(v)), s, acc);
    }
    fy_avx512_store_rows(y, acc, bias, m);
}

/* ---- one token in bytes (the GEMV of decode) ----
 * x = 256 xh + xl with both bytes signed (|x| <= FY_QX_QMAX: xh = (x + 128) >> 8, xl = the low
 * byte), and the weights as unsigned bytes wu = w + c (c = 12 for MXFP4, straight from the
 * lookup table; 128 for Q8_0): S = 256 sum(wu xh) + sum(wu xl) - c sum(x), exact in int32.
 * Two rows share a zmm (32 bytes each), so a block of 16 rows is 8 pairs, 2 VPDPBUSD each
 * (VNNI; VPMADDUBSW + VPMADDWD without, MXFP4 only: for Q8_0 the pairs of VPMADDUBSW could
 * saturate), and the transposing reduction has 8 vectors instead of 16: half the shuffles of
 * the int16 path, where the shuffle port was the limit. */
struct xsplit {
    __m512i xl, xh; /* the block's 32 bytes, twice (one copy per row of a pair) */
};

INLINE void split_x(const struct fy_qx_block *x, int64_t nb, struct xsplit *xs, int32_t *sx)
{
    for (int64_t b = 0; b < nb; b++) {
        const __m512i v = _mm512_loadu_si512(x[b].q);
        const __m256i lo = _mm512_cvtepi16_epi8(v); /* truncation: the low bytes, signed */
        const __m256i hi = _mm512_cvtepi16_epi8(
            _mm512_srai_epi16(_mm512_add_epi16(v, _mm512_set1_epi16(128)), 8));
        xs[b].xl = _mm512_broadcast_i64x4(lo);
        xs[b].xh = _mm512_broadcast_i64x4(hi);
        sx[b] = _mm512_reduce_add_epi32(_mm512_madd_epi16(v, _mm512_set1_epi16(1)));
    }
}

/* rows a and b's blocks (pa, pb) as unsigned bytes wu: lanes 0-31 row a's, 32-63 row b's */
INLINE __m512i pair_w(enum fy_dtype type, const uint8_t *pa, const uint8_t *pb)
{
    __m512i wu;
    if (type == FY_Q8_0) {
        wu = _mm512_xor_si512(
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(pa + 2))),
                               _mm256_loadu_si256((const __m256i *)(pb + 2)), 1),
            _mm512_set1_epi8((char)0x80));
    } else {
        const __m512i tab = _mm512_broadcast_i32x4(
            _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0)); /* w + 12 */
        /* 128-bit lanes: qs(a), qs(a) >> 4, qs(b), qs(b) >> 4, then the low nibbles */
        __m512i z = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(pa + 1)));
        z = _mm512_mask_broadcast_i32x4(z, 0xff00, _mm_loadu_si128((const __m128i *)(pb + 1)));
        z = _mm512_srlv_epi64(z, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
        wu = _mm512_shuffle_epi8(tab, _mm512_and_si512(z, _mm512_set1_epi8(0x0f)));
    }
    return wu;
}

/* a pair_w against the split token: 16 int32 lanes, lanes 0-7 row a's partial sums of
 * 256 wu xh + wu xl over 4 elements each, lanes 8-15 row b's */
INLINE __m512i pair_dot_w(__m512i wu, const struct xsplit *xs)
{
#if FY_SET_VNNI
    const __m512i h = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wu, xs->xh);
    return _mm512_dpbusd_epi32(_mm512_slli_epi32(h, 8), wu, xs->xl);
#else
    return _mm512_add_epi32(_mm512_madd_epi16(_mm512_maddubs_epi16(wu, xs->xl), _mm512_set1_epi16(1)),
                            _mm512_madd_epi16(_mm512_maddubs_epi16(wu, xs->xh), _mm512_set1_epi16(256)));
#endif
}

INLINE __m512i pair_dot(enum fy_dtype type, const uint8_t *pa, const uint8_t *pb,
                        const struct xsplit *xs)
{
    return pair_dot_w(pair_w(type, pa, pb), xs);
}

/* u[j] (j < 4) holds rows j and 4 + j, u[4 + j] rows 8 + j and 12 + j (pair_dot's halves):
 * lane r of the result = the sum of row r's 8 lanes */
INLINE __m512i hsum_pairs(const __m512i u[8])
{
    __m512i a[4];
    for (int i = 0; i < 4; i++)
        a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(u[2 * i], u[2 * i + 1]),
                                _mm512_unpackhi_epi32(u[2 * i], u[2 * i + 1]));
    const __m512i b0 = _mm512_add_epi32(_mm512_unpacklo_epi64(a[0], a[1]), _mm512_unpackhi_epi64(a[0], a[1]));
    const __m512i b1 = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2], a[3]), _mm512_unpackhi_epi64(a[2], a[3]));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(b0, b1, 0x88), _mm512_shuffle_i32x4(b0, b1, 0xdd));
}

/* one token, nr <= 16 rows; rows past nr read row 0 (their lanes are not stored) */
INLINE void gemv8_group(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int nr,
                        const struct fy_qx_block *x, const struct xsplit *xs, const int32_t *sx,
                        int64_t nb, float *y, const float *bias)
{
    const size_t bb = type == FY_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
    const int32_t c = type == FY_Q8_0 ? 128 : 12;
    const __m512i idx = fy_avx512_row_offsets(row_bytes);
    const __mmask16 m = fy_avx512_lanes(nr);
#define FY_ROW(r) (wb + (size_t)((r) < nr ? (r) : 0) * row_bytes)
    const size_t per_iter = prefetch_step(row_bytes, nb);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = w + (size_t)b * bb;
        prefetch_next(w, row_bytes, b, per_iter);
        __m512i u[8];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            u[j] = pair_dot(type, FY_ROW(j), FY_ROW(4 + j), xs + b);
            u[4 + j] = pair_dot(type, FY_ROW(8 + j), FY_ROW(12 + j), xs + b);
        }
        const __m512i S = _mm512_sub_epi32(hsum_pairs(u), _mm512_set1_epi32(c * sx[b]));
        const __m512 s = _mm512_mul_ps(fy_avx512_wscales(type, wb, idx, m), _mm512_set1_ps(x[b].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), s, acc);
    }
#undef FY_ROW
    fy_avx512_store_rows(y, acc, bias, m);
}

/* T (2..4, a constant after inlining) tokens in bytes, nr <= 16 rows: each block's weights are
 * unpacked once (pair_w) and dotted with every token's split bytes; per token the same block
 * sums and the same fmaf order as gemv8_group, so the same bits as one token at a time. A few
 * tokens (the experts' groups and the dense matrices of B sequences decoding together) keep the
 * one-token path's weight stream at a fraction of its unpacking work per token. */
INLINE void gemv8_multi(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int nr, int T,
                        const struct fy_qx_block *x, const struct xsplit *xs, const int32_t *sx,
                        int64_t nb, float *y, int64_t ldy, const float *bias)
{
    const size_t bb = type == FY_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
    const int32_t c = type == FY_Q8_0 ? 128 : 12;
    const __m512i idx = fy_avx512_row_offsets(row_bytes);
    const __mmask16 m = fy_avx512_lanes(nr);
#define FY_ROW(r) (wb + (size_t)((r) < nr ? (r) : 0) * row_bytes)
    const size_t per_iter = prefetch_step(row_bytes, nb);
    __m512 acc[4];
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = w + (size_t)b * bb;
        prefetch_next(w, row_bytes, b, per_iter);
        __m512i wu[8];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            wu[j] = pair_w(type, FY_ROW(j), FY_ROW(4 + j));
            wu[4 + j] = pair_w(type, FY_ROW(8 + j), FY_ROW(12 + j));
        }
        const __m512 sw = fy_avx512_wscales(type, wb, idx, m);
        for (int t = 0; t < T; t++) {
            const struct xsplit *xt = xs + t * nb + b;
            __m512i u[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                u[j] = pair_dot_w(wu[j], xt);
            const __m512i S = _mm512_sub_epi32(hsum_pairs(u), _mm512_set1_epi32(c * sx[t * nb + b]));
            const __m512 s = _mm512_mul_ps(sw, _mm512_set1_ps(x[t * nb + b].d));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), s, acc[t]);
        }
    }
#undef FY_ROW
    for (int t = 0; t < T; t++)
        fy_avx512_store_rows(y + t * ldy, acc[t], bias, m);
}

/* ---- several tokens ---- */

/* the group's weights into buf: per block 16 pair vectors and the scales */
INLINE void decode_group(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int nr,
                         int64_t nb, __m512i *buf)
{
    const size_t bb = type == FY_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
    const __m512i idx = fy_avx512_row_offsets(row_bytes);
    const __mmask16 m = fy_avx512_lanes(nr);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = w + (size_t)b * bb;
        __m512i v[GROUP];
#pragma GCC unroll 16
        for (int r = 0; r < GROUP; r++)
            v[r] = r < nr ? wblock(type, wb + (size_t)r * row_bytes) : _mm512_setzero_si512();
        fy_avx512_transpose16(v);
        __m512i *o = buf + b * BLOCK_VECS;
#pragma GCC unroll 16
        for (int k = 0; k < GROUP; k++)
            _mm512_store_si512(o + k, v[k]);
        _mm512_store_ps(o + GROUP, fy_avx512_wscales(type, wb, idx, m));
    }
}

INLINE __m512i bcast_pair(const int16_t *q)
{
    int32_t v;
    memcpy(&v, q, sizeof(v));
    return _mm512_set1_epi32(v);
}

/* T tokens (a constant after inlining) against a decoded group */
INLINE void tile(const __m512i *buf, int64_t nb, const struct fy_qx_block *x, int T, float *y,
                 int64_t ldy, const float *bias, __mmask16 m)
{
    __m512 acc[TMAX];
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m512i *o = buf + b * BLOCK_VECS;
        __m512i s[TMAX];
        for (int t = 0; t < T; t++)
            s[t] = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int k = 0; k < GROUP; k++) {
            const __m512i wk = _mm512_load_si512(o + k);
            for (int t = 0; t < T; t++)
                s[t] = dp_pairs(s[t], wk, bcast_pair(x[t * nb + b].q + 2 * k));
        }
        const __m512 dw = _mm512_load_ps(o + GROUP);
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(x[t * nb + b].d)), acc[t]);
    }
    for (int t = 0; t < T; t++)
        fy_avx512_store_rows(y + t * ldy, acc[t], bias, m);
}

static __thread __m512i *g_buf;
static __thread size_t g_buf_vecs;
static __thread struct xsplit *g_xs; /* then nb int32 sums of x */
static __thread size_t g_xs_blocks;

static void tiles(const __m512i *buf, int64_t nb, const struct fy_qx_block *x, int64_t n_tok,
                  float *y, int64_t ldy, const float *bias, __mmask16 m)
{
    int64_t t0 = 0;
    for (; t0 + TMAX <= n_tok; t0 += TMAX)
        tile(buf, nb, x + t0 * nb, TMAX, y + t0 * ldy, ldy, bias, m);
    switch (n_tok - t0) {
#define FY_TAIL(n)                                                                                 \
    case n:                                                                                        \
        tile(buf, nb, x + t0 * nb, n, y + t0 * ldy, ldy, bias, m);                                 \
        break;
        FY_TAIL(1)
        FY_TAIL(2)
        FY_TAIL(3)
        FY_TAIL(4)
        FY_TAIL(5)
        FY_TAIL(6)
        FY_TAIL(7)
#undef FY_TAIL
    default:
        break;
    }
}

INLINE void mm_typed(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                     const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y,
                     int64_t ldy, const float *bias)
{
    size_t need = (size_t)nb * BLOCK_VECS;
    if (n_tok > 1 && need > g_buf_vecs) {
        free(g_buf);
        g_buf = aligned_alloc(64, need * sizeof(__m512i));
        g_buf_vecs = g_buf ? need : 0;
    }
    if (n_tok <= FY_MULTI_MAX && n_tok > 1 && (FY_SET_VNNI || type == FY_MXFP4)) {
        const size_t blocks = (size_t)(nb * n_tok);
        if (blocks > g_xs_blocks) {
            free(g_xs);
            g_xs = aligned_alloc(64, blocks * (sizeof(struct xsplit) + 64));
            g_xs_blocks = g_xs ? blocks : 0;
        }
        if (g_xs) {
            int32_t *sx = (int32_t *)(g_xs + blocks);
            for (int64_t t = 0; t < n_tok; t++)
                split_x(x + t * nb, nb, g_xs + t * nb, sx + t * nb);
            for (int64_t r = 0; r < rows; r += GROUP) {
                const uint8_t *wr = w + (size_t)r * row_bytes;
                const float *br = bias ? bias + r : NULL;
                const int nr = rows - r >= GROUP ? GROUP : (int)(rows - r);
                switch (n_tok) {
#define FY_MULTI(T)                                                                                \
    case T:                                                                                        \
        if (nr == GROUP)                                                                           \
            gemv8_multi(type, wr, row_bytes, GROUP, T, x, g_xs, sx, nb, y + r, ldy, br);           \
        else                                                                                       \
            gemv8_multi(type, wr, row_bytes, nr, T, x, g_xs, sx, nb, y + r, ldy, br);              \
        break;
                FY_MULTI(2)
                FY_MULTI(3)
                FY_MULTI(4)
#undef FY_MULTI
                default:
                    break;
                }
            }
            return;
        }
    }
    if (n_tok == 1 && (FY_SET_VNNI || type == FY_MXFP4)) {
        if ((size_t)nb > g_xs_blocks) {
            free(g_xs);
            g_xs = aligned_alloc(64, (size_t)nb * (sizeof(struct xsplit) + 64));
            g_xs_blocks = g_xs ? (size_t)nb : 0;
        }
        if (g_xs) {
            int32_t *sx = (int32_t *)(g_xs + nb);
            split_x(x, nb, g_xs, sx);
            for (int64_t r = 0; r < rows; r += GROUP) {
                const uint8_t *wr = w + (size_t)r * row_bytes;
                const float *br = bias ? bias + r : NULL;
                if (rows - r >= GROUP)
                    gemv8_group(type, wr, row_bytes, GROUP, x, g_xs, sx, nb, y + r, br);
                else
                    gemv8_group(type, wr, row_bytes, (int)(rows - r), x, g_xs, sx, nb, y + r,
                                br);
            }
            return;
        }
    }
    if (n_tok == 1 || !g_buf) { /* one token, or no buffer: the same bits token by token */
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t r = 0; r < rows; r += GROUP) {
                const uint8_t *wr = w + (size_t)r * row_bytes;
                const float *br = bias ? bias + r : NULL;
                if (rows - r >= GROUP)
                    gemv_group(type, wr, row_bytes, GROUP, x + t * nb, nb, y + t * ldy + r, br);
                else
                    gemv_group(type, wr, row_bytes, (int)(rows - r), x + t * nb, nb,
                               y + t * ldy + r, br);
            }
        return;
    }
    for (int64_t r = 0; r < rows; r += GROUP) {
        const int nr = rows - r >= GROUP ? GROUP : (int)(rows - r);
        if (nr == GROUP)
            decode_group(type, w + (size_t)r * row_bytes, row_bytes, GROUP, nb, g_buf);
        else
            decode_group(type, w + (size_t)r * row_bytes, row_bytes, nr, nb, g_buf);
        tiles(g_buf, nb, x, n_tok, y + r, ldy, bias ? bias + r : NULL, fy_avx512_lanes(nr));
    }
}

static void mm_avx512(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                      const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y,
                      int64_t ldy, const float *bias)
{
    if (type == FY_Q8_0)
        mm_typed(FY_Q8_0, w, row_bytes, rows, x, nb, n_tok, y, ldy, bias);
    else
        mm_typed(FY_MXFP4, w, row_bytes, rows, x, nb, n_tok, y, ldy, bias);
}

const struct fy_cpu_set FY_SET_SYM = {
    .name = FY_SET_NAME,
    .quantize = fy_qdot_quantize_avx2,
    .mm = mm_avx512,
    .mm_ref = fy_qdot_mm_bs_ref,
    .mm_rows = 16,
    .mm_tok = 32,
    .attention = fy_cpu_attention_item_avx512,
    .attn_all_heads = true,
    .quantize8 = fy_qdot_quantize8_avx2,
    .mm8 = fy_qdot_mm8_avx2,
};
