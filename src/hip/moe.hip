/* Mixture-of-experts FFN on the GPU (gpt-oss.md section 6), same semantics as fy_cpu_moe_ffn,
 * in three steps so that uploads of expert weights can overlap the compute of earlier experts:
 *
 *   begin   groups the n_sel = n_tok*k (token, slot) selections by expert on the device, in one
 *           kernel and without atomics: block e counts the selections of experts < e (off[e])
 *           and places its own selections in token order (a stable counting sort), so
 *           src_row[r] = token of sorted row r and inv[t*k + j] = sorted row of selection (t, j).
 *           The rows of expert e are [off[e], off[e+1]); those of experts [e0, e1) are contiguous.
 *   experts [e0, e1): gate and up (fy_gpu_matmul_grouped reading x through src_row, with the
 *           expert's biases), SwiGLU-OAI on the rows of those experts only (a small kernel that
 *           reads off on the device: the host never learns the counts), down into sorted rows.
 *           Only experts with at least one row are read (the grouped matmul skips empty ones),
 *           which is what lets the scheduler upload only the selected experts.
 *   end     y[t] = sum over j in slot order of w[t*k+j] * out[inv[t*k+j]]: fixed order, so the
 *           result does not depend on how the experts were split between calls.
 *
 * The fused gate_up layout (gate and up views of one [E][2ff][d] tensor, up rows starting ff rows
 * after gate's, biases likewise) is recognised and run as one grouped product of 2ff outputs;
 * SwiGLU then reads g and u from the same row and writes its result over g, and down reads rows
 * with a stride of 2ff.
 *
 * Preconditions the device cannot check: the k ids of a token are distinct (each expert has at
 * most n_tok rows, the max_rows given to the grouped matmul) and lie in [0, E). An id out of
 * range selects nothing: that slot adds 0 to y. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "matmul_args.h"
#include "moe_ws.h"
#include "swiglu.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FY_MOE_GROUP_THREADS 256
#define FY_MOE_ACT_THREADS 256
#define FY_MOE_ACT_MAX_BLOCKS 4096
#define FY_MOE_SUM_THREADS 256

/* ------------------------------------------------------------------ kernels */

/* Sum of v over the block; every thread gets it. red has blockDim.x/32 entries (the smallest
 * warp); every thread must call it. */
static __device__ int fy_moe_block_sum(int v, int *red)
{
    const int lane = (int)threadIdx.x % FY_WARP;
    const int wid = (int)threadIdx.x / FY_WARP;
    const int nw = (int)blockDim.x / FY_WARP;
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        v += fy_shfl_xor(v, m);
    if (lane == 0)
        red[wid] = v;
    __syncthreads();
    int s = 0;
    for (int i = 0; i < nw; i++)
        s += red[i];
    __syncthreads(); /* red is reused by the caller */
    return s;
}

/* Block e (grid n_exp): off[e] = #(valid ids < e); then the selections s with ids[s] == e, in
 * increasing s, get rows off[e], off[e]+1, ...: src_row[r] = s / k, inv[s] = r. Block 0 also
 * marks out-of-range ids (inv = -1); block n_exp-1 writes off[n_exp]. */
static __global__ void __launch_bounds__(FY_MOE_GROUP_THREADS)
    fy_gpu_i32_moe_group(int32_t *off, int32_t *src_row, int32_t *inv, const int32_t *ids,
                         int n_sel, int k, int n_exp, int32_t *tiles, int32_t *tile_off,
                         int32_t *ticket)
{
    __shared__ int red[FY_MOE_GROUP_THREADS / 32];
    const int e = (int)blockIdx.x;
    const int tid = (int)threadIdx.x;
    const int lane = tid % FY_WARP;
    const int wid = tid / FY_WARP;
    const int nw = (int)blockDim.x / FY_WARP;

    int lt = 0;
    int eq = 0;
    for (int s = tid; s < n_sel; s += (int)blockDim.x) {
        const int id = ids[s];
        lt += id >= 0 && id < e;
        eq += id == e;
    }
    lt = fy_moe_block_sum(lt, red);
    eq = fy_moe_block_sum(eq, red);

    int base = lt;
    for (int c0 = 0; c0 < n_sel; c0 += (int)blockDim.x) {
        const int s = c0 + tid;
        const int id = s < n_sel ? ids[s] : -1;
        const int f = id == e;
        int v = f; /* inclusive scan of f over the warp */
        for (int o = 1; o < FY_WARP; o <<= 1) {
            const int y = fy_shfl(v, lane >= o ? lane - o : lane);
            if (lane >= o)
                v += y;
        }
        if (lane == FY_WARP - 1)
            red[wid] = v;
        __syncthreads();
        int before = 0;
        int total = 0;
        for (int i = 0; i < nw; i++) {
            before += i < wid ? red[i] : 0;
            total += red[i];
        }
        if (f) {
            const int r = base + before + v - 1;
            src_row[r] = s / k;
            inv[s] = r;
        } else if (e == 0 && s < n_sel && (id < 0 || id >= n_exp)) {
            inv[s] = -1;
        }
        base += total;
        __syncthreads(); /* red is rewritten by the next chunk */
    }
    if (tid == 0) {
        off[e] = lt;
        if (e == n_exp - 1)
            off[n_exp] = lt + eq;
    }
    if (!tiles)
        return;
    /* the last block to finish lists the row tiles of the GEMM: expert e's rows in tiles of
     * FY_GPU_TILE_ROWS, tile_off[e] the first (a ticket, as the fused router's) */
    __threadfence();
    __syncthreads();
    if (tid == 0)
        red[0] = atomicAdd(ticket, 1) == n_exp - 1;
    __syncthreads();
    if (!red[0])
        return;
    __threadfence();
    const volatile int32_t *vo = off;
    if (tid == 0) {
        int t = 0;
        for (int x = 0; x < n_exp; x++) {
            tile_off[x] = t;
            t += (vo[x + 1] - vo[x] + FY_GPU_TILE_ROWS - 1) / FY_GPU_TILE_ROWS;
        }
        tile_off[n_exp] = t;
        *ticket = 0;
    }
    __syncthreads();
    for (int x = tid; x < n_exp; x += (int)blockDim.x) {
        const int r0 = vo[x], r1 = vo[x + 1];
        for (int r = r0, t = tile_off[x]; r < r1; r += FY_GPU_TILE_ROWS, t++) {
            tiles[2 * t] = x;
            tiles[2 * t + 1] = r;
        }
    }
}

/* SwiGLU-OAI (fy_swiglu1 of swiglu.h) on the sorted rows [off[e0], off[e1]) only:
 * g[r*stride + c] = swiglu(g[r*stride + c], u[r*stride + c]) for c < ff. Blocks stride over
 * rows, threads over columns. */
static __global__ void __launch_bounds__(FY_MOE_ACT_THREADS)
    fy_gpu_f32_moe_swiglu(float *g, const float *u, int64_t stride, int64_t ff, const int32_t *off,
                          int e0, int e1, float alpha, float limit)
{
    const int64_t r1 = off[e1];
    for (int64_t r = off[e0] + (int64_t)blockIdx.x; r < r1; r += gridDim.x) {
        float *gr = g + r * stride;
        const float *ur = u + r * stride;
        for (int64_t c = threadIdx.x; c < ff; c += blockDim.x)
            gr[c] = fy_swiglu1(gr[c], ur[c], alpha, limit);
    }
}

/* y[t][c] = sum_{j<k} w[t*k+j] * out[inv[t*k+j]][c], j in increasing order. Block b covers
 * token b / nb, columns from (b % nb) * blockDim.x. */
static __global__ void __launch_bounds__(FY_MOE_SUM_THREADS)
    fy_gpu_f32_moe_combine(float *y, const float *out, const int32_t *inv, const float *w,
                           int64_t d, int k, int nb)
{
    const int64_t t = blockIdx.x / nb;
    const int64_t c = (int64_t)(blockIdx.x % nb) * blockDim.x + threadIdx.x;
    if (c >= d)
        return;
    const int32_t *it = inv + t * k;
    const float *wt = w + t * k;
    float acc = 0.0f;
    for (int j = 0; j < k; j++) {
        const int32_t r = it[j];
        if (r >= 0)
            acc = fmaf(wt[j], out[(int64_t)r * d + c], acc);
    }
    y[t * d + c] = acc;
}

/* ------------------------------------------------------------------ host side */

static fy_status fy_moe_launched(const char *kernel)
{
    hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "%s: %s", kernel, hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}

static size_t fy_moe_align(size_t n)
{
    return (n + 255) & ~(size_t)255;
}

/* The layer's shapes: gate/up [d -> ff] x E, down [ff -> d] x E. */
static fy_status fy_moe_check_layer(const struct fy_moe_layer *L)
{
    const struct fy_mat *g = &L->gate;
    const struct fy_mat *u = &L->up;
    const struct fy_mat *dn = &L->down;
    if (g->n_mat < 1 || g->n_mat > INT32_MAX - 1 || g->n_in < 1 || g->n_out < 1 ||
        u->n_mat != g->n_mat || u->n_in != g->n_in || u->n_out != g->n_out ||
        dn->n_mat != g->n_mat || dn->n_in != g->n_out || dn->n_out != g->n_in || !g->data ||
        !u->data || !dn->data) {
        fy_log(FY_LOG_ERR,
               "GPU MoE: inconsistent layer: gate [%lld -> %lld] x %lld, up [%lld -> "
               "%lld] x %lld, down [%lld -> %lld] x %lld",
               (long long)g->n_in, (long long)g->n_out, (long long)g->n_mat, (long long)u->n_in,
               (long long)u->n_out, (long long)u->n_mat, (long long)dn->n_in, (long long)dn->n_out,
               (long long)dn->n_mat);
        return FY_E_INVAL;
    }
    return FY_OK;
}

/* Gate and up are row ranges [0, ff) and [ff, 2ff) of one stack (model.c's fused gate_up
 * binding): then one product of 2ff outputs computes both. */
static int fy_moe_fused(const struct fy_moe_layer *L, struct fy_mat *gu, struct fy_bias *gu_b)
{
    const struct fy_mat *g = &L->gate;
    const struct fy_mat *u = &L->up;
    if (u->type != g->type || u->row_bytes != g->row_bytes || u->mat_bytes != g->mat_bytes ||
        (const uint8_t *)u->data != (const uint8_t *)g->data + (size_t)g->n_out * g->row_bytes)
        return 0;
    if (L->gate_b.data || L->up_b.data) {
        if (!L->gate_b.data || L->up_b.data != L->gate_b.data + g->n_out ||
            L->up_b.stride != L->gate_b.stride)
            return 0;
    }
    *gu = *g;
    gu->n_out = 2 * g->n_out;
    *gu_b = L->gate_b;
    return 1;
}

extern "C" fy_status fy_gpu_moe_ws_new(struct fy_gpu_moe_ws **ws)
{
    FY_CHECK_ARG(ws);
    *ws = (struct fy_gpu_moe_ws *)calloc(1, sizeof(**ws));
    return *ws ? FY_OK : FY_E_NOMEM;
}

/* The caller makes sure no queued work still uses the workspace (sync its stream first). */
extern "C" void fy_gpu_moe_ws_free(struct fy_gpu_moe_ws *ws)
{
    if (!ws)
        return;
    fy_gpu_free(ws->buf);
    fy_gpu_free(ws->gbuf);
    fy_gpu_free(ws->rbuf);
    free(ws);
}

fy_status fy_moe_reserve_group(struct fy_gpu_moe_ws *ws, int64_t n_sel, int64_t n_exp,
                               hipStream_t s)
{
    const size_t tick_b = 256;
    const size_t off_b = fy_moe_align((size_t)(n_exp + 1) * sizeof(int32_t));
    const size_t idx_b = fy_moe_align((size_t)n_sel * sizeof(int32_t));
    const size_t tiles_b = fy_moe_align((size_t)fy_moe_max_tiles(n_sel, n_exp) * 2 * sizeof(int32_t));
    const size_t need = tick_b + 2 * off_b + 2 * idx_b + tiles_b;
    if (need > ws->gcap) {
        /* work queued on s (or ordered before it) may still use the old buffer */
        FY_TRY(fy_gpu_stream_sync((fy_gpu_stream)s));
        fy_gpu_free(ws->gbuf);
        ws->gbuf = NULL;
        ws->gcap = 0;
        char what[96];
        snprintf(what, sizeof(what), "MoE grouping (%lld selections of %lld experts)",
                 (long long)n_sel, (long long)n_exp);
        FY_TRY(fy_gpu_malloc(&ws->gbuf, need, what));
        ws->gcap = need;
        FY_TRY(fy_gpu_memset(ws->gbuf, 0, tick_b, (fy_gpu_stream)s)); /* the ticket starts at 0 */
    }
    /* the fused router's partials too, at their largest: sized here, by the prefill that comes
     * first, a decode step never has to wait for an allocation */
    FY_TRY(fy_moe_reserve_route(ws, FY_GPU_FUSE_MAX_TOK, FY_ROUTE_MAX_SPLITS * n_exp, s));
    uint8_t *p = (uint8_t *)ws->gbuf;
    ws->ticket = (int32_t *)p;
    ws->off = (int32_t *)(p + tick_b);
    ws->src_row = (int32_t *)(p + tick_b + off_b);
    ws->inv = (int32_t *)(p + tick_b + off_b + idx_b);
    ws->tile_off = (int32_t *)(p + tick_b + off_b + 2 * idx_b);
    ws->tiles = (int32_t *)(p + tick_b + 2 * off_b + 2 * idx_b);
    return FY_OK;
}

fy_status fy_moe_reserve_route(struct fy_gpu_moe_ws *ws, int64_t n_tok, int64_t n_part,
                               hipStream_t s)
{
    const size_t tick_b = fy_moe_align((size_t)n_tok * sizeof(int32_t));
    const size_t need = tick_b + (size_t)(n_tok * n_part) * sizeof(float);
    if (need > ws->rcap) {
        FY_TRY(fy_gpu_stream_sync((fy_gpu_stream)s));
        fy_gpu_free(ws->rbuf);
        ws->rbuf = NULL;
        ws->rcap = 0;
        FY_TRY(fy_gpu_malloc(&ws->rbuf, need, "MoE router partial logits"));
        ws->rcap = need;
        FY_TRY(fy_gpu_memset(ws->rbuf, 0, tick_b, (fy_gpu_stream)s)); /* tickets at 0 */
    }
    ws->rtick = (int32_t *)ws->rbuf;
    ws->rpart = (float *)((uint8_t *)ws->rbuf + tick_b);
    return FY_OK;
}

int64_t fy_moe_max_tiles(int64_t n_sel, int64_t n_exp)
{
    return (n_sel + FY_GPU_TILE_ROWS - 1) / FY_GPU_TILE_ROWS + (n_exp < n_sel ? n_exp : n_sel);
}

/* gu and out for n_sel selections of d -> ff experts */
static fy_status fy_moe_reserve_data(struct fy_gpu_moe_ws *ws, int64_t n_sel, int64_t d,
                                     int64_t ff, hipStream_t s)
{
    const size_t gu_b = fy_moe_align((size_t)n_sel * (size_t)(2 * ff) * sizeof(float));
    const size_t out_b = fy_moe_align((size_t)n_sel * (size_t)d * sizeof(float));
    const size_t need = gu_b + out_b;
    if (need > ws->cap) {
        FY_TRY(fy_gpu_stream_sync((fy_gpu_stream)s));
        fy_gpu_free(ws->buf);
        ws->buf = NULL;
        ws->cap = 0;
        char what[128];
        snprintf(what, sizeof(what), "MoE workspace (%lld selections, d %lld, n_ff %lld)",
                 (long long)n_sel, (long long)d, (long long)ff);
        FY_TRY(fy_gpu_malloc(&ws->buf, need, what));
        ws->cap = need;
    }
    ws->gu = (float *)ws->buf;
    ws->out = (float *)((uint8_t *)ws->buf + gu_b);
    return FY_OK;
}

/* begin, with the grouping left as it is when `grouped` (fy_gpu_rmsnorm_router did it) */
static fy_status fy_moe_begin(struct fy_gpu_moe_ws *ws, const float *x, int64_t n_tok,
                              const int32_t *ids, int k, const struct fy_moe_layer *L,
                              bool grouped, fy_gpu_stream s)
{
    FY_CHECK_ARG(ws && L);
    ws->begun = 0;
    FY_CHECK_ARG(n_tok >= 0 && k >= 1);
    FY_CHECK_ARG(n_tok == 0 || (x && ids));
    FY_TRY(fy_moe_check_layer(L));
    const int64_t E = L->gate.n_mat;
    const int64_t d = L->gate.n_in;
    const int64_t ff = L->gate.n_out;
    FY_CHECK_ARG(k <= E);
    FY_CHECK_ARG(n_tok <= INT32_MAX / k);
    const int64_t n_sel = n_tok * k;
    hipStream_t hs = (hipStream_t)s;

    FY_TRY(fy_moe_reserve_group(ws, n_sel, E, hs));
    FY_TRY(fy_moe_reserve_data(ws, n_sel, d, ff, hs));
    ws->x = x;
    ws->n_tok = n_tok;
    ws->n_exp = E;
    ws->d = d;
    ws->ff = ff;
    ws->k = k;

    if (n_sel > 0 && !grouped) {
        /* the tile list only for the GEMM (more rows per expert than the GEMV takes) */
        const bool tl = n_tok > FY_MV_MAX_TOK;
        FY_LAUNCH(fy_gpu_i32_moe_group, dim3((unsigned)E), dim3(FY_MOE_GROUP_THREADS), 0, hs,
                  ws->off, ws->src_row, ws->inv, ids, (int)n_sel, k, (int)E,
                  tl ? ws->tiles : nullptr, tl ? ws->tile_off : nullptr, ws->ticket);
        FY_TRY(fy_moe_launched("fy_gpu_i32_moe_group"));
    }
    ws->begun = 1;
    return FY_OK;
}

extern "C" fy_status fy_gpu_moe_begin(struct fy_gpu_moe_ws *ws, const float *x, int64_t n_tok,
                                      const int32_t *ids, int k, const struct fy_moe_layer *L,
                                      fy_gpu_stream s)
{
    return fy_moe_begin(ws, x, n_tok, ids, k, L, false, s);
}

/* One grouped product of the experts [e0, e1) over the grouping in ws: the GEMV over compact
 * expert slices (few rows per expert), or the GEMM over the list of row tiles */
static fy_status fy_moe_grouped(struct fy_gpu_moe_ws *ws, float *y, const struct fy_mat *w,
                                const float *x, int64_t x_stride, const int32_t *src_row,
                                int64_t e0, int64_t e1, const struct fy_bias *b, fy_gpu_stream s)
{
    const int64_t n_tok = ws->n_tok, n_sel = n_tok * ws->k;
    if (n_tok <= FY_MV_MAX_TOK) {
        const int64_t mx = n_sel < e1 - e0 ? n_sel : e1 - e0;
        return fy_gpu_matmul_grouped_n(y, w, x, x_stride, src_row, ws->off, e0, e1, n_tok, mx, b,
                                       s);
    }
    int64_t rows = n_tok * (e1 - e0);
    rows = rows < n_sel ? rows : n_sel;
    const int64_t tiles = fy_moe_max_tiles(rows, e1 - e0);
    /* x: the layer's input rows (through src_row), or the sorted rows of the SwiGLU output */
    return fy_gpu_matmul_grouped_tiles(y, w, x, x_stride, src_row, ws->off, ws->tiles,
                                       ws->tile_off, e0, e1, tiles, src_row ? n_tok : n_sel, b, s);
}

/* gate and up of experts [e0, e1) into ws->gu: rows of 2ff (fused: one product) or two
 * [n_sel][ff] halves; *g, *u and *stride say where */
static fy_status fy_moe_gate_up(struct fy_gpu_moe_ws *ws, const struct fy_moe_layer *L, int64_t e0,
                                int64_t e1, float **g, float **u, int64_t *stride,
                                fy_gpu_stream s)
{
    const int64_t n_tok = ws->n_tok, d = ws->d, ff = ws->ff;
    const int64_t n_sel = n_tok * ws->k;
    /* expert slices of the grids: only experts with rows, at most one per selection */
    const int64_t mx = n_sel < e1 - e0 ? n_sel : e1 - e0;
    struct fy_mat gu;
    struct fy_bias gu_bias;
    *g = ws->gu;
    if (fy_moe_fused(L, &gu, &gu_bias)) {
        *u = *g + ff;
        *stride = 2 * ff;
        return fy_moe_grouped(ws, *g, &gu, ws->x, d, ws->src_row, e0, e1, &gu_bias, s);
    }
    *u = *g + n_sel * ff;
    *stride = ff;
    const fy_status st = fy_mv_grouped_pair(*g, *u, &L->gate, &L->up, &L->gate_b, &L->up_b, ws->x,
                                            d, ws->src_row, ws->off, e0, e1, n_tok, mx,
                                            (hipStream_t)s);
    if (st != FY_E_UNSUPPORTED)
        return st; /* decode: both in one launch */
    FY_TRY(fy_moe_grouped(ws, *g, &L->gate, ws->x, d, ws->src_row, e0, e1, &L->gate_b, s));
    return fy_moe_grouped(ws, *u, &L->up, ws->x, d, ws->src_row, e0, e1, &L->up_b, s);
}

extern "C" fy_status fy_gpu_moe_experts(struct fy_gpu_moe_ws *ws, const struct fy_moe_layer *L,
                                        int64_t e0, int64_t e1, fy_gpu_stream s)
{
    FY_CHECK_ARG(ws && L && ws->begun);
    FY_TRY(fy_moe_check_layer(L));
    FY_CHECK_ARG(L->gate.n_mat == ws->n_exp && L->gate.n_in == ws->d && L->gate.n_out == ws->ff);
    FY_CHECK_ARG(e0 >= 0 && e0 <= e1 && e1 <= ws->n_exp);
    if (e0 == e1 || ws->n_tok == 0)
        return FY_OK;
    const int64_t n_tok = ws->n_tok;
    const int64_t ff = ws->ff;
    const int64_t n_sel = n_tok * ws->k;
    hipStream_t hs = (hipStream_t)s;
    const int64_t mx = n_sel < e1 - e0 ? n_sel : e1 - e0;
    float *g, *u;
    int64_t stride;
    FY_TRY(fy_moe_gate_up(ws, L, e0, e1, &g, &u, &stride, s));

    /* SwiGLU over the rows of [e0, e1): at most min(n_sel, n_tok*(e1-e0)) of them */
    int64_t rows = n_tok * (e1 - e0);
    if (rows > n_sel)
        rows = n_sel;
    const unsigned nb = (unsigned)(rows < FY_MOE_ACT_MAX_BLOCKS ? rows : FY_MOE_ACT_MAX_BLOCKS);
    FY_LAUNCH(fy_gpu_f32_moe_swiglu, dim3(nb), dim3(FY_MOE_ACT_THREADS), 0, hs, g, (const float *)u,
              stride, ff, (const int32_t *)ws->off, (int)e0, (int)e1, L->alpha, L->limit);
    FY_TRY(fy_moe_launched("fy_gpu_f32_moe_swiglu"));

    /* down: sorted rows in, sorted rows out */
    (void)mx;
    return fy_moe_grouped(ws, ws->out, &L->down, g, stride, NULL, e0, e1, &L->down_b, s);
}

extern "C" fy_status fy_gpu_moe_end(struct fy_gpu_moe_ws *ws, float *y, const float *w,
                                    fy_gpu_stream s)
{
    FY_CHECK_ARG(ws && ws->begun);
    FY_CHECK_ARG(ws->n_tok == 0 || (y && w));
    ws->begun = 0;
    if (ws->n_tok == 0)
        return FY_OK;
    const int64_t d = ws->d;
    const int64_t nb = (d + FY_MOE_SUM_THREADS - 1) / FY_MOE_SUM_THREADS;
    FY_CHECK_ARG(ws->n_tok * nb <= INT32_MAX);
    hipStream_t hs = (hipStream_t)s;
    FY_LAUNCH(fy_gpu_f32_moe_combine, dim3((unsigned)(ws->n_tok * nb)), dim3(FY_MOE_SUM_THREADS), 0,
              hs, y, (const float *)ws->out, (const int32_t *)ws->inv, w, d, ws->k, (int)nb);
    return fy_moe_launched("fy_gpu_f32_moe_combine");
}

extern "C" fy_status fy_gpu_moe_ffn(struct fy_gpu_moe_ws *ws, float *y, const float *x,
                                    int64_t n_tok, const int32_t *ids, const float *w, int k,
                                    const struct fy_moe_layer *L, fy_gpu_stream s)
{
    FY_CHECK_ARG(L);
    FY_TRY(fy_gpu_moe_begin(ws, x, n_tok, ids, k, L, s));
    FY_TRY(fy_gpu_moe_experts(ws, L, 0, L->gate.n_mat, s));
    return fy_gpu_moe_end(ws, y, w, s);
}

extern "C" fy_status fy_gpu_moe_ffn_residual(struct fy_gpu_moe_ws *ws, float *y, float *moe_out,
                                             const float *x, int64_t n_tok, const int32_t *ids,
                                             const float *w, int k, const struct fy_moe_layer *L,
                                             const float *res, bool grouped, fy_gpu_stream s)
{
    FY_CHECK_ARG(L && y && res);
    FY_CHECK_ARG(n_tok >= 0 && n_tok <= FY_GPU_FUSE_MAX_TOK);
    FY_TRY(fy_moe_begin(ws, x, n_tok, ids, k, L, grouped, s));
    ws->begun = 0;
    if (n_tok == 0)
        return FY_OK;
    float *g, *u;
    int64_t stride;
    FY_TRY(fy_moe_gate_up(ws, L, 0, ws->n_exp, &g, &u, &stride, s));
    return fy_gpu_moe_down_combine(y, moe_out, &L->down, &L->down_b, g, stride, u - g, L->alpha,
                                   L->limit, ids, ws->inv, w, k, n_tok, res, (hipStream_t)s);
}
