/* The "amx" kernel set: the avx512vnni set with the several-token matmul on AMX tiles (Intel
 * Xeon since Sapphire Rapids: AMX-TILE, AMX-INT8). Compiled with the avx512vnni flags plus
 * -mamx-tile -mamx-int8, in its own static library; chosen only when CPUID has AMX, the OS
 * saves tile state and grants this process the tile data (arch_prctl, dispatch.c).
 *
 * Numerics: qdot.h's "block sums", the avx512 sets' (the same bits). Per weight block (K = 32)
 * and a tile of 16 rows x 16 tokens, with x = 256 xh + xl (xh signed, xl unsigned bytes):
 *   C1 = W . Xh by TDPBSSD, C2 = W . Xl by TDPBSUD (int32, exact), S = 256 C1 + C2 exact,
 * then per row m, over the 16 tokens in lanes: acc[m] = fma((float)S[m], d_w[m] * d_x, acc[m]):
 * the fmaf of the reference, block after block. The weights of 16 rows are decoded once per
 * call into int8 rows (the A tiles), the tokens' bytes once per call into the VNNI layout of
 * the B tiles (row k: bytes 4k..4k+3 of each of the 16 tokens). One token or a few (fewer than
 * FY_AMX_MIN_TOK) go to the avx512vnni kernels, as does a call whose buffers cannot be had. */
#include "amx_tiles.h"
#include "qdot.h"
#include "simd_avx512.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define FY_Q8_0_BYTES 34
#define FY_MXFP4_BYTES 17
#define FY_AMX_MIN_TOK 8
#define TT 16 /* tokens per tile */

/* tile numbers (the tile intrinsics want literals) */
#define T_C1 0
#define T_C2 1
#define T_A 2
#define T_BH 3
#define T_BL 4
#define T_C1B 5
#define T_C2B 6

static const struct fy_amx_cfg g_cfg = {
    .palette = 1,
    /* C: 16 x 16 int32; A: 16 rows x 32 int8 weights; B: 32 bytes of 16 tokens, 4 at a time */
    .colsb = {[T_C1] = 64, [T_C2] = 64, [T_C1B] = 64, [T_C2B] = 64, [T_A] = 32, [T_BH] = 64,
              [T_BL] = 64},
    .rows = {[T_C1] = 16, [T_C2] = 16, [T_C1B] = 16, [T_C2B] = 16, [T_A] = 16, [T_BH] = 8,
             [T_BL] = 8},
};

static __thread int g_cfg_id; /* the configuration in force on this thread (0: none) */

void fy_amx_use_config(int id, const struct fy_amx_cfg *cfg)
{
    if (g_cfg_id != id) {
        _tile_loadconfig(cfg);
        g_cfg_id = id;
    }
}

/* per block of a token tile: the B tiles and the tokens' scales */
struct xtile {
    int8_t h[8][64];
    uint8_t l[8][64];
    float d[TT];
};

/* per block of a row group: the A tile and the rows' scales */
struct wtile {
    int8_t w[16][32];
    float d[16];
};

static __thread void *g_xbuf, *g_wbuf;
static __thread size_t g_xbytes, g_wbytes;

static void *grow(void **buf, size_t *have, size_t need)
{
    if (need > *have) {
        free(*buf);
        *buf = aligned_alloc(64, (need + 63) / 64 * 64);
        *have = *buf ? need : 0;
    }
    return *buf;
}

/* tokens [0, nt) of x (nt <= 16, the rest zeros) into xt[0..nb) */
static void prep_x(const struct fy_qx_block *x, int64_t nb, int nt, struct xtile *xt)
{
    for (int64_t b = 0; b < nb; b++) {
        __m512i h[16], l[16];
        for (int n = 0; n < 16; n++) {
            if (n < nt) {
                const __m512i v = _mm512_loadu_si512(x[n * nb + b].q);
                l[n] = _mm512_castsi256_si512(_mm512_cvtepi16_epi8(v));
                h[n] = _mm512_castsi256_si512(_mm512_cvtepi16_epi8(_mm512_srai_epi16(v, 8)));
                xt[b].d[n] = x[n * nb + b].d;
            } else {
                l[n] = h[n] = _mm512_setzero_si512();
                xt[b].d[n] = 0.0f;
            }
        }
        /* token n's dword k (bytes 4k..4k+3) -> row k, lane n */
        fy_avx512_transpose16(h);
        fy_avx512_transpose16(l);
        for (int k = 0; k < 8; k++) {
            _mm512_store_si512(xt[b].h[k], h[k]);
            _mm512_store_si512(xt[b].l[k], l[k]);
        }
    }
}

/* rows [0, nr) of w (nr <= 16, the rest zeros) into wt[0..nb) */
static void prep_w(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int nr, int64_t nb,
                   struct wtile *wt)
{
    const size_t bb = type == FY_Q8_0 ? FY_Q8_0_BYTES : FY_MXFP4_BYTES;
    const __m512i idx = fy_avx512_row_offsets(row_bytes);
    const __mmask16 m = fy_avx512_lanes(nr);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = w + (size_t)b * bb;
        for (int r = 0; r < 16; r++)
            _mm256_store_si256((__m256i *)wt[b].w[r],
                               r < nr ? fy_avx512_block_i8(type, wb + (size_t)r * row_bytes)
                                      : _mm256_setzero_si256());
        _mm512_store_ps(wt[b].d, fy_avx512_wscales(type, wb, idx, m));
    }
}

/* acc[m] += (256 c1[m] + c2[m]) * (d_w[m] * d_x), m < 16 */
static inline __attribute__((always_inline)) void epilogue(__m512 acc[16], int32_t c1[16][16],
                                                           int32_t c2[16][16],
                                                           const struct wtile *wt,
                                                           const struct xtile *xt)
{
    const __m512 dx = _mm512_load_ps(xt->d);
    for (int m = 0; m < 16; m++) {
        const __m512i s = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(c1[m]), 8),
                                           _mm512_load_si512(c2[m]));
        acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                 _mm512_mul_ps(_mm512_set1_ps(wt->d[m]), dx), acc[m]);
    }
}

/* one row group (wt) x one token tile (xt): y[t * ldy + r] for r < nr, t < nt. Two sets of C
 * tiles alternate by block, so block b's products run on the tile unit while block b - 1's are
 * stored and taken into the f32 sums (the tiles are not renamed: one set would serialize). */
static void tile_mm(const struct wtile *wt, const struct xtile *xt, int64_t nb, int nr, int nt,
                    float *y, int64_t ldy, const float *bias)
{
    _Alignas(64) int32_t c1[16][16], c2[16][16];
    __m512 acc[16];
    for (int m = 0; m < 16; m++)
        acc[m] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        _tile_loadd(T_A, wt[b].w, 32);
        _tile_loadd(T_BH, xt[b].h, 64);
        _tile_loadd(T_BL, xt[b].l, 64);
        if (b & 1) {
            _tile_zero(T_C1B);
            _tile_zero(T_C2B);
            _tile_dpbssd(T_C1B, T_A, T_BH);
            _tile_dpbsud(T_C2B, T_A, T_BL);
            _tile_stored(T_C1, c1, 64); /* block b - 1 */
            _tile_stored(T_C2, c2, 64);
        } else {
            _tile_zero(T_C1);
            _tile_zero(T_C2);
            _tile_dpbssd(T_C1, T_A, T_BH);
            _tile_dpbsud(T_C2, T_A, T_BL);
            if (b == 0)
                continue;
            _tile_stored(T_C1B, c1, 64);
            _tile_stored(T_C2B, c2, 64);
        }
        epilogue(acc, c1, c2, wt + b - 1, xt + b - 1);
    }
    if ((nb - 1) & 1) {
        _tile_stored(T_C1B, c1, 64);
        _tile_stored(T_C2B, c2, 64);
    } else {
        _tile_stored(T_C1, c1, 64);
        _tile_stored(T_C2, c2, 64);
    }
    epilogue(acc, c1, c2, wt + nb - 1, xt + nb - 1);
    /* acc[m] lane t -> y row t lane m */
    __m512i v[16];
    for (int m = 0; m < 16; m++)
        v[m] = _mm512_castps_si512(acc[m]);
    fy_avx512_transpose16(v);
    for (int t = 0; t < nt; t++)
        fy_avx512_store_rows(y + t * ldy, _mm512_castsi512_ps(v[t]), bias, fy_avx512_lanes(nr));
}

static void mm_amx(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                   const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y, int64_t ldy,
                   const float *bias)
{
    const int64_t n_tt = (n_tok + TT - 1) / TT;
    if (n_tok < FY_AMX_MIN_TOK ||
        !grow(&g_xbuf, &g_xbytes, (size_t)(n_tt * nb) * sizeof(struct xtile)) ||
        !grow(&g_wbuf, &g_wbytes, (size_t)nb * sizeof(struct wtile))) {
        fy_cpu_set_avx512vnni.mm(type, w, row_bytes, rows, x, nb, n_tok, y, ldy, bias);
        return;
    }
    fy_amx_use_config(FY_AMX_CFG_MATMUL, &g_cfg);
    struct xtile *xt = g_xbuf;
    struct wtile *wt = g_wbuf;
    for (int64_t T = 0; T < n_tt; T++) {
        const int nt = n_tok - T * TT < TT ? (int)(n_tok - T * TT) : TT;
        prep_x(x + T * TT * nb, nb, nt, xt + T * nb);
    }
    for (int64_t r = 0; r < rows; r += 16) {
        const int nr = rows - r < 16 ? (int)(rows - r) : 16;
        prep_w(type, w + (size_t)r * row_bytes, row_bytes, nr, nb, wt);
        for (int64_t T = 0; T < n_tt; T++) {
            const int nt = n_tok - T * TT < TT ? (int)(n_tok - T * TT) : TT;
            tile_mm(wt, xt + T * nb, nb, nr, nt, y + T * TT * ldy + r, ldy,
                    bias ? bias + r : NULL);
        }
    }
}

const struct fy_cpu_set fy_cpu_set_amx = {
    .name = "amx",
    .quantize = fy_qdot_quantize_avx2,
    .mm = mm_amx,
    .mm_ref = fy_qdot_mm_bs_ref,
    .mm_rows = 512,
    .mm_tok = 128,
    .attention = fy_cpu_attention_item_amx,
    .attn_rows = FY_ATTN_ROWS_AMX,
    .attn_all_heads = true,
    .quantize8 = fy_qdot_quantize8_avx2,
    .mm8 = fy_qdot_mm8_avx2,
};
