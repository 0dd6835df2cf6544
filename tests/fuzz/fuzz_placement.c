/* Fuzzes the placement flags (-ot rules with their PCRE2 patterns, -ngl, --n-cpu-moe, --cpu-moe,
 * --offload-threshold, --no-offload, --link-bw, --cpu-gflops; sizes as --vram takes them) and
 * placement itself on the tensor names of a gpt-oss-20b file (synthetic, metadata only): the
 * placement, the expert path of every layer and the memory plan. Input: a first byte (bits 0-1:
 * micro-batch of 1, 7, 64 or 512 tokens; bits 2-3: KV type f16, f32, q8_0; bit 4: --swa-full),
 * then the command line, one argument per line. Seeds (FY_FUZZ_SEEDS): placement command lines
 * of the README and llama.cpp's hybrid recipes. */
#include "fuzz.h"
#include "gguf/gguf.h"
#include "model/synth.h"
#include "placement/placement.h"

#include <unistd.h>

#define MAX_ARGS 64

static struct fy_gguf *model;
static struct fy_place_dims dims;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t n_tok[4] = {1, 7, 64, 512};
    static const enum fy_dtype kv[4] = {FY_F16, FY_F32, FY_Q8_0, FY_F16};
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    if (size < 1)
        return 0;
    const uint8_t flags = data[0];
    /* one argument per line, each its own allocation (a read past one is caught) */
    for (size_t i = 1; i <= size && argc < MAX_ARGS;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
        if (!(argv[argc] = malloc(len + 1)))
            fy_fuzz_die("out of memory");
        memcpy(argv[argc], data + i, len);
        argv[argc++][len] = '\0';
        i += len + 1;
    }
    argv[argc] = NULL;

    struct fy_place_rules *r = NULL;
    struct fy_placement *p = NULL;
    if (fy_place_rules_new(&r) != FY_OK)
        fy_fuzz_die("fy_place_rules_new failed");
    int ok = 1;
    for (int i = 0; i < argc && ok; i++) {
        uint64_t bytes;
        fy_place_parse_size("--vram", argv[i], &bytes);
        int j = i;
        ok = fy_place_parse_flag(r, argc, argv, &j) == 1;
        if (ok && (j < i || j >= argc))
            fy_fuzz_die("fy_place_parse_flag moved the index out of the command line");
        i = j;
    }
    for (int64_t i = 0; i < fy_place_rules_n_ot(r); i++) {
        const char *pat;
        enum fy_device_id dev;
        if (fy_place_rules_ot_at(r, i, &pat, &dev) != FY_OK || !pat)
            fy_fuzz_die("an -ot rule the rules count is missing");
    }
    if (ok && fy_placement_new(r, model, &dims, &p) == FY_OK) {
        struct fy_expert_path ep;
        for (int64_t l = 0; l < dims.n_layer; l++)
            fy_place_experts(p, (int)l, n_tok[flags & 3], &ep);
        struct fy_plan_opts o;
        struct fy_plan pl;
        fy_plan_opts_default(&o);
        o.n_ubatch = n_tok[flags & 3];
        o.kv_type = kv[(flags >> 2) & 3];
        o.swa_full = flags & 16;
        fy_plan_make(p, &o, &pl);
    }
    fy_placement_free(p);
    fy_place_rules_free(r);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}

static void seeds(const char *dir)
{
    static const char *const lines[] = {
        "-ngl\n99",
        "-ngl\n99\n--n-cpu-moe\n10",
        "-ngl\n99\n-ot\nexps=CPU",
        "-ot\nblk\\.(0|1|2|3)\\.ffn_.*_exps\\.weight=CPU",
        "-ngl\n99\n-ot\nblk\\.(1[0-9]|2[0-3])\\.ffn_(up|down|gate)_exps=CPU,blk\\..*=GPU0",
        "--cpu-moe\n-ngl\n30",
        "-ngl\n12\n--offload-threshold\n32\n--link-bw\n12.5\n--cpu-gflops\n300",
        "--no-offload\n-ngl\n10\n-ot\n.=ROCm0",
        "--override-tensor\n\\.ffn_(up|down)_exps\\.=CUDA0\n--n-gpu-layers\n999",
        "24GiB\n-ncmoe\n4\n-cmoe",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char name[32], buf[512];
        snprintf(name, sizeof(name), "flags-%02zu", i);
        buf[0] = (char)(i * 5); /* varied micro-batches, KV types, --swa-full */
        size_t n = strlen(lines[i]);
        memcpy(buf + 1, lines[i], n);
        fy_fuzz_seed(dir, name, buf, n + 1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200];
    struct fy_synth_config c;
    fy_fuzz_quiet();
    snprintf(dir, sizeof(dir), "%s/fuzz-placement-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        fy_fuzz_die("mkdtemp failed");
    snprintf(path, sizeof(path), "%s/20b.gguf", dir);
    if (fy_synth_preset("20b", &c) != FY_OK)
        fy_fuzz_die("no 20b preset");
    c.toy_vocab = 1; /* keeps n_vocab */
    c.sparse = 1;
    c.progress = 0;
    fy_status st = fy_synth_write(&c, NULL, path);
    if (st == FY_OK)
        st = fy_gguf_open(path, &model); /* the mapping outlives the name */
    unlink(path);
    rmdir(dir);
    if (st != FY_OK || fy_place_dims_from_gguf(model, &dims) != FY_OK)
        fy_fuzz_die("writing or opening the synthetic 20b model failed");
    const char *sd = fy_fuzz_seed_dir();
    if (sd) {
        seeds(sd);
        exit(0);
    }
    return 0;
}
