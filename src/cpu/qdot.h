/* Integer dot products for Q8_0 and MXFP4 weights ("qdot"): the activations are quantized once
 * per matmul into blocks of 32 int16 plus one f32 scale (fy_qx_block), and the weights are
 * dotted block by block in integer SIMD, the block scales applied per block in f32.
 *
 * Why int16 and not int8 activations (llama.cpp's q8_0): int8 activations add a relative error
 * of about 0.6% to every matmul output (rounding to 1/127 of the block maximum), which
 * compounds to 1.7% on the logits of the test models (past issue 11's gates for fast sets),
 * while int16 (1/32767) is within 1e-4 of the f32 path. Where speed needs it and the gates
 * allow, int8 is used: the experts' prompt processing (q8 below).
 *
 * Kernel sets: "c" (portable C, always built: the references of the integer kernels), "avx2"
 * (AVX2+FMA+F16C), "avxvnni" (+ AVX-VNNI, 256-bit), "avx512" (AVX-512 F/BW/VL), "avx512vnni"
 * (+ AVX512-VNNI) and "amx"
 * (+ AMX-TILE/AMX-INT8 for prompt processing), each compiled with its own flags only, in its
 * own static library. One is chosen at start from CPUID (fy_cpu_set);
 * FY_CPU=c|avx2|avxvnni|avx512|avx512vnni|amx forces a set the CPU can run. With the "c" set
 * the engine keeps its f32 path (fy_cpu_matmul decodes the weights to f32): the reference of
 * the whole model against the NumPy implementation.
 *
 * Numerics of one dot. Two variants, each with its C reference (the set's mm_ref), which the
 * set's mm gives bit for bit:
 *  - "lanes" (c, avx2, avxvnni: fy_qdot_mm_ref): block b: eight int32 lanes, lane i = w[2i] x[2i] +
 *    w[2i+1] x[2i+1] + w[16+2i] x[16+2i] + w[17+2i] x[17+2i] exactly (w the int8 weight:
 *    Q8_0's q or MXFP4's doubled E2M1 value; at most 4 * 128 * 32639 < 2^24, so its conversion
 *    to f32 is exact), f32 lane i = fmaf(lane, d_w * d_x, lane i) (d_w = Q8_0's fp16 d or
 *    MXFP4's 2^(e-128)); at the end ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), plus
 *    the bias.
 *  - "block sums" (avx512, avx512vnni, amx: fy_qdot_mm_bs_ref): per block the exact int32
 *    S = sum of the 32 w_j x_j, acc = fmaf((float)S, d_w * d_x, acc) block after block (S
 *    rounded to f32 when |S| > 2^24), then acc + bias. Lanes are rows there (qdot_avx512.c).
 * Both are within 1e-5 of the exact dot of the quantized values (tests/test_qdot.c). Within
 * one set a row's result does not depend on how many tokens share the call (the multi-token
 * kernels compute each (row, token) pair as the one-token kernel does; tests/test_qdot.c
 * checks this bit for bit): a token's logits do not depend on the batch it is in. */
#ifndef FY_CPU_QDOT_H
#define FY_CPU_QDOT_H

#include "ferry.h"

#include <stdbool.h>

#define FY_QX_BLOCK 32

/* A block whose max |x| is below 2^-96 is all zeros (d = 0, q = 0): its 1/d would overflow
 * (d subnormal), and such activations add nothing a float sum would keep. Every quantizer's
 * scale: d = amax / qmax, *id = 1/d (both 0 for such a block). */
#define FY_QX_TINY 0x1p-96f
static inline float fy_qx_scale(float amax, float qmax, float *id)
{
    if (!(amax >= FY_QX_TINY)) {
        *id = 0.0f;
        return 0.0f;
    }
    const float d = amax / qmax;
    *id = 1.0f / d;
    return d;
}

/* The int16 activations' range: |q| <= 32639, so that q = 256 h + l with both bytes signed
 * (h = (q + 128) >> 8, l = q - 256 h in [-128, 127]): the one-token kernels of the avx512 sets
 * take x in bytes (qdot_avx512.c). 1/32639 instead of 1/32767 of the block's maximum. */
#define FY_QX_QMAX 32639

/* 32 activations: x_j ~= d * q[j]; d = amax/FY_QX_QMAX, q = round-to-nearest-even(x_j * (1/d)) */
struct fy_qx_block {
    float d;
    int16_t q[FY_QX_BLOCK];
};

/* y[t*ldy + r] = dot(row r of w, x row t) + (bias ? bias[r] : 0) for r < rows, t < n_tok.
 * w: rows of `row_bytes` bytes of type (FY_Q8_0 or FY_MXFP4), nb blocks each; x: n_tok rows
 * of nb blocks. */
typedef void (*fy_qdot_mm_fn)(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                              const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y,
                              int64_t ldy, const float *bias);

/* int8 activations for MXFP4 weights ("q8"): prompt processing of the experts (moe_qdot.c),
 * where the int16 dots are bound by the multiply ports (two VPMADDWD per 32 products, on the
 * same two ports as the FMAs on Zen 3) and VPMADDUBSW does 32 products in one. x_j ~= d q[j],
 * d = amax/127, q = round-to-nearest-even(x_j * (1/d)), s = sum of q. Numerics of one dot, the
 * same in every set: per block the exact int32 S = sum w_j q_j (w the doubled E2M1 value),
 * acc = fmaf((float)S, d_w * d_x, acc) block after block, then + bias. The error is that of
 * llama.cpp's q8_0 activations: about 1% on the logits of the test models (int16: 1e-4), so
 * it is used only where the gates for fast sets allow (the NumPy reference test). */
struct fy_q8_block {
    float d;
    int32_t s;
    int8_t q[FY_QX_BLOCK];
};
typedef void (*fy_qdot_mm8_fn)(const uint8_t *w, size_t row_bytes, int64_t rows,
                               const struct fy_q8_block *x, int64_t nb, int64_t n_tok, float *y,
                               int64_t ldy, const float *bias);
void fy_qdot_quantize8_ref(const float *x, struct fy_q8_block *y, int64_t n);

/* Flash-style attention (attention_avx2.c): one work item is KV head g and query tokens
 * [t0, t1): every query row of that head group, at most FY_ATTN_ROWS rows; head_dim a multiple
 * of 32 up to FY_ATTN_MAXHD. fy_cpu_attention (attention.c) splits the work into such items;
 * a set without it (the "c" set) uses the reference attention. False when the item's
 * per-thread buffer cannot be allocated (nothing written). */
#define FY_ATTN_ROWS 256
#define FY_ATTN_MAXHD 128
#define FY_ATTN_KB 32 /* cache slots per block */
struct fy_attn_args;
/* A slot range of a split item (few queries over many slots: the ranges run in parallel and
 * are merged): slots [s0, s1] only, the sink only where `sink`, and instead of out the
 * unnormalized state of each row: out[(t * n_head + h) * (hd + 2) + ...] = acc[hd], m, z. */
struct fy_attn_part {
    int64_t s0, s1;
    bool sink;
    bool whole_rows; /* prefetch the slots' whole cache rows (every KV head) into L2 */
    bool all_heads;  /* the item is every KV head (g ignored), block by block: only for a set
                      * with attn_all_heads, and fy_attn_all_heads_fits */
    float *out;
};
/* The scalar parts of an item, shared by every set's kernel (attention_item.c): begin sets up
 * the rows (softmax state m, z from the sink, zeroed accumulators, visible slots lo..hi, their
 * union jmin..jmax) in the per-thread scratch (false when it cannot be allocated: nothing
 * written); per block of slots jb..jb+nk-1, prefetch reads the cache rows ahead and active
 * lists the rows that see a slot of the block; end writes the output (or the part's state). */
struct fy_attn_item {
    int64_t hd, kvw, group, nr; /* row r: token t0 + r / group, head g * group + r % group */
    int64_t jmin, jmax;
    bool whole_rows; /* the part's: prefetch whole cache rows */
    float *acc, *kt, *vb; /* [nr][hd]; the block's K transposed [hd][KB] and V [KB][hd] */
    float m[FY_ATTN_ROWS], z[FY_ATTN_ROWS];
    int64_t lo[FY_ATTN_ROWS], hi[FY_ATTN_ROWS];
};
bool fy_attn_item_begin(struct fy_attn_item *it, const struct fy_attn_args *a, int64_t g,
                        int64_t t0, int64_t t1, const struct fy_attn_part *part);
/* the same with the rows' accumulators `acc_off` floats into the scratch (an all-heads item
 * gives head g the rows g * nr * hd onwards) */
bool fy_attn_item_begin_at(struct fy_attn_item *it, const struct fy_attn_args *a, int64_t g,
                           int64_t t0, int64_t t1, const struct fy_attn_part *part,
                           int64_t acc_off);
/* an all-heads item of tokens [t0, t1) fits the scratch: every head's rows' accumulators, at
 * most FY_ATTN_MAXKV KV heads */
#define FY_ATTN_MAXKV 8
bool fy_attn_all_heads_fits(const struct fy_attn_args *a, int64_t t0, int64_t t1);
/* row of query head h at position pos: softmax state from the sink (m = sink, z = 1; else -inf,
 * 0) and visible slots [lo, hi] within the part's; false when it sees none */
bool fy_attn_row_init(const struct fy_attn_args *a, int64_t h, int64_t pos,
                      const struct fy_attn_part *part, float *m, float *z, int64_t *lo,
                      int64_t *hi);
/* KV head g's slice of the cache rows of the block after the next (up to slot jmax), or with
 * whole_rows every head's rows into L2 */
void fy_attn_prefetch(const struct fy_attn_args *a, int64_t g, int64_t jb, int64_t jmax,
                      bool whole_rows);
/* the whole cache rows j0..j1 (every KV head's slice, K and V) into L2 */
void fy_attn_prefetch_rows(const struct fy_attn_args *a, int64_t j0, int64_t j1);
void fy_attn_item_prefetch(const struct fy_attn_item *it, const struct fy_attn_args *a, int64_t g,
                           int64_t jb);
int64_t fy_attn_item_active(const struct fy_attn_item *it, int64_t jb, int64_t nk, int64_t *act);
void fy_attn_item_end(const struct fy_attn_item *it, float *out, const struct fy_attn_args *a,
                      int64_t g, int64_t t0, const struct fy_attn_part *part);
typedef bool (*fy_attention_item_fn)(float *out, const struct fy_attn_args *a, int64_t g,
                                     int64_t t0, int64_t t1, const struct fy_attn_part *part);

struct fy_cpu_set {
    const char *name; /* "c", "avx2", "avx512", "avx512vnni" */
    /* x[0..n) -> n/32 blocks (n a multiple of 32); bit-identical in every set */
    void (*quantize)(const float *x, struct fy_qx_block *y, int64_t n);
    fy_qdot_mm_fn mm;
    fy_qdot_mm_fn mm_ref; /* the C reference mm gives the same bits as (its numerics) */
    int mm_rows, mm_tok;  /* rows (a multiple of 16) and tokens per mm call its callers use */
    fy_attention_item_fn attention; /* NULL: the reference attention */
    int attn_rows; /* query rows an item may have (FY_ATTN_ROWS when 0) */
    bool attn_all_heads; /* its attention takes fy_attn_part.all_heads */
    /* q8: x -> n/32 blocks (bit-identical in every set), and MXFP4 rows x q8 activations */
    void (*quantize8)(const float *x, struct fy_q8_block *y, int64_t n);
    fy_qdot_mm8_fn mm8;
};

/* The references (the "c" set's): quantizer, "lanes" and "block sums" matmuls. */
void fy_qdot_quantize_ref(const float *x, struct fy_qx_block *y, int64_t n);
void fy_qdot_mm_ref(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                    const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y, int64_t ldy,
                    const float *bias);
void fy_qdot_mm_bs_ref(enum fy_dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
                       const struct fy_qx_block *x, int64_t nb, int64_t n_tok, float *y,
                       int64_t ldy, const float *bias);

extern const struct fy_cpu_set fy_cpu_set_c;
/* where the build has them (x86); the avx512 sets use the avx2 quantizers and q8 */
extern const struct fy_cpu_set fy_cpu_set_avx2;
extern const struct fy_cpu_set fy_cpu_set_avxvnni;
extern const struct fy_cpu_set fy_cpu_set_avx512;
extern const struct fy_cpu_set fy_cpu_set_avx512vnni;
extern const struct fy_cpu_set fy_cpu_set_amx;
void fy_qdot_quantize_avx2(const float *x, struct fy_qx_block *y, int64_t n);
void fy_qdot_quantize8_avx2(const float *x, struct fy_q8_block *y, int64_t n);
void fy_qdot_mm8_avx2(const uint8_t *w, size_t row_bytes, int64_t rows,
                      const struct fy_q8_block *x, int64_t nb, int64_t n_tok, float *y,
                      int64_t ldy, const float *bias);
void fy_qdot_mm8_avxvnni(const uint8_t *w, size_t row_bytes, int64_t rows,
                         const struct fy_q8_block *x, int64_t nb, int64_t n_tok, float *y,
                         int64_t ldy, const float *bias);
bool fy_cpu_attention_item_avx2(float *out, const struct fy_attn_args *a, int64_t g, int64_t t0,
                                int64_t t1, const struct fy_attn_part *part);
bool fy_cpu_attention_item_avx512(float *out, const struct fy_attn_args *a, int64_t g, int64_t t0,
                                  int64_t t1, const struct fy_attn_part *part);
#define FY_ATTN_ROWS_AMX 1024
bool fy_cpu_attention_item_amx(float *out, const struct fy_attn_args *a, int64_t g, int64_t t0,
                               int64_t t1, const struct fy_attn_part *part);

/* The set in use: the best this CPU runs, or FY_CPU's (a set this build lacks or the CPU cannot
 * run is refused with one warning, and the best is used). Chosen once per process. */
const struct fy_cpu_set *fy_cpu_set(void);
/* The named set if this build has it and this CPU runs it, else NULL (tests, benchmarks). */
const struct fy_cpu_set *fy_cpu_set_named(const char *name);
/* Set names in order of preference, best last ("c", "avx2", "avxvnni", "avx512", "avx512vnni",
 * "amx"); NULL
 * past the end. */
const char *fy_cpu_set_name(int i);
/* True when the CPU has the instructions of the named set. */
bool fy_cpu_set_supported(const char *name);

#endif
