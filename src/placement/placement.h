/* Tensor placement for hybrid CPU/GPU runs (hybrid.md §1, §3, §4, §11).
 *
 * Three steps:
 *  1. Rules from the command line (struct fy_place_rules: -ot, -ngl, --n-cpu-moe/--cpu-moe, the
 *     offload settings), built by fy_place_parse_flag or the setters below.
 *  2. A placement (struct fy_placement) computed from the rules and a GGUF's tensor list: every
 *     tensor's device, which expert biases are duplicated, per-device byte totals.
 *  3. THE predicate, fy_place_experts(p, layer, n_tokens): where one MoE layer's experts run for a
 *     micro-batch of n_tokens, which copy of the expert biases the graph reads, and what has to be
 *     uploaded. Every consumer (graph builder, scheduler, uploader) reads its answer; nothing else
 *     decides where experts run (hybrid.md §4, "the one-predicate lesson").
 *
 * Device of a tensor, in order (first hit wins):
 *  a. the user's -ot rules, in command-line order: PCRE2 pattern found anywhere in the name
 *     (unanchored search, as llama.cpp's std::regex_search), so "exps=CPU" also moves the
 *     expert biases;
 *  b. --n-cpu-moe N / --cpu-moe: the expert WEIGHTS (ffn_*_exps.weight) of the FIRST N layers,
 *     blk.0 .. blk.N-1, stay on the CPU (mainline's choice of layers; its biases are not moved);
 *  c. -ngl N (default 0): repeating layers blk.L-N .. blk.L-1 on GPU0; output_norm and output
 *     too when N > L (so -ngl 99 puts everything on GPU0); token_embd always on the CPU (a row
 *     lookup: llama.cpp keeps the input layer on the CPU as well); everything else on the CPU.
 * Then, for every expert projection (gate, up, down, or fused gate_up) of every layer whose bias
 * landed on another device than its weight, the bias is ALSO kept on the weight's device (ik's
 * TENSOR_DUPLICATED; 3 x d x E x 4 B per layer: 26.5 MB for 20b, 159 MB for 120b).
 *
 * A placement points into the GGUF it was computed from: close the GGUF after freeing it. */
#ifndef FY_PLACEMENT_H
#define FY_PLACEMENT_H

#include "ferry.h"
#include "gguf/gguf.h"

#include <stdbool.h>
#include <stdio.h>

enum fy_device_id { FY_DEV_CPU = 0, FY_DEV_GPU0 = 1, FY_DEV_COUNT = 2 };

struct fy_numa;

/* "CPU", "GPU0"; "?" for anything else. */
const char *fy_device_name(enum fy_device_id d);
/* Accepts CPU, GPU0 and the aliases CUDA0, ROCm0 (any case). FY_E_INVAL, not logged, otherwise. */
fy_status fy_device_parse(const char *name, enum fy_device_id *out);
/* "CPU, GPU0 (aliases CUDA0, ROCm0)": for messages. */
extern const char fy_device_list[];

/* ---- 1. rules ---- */

#define FY_PLACE_LINK_GBPS_DEFAULT 25.0   /* PCIe 4 x16, effective (hybrid.md §8) */
#define FY_PLACE_CPU_GFLOPS_DEFAULT 400.0 /* see predicate.c */
#define FY_PLACE_MIN_OFFLOAD 32           /* the cost model's floor (predicate.c) */

struct fy_place_rules; /* opaque: the -ot rules (compiled PCRE2 patterns) and the settings */

fy_status fy_place_rules_new(struct fy_place_rules **out);
void fy_place_rules_free(struct fy_place_rules *r); /* NULL-safe */

/* One -ot value: "REGEX=DEVICE[,REGEX=DEVICE...]", split on ',' then on the first '=' (llama.cpp's
 * grammar: a pattern cannot contain ','). Each rule is appended after the earlier ones. On error
 * (logged: the flag, the value, PCRE2's message and offset, or the valid devices) no rule of
 * this value is kept. `flag` is the spelling used, for messages ("-ot" when NULL). */
fy_status fy_place_rules_add_ot(struct fy_place_rules *r, const char *flag, const char *value);
/* -ngl N, N >= 0 (99 or anything > n_layer: every layer and the output layers). */
fy_status fy_place_rules_set_ngl(struct fy_place_rules *r, int64_t n);
/* --n-cpu-moe N (N >= 0; N > n_layer means all); --cpu-moe is the same with every layer. The
 * last of the two given wins. */
fy_status fy_place_rules_set_n_cpu_moe(struct fy_place_rules *r, int64_t n);
void fy_place_rules_set_cpu_moe(struct fy_place_rules *r);
/* --offload-threshold N (N >= 1): CPU-resident experts run on the GPU from N tokens on. */
fy_status fy_place_rules_set_offload_threshold(struct fy_place_rules *r, int64_t n);
/* --no-offload: CPU-resident experts always run on the CPU. Also what a run without a usable GPU
 * must set. */
void fy_place_rules_set_no_offload(struct fy_place_rules *r, bool no_offload);
/* -nkvo/--no-kv-offload: every layer's KV cache stays on the CPU, so attention (and the other
 * operations of the layer without weights) runs there while its matmuls run where -ngl/-ot put
 * their weights. */
void fy_place_rules_set_kv_cpu(struct fy_place_rules *r, bool kv_cpu);
/* Cost model inputs: host-to-GPU GB/s (1e9 B/s) and CPU expert GFLOPS (multiply-add = 2 flops). */
fy_status fy_place_rules_set_link_gbps(struct fy_place_rules *r, double gbps);
fy_status fy_place_rules_set_cpu_gflops(struct fy_place_rules *r, double gflops);

int64_t fy_place_rules_n_ot(const struct fy_place_rules *r);
/* Rule i (0-based, command-line order): pattern text and device. */
fy_status fy_place_rules_ot_at(const struct fy_place_rules *r, int64_t i, const char **pattern,
                               enum fy_device_id *dev);

/* Parses one placement flag at argv[*i] (advancing *i past its value): 1 consumed, 0 not a
 * placement flag, -1 error (logged, naming the flag). Flags: -ot/--override-tensor, -ngl/
 * --n-gpu-layers/--gpu-layers, --n-cpu-moe/-ncmoe, --cpu-moe/-cmoe, --offload-threshold,
 * --no-offload (alias --no-op-offload, -nopo), --link-bw, --cpu-gflops. */
int fy_place_parse_flag(struct fy_place_rules *r, int argc, char **argv, int *i);
/* The -h lines for those flags (for run, chat, logits, plan). */
extern const char fy_place_help[];

/* A size: bytes, or a number (fractions allowed) with K/M/G/T, KiB/MiB/GiB/TiB (both 1024-based)
 * or KB/MB/GB/TB (1000-based): "24G", "24GiB", "24000M", "25.5GB". FY_E_INVAL, logged with the
 * flag, otherwise. */
fy_status fy_place_parse_size(const char *flag, const char *val, uint64_t *out);

/* ---- 2. placement ---- */

/* The model numbers placement needs (the rest comes from the tensors). */
struct fy_place_dims {
    int64_t n_layer;       /* block_count */
    int64_t n_expert;      /* E: expert_count */
    int64_t n_expert_used; /* k: expert_used_count */
    int64_t d_model;       /* embedding_length */
    int64_t n_ff;          /* expert_feed_forward_length */
    int64_t n_swa;         /* attention.sliding_window of the even layers (default 128); 0: none */
};

/* Reads them from a gpt-oss GGUF's metadata (gpt-oss.* keys); FY_E_FORMAT, logged, if absent. */
fy_status fy_place_dims_from_gguf(const struct fy_gguf *g, struct fy_place_dims *out);

/* The attention window of layer l: n_swa on the even layers (gpt-oss slides on every other
 * layer, as the loader checks), 0 (full attention) on the odd ones. */
int32_t fy_place_layer_window(const struct fy_place_dims *d, int64_t l);

/* KV cache slots of a layer with attention window `window` (0: full) in a session of n_ctx
 * positions and micro-batches of n_ubatch: n_ctx for full attention or with swa_full
 * (--swa-full); else a ring of window + n_ubatch slots rounded up to 32 (a micro-batch of n
 * tokens at P .. P+n-1 needs P-window+1 .. P+n-1 present while it stores its own), at most
 * n_ctx. The session (src/graph/kvcache.c) and `ferry plan` size the cache with it. */
int64_t fy_place_kv_slots(int32_t window, int64_t n_ctx, int64_t n_ubatch, bool swa_full);

enum fy_place_kind {
    FY_PK_INPUT = 0,  /* token_embd.* */
    FY_PK_OUTPUT,     /* any other tensor outside blk.N. (output_norm, output) */
    FY_PK_LAYER,      /* blk.N., not an expert matrix or its bias */
    FY_PK_EXP_WEIGHT, /* blk.N.ffn_{gate,up,down,gate_up}_exps.weight */
    FY_PK_EXP_BIAS,   /* blk.N.ffn_{gate,up,down,gate_up}_exps.bias */
};

enum fy_exp_proj { FY_EXP_GATE = 0, FY_EXP_UP, FY_EXP_DOWN, FY_EXP_GATE_UP, FY_EXP_PROJ_COUNT };

/* Who decided a tensor's device: an -ot rule index (>= 0) or one of these. */
#define FY_PLACE_BY_CPU_MOE (-1) /* --n-cpu-moe / --cpu-moe */
#define FY_PLACE_BY_NGL (-2)     /* the -ngl default */

struct fy_place_tensor {
    const struct fy_gguf_tensor *t; /* name, type, ne, size: in the GGUF */
    enum fy_place_kind kind;
    int64_t layer;                  /* N of blk.N., -1 outside the layers */
    int proj;                       /* enum fy_exp_proj for expert weights/biases, else -1 */
    enum fy_device_id dev;          /* where the tensor lives */
    int rule;                       /* -ot rule index, FY_PLACE_BY_CPU_MOE or FY_PLACE_BY_NGL */
    bool dup;                       /* expert bias also kept on dup_dev (its weight's device) */
    enum fy_device_id dup_dev;
};

struct fy_place_layer {
    int64_t weight[FY_EXP_PROJ_COUNT]; /* tensor index of each expert weight, -1 if absent */
    int64_t bias[FY_EXP_PROJ_COUNT];   /* tensor index of each expert bias, -1 if absent */
    int n_weights;                     /* expert weights present */
    int n_weights_gpu;                 /* of which resident on GPU0 */
    bool has_gpu_bias;                 /* every bias present has a copy on GPU0 */
    bool has_cpu_bias;                 /* every bias present has a copy on the CPU */
    size_t expert_bytes;               /* one expert, summed over the layer's expert weights */
    size_t cpu_expert_bytes;           /* the same, over the CPU-resident weights only */
    size_t bias_bytes;                 /* all of the layer's expert biases (one copy) */
    size_t bias_upload_bytes;          /* biases without a GPU copy (uploaded whole to offload) */
    size_t dup_bytes;                  /* extra bytes of duplicated biases */
    int64_t threshold;                 /* offload from this many tokens; INT64_MAX: never */
    enum fy_device_id kv_dev;          /* the layer's KV cache: attn_k.weight's device (the
                                        * CPU with -nkvo) */
};

struct fy_place_rule_stat {
    char *pattern;          /* copy of the -ot pattern */
    char *text;             /* the rule as written ("exps=CUDA0") */
    enum fy_device_id dev;
    int64_t matched;        /* tensors whose name it matches */
    int64_t won;            /* tensors it placed (matched and no earlier rule did) */
};

struct fy_placement {
    struct fy_place_dims dims;
    const struct fy_gguf *g;
    int64_t n_tensors;
    struct fy_place_tensor *t;      /* n_tensors, in file order */
    struct fy_place_layer *layers;  /* n_layer */
    int64_t n_rules;
    struct fy_place_rule_stat *rules;
    int64_t ngl;
    int64_t n_cpu_moe;              /* clamped to n_layer */
    /* offload settings and the cost model */
    bool no_offload;
    bool threshold_set;             /* --offload-threshold given */
    int64_t threshold;              /* the flag's value, or the cost model's for a CPU layer */
    double link_gbps;
    double cpu_gflops;
    /* totals */
    uint64_t weight_bytes[FY_DEV_COUNT]; /* each tensor counted once, on its device */
    uint64_t dup_bytes[FY_DEV_COUNT];    /* extra copies of expert biases */
    int64_t n_dup;                       /* duplicated bias tensors */
    uint64_t file_tensor_bytes;          /* sum of all tensor sizes */
    /* warnings emitted while computing it (also logged) */
    int64_t n_warnings;
    char **warnings;
};

/* Places every tensor of g. Warnings (logged and kept in p->warnings): an -ot rule that matches
 * no tensor, one whose tensors were all taken by earlier rules, and a layer whose expert weights
 * are split across devices. FY_E_FORMAT (logged) for a blk.N beyond n_layer. */
fy_status fy_placement_new(const struct fy_place_rules *r, const struct fy_gguf *g,
                           const struct fy_place_dims *dims, struct fy_placement **out);
void fy_placement_free(struct fy_placement *p); /* NULL-safe */

/* The placement of a tensor by name, or NULL. */
const struct fy_place_tensor *fy_placement_find(const struct fy_placement *p, const char *name);

/* ---- 3. the predicate ---- */

struct fy_expert_path {
    enum fy_device_id dev;      /* where the expert matmuls AND their bias adds run */
    enum fy_device_id bias_dev; /* which copy of the expert biases to read (always == dev) */
    bool resident;              /* dev holds all the layer's expert weights */
    bool upload;                /* dev == GPU0 and some expert weights live on the CPU: the
                                 * experts the batch selects are uploaded before the matmuls */
    double experts;             /* expected distinct experts selected, uniform routing:
                                 * E * (1 - (1 - k/E)^n) (hybrid.md §3); 0 if !upload */
    uint64_t upload_bytes;      /* expected bytes uploaded this step: experts x (one expert's
                                 * CPU-resident gate+up+down bytes) + bias_upload_bytes */
    uint64_t upload_bytes_max;  /* worst case: min(E, n*k) experts + bias_upload_bytes */
    uint64_t bias_upload_bytes; /* expert biases with no GPU copy, uploaded whole */
    int64_t threshold;          /* the layer's offload threshold (INT64_MAX: never) */
};

/* Decides, for MoE layer `layer` and a micro-batch of n_tokens (>= 1):
 *  - every expert weight of the layer on GPU0: GPU0, resident;
 *  - some on GPU0, some on the CPU (an -ot split): GPU0, uploading the CPU-resident ones at every
 *    n (a warning at placement time says so);
 *  - all on the CPU: GPU0 with active-expert uploads iff offload is on and n >= the threshold,
 *    else the CPU.
 * The bias copy always matches the device. FY_E_INVAL (not logged: it runs per layer per step)
 * for a layer out of range, one without expert weights, or n_tokens < 1. */
fy_status fy_place_experts(const struct fy_placement *p, int layer, int64_t n_tokens,
                           struct fy_expert_path *out);

/* E * (1 - (1 - k/E)^n): expected distinct experts among n tokens choosing k of E uniformly. */
double fy_place_active_experts(int64_t n_expert, int64_t k, int64_t n_tokens);

/* The cost model: the smallest n >= FY_PLACE_MIN_OFFLOAD for which uploading the active
 * experts (expected_experts(n) * expert_bytes + fixed_bytes over link_gbps) takes less time
 * than the CPU's n * k * 3 * d * ff multiply-adds at cpu_gflops; INT64_MAX if none up to 2^24. */
int64_t fy_place_cost_threshold(const struct fy_place_dims *dims, size_t expert_bytes,
                                size_t fixed_bytes, double link_gbps, double cpu_gflops);

/* ---- 4. the plan report (ferry plan) ---- */

struct fy_plan_opts {
    int64_t n_ctx;         /* KV positions (default 4096) */
    int64_t n_ubatch;      /* micro-batch (default 512) */
    enum fy_dtype kv_type; /* FY_F16 (default), FY_F32 or FY_Q8_0 */
    bool swa_full;         /* --swa-full: sliding-window layers keep every position too */
    uint64_t vram;         /* --vram; 0: not given */
    bool tensors;          /* list every tensor, not only the groups */
    const struct fy_numa *numa; /* --numa (cpu/numa.h): its layout is shown unless NULL or off */
};

void fy_plan_opts_default(struct fy_plan_opts *o);

struct fy_plan_dev {
    uint64_t weights;   /* tensors resident on the device */
    uint64_t dup_bias;  /* duplicated expert biases */
    uint64_t kv;        /* KV cache of the layers whose attention is there */
    uint64_t compute;   /* activations + logits + upload staging (plan.c) */
    uint64_t total;
};

#define FY_PLAN_MAX_STEPS 16

struct fy_plan_step {
    int64_t n;              /* tokens in the micro-batch */
    int64_t gpu_resident;   /* MoE layers on GPU0 with resident weights */
    int64_t gpu_upload;     /* MoE layers on GPU0 with uploads */
    int64_t cpu;            /* MoE layers on the CPU */
    uint64_t upload_bytes;  /* expected bytes uploaded per step, all layers */
    double upload_ms;       /* at link_gbps */
};

struct fy_plan {
    struct fy_plan_opts o;
    struct fy_plan_dev dev[FY_DEV_COUNT];
    int64_t n_vocab, q_width, kv_width;
    uint64_t act_bytes;       /* activations per device that runs layers */
    uint64_t logits_bytes;    /* on output.weight's device */
    uint64_t staging_bytes;   /* on GPU0, when some layer may offload */
    int fits;                 /* -1 no --vram, 0 no, 1 yes */
    int64_t n_steps;
    struct fy_plan_step steps[FY_PLAN_MAX_STEPS];
};

fy_status fy_plan_make(const struct fy_placement *p, const struct fy_plan_opts *o,
                       struct fy_plan *out);
/* ---- 5. fit (plan_fit.c) ---- */
struct fy_fit_opts {
    uint64_t vram;    /* GPU0 bytes available (> 0) */
    uint64_t margin;  /* kept free (--fit-target; default FY_FIT_MARGIN) */
    int64_t min_ctx;  /* 0: keep the plan's context; else halve it down to this to fit */
};
#define FY_FIT_MARGIN ((uint64_t)1 << 30)
struct fy_fit {
    bool fits;
    int64_t ngl, n_cpu_moe, n_ctx; /* the placement chosen (n_cpu_moe = n_layer: --cpu-moe) */
    uint64_t gpu_bytes;            /* its GPU0 total (plan figures) */
    int64_t tried;                 /* candidates planned */
    char flags[96];                /* "-ngl 99 --n-cpu-moe 12 -c 4096", or "-ngl 0" */
};
/* The fastest-predicted placement whose GPU0 total fits vram - margin (order in plan_fit.c),
 * with the caller's offload settings from base (may be NULL) and po's context, micro-batch and
 * KV type. Not fitting is not an error: out->fits false. */
fy_status fy_plan_fit(const struct fy_gguf *g, const struct fy_place_dims *dims,
                      const struct fy_place_rules *base, const struct fy_plan_opts *po,
                      const struct fy_fit_opts *fo, struct fy_fit *out);
/* Replaces r's -ngl, --n-cpu-moe and -ot rules with the fit's (offload settings stay). */
fy_status fy_place_rules_from_fit(struct fy_place_rules *r, const struct fy_fit *f);

/* Human-readable report; model_path is shown as given. */
fy_status fy_plan_print(FILE *f, const struct fy_placement *p, const struct fy_plan *pl,
                        const char *model_path);
/* The same as one JSON document (key order in plan_json.c). */
fy_status fy_plan_print_json(FILE *f, const struct fy_placement *p, const struct fy_plan *pl,
                             const char *model_path);

#endif
