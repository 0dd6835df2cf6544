/* The placement flags on the command line, shared by every command that loads a model. */
#include "placement.h"

#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char fy_place_help[] =
    "placement (default: every tensor on the CPU):\n"
    "  -ngl, --n-gpu-layers N the last N repeating layers (blk.L-N .. blk.L-1) on GPU0; with\n"
    "                         N > L (e.g. 99) also output_norm and output; token_embd stays on\n"
    "                         the CPU (default 0)\n"
    "  -ot, --override-tensor REGEX=DEV[,REGEX=DEV...]\n"
    "                         tensors whose name contains a match of REGEX (PCRE2) go to DEV:\n"
    "                         CPU or GPU0 (aliases CUDA0, ROCm0). Repeatable; the first matching\n"
    "                         rule in command-line order wins, over --n-cpu-moe and -ngl. No ','\n"
    "                         in REGEX. \"exps=CPU\" also matches the expert biases\n"
    "  --n-cpu-moe N          keep the expert weights (ffn_*_exps.weight) of the FIRST N layers,\n"
    "                         blk.0 .. blk.N-1, on the CPU (as llama.cpp; ik_llama.cpp keeps the\n"
    "                         last N); their biases stay where -ngl puts them\n"
    "  --cpu-moe              the expert weights of every layer on the CPU\n"
    "  --offload-threshold N  micro-batches of N or more tokens run CPU-resident experts on GPU0,\n"
    "                         uploading the experts they select (default: cost model, >= 32)\n"
    "  --no-offload           CPU-resident experts always run on the CPU\n"
"  -nkvo, --no-kv-offload every layer's KV cache (and its attention) on the CPU\n"
    "  --link-bw GBPS         host-to-GPU GB/s for the cost model (default 25: PCIe 4 x16)\n"
    "  --cpu-gflops G         CPU expert matmul GFLOPS for the cost model (default 400)\n"
    "  An expert bias that ends up on another device than its weight is kept on both.\n";

int fy_place_parse_flag(struct fy_place_rules *r, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = NULL;
    int64_t n = 0;
    float x = 0;
#define IS(s) (!strcmp(a, (s)))
#define VALUE()                                                                                    \
    do {                                                                                           \
        if (!(v = fy_arg_value(argc, argv, i)))                                                    \
            return -1;                                                                             \
    } while (0)
    if (IS("-ot") || IS("--override-tensor")) {
        VALUE();
        if (fy_place_rules_add_ot(r, a, v) != FY_OK)
            return -1;
    } else if (IS("-ngl") || IS("--n-gpu-layers") || IS("--gpu-layers")) {
        VALUE();
        if (fy_arg_int(a, v, 0, INT32_MAX, &n) != FY_OK || fy_place_rules_set_ngl(r, n) != FY_OK)
            return -1;
    } else if (IS("--n-cpu-moe") || IS("-ncmoe")) {
        VALUE();
        if (fy_arg_int(a, v, 0, INT32_MAX, &n) != FY_OK ||
            fy_place_rules_set_n_cpu_moe(r, n) != FY_OK)
            return -1;
    } else if (IS("--cpu-moe") || IS("-cmoe")) {
        fy_place_rules_set_cpu_moe(r);
    } else if (IS("--offload-threshold")) {
        VALUE();
        if (fy_arg_int(a, v, 1, INT32_MAX, &n) != FY_OK ||
            fy_place_rules_set_offload_threshold(r, n) != FY_OK)
            return -1;
    } else if (IS("--no-offload") || IS("--no-op-offload") || IS("-nopo")) {
        fy_place_rules_set_no_offload(r, true);
    } else if (IS("-nkvo") || IS("--no-kv-offload")) {
        fy_place_rules_set_kv_cpu(r, true);
    } else if (IS("--link-bw")) {
        VALUE();
        if (fy_arg_float(a, v, 0.01, 1e5, &x) != FY_OK ||
            fy_place_rules_set_link_gbps(r, x) != FY_OK)
            return -1;
    } else if (IS("--cpu-gflops")) {
        VALUE();
        if (fy_arg_float(a, v, 0.01, 1e7, &x) != FY_OK ||
            fy_place_rules_set_cpu_gflops(r, x) != FY_OK)
            return -1;
    } else {
        return 0;
    }
#undef VALUE
#undef IS
    return 1;
}

fy_status fy_place_parse_size(const char *flag, const char *val, uint64_t *out)
{
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {
        {"", 1},          {"B", 1},
        {"K", 0x1p10},    {"KiB", 0x1p10}, {"KB", 1e3},
        {"M", 0x1p20},    {"MiB", 0x1p20}, {"MB", 1e6},
        {"G", 0x1p30},    {"GiB", 0x1p30}, {"GB", 1e9},
        {"T", 0x1p40},    {"TiB", 0x1p40}, {"TB", 1e12},
    };
    char *end = NULL;
    FY_CHECK_ARG(flag && val && out);
    errno = 0;
    double v = strtod(val, &end);
    if (!errno && end != val && isfinite(v) && v >= 0 && val[0] != '-' && val[0] != '+') {
        for (size_t i = 0; i < FY_ARRAY_LEN(units); i++) {
            double b = v * units[i].mult;
            if (strcasecmp(end, units[i].suffix) || !(b < 0x1p63))
                continue;
            if (units[i].mult == 1 && v != floor(v))
                break; /* fractional bytes */
            *out = (uint64_t)llround(b);
            return FY_OK;
        }
    }
    fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not a size (e.g. 24G, 24GiB, 24000M, 25.5GB, "
           "25769803776)", flag, val);
    return FY_E_INVAL;
}
