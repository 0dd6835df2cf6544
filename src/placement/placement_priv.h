/* Placement internals shared by rules.c, placement.c and predicate.c. */
#ifndef FY_PLACEMENT_PRIV_H
#define FY_PLACEMENT_PRIV_H

#include "placement.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* One -ot rule: a compiled pattern and its device. */
struct fy_place_ot {
    char *pattern;           /* as written */
    char *text;              /* the whole item as written: "exps=CUDA0" */
    enum fy_device_id dev;
    pcre2_code *re;          /* JIT-compiled when the platform allows */
};

struct fy_place_rules {
    int64_t n_ot;
    int64_t cap_ot;
    struct fy_place_ot *ot;  /* command-line order */
    int64_t ngl;             /* -ngl (default 0) */
    int64_t n_cpu_moe;       /* --n-cpu-moe; INT64_MAX for --cpu-moe */
    bool no_offload;
    bool kv_cpu;             /* -nkvo: every layer's KV cache (and attention) on the CPU */
    int64_t threshold;       /* --offload-threshold; 0: the cost model */
    double link_gbps;
    double cpu_gflops;
};

/* 1 if rule o's pattern occurs in name, 0 if not, -1 on a PCRE2 error (e.g. a match limit). */
int fy_place_ot_match(const struct fy_place_ot *o, const char *name, pcre2_match_data *md);

/* A row of the plan's tensor table: tensors of one class over consecutive layers, with one type
 * and one device. Duplicated bias copies get rows of their own (copy = true). */
struct fy_plan_group {
    char cls[96];          /* "ffn_*_exps.weight"; the full name outside the layers */
    int64_t first, last;   /* layer range; -1, -1 outside the layers */
    enum fy_dtype type;
    enum fy_device_id dev;
    bool copy;             /* the extra copies of duplicated expert biases */
    int64_t count;
    uint64_t bytes;
    int64_t order;         /* first appearance of cls (sort key) */
};

/* The rows, sorted by class (first appearance in the file), then first layer, copy, device. */
fy_status fy_plan_groups(const struct fy_placement *p, struct fy_plan_group **out, int64_t *n);

/* "-ngl", "--n-cpu-moe" or "-ot rule N" (buf for the last). */
const char *fy_plan_origin(int rule, char *buf, size_t cap);

#endif
