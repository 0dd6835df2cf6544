/* Synthetic gpt-oss GGUFs: random weights laid out exactly like the ggml-org files
 * (gpt-oss.md §3 keys, §4 tensors, §5 blocks), written as a stream.
 *
 * Weight scales (gpt-oss.md §8: synthetic weights must exercise every detail). With d = d_model,
 * F = n_ff_exp, H = n_head, D = head_dim, and every norm output of unit RMS:
 *
 *   tensor                          default std                   mild
 *   token_embd                      1                             1
 *   *_norm                          1 + N(0, 0.1)                 same
 *   attn_q / attn_k weight          qk_scale * 1 / sqrt(d)        0.3 / sqrt(d)
 *                                   (q, k entries of std ~1: attention score std ~1.8 after
 *                                   the 0.125 scale and YaRN's mscale^2, so attention is peaky)
 *   attn_q / attn_k / attn_v bias   0.2                           0.05
 *   attn_v weight                   1 / sqrt(d)                   same
 *   attn_output weight / bias       1 / sqrt(H * D) / 0.1         same
 *   attn_sinks                      N(0, 1)                       same
 *   ffn_gate_inp weight / bias      1.5 / sqrt(d) / 0.5 (router logits of std ~1.6)
 *   ffn_gate/up_exps weight         ffn_scale * 3.5 / sqrt(d)     0.8 / sqrt(d)
 *                                   (pre-activations of std ~3.6: |g|, |u| > 7 on ~5% of
 *                                   entries, so the SwiGLU clamps engage; mild: never)
 *   ffn_gate/up_exps bias           1.0                           0.1
 *   ffn_down_exps weight            1 / (sqrt(F) * rms(a))        same formula
 *                                   (rms(a) of the clamped SwiGLU output for the gate/up
 *                                   pre-activation std, by a fixed Monte Carlo: each expert's
 *                                   output has std ~1, so the residual stream grows like
 *                                   sqrt(1 + 2 * layer) and stays O(1)..O(10))
 *   ffn_down_exps bias              0.2                           same
 *   output weight                   3 / sqrt(d) (logits of std ~3)
 *
 * Quantized tensors are generated directly as random blocks: Q8_0 as uniform int8 codes in
 * [-127, 127] with an fp16 scale jittered +-25% per block around std / 73.47 (the rms of the
 * codes); MXFP4 as uniform random nibbles (E2M1 values of rms 2.926) with the shared exponent
 * drawn per block from the two powers of two around std / 2.926, mixed so that the mean square
 * is exact. Float tensors get normal values (F16 and BF16 rounded to nearest even).
 * Each tensor has its own xoshiro256** stream seeded from (seed, tensor name), so the content of
 * a tensor does not depend on the other tensors or on how the data is chunked. */
#ifndef FY_SYNTH_H
#define FY_SYNTH_H

#include "ferry.h"

struct fy_synth_config {
    /* shape (gpt-oss.* keys) */
    int64_t n_layer;            /* block_count */
    int64_t d_model;            /* embedding_length; multiple of 32 */
    int64_t n_head;             /* attention.head_count */
    int64_t n_head_kv;          /* attention.head_count_kv; divides n_head */
    int64_t head_dim;           /* attention.key_length = value_length; even */
    int64_t n_expert;           /* expert_count */
    int64_t n_expert_used;      /* expert_used_count; <= n_expert */
    int64_t n_ff_exp;           /* expert_feed_forward_length = feed_forward_length; mult. of 32 */
    int64_t n_vocab;            /* 201088 with the real vocabulary */
    uint32_t context_length;    /* 131072 */
    uint32_t sliding_window;    /* 128 */
    /* content */
    uint64_t seed;
    enum fy_dtype dense_type;   /* token_embd, output, attn_{q,k,v,output}: Q8_0, BF16, F16, F32 */
    enum fy_dtype expert_type;  /* ffn_{gate,up,down}_exps: MXFP4, BF16, F32 */
    int fused_gate_up;          /* blk.N.ffn_gate_up_exps.{weight,bias} instead of gate + up */
    int toy_vocab;              /* no rank file: 256 bytes + specials + pads (vocab_o200k.h) */
    int mild;                   /* small q/k and gate/up weights: flat attention, clamps idle */
    float qk_scale;             /* multiplies the attn_q/attn_k weight std (default 1) */
    float ffn_scale;            /* multiplies the gate/up weight std (default 1) */
    int progress;               /* print progress to stderr when it is a terminal */
    int sparse;                 /* metadata only: the data section is a hole (reads as zeros) */
    int sparse_experts;         /* expert weights (*_exps.weight) are holes, the rest is real:
                                   a 120b file for speed benchmarks on a small disk */
};

/* Fills *c with a preset: "tiny" (4 layers, d 256, 8/2 heads of 64, 8 experts of 256, k 4,
 * real vocabulary), "20b" or "120b" (gpt-oss.md §1). Q8_0 dense, MXFP4 experts, seed 0.
 * Returns FY_E_INVAL (logged) for another name. */
fy_status fy_synth_preset(const char *name, struct fy_synth_config *c);

/* Checks dims and types; logs a message naming the offending field. */
fy_status fy_synth_check(const struct fy_synth_config *c);

struct fy_synth_tensor {
    char name[64];
    enum fy_dtype type;
    int n_dims;
    int64_t ne[4];       /* ne[0] innermost; unused dims are 1 */
    uint64_t size;       /* bytes */
    uint64_t offset;     /* in the data section (32-aligned) */
    float mean;          /* values: mean + std * N(0, 1), or the Q8_0 / MXFP4 block generators */
    float std;
};

/* The file's tensors in write order, with sizes and data offsets. */
struct fy_synth_plan {
    int64_t n_tensors;
    struct fy_synth_tensor *t;
    uint64_t data_bytes;  /* data section size, padding included */
};

/* Lists the tensors of the model c describes (the same list drives fy_synth_write). */
fy_status fy_synth_plan_make(const struct fy_synth_config *c, struct fy_synth_plan **out);
void fy_synth_plan_free(struct fy_synth_plan *p);

/* general.file_type for the configured types: 38 MOSTLY_MXFP4_MOE for Q8_0 dense + MXFP4 experts,
 * else by the dense type (Q8_0 7, BF16 32, F16 1, F32 0), as llama.cpp's tools write it. */
uint32_t fy_synth_file_type(const struct fy_synth_config *c);

/* Writes the GGUF to out_path (through out_path.tmp, renamed at the end). vocab_path is the
 * o200k_base.tiktoken rank file; it is ignored (may be NULL) when c->toy_vocab is set.
 * With c->sparse the header and metadata are written as usual and the file is then extended to
 * its full size without writing the tensor data: a hole that reads as zeros, so a 120b file takes
 * only its metadata on disk (for placement and loader tests; the weights are all zero). */
fy_status fy_synth_write(const struct fy_synth_config *c, const char *vocab_path,
                         const char *out_path);

/* The bytes fy_synth_write writes for tensor t of c's plan (exposed for tests); n_bytes must be
 * t->size. */
fy_status fy_synth_tensor_data(const struct fy_synth_config *c, const struct fy_synth_tensor *t,
                               void *dst, size_t n_bytes);

#endif
