/* Flash-style attention with per-head sinks on the GPU (fy_cpu_attention, src/cpu/attention.c):
 * for query token t at position p and query head h (KV head h / group):
 *   visible j: j < n_kv, j <= p and (window == 0 || p - j < window)
 *   out = sum_j exp(s_j - m) v_j / (sum_j exp(s_j - m) + exp(sink_h - m)),  s_j = q.k_j * scale
 * No score matrix is stored: an online softmax in f32 visits the keys tile by tile, and memory
 * does not grow with n_tok * n_kv.
 *
 * Work split (GQA). A block handles ONE KV head and BQ = 16*RM "rows", a row being a (token,
 * query head of that KV group) pair, flattened as token * group + g. So the 8 query heads of a
 * gpt-oss KV head (and up to 64/group consecutive tokens) share every K/V tile that the block
 * stages in shared memory: K/V are read from global memory once per block, not once per head.
 * 256 threads = 16 x 16 (ty, tx): thread (ty, tx) owns rows ty*RM .. ty*RM+RM-1; for the scores
 * it owns keys tx, tx+16, tx+32, tx+48 of the 64-key tile, for the output dims tx*4 .. tx*4+3.
 * Per tile: K and V (converted to f32) -> shared; S = Q K^T (RM x 4 per thread); mask; the
 * row max over the 16 lanes of a row by butterfly shuffles; P = exp2(S - m) -> shared (over the
 * K buffer); O = O * alpha + P V. Q is pre-multiplied by scale * log2(e) and the sink by log2(e),
 * so every exponential is an exp2f. K is stored with an XOR swizzle of its 16-byte chunks (chunk
 * d4 of key row r at d4 ^ (r & 7)) so the 16 lanes reading 16 different key rows hit distinct
 * banks; shared memory is Q (BQ x 64) + K/P (64 x 64) + V (64 x 64) f32 = 48 KiB at RM = 4.
 *
 * Causality and the window skip whole tiles: the block's key range is the union of its rows'
 * visible ranges, [min(max(0, p - W + 1)), min(max p, n_kv - 1)], found by a block reduction
 * on the device (positions are device memory). A windowed layer thus reads about W + 64/group
 * keys per block, a causal prefill block stops at its last position. Rows still mask per key.
 * Keys are visited by position; a sliding-window layer's ring (ring > 0) only changes where
 * position j's row is read from (slot j % ring), so its results equal a full cache's.
 *
 * Two regimes, one kernel:
 *  - prefill (many rows): RM = 4 (64 rows per block), one block per (row tile, KV head), the
 *    output normalised in place: out = O / l, l including exp2(sink - m);
 *  - decode / short batches (few rows): RM = 1 or 2, and the key range of each block is also
 *    split into n_split chunks along gridDim.z, so that n_kv = 8192 with one token still gives
 *    ~512 blocks. Each chunk writes its unnormalised partial (O, m, l, sink excluded) to a
 *    device workspace and fy_gpu_f32_attn_combine merges them per (row, dim) with the sink:
 *    M = max(sink, m_z), out = sum_z O_z 2^(m_z - M) / (2^(sink - M) + sum_z l_z 2^(m_z - M)).
 * The workspace is a fixed static __device__ array (FY_ATTN_PART_ROWS (row, chunk) partials,
 * 4.1 MiB per device); n_split is capped so that it fits. Launches on one stream are ordered, so
 * this is safe for any sequence of calls on a stream; two attentions running CONCURRENTLY on two
 * streams of the same device would share it (the engine runs attention on one compute stream).
 *
 * Precision: dot products, exponentials, the running sum l and the value accumulator are f32
 * (the CPU keeps its sum in double and visits keys in order); see tests/test_gpu_attention.c.
 * F16 caches are raw uint16_t, widened with fy_f16_to_f32 while staging the tile; Q8_0 caches
 * (a slot's row is kvw/32 blocks of 34 bytes: f16 d, 32 int8 q) are staged as d * q, the CPU's
 * dequantized values exactly (the product is exact in f32). */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>

#define FY_ATTN_THREADS 256
#define FY_ATTN_HD 64                  /* head_dim: the only supported size */
#define FY_ATTN_BK 64                  /* keys per tile */
#define FY_ATTN_TARGET_BLOCKS 512      /* split the keys until the grid has about this many */
#define FY_ATTN_MAX_SPLIT 256
#define FY_ATTN_PART_ROWS 16384        /* (row, chunk) partials in the workspace */
#define FY_ATTN_LOG2E 1.4426950408889634f

/* Split-KV partials: [chunk][row][64] unnormalised accumulators and [chunk][row] (m, l). */
static __device__ float fy_attn_part_acc[FY_ATTN_PART_ROWS * FY_ATTN_HD];
static __device__ float fy_attn_part_ml[FY_ATTN_PART_ROWS * 2];
/* Tickets of the fused combine, one per (row tile, KV head) of a split launch (at most
 * FY_ATTN_TARGET_BLOCKS: a launch splits only when it has fewer blocks than that); each goes
 * back to 0 when its last chunk has merged. */
static __device__ int fy_attn_count[FY_ATTN_TARGET_BLOCKS];

struct fy_attn_kargs {
    float *out;           /* [n_tok][n_head][64] */
    const float *q;       /* [n_tok][n_head][64] */
    const void *k;        /* [n_kv][n_head_kv][64] of the cache type */
    const void *v;
    const int32_t *pos;   /* [n_tok] */
    const float *sinks;   /* [n_head] or NULL */
    int n_head;
    int group;            /* n_head / n_head_kv */
    int n_rows;           /* n_tok * group: rows per KV head */
    int n_out_rows;       /* n_tok * n_head */
    int n_kv;
    int kvw;              /* n_head_kv * 64: elements per cache slot */
    int window;
    int ring;             /* > 0: the key of position j at slot j % ring (a window's ring) */
    float qscale;         /* scale * log2(e) */
    int fuse_combine;     /* split: the last chunk of each row tile merges (else a 2nd kernel) */
};

static __device__ __forceinline__ int fy_attn_imin(int a, int b) { return a < b ? a : b; }
static __device__ __forceinline__ int fy_attn_imax(int a, int b) { return a > b ? a : b; }

/* the element type of a Q8_0 cache (a tag: the cache is bytes, blocks of 34) */
struct fy_attn_q8_0 {
    uint8_t b;
};

/* Four consecutive cache elements off .. off + 3 (off a multiple of 4) as f32 (16-byte aligned
 * for f32, 8 for f16, 2 for Q8_0). */
static __device__ __forceinline__ float4 fy_attn_ld4(const float *c, int64_t off)
{
    return *(const float4 *)(c + off);
}
static __device__ __forceinline__ float4 fy_attn_ld4(const uint16_t *c, int64_t off)
{
    const ushort4 h = *(const ushort4 *)(c + off);
    return make_float4(fy_f16_to_f32(h.x), fy_f16_to_f32(h.y), fy_f16_to_f32(h.z),
                       fy_f16_to_f32(h.w));
}
static __device__ __forceinline__ float4 fy_attn_ld4(const fy_attn_q8_0 *c, int64_t off)
{
    const uint8_t *b = (const uint8_t *)c + (off >> 5) * 34;
    const float d = fy_f16_to_f32(*(const uint16_t *)b);
    const ushort2 q = *(const ushort2 *)(b + 2 + (off & 31)); /* 2-byte aligned: 34 is even */
    return make_float4(d * (float)(int8_t)(q.x & 0xff), d * (float)(int8_t)(q.x >> 8),
                       d * (float)(int8_t)(q.y & 0xff), d * (float)(int8_t)(q.y >> 8));
}

/* out[row][d] from the n_split partials of row and its sink: M = max(sink, m_z),
 * out = sum_z O_z 2^(m_z - M) / (2^(sink - M) + sum_z l_z 2^(m_z - M)). The partials are read
 * through volatile: the fused form reads what other blocks of the launch wrote. */
static __device__ void fy_attn_merge(float *out, const float *sinks, int n_out_rows, int n_head,
                                     int n_split, int row, int d)
{
    const volatile float *ml = fy_attn_part_ml;
    const volatile float *acc_p = fy_attn_part_acc;
    const float sk = sinks ? sinks[row % n_head] * FY_ATTN_LOG2E : -INFINITY;
    float mx = sk;
    for (int z = 0; z < n_split; z++)
        mx = fmaxf(mx, ml[((int64_t)z * n_out_rows + row) * 2]);
    float acc = 0.0f;
    float den = 0.0f;
    if (mx != -INFINITY) {
        den = sinks ? exp2f(sk - mx) : 0.0f;
        for (int z = 0; z < n_split; z++) {
            const int64_t pr = (int64_t)z * n_out_rows + row;
            const float w = exp2f(ml[pr * 2] - mx);   /* 0 for empty chunks */
            den += ml[pr * 2 + 1] * w;
            acc += acc_p[pr * FY_ATTN_HD + d] * w;
        }
    }
    out[(int64_t)row * FY_ATTN_HD + d] = den > 0.0f ? acc / den : 0.0f;
}

template <int RM, typename KT>
static __global__ __launch_bounds__(FY_ATTN_THREADS) void fy_gpu_f32_flash_attn(
    struct fy_attn_kargs a)
{
    constexpr int BQ = 16 * RM;
    __shared__ float4 qs[BQ * 16];           /* Q rows, pre-scaled */
    __shared__ float4 ks[FY_ATTN_BK * 16];   /* K tile (swizzled), then P [BQ][64] */
    __shared__ float4 vs[FY_ATTN_BK * 16];   /* V tile; the range reduction's scratch first */

    const int tid = threadIdx.x;
    const int tx = tid & 15;
    const int ty = tid >> 4;
    const int kvh = blockIdx.y;
    const int split = blockIdx.z;
    const int n_split = gridDim.z;
    const int r0 = blockIdx.x * BQ;
    const KT *kc = (const KT *)a.k;
    const KT *vc = (const KT *)a.v;

    for (int u = tid; u < BQ * 16; u += FY_ATTN_THREADS) {
        const int fi = r0 + (u >> 4);
        float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (fi < a.n_rows) {
            const int t = fi / a.group;
            const int h = kvh * a.group + (fi - t * a.group);
            x = *(const float4 *)(a.q + ((int64_t)t * a.n_head + h) * FY_ATTN_HD + (u & 15) * 4);
            x.x *= a.qscale;
            x.y *= a.qscale;
            x.z *= a.qscale;
            x.w *= a.qscale;
        }
        qs[u] = x;
    }

    /* this thread's rows: visible key range, softmax state (m, l: l is this lane's share),
     * accumulator */
    int lo[RM];
    int hi[RM];
    float m[RM];
    float l[RM];
    float o[RM][4];
    int lo_min = a.n_kv;
    int hi_max = -1;
    for (int i = 0; i < RM; i++) {
        const int fi = r0 + ty * RM + i;
        lo[i] = 0;
        hi[i] = -1;
        m[i] = -INFINITY;
        l[i] = 0.0f;
        for (int c = 0; c < 4; c++)
            o[i][c] = 0.0f;
        if (fi < a.n_rows) {
            const int t = fi / a.group;
            const int p = a.pos[t];
            if (p >= 0) {
                lo[i] = a.window > 0 && p - a.window + 1 > 0 ? p - a.window + 1 : 0;
                hi[i] = fy_attn_imin(p, a.n_kv - 1);
            }
            if (n_split == 1 && a.sinks) {
                m[i] = a.sinks[kvh * a.group + (fi - t * a.group)] * FY_ATTN_LOG2E;
                l[i] = tx == 0 ? 1.0f : 0.0f;   /* exp2(sink - m) = 1, counted once per row */
            }
        }
        if (lo[i] <= hi[i]) {
            lo_min = fy_attn_imin(lo_min, lo[i]);
            hi_max = fy_attn_imax(hi_max, hi[i]);
        }
    }

    /* the block's key range [jlo, jhi]: warp butterflies, then every thread reads the per-warp
     * results (exact as floats: n_kv <= 2^24 is checked by the launcher) */
    for (int mm = FY_WARP / 2; mm > 0; mm >>= 1) {
        lo_min = fy_attn_imin(lo_min, fy_shfl_xor(lo_min, mm));
        hi_max = fy_attn_imax(hi_max, fy_shfl_xor(hi_max, mm));
    }
    float *scr = (float *)vs;
    if (tid % FY_WARP == 0) {
        scr[tid / FY_WARP] = (float)lo_min;
        scr[FY_ATTN_THREADS / 32 + tid / FY_WARP] = (float)hi_max;
    }
    __syncthreads();
    int jlo = a.n_kv;
    int jhi = -1;
    for (int w = 0; w < (int)blockDim.x / FY_WARP; w++) {
        jlo = fy_attn_imin(jlo, (int)scr[w]);
        jhi = fy_attn_imax(jhi, (int)scr[FY_ATTN_THREADS / 32 + w]);
    }
    const int n_tiles = jhi >= jlo ? (jhi - jlo) / FY_ATTN_BK + 1 : 0;
    const int chunk = (n_tiles + n_split - 1) / n_split;
    const int tb = split * chunk;
    const int te = fy_attn_imin(tb + chunk, n_tiles);

    for (int ti = tb; ti < te; ti++) {
        const int j0 = jlo + ti * FY_ATTN_BK;
        __syncthreads();   /* the previous tile's P and V (or the scratch) are consumed */
        for (int u = tid; u < FY_ATTN_BK * 16; u += FY_ATTN_THREADS) {
            const int r = u >> 4;
            const int d4 = u & 15;
            float4 kx = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            float4 vx = kx;
            if (j0 + r <= jhi) {
                const int slot = a.ring > 0 ? (j0 + r) % a.ring : j0 + r;
                const int64_t off = (int64_t)slot * a.kvw + kvh * FY_ATTN_HD + d4 * 4;
                kx = fy_attn_ld4(kc, off);
                vx = fy_attn_ld4(vc, off);
            }
            ks[r * 16 + (d4 ^ (r & 7))] = kx;
            vs[u] = vx;
        }
        __syncthreads();

        /* S = Q K^T for rows ty*RM+i, keys tx + 16c */
        float s[RM][4];
        for (int i = 0; i < RM; i++)
            for (int c = 0; c < 4; c++)
                s[i][c] = 0.0f;
#pragma unroll 4
        for (int d4 = 0; d4 < 16; d4++) {
            float4 kk[4];
            for (int c = 0; c < 4; c++)
                kk[c] = ks[(tx + 16 * c) * 16 + (d4 ^ (tx & 7))];
            for (int i = 0; i < RM; i++) {
                const float4 qq = qs[(ty * RM + i) * 16 + d4];
                for (int c = 0; c < 4; c++) {
                    s[i][c] = fmaf(qq.x, kk[c].x, s[i][c]);
                    s[i][c] = fmaf(qq.y, kk[c].y, s[i][c]);
                    s[i][c] = fmaf(qq.z, kk[c].z, s[i][c]);
                    s[i][c] = fmaf(qq.w, kk[c].w, s[i][c]);
                }
            }
        }

        /* mask, online softmax; P overwrites S */
        for (int i = 0; i < RM; i++) {
            float mt = -INFINITY;
            for (int c = 0; c < 4; c++) {
                const int j = j0 + tx + 16 * c;
                if (j < lo[i] || j > hi[i])
                    s[i][c] = -INFINITY;
                mt = fmaxf(mt, s[i][c]);
            }
            for (int mm = 8; mm > 0; mm >>= 1)   /* the 16 lanes of the row */
                mt = fmaxf(mt, fy_shfl_xor(mt, mm));
            const float mn = fmaxf(m[i], mt);
            const float mu = mn == -INFINITY ? 0.0f : mn;   /* nothing seen yet: all weights 0 */
            const float alpha = exp2f(m[i] - mu);
            float ls = 0.0f;
            for (int c = 0; c < 4; c++) {
                s[i][c] = exp2f(s[i][c] - mu);
                ls += s[i][c];
            }
            l[i] = l[i] * alpha + ls;
            m[i] = mn;
            for (int c = 0; c < 4; c++)
                o[i][c] *= alpha;
        }
        __syncthreads();   /* every lane is done with K */
        float *ps = (float *)ks;
        for (int i = 0; i < RM; i++)
            for (int c = 0; c < 4; c++)
                ps[(ty * RM + i) * FY_ATTN_BK + tx + 16 * c] = s[i][c];
        __syncthreads();

        /* O += P V for rows ty*RM+i, dims tx*4 .. tx*4+3 */
        const float4 *ps4 = (const float4 *)ks;
#pragma unroll 2
        for (int j4 = 0; j4 < FY_ATTN_BK / 4; j4++) {
            float4 pp[RM];
            for (int i = 0; i < RM; i++)
                pp[i] = ps4[(ty * RM + i) * (FY_ATTN_BK / 4) + j4];
            for (int kk = 0; kk < 4; kk++) {
                const float4 vv = vs[(j4 * 4 + kk) * 16 + tx];
                for (int i = 0; i < RM; i++) {
                    const float pk = kk == 0 ? pp[i].x : kk == 1 ? pp[i].y : kk == 2 ? pp[i].z
                                                                                     : pp[i].w;
                    o[i][0] = fmaf(pk, vv.x, o[i][0]);
                    o[i][1] = fmaf(pk, vv.y, o[i][1]);
                    o[i][2] = fmaf(pk, vv.z, o[i][2]);
                    o[i][3] = fmaf(pk, vv.w, o[i][3]);
                }
            }
        }
    }

    for (int i = 0; i < RM; i++) {
        float lt = l[i];
        for (int mm = 8; mm > 0; mm >>= 1)
            lt += fy_shfl_xor(lt, mm);
        const int fi = r0 + ty * RM + i;
        if (fi < a.n_rows) {
            const int t = fi / a.group;
            const int64_t row = (int64_t)t * a.n_head + kvh * a.group + (fi - t * a.group);
            if (n_split == 1) {
                const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
                *(float4 *)(a.out + row * FY_ATTN_HD + tx * 4) =
                    make_float4(o[i][0] * inv, o[i][1] * inv, o[i][2] * inv, o[i][3] * inv);
            } else {
                const int64_t pr = (int64_t)split * a.n_out_rows + row;
                *(float4 *)(fy_attn_part_acc + pr * FY_ATTN_HD + tx * 4) =
                    make_float4(o[i][0], o[i][1], o[i][2], o[i][3]);
                if (tx == 0) {
                    fy_attn_part_ml[pr * 2] = m[i];
                    fy_attn_part_ml[pr * 2 + 1] = lt;
                }
            }
        }
    }
    if (n_split > 1 && a.fuse_combine) {
        /* the last chunk to finish for this (row tile, KV head) merges the partials: one launch
         * instead of two (each block publishes its partials, then takes a ticket) */
        int *last = (int *)vs; /* every tile is consumed once all threads pass the barrier */
        __threadfence();
        __syncthreads();
        if (tid == 0) {
            int *cnt = &fy_attn_count[blockIdx.x * gridDim.y + kvh];
            *last = atomicAdd(cnt, 1) == n_split - 1;
            if (*last)
                *cnt = 0; /* ready for the next launch (stream order) */
        }
        __syncthreads();
        if (*last) {
            __threadfence();
            for (int u = tid; u < BQ * FY_ATTN_HD; u += FY_ATTN_THREADS) {
                const int fi = r0 + u / FY_ATTN_HD;
                if (fi >= a.n_rows)
                    break;
                const int t = fi / a.group;
                const int row = t * a.n_head + kvh * a.group + (fi - t * a.group);
                fy_attn_merge(a.out, a.sinks, a.n_out_rows, a.n_head, n_split, row,
                              u % FY_ATTN_HD);
            }
        }
    }
}

/* One thread per (row, dim): merges the n_split partials of its row with the sink. */
static __global__ __launch_bounds__(FY_ATTN_THREADS) void fy_gpu_f32_attn_combine(
    float *out, const float *sinks, int n_out_rows, int n_head, int n_split)
{
    const int64_t idx = (int64_t)blockIdx.x * FY_ATTN_THREADS + threadIdx.x;
    const int64_t row = idx / FY_ATTN_HD;
    if (row < n_out_rows)
        fy_attn_merge(out, sinks, n_out_rows, n_head, n_split, (int)row, (int)(idx % FY_ATTN_HD));
}

template <int RM, typename KT>
static hipError_t fy_attn_launch(const struct fy_attn_kargs *ka, int n_kv_heads, int n_split,
                                 hipStream_t st)
{
    auto *k = &fy_gpu_f32_flash_attn<RM, KT>;
    const dim3 grid((unsigned)((ka->n_rows + 16 * RM - 1) / (16 * RM)), (unsigned)n_kv_heads,
                    (unsigned)n_split);
    FY_LAUNCH(k, grid, dim3(FY_ATTN_THREADS), 0, st, *ka);
    return hipGetLastError();
}

/* the launch for the cache type (F32, F16 or Q8_0: checked by the caller) */
template <int RM>
static hipError_t fy_attn_launch_kt(enum fy_dtype kv_type, const struct fy_attn_kargs *ka,
                                    int n_kv_heads, int n_split, hipStream_t st)
{
    if (kv_type == FY_Q8_0)
        return fy_attn_launch<RM, fy_attn_q8_0>(ka, n_kv_heads, n_split, st);
    if (kv_type == FY_F16)
        return fy_attn_launch<RM, uint16_t>(ka, n_kv_heads, n_split, st);
    return fy_attn_launch<RM, float>(ka, n_kv_heads, n_split, st);
}

extern "C" fy_status fy_gpu_attention(float *out, const struct fy_attn_args *a, fy_gpu_stream s)
{
    FY_CHECK_ARG(a && a->n_tok >= 0);
    if (a->n_tok == 0)
        return FY_OK;
    if (a->head_dim != FY_ATTN_HD || a->n_head <= 0 || a->n_head_kv <= 0 ||
        a->n_head % a->n_head_kv != 0 || a->n_head_kv > 65535 ||
        (a->kv_type != FY_F32 && a->kv_type != FY_F16 && a->kv_type != FY_Q8_0)) {
        fy_log(FY_LOG_ERR, "fy_gpu_attention: unsupported shape n_head %lld n_head_kv %lld "
               "head_dim %lld (64 only) kv %s", (long long)a->n_head, (long long)a->n_head_kv,
               (long long)a->head_dim, fy_dtype_name(a->kv_type));
        return FY_E_INVAL;
    }
    FY_CHECK_ARG(a->n_kv >= 0 && a->n_kv <= (1 << 24) && a->window >= 0);
    FY_CHECK_ARG(a->kv_pos0 == 0 && a->ring >= 0 && a->ring <= (1 << 24));
    FY_CHECK_ARG(out && a->q && a->pos && (a->n_kv == 0 || (a->k && a->v)));
    FY_CHECK_ARG(a->n_tok * a->n_head <= INT_MAX / FY_ATTN_HD);
    const size_t kv_align = a->kv_type == FY_F32 ? 16 : a->kv_type == FY_F16 ? 8 : 2;
    FY_CHECK_ARG((uintptr_t)out % 16 == 0 && (uintptr_t)a->q % 16 == 0 &&
                 (uintptr_t)a->k % kv_align == 0 && (uintptr_t)a->v % kv_align == 0);

    const int group = (int)(a->n_head / a->n_head_kv);
    struct fy_attn_kargs ka;
    ka.out = out;
    ka.q = a->q;
    ka.k = a->k;
    ka.v = a->v;
    ka.pos = a->pos;
    ka.sinks = a->sinks;
    ka.n_head = (int)a->n_head;
    ka.group = group;
    ka.n_rows = (int)a->n_tok * group;
    ka.n_out_rows = (int)(a->n_tok * a->n_head);
    ka.n_kv = (int)a->n_kv;
    ka.kvw = (int)(a->n_head_kv * FY_ATTN_HD);
    ka.window = a->window;
    ka.ring = (int)a->ring;
    ka.qscale = a->scale * FY_ATTN_LOG2E;
    ka.fuse_combine = fy_gpu_fuse_enabled();

    /* rows per block: 64 for prefill, fewer for short batches (less padding, more blocks) */
    const int rm = ka.n_rows >= 512 ? 4 : ka.n_rows >= 64 ? 2 : 1;
    const int bq = 16 * rm;
    const int64_t base = (int64_t)((ka.n_rows + bq - 1) / bq) * a->n_head_kv;
    /* keys a block visits, assuming consecutive positions (only sizes the split) */
    int64_t keys = a->n_kv;
    if (a->window > 0 && keys > a->window + (bq + group - 1) / group)
        keys = a->window + (bq + group - 1) / group;
    const int64_t tiles = (keys + FY_ATTN_BK - 1) / FY_ATTN_BK + (a->window > 0);
    int64_t n_split = 1;
    if (base < FY_ATTN_TARGET_BLOCKS) {
        n_split = (FY_ATTN_TARGET_BLOCKS + base - 1) / base;
        if (n_split > tiles / 2)
            n_split = tiles / 2;   /* at least two tiles per chunk */
        if (n_split > FY_ATTN_MAX_SPLIT)
            n_split = FY_ATTN_MAX_SPLIT;
        if (n_split > FY_ATTN_PART_ROWS / ka.n_out_rows)
            n_split = FY_ATTN_PART_ROWS / ka.n_out_rows;
        if (n_split < 1)
            n_split = 1;
    }

    hipStream_t st = (hipStream_t)s;
    hipError_t err;
    if (rm == 4)
        err = fy_attn_launch_kt<4>(a->kv_type, &ka, (int)a->n_head_kv, (int)n_split, st);
    else if (rm == 2)
        err = fy_attn_launch_kt<2>(a->kv_type, &ka, (int)a->n_head_kv, (int)n_split, st);
    else
        err = fy_attn_launch_kt<1>(a->kv_type, &ka, (int)a->n_head_kv, (int)n_split, st);
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_f32_flash_attn: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    if (n_split > 1 && !ka.fuse_combine) {
        auto *k = &fy_gpu_f32_attn_combine;
        const int64_t n = (int64_t)ka.n_out_rows * FY_ATTN_HD;
        FY_LAUNCH(k, dim3((unsigned)((n + FY_ATTN_THREADS - 1) / FY_ATTN_THREADS)),
                  dim3(FY_ATTN_THREADS), 0, st, out, a->sinks, ka.n_out_rows, ka.n_head,
                  (int)n_split);
        err = hipGetLastError();
        if (err != hipSuccess) {
            fy_log(FY_LOG_ERR, "fy_gpu_f32_attn_combine: %s", hipGetErrorString(err));
            return FY_E_GPU;
        }
    }
    return FY_OK;
}
