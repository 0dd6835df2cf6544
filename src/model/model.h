/* gpt-oss model: hyperparameters and weights bound by name from a GGUF file (mmap, no copies). */
#ifndef FY_MODEL_H
#define FY_MODEL_H

#include "cpu/ops.h"
#include "ferry.h"
#include "gguf/gguf.h"
#include "tensor.h"

#include <stdbool.h>

struct fy_hparams {
    int64_t n_layer;        /* block_count: 24 (20b), 36 (120b) */
    int64_t d_model;        /* embedding_length: 2880 */
    int64_t n_head;         /* attention.head_count: 64 */
    int64_t n_head_kv;      /* attention.head_count_kv: 8 */
    int64_t head_dim;       /* attention.key_length: 64 (not d_model/n_head) */
    int64_t n_expert;       /* expert_count: 32 / 128 */
    int64_t n_expert_used;  /* expert_used_count: 4 */
    int64_t n_ff;           /* expert_feed_forward_length: 2880 */
    int64_t n_vocab;        /* rows of token_embd */
    int64_t n_ctx_train;    /* context_length: 131072 */
    int32_t n_swa;          /* attention.sliding_window: 128 (even layers) */
    float rms_eps;          /* 1e-5 */
    struct fy_rope rope;    /* YaRN parameters, shared by every layer */
    float swiglu_alpha;     /* 1.702 (no key) */
    float swiglu_limit;     /* 7.0 (no key) */
    int32_t bos, eos, pad;  /* 199998, 200002, 199999 when present, else -1 */
};

struct fy_layer {
    const float *attn_norm;   /* (d_model) */
    struct fy_mat wq;         /* (n_head*head_dim, d_model) */
    struct fy_mat wk;         /* (n_head_kv*head_dim, d_model) */
    struct fy_mat wv;         /* (n_head_kv*head_dim, d_model) */
    struct fy_mat wo;         /* (d_model, n_head*head_dim) */
    const float *bq;          /* (n_head*head_dim) */
    const float *bk;          /* (n_head_kv*head_dim) */
    const float *bv;          /* (n_head_kv*head_dim) */
    const float *bo;          /* (d_model) */
    const float *sinks;       /* (n_head) */
    const float *post_norm;   /* (d_model): the pre-MoE norm */
    struct fy_mat router;     /* (n_expert, d_model) */
    const float *router_b;    /* (n_expert) */
    struct fy_moe_layer moe;  /* experts: gate/up (E, n_ff, d_model), down (E, d_model, n_ff) */
    int32_t window;           /* n_swa on sliding (even) layers, 0 on full layers */
};

struct fy_model {
    struct fy_gguf *gguf;
    struct fy_hparams hp;
    struct fy_mat tok_embd;     /* (n_vocab, d_model) */
    const float *output_norm;   /* (d_model) */
    struct fy_mat output;       /* (n_vocab, d_model) */
    struct fy_layer *layers;    /* n_layer */
    bool fused_gate_up;         /* file has ffn_gate_up_exps instead of gate + up */
};

/* Opens path (all shards), checks the architecture, reads hyperparameters (with the defaults of
 * gpt-oss.md for absent keys), and binds every tensor with shape and type checks. */
fy_status fy_model_load(const char *path, struct fy_model **out);
/* The same on an opened GGUF (fy_gguf_open_mem in tests and fuzzers), which the model takes
 * over: it is closed with the model, or at once when loading fails. */
fy_status fy_model_from_gguf(struct fy_gguf *g, struct fy_model **out);
void fy_model_free(struct fy_model *m);

/* Bytes of weights in the file (sum of tensor sizes). */
uint64_t fy_model_weight_bytes(const struct fy_model *m);

#endif
