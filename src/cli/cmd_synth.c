/* ferry synth: write a synthetic gpt-oss GGUF (synth.h). */
#include "args.h"
#include "cmd.h"
#include "ferry.h"
#include "fy_config.h"
#include "model/synth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ferry synth [--preset tiny|20b|120b] -o OUT.gguf [options]\n\n"
            "Writes a gpt-oss GGUF with random weights, laid out like the ggml-org files.\n\n"
            "  --preset NAME        tiny (default: 4 layers, d_model 256), 20b or 120b\n"
            "  -o, --output PATH    output file: a regular file is written beside PATH and\n"
            "                       renamed onto it; a FIFO or device is written in place\n"
            "                       (holes as zeros); \"-\" is standard output\n"
            "  --vocab PATH         o200k_base.tiktoken, at most 64 MiB (default: $FERRY_VOCAB,\n"
            "                       else %s)\n"
            "  --toy-vocab N        no rank file: 256 byte tokens + 21 specials + pads, N ids\n"
            "  --seed N             random seed (default 0)\n"
            "  --layers N           block_count\n"
            "  --d-model N          embedding_length (multiple of 32)\n"
            "  --heads N            attention.head_count\n"
            "  --kv-heads N         attention.head_count_kv (divides --heads)\n"
            "  --head-dim N         attention.key_length = value_length (even)\n"
            "  --experts N          expert_count\n"
            "  --experts-used N     expert_used_count (<= --experts)\n"
            "  --ff N               expert_feed_forward_length (multiple of 32)\n"
            "  --ctx N              context_length (default 131072)\n"
            "  --window N           attention.sliding_window (default 128)\n"
            "  --dense-type T       q8_0 (default), bf16, f16, f32: embeddings, output, attention\n"
            "  --expert-type T      mxfp4 (default), bf16, f32: expert matrices\n"
            "  --fuse-gate-up       write blk.N.ffn_gate_up_exps instead of gate + up\n"
            "  --mild               small q/k and gate/up weights (flat attention, no clamping)\n"
            "  --qk-scale F         multiply the q/k weight std (default 1: peaky attention)\n"
            "  --ffn-scale F        multiply the gate/up weight std (default 1: clamps engage)\n"
            "  --sparse             metadata only: the tensor data is left as a hole (zeros), so\n"
            "                       a 120b file takes a few MB of disk (for ferry plan, tests)\n"
            "  --sparse-experts     only the expert weights are holes (zeros); everything else,\n"
            "                       router included, is real: a 120b file of ~3 GB on disk for\n"
            "                       speed benchmarks (expert compute and uploads do not depend\n"
            "                       on the values)\n"
            "  -q, --quiet          no progress line\n"
            "  -h, --help           this text\n\n"
            "exit status: 0 written, 1 error, 2 usage error\n",
            FY_DEFAULT_VOCAB);
}

static int parse_type(const char *flag, const char *val, int expert, enum fy_dtype *out)
{
    static const struct {
        const char *name;
        enum fy_dtype t;
        int dense, expert;
    } types[] = {
        {"q8_0", FY_Q8_0, 1, 0}, {"mxfp4", FY_MXFP4, 0, 1}, {"bf16", FY_BF16, 1, 1},
        {"f16", FY_F16, 1, 0},   {"f32", FY_F32, 1, 1},
    };
    for (size_t i = 0; i < FY_ARRAY_LEN(types); i++) {
        if (!strcmp(val, types[i].name) && (expert ? types[i].expert : types[i].dense)) {
            *out = types[i].t;
            return 0;
        }
    }
    fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not one of %s", flag, val,
           expert ? "mxfp4, bf16, f32" : "q8_0, bf16, f16, f32");
    return -1;
}

static int parse_float(const char *flag, const char *val, float *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end != '\0' || !(v > 0 && v < 1000)) {
        fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not a number in (0, 1000)", flag, val);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int fy_cmd_synth(int argc, char **argv)
{
    struct fy_synth_config c;
    const char *out = NULL, *vocab = NULL, *preset = "tiny";
    int quiet = 0;
    int64_t toy = 0;

    /* the preset first: the other flags override its fields wherever they appear */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--preset") && i + 1 < argc)
            preset = argv[i + 1];
    }
    if (strcmp(preset, "tiny") && strcmp(preset, "20b") && strcmp(preset, "120b")) {
        fy_log(FY_LOG_ERR, "flag --preset: \"%s\" is not one of tiny, 20b, 120b", preset);
        return 2;
    }
    if (fy_synth_preset(preset, &c) != FY_OK)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        int64_t n = 0;
        struct {
            const char *flag;
            int64_t *dst;
            int64_t lo, hi;
        } ints[] = {
            {"--layers", &c.n_layer, 1, 4096},     {"--d-model", &c.d_model, 32, 1 << 20},
            {"--heads", &c.n_head, 1, 4096},       {"--kv-heads", &c.n_head_kv, 1, 4096},
            {"--head-dim", &c.head_dim, 2, 4096},  {"--experts", &c.n_expert, 1, 4096},
            {"--experts-used", &c.n_expert_used, 1, 4096},
            {"--ff", &c.n_ff_exp, 32, 1 << 20},
        };
        int matched = 0;
        for (size_t k = 0; k < FY_ARRAY_LEN(ints) && !matched; k++) {
            if (strcmp(a, ints[k].flag))
                continue;
            matched = 1;
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(a, v, ints[k].lo, ints[k].hi, ints[k].dst) != FY_OK)
                return 2;
        }
        if (matched)
            continue;
        if (!strcmp(a, "--preset")) {
            if (!fy_arg_value(argc, argv, &i))  /* applied above */
                return 2;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = fy_arg_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--vocab")) {
            if (!(vocab = fy_arg_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--toy-vocab")) {
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(a, v, 277, INT32_MAX, &toy) != FY_OK)
                return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_arg_int(a, v, 0, INT64_MAX, &n) != FY_OK)
                return 2;
            c.seed = (uint64_t)n;
        } else if (!strcmp(a, "--ctx") || !strcmp(a, "--window")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_arg_int(a, v, 1, UINT32_MAX, &n) != FY_OK)
                return 2;
            if (a[2] == 'c')
                c.context_length = (uint32_t)n;
            else
                c.sliding_window = (uint32_t)n;
        } else if (!strcmp(a, "--dense-type") || !strcmp(a, "--expert-type")) {
            int expert = a[2] == 'e';
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                parse_type(a, v, expert, expert ? &c.expert_type : &c.dense_type))
                return 2;
        } else if (!strcmp(a, "--fuse-gate-up")) {
            c.fused_gate_up = 1;
        } else if (!strcmp(a, "--sparse")) {
            c.sparse = 1;
        } else if (!strcmp(a, "--sparse-experts")) {
            c.sparse_experts = 1;
        } else if (!strcmp(a, "--mild")) {
            c.mild = 1;
        } else if (!strcmp(a, "--qk-scale") || !strcmp(a, "--ffn-scale")) {
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                parse_float(a, v, a[2] == 'q' ? &c.qk_scale : &c.ffn_scale))
                return 2;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else {
            fy_log(FY_LOG_ERR, "synth: unknown flag %s (see ferry synth -h)", a);
            return 2;
        }
    }
    if (!out) {
        fy_log(FY_LOG_ERR, "synth: -o OUT.gguf is required (ferry synth -h for help)");
        return 2;
    }
    if (toy) {
        c.toy_vocab = 1;
        c.n_vocab = toy;
        if (vocab)
            fy_log(FY_LOG_WARN, "synth: --toy-vocab given, --vocab %s ignored", vocab);
    } else if (!vocab) {
        const char *env = getenv("FERRY_VOCAB");
        vocab = env && *env ? env : FY_DEFAULT_VOCAB;
    }
    if (fy_synth_check(&c) != FY_OK)
        return 2;
    if (!c.toy_vocab) {
        struct stat sb;
        if (stat(vocab, &sb) != 0) {
            fy_log(FY_LOG_ERR, "synth: vocabulary %s: %s (fetch it with bash tools/setup-vocab.sh, "
                   "or pass --vocab PATH / --toy-vocab N)", vocab, strerror(errno));
            return 1;
        }
    }
    c.progress = !quiet;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fy_status st = fy_synth_write(&c, c.toy_vocab ? NULL : vocab, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st != FY_OK) {
        fy_log(FY_LOG_ERR, "synth: writing %s failed: %s", out, fy_status_str(st));
        return 1;
    }
    struct stat sb;
    char size[48] = "written in place"; /* a FIFO, a device, standard output */
    if (strcmp(out, "-") && stat(out, &sb) == 0 && S_ISREG(sb.st_mode))
        snprintf(size, sizeof(size), "%lld bytes", (long long)sb.st_size);
    /* the summary goes to stderr when the file itself goes to standard output */
    fprintf(strcmp(out, "-") ? stdout : stderr,
           "synth: wrote %s: %s, %lld layers, d_model %lld, %lld experts, %s/%s, "
           "seed %llu, %.1f s\n",
           out, size, (long long)c.n_layer, (long long)c.d_model, (long long)c.n_expert,
           fy_dtype_name(c.dense_type), fy_dtype_name(c.expert_type),
           (unsigned long long)c.seed,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
