/* Flags shared by the model-running subcommands, and opening a session. */
#include "cli_common.h"

#include "args.h"
#include "cpu/qdot.h"
#include "fy_config.h"
#include "graph/device.h"
#include "graph/device_gpu.h"
#include "placement/placement.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif

fy_status fy_cli_init(struct fy_cli *o)
{
    memset(o, 0, sizeof(*o));
    o->kv_type = FY_F16;
    o->fit = -1;
    o->fit_margin = FY_FIT_MARGIN;
    o->color = -1;
    o->numa_mode = FY_NUMA_MODE_COUNT;
    return fy_place_rules_new(&o->rules);
}

void fy_cli_free(struct fy_cli *o)
{
    free(o->tokens);
    o->tokens = NULL;
    fy_placement_free(o->placement);
    o->placement = NULL;
    fy_device_free(o->gpu);
    o->gpu = NULL;
    fy_place_rules_free(o->rules);
    o->rules = NULL;
    fy_numa_free(o->numa); /* after the session: its mirror copies */
    o->numa = NULL;
}

void fy_cli_report(const struct fy_cli *o, const struct fy_session *s)
{
    const struct fy_sched_stats *st = s ? fy_session_sched_stats(s) : NULL;
    if (!st)
        return;
    fy_log(FY_LOG_INFO, "%s: weights uploaded at load %.1f MiB; experts uploaded %lld (%.1f MiB) "
           "+ biases %.1f MiB; activations %.1f MiB in, %.1f MiB out; MoE layer runs: %lld on "
           "%s, %lld on CPU", o->gpu->name, st->load_bytes / 1048576.0,
           (long long)st->experts_uploaded, st->expert_bytes / 1048576.0,
           st->bias_bytes / 1048576.0, st->act_bytes_in / 1048576.0,
           st->act_bytes_out / 1048576.0, (long long)st->moe_gpu, o->gpu->name,
           (long long)st->moe_cpu);
    if (st->prefetch_bytes)
        fy_log(FY_LOG_INFO, "%s: experts prefetched for the next layer %.1f MiB, of which "
               "%.1f MiB not selected (FY_NO_PREFETCH=1 turns prefetch off)", o->gpu->name,
               st->prefetch_bytes / 1048576.0, st->prefetch_wasted_bytes / 1048576.0);
}

const char fy_cli_help_common[] =
    "  -m, --model FILE       gpt-oss GGUF (first shard of a split model)\n"
    "  --tokens IDS           comma-separated token ids, e.g. 1,2,3\n"
    "  --tokens-file FILE     token ids from a file (comma or whitespace separated; at most\n"
    "                         64 MiB)\n"
    "  -c, --ctx-size N       KV cache size in tokens (default: what the job needs)\n"
    "  -ub, --ubatch-size N   tokens per micro-batch (default 512)\n"
    "  -b, --batch-size N     accepted for llama.cpp compatibility; micro-batches rule\n"
    "  -t, --threads N        CPU threads (default: all cores)\n"
    "  -tb, --threads-batch N CPU threads for micro-batches of more than one token (prompt\n"
    "                         processing; default: as -t)\n"
    "  --poll N               0-100: how long idle CPU threads spin before they sleep (N *\n"
    "                         3000 iterations; default 0: sleep at once, which keeps a busy\n"
    "                         machine fast; 100 is libgomp's default; OMP_WAIT_POLICY or\n"
    "                         GOMP_SPINCOUNT in the environment win)\n"
    "  --kv-type f16|f32|q8_0 KV cache type (default f16); q8_0: blocks of 32 int8 and an\n"
    "                         f16 scale (34 bytes), n_head_kv*head_dim a multiple of 32\n"
    "  -ctk, --cache-type-k T, -ctv, --cache-type-v T\n"
    "                         llama.cpp's spellings: the same type for K and V\n"
    "  --swa-full             full-size KV caches on the sliding-window layers too (default:\n"
    "                         a ring of window + ub slots there, same results, less memory)\n"
    "  -mg, --main-gpu N      the GPU that placement flags use as GPU0/CUDA0 (default 0)\n"
    "  --no-pin               do not pin the host memory experts are uploaded from (for\n"
    "                         models larger than RAM; uploads are then slower)\n"
    "  --test-gpu             GPU0 is a test device in host memory that counts every byte\n"
    "                         moved (exercises placement and offload without a GPU)\n"
    "  -dev, --device DEV     none (or CPU): run on the CPU whatever the placement flags say;\n"
    "                         CUDA<N>, ROCm<N>, GPU<N>: GPU N as GPU0 (as -mg N)\n"
    "  --fit on|off           with a GPU: choose the placement that fits its free memory when\n"
    "                         no placement flag is given, and check one that is (default on)\n"
    "  --fit-target MIB       GPU memory --fit leaves free (default 1024)\n"
    "  --fit-ctx N            --fit may halve -c down to N when nothing fits (default: never)\n"
    "  --no-mmap              read the model into memory instead of mapping it\n"
    "  --mlock                keep the model's pages in RAM (warns when the limit refuses)\n"
    "  --numa MODE            NUMA nodes: experts (each layer's experts split across the\n"
    "                         nodes, each part computed by its node's threads; the default\n"
    "                         with 2+ nodes), mirror (the experts copied onto every node),\n"
    "                         distribute, isolate (llama.cpp's), off (the default with one\n"
    "                         node); FY_NUMA_FAKE=N pretends N nodes, binding nothing\n"
    "  -fa, --flash-attn [on|off|auto]  accepted: ferry's attention is always flash-style\n"
    "  -ts, --tensor-split A,B  accepted for one GPU (ferry uses one: -mg/-dev picks it)\n"
    "  --jinja, --chat-template NAME  accepted: gpt-oss is rendered by ferry's harmony renderer\n"
    "  -v, --verbose          debug messages; --log-disable: errors only\n"
    "  --color [on|off|auto]  colors on a terminal (chat: the reasoning dimmed; default auto)\n"
    "  -h, --help             this help\n";

/* "on|off|auto" (and llama.cpp's older 1/0/true/false): 1, 0, -1 for auto; -2 if not one */
static int on_off(const char *v)
{
    if (!strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "enabled"))
        return 1;
    if (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "disabled"))
        return 0;
    return !strcmp(v, "auto") ? -1 : -2;
}

/* A flag whose value is optional (-fa, --color): the next argument when it is one of
 * on/off/auto, else nothing (the flag alone means on). */
static const char *optional_value(int argc, char **argv, int *i)
{
    if (*i + 1 < argc && on_off(argv[*i + 1]) != -2)
        return argv[++*i];
    return NULL;
}

/* -dev/--device: none or CPU; CUDA<N>, ROCm<N>, GPU<N> (the first of a comma list) */
static int parse_device(struct fy_cli *o, const char *flag, const char *v)
{
    if (!strcasecmp(v, "none") || !strcasecmp(v, "cpu")) {
        o->no_gpu = true;
        return 1;
    }
    static const char *const pre[] = {"CUDA", "ROCm", "GPU", "HIP"};
    for (size_t k = 0; k < FY_ARRAY_LEN(pre); k++) {
        size_t n = strlen(pre[k]);
        if (strncasecmp(v, pre[k], n) != 0)
            continue;
        char *end = NULL;
        long g = strtol(v + n, &end, 10);
        if (end != v + n && (*end == '\0' || *end == ',') && g >= 0 && g < 64) {
            if (*end == ',')
                fy_log(FY_LOG_WARN, "flag %s: ferry uses one GPU: %.*s, not the rest of \"%s\"",
                       flag, (int)(end - v), v, v);
            o->main_gpu = (int)g;
            o->no_gpu = false;
            return 1;
        }
    }
    fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not a device: none, CPU, CUDA<N>, ROCm<N> or GPU<N>",
           flag, v);
    return -1;
}

/* Parses one common flag at argv[*i]. Returns 1 if consumed, 0 if not ours, -1 on error. */
int fy_cli_parse_common(struct fy_cli *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    int64_t x;
    const int kvr = fy_arg_kv_type(&o->kv_flags, &o->kv_type, argc, argv, i);
    if (kvr != 0)
        return kvr;
#define VALUE() do { if (!(v = fy_arg_value(argc, argv, i))) return -1; } while (0)
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        VALUE();
        o->model = v;
    } else if (!strcmp(a, "--tokens") || !strcmp(a, "--tokens-file")) {
        VALUE();
        free(o->tokens);
        o->tokens = NULL;
        fy_status st = !strcmp(a, "--tokens") ? fy_arg_tokens(a, v, &o->tokens, &o->n_tokens)
                                              : fy_arg_tokens_file(a, v, &o->tokens, &o->n_tokens);
        if (st != FY_OK)
            return -1;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
        VALUE();
        if (fy_arg_int(a, v, 1, INT32_MAX, &o->n_ctx) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-ub") || !strcmp(a, "--ubatch-size")) {
        VALUE();
        if (fy_arg_int(a, v, 1, 1 << 16, &o->n_ubatch) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
        VALUE();
        if (fy_arg_int(a, v, 1, INT32_MAX, &x) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        VALUE();
        if (fy_arg_int(a, v, 1, 4096, &o->n_threads) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-tb") || !strcmp(a, "--threads-batch")) {
        VALUE();
        if (fy_arg_int(a, v, 1, 4096, &o->n_threads_batch) != FY_OK)
            return -1;
    } else if (!strcmp(a, "--poll")) { /* applied before main (omp_wait.c) */
        VALUE();
        if (fy_arg_int(a, v, 0, 100, &x) != FY_OK)
            return -1;
    } else if (!strcmp(a, "--swa-full")) {
        o->swa_full = true;
    } else if (!strcmp(a, "--test-gpu")) {
        o->test_gpu = true;
    } else if (!strcmp(a, "--no-pin")) {
        o->no_pin = true;
    } else if (!strcmp(a, "-mg") || !strcmp(a, "--main-gpu")) {
        VALUE();
        if (fy_arg_int(a, v, 0, 63, &x) != FY_OK)
            return -1;
        o->main_gpu = (int)x;
    } else if (!strcmp(a, "-dev") || !strcmp(a, "--device")) {
        VALUE();
        return parse_device(o, a, v);
    } else if (!strcmp(a, "--fit")) {
        VALUE();
        int f = on_off(v);
        if (f < 0) {
            fy_log(FY_LOG_ERR, "flag --fit: \"%s\" is not one of on, off", v);
            return -1;
        }
        o->fit = f;
    } else if (!strcmp(a, "--fit-target") || !strcmp(a, "-fitt")) {
        VALUE();
        if (fy_arg_int(a, v, 0, INT64_C(1) << 40, &x) != FY_OK)
            return -1;
        o->fit_margin = (uint64_t)x << 20;
    } else if (!strcmp(a, "--fit-ctx") || !strcmp(a, "-fitc")) {
        VALUE();
        if (fy_arg_int(a, v, 1, INT32_MAX, &o->fit_min_ctx) != FY_OK)
            return -1;
    } else if (!strcmp(a, "--no-mmap")) {
        o->no_mmap = true;
    } else if (!strcmp(a, "--mlock")) {
        o->mlock = true;
    } else if (!strcmp(a, "--numa")) {
        VALUE();
        if (fy_cli_numa_mode(a, v, &o->numa_mode) != FY_OK)
            return -1;
    } else if (!strcmp(a, "-fa") || !strcmp(a, "--flash-attn")) {
        v = optional_value(argc, argv, i);
        if (v && on_off(v) == 0)
            fy_log(FY_LOG_INFO, "flag %s off: ferry's attention is always flash-style (it keeps "
                   "no score matrix); running with it", a);
        else if (!v && *i + 1 < argc && argv[*i + 1][0] != '-')
            fy_log(FY_LOG_WARN, "flag %s: \"%s\" is not one of on, off, auto; taken as on", a,
                   argv[*i + 1]);
    } else if (!strcmp(a, "-ts") || !strcmp(a, "--tensor-split")) {
        VALUE();
        int nonzero = 0;
        for (const char *c = v; *c;) {
            char *end = NULL;
            double f = strtod(c, &end);
            if (end == c) {
                fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not a list of numbers (e.g. 3,1)", a, v);
                return -1;
            }
            nonzero += f > 0;
            c = *end == ',' || *end == '/' ? end + 1 : end;
            if (*end && *end != ',' && *end != '/') {
                fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not a list of numbers (e.g. 3,1)", a, v);
                return -1;
            }
        }
        if (nonzero > 1)
            fy_log(FY_LOG_WARN, "flag %s %s: ferry runs on one GPU (GPU%d, -mg/-dev); the split "
                   "is ignored", a, v, o->main_gpu);
    } else if (!strcmp(a, "--jinja") || !strcmp(a, "--no-jinja")) {
        /* accepted: gpt-oss is rendered by ferry's harmony renderer (src/text/harmony*.c) */
    } else if (!strcmp(a, "--chat-template") || !strcmp(a, "--chat-template-file")) {
        VALUE();
        fy_log(FY_LOG_INFO, "flag %s %s: accepted; gpt-oss conversations are rendered by "
               "ferry's harmony renderer", a, v);
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose") || !strcmp(a, "--log-verbose")) {
        fy_log_set_level(FY_LOG_DEBUG);
    } else if (!strcmp(a, "--log-disable")) {
        fy_log_set_level(FY_LOG_ERR);
    } else if (!strcmp(a, "--color") || !strcmp(a, "-co")) {
        v = optional_value(argc, argv, i);
        o->color = v ? on_off(v) : 1;
    } else if (!strcmp(a, "--yarn-unrounded")) {
        o->yarn_unrounded = true; /* test-only: OpenAI/HF YaRN correction range */
    } else {
        int r = fy_place_parse_flag(o->rules, argc, argv, i);
        o->placement_given |= r == 1;
        return r;
    }
#undef VALUE
    return 1;
}

int fy_cli_check_tokens(const struct fy_cli *o, const char *cmd)
{
    if (!o->model) {
        fy_log(FY_LOG_ERR, "%s: -m MODEL is required (see ferry %s -h)", cmd, cmd);
        return 0;
    }
    if (!o->tokens) {
        fy_log(FY_LOG_ERR, "%s: --tokens or --tokens-file is required", cmd);
        return 0;
    }
    return 1;
}

fy_status fy_cli_load(const struct fy_cli *o, struct fy_model **m_out)
{
    FY_TRY(fy_cli_numa_open((struct fy_cli *)o)); /* the NUMA state lives in the options */
#if FY_HAVE_OPENMP
    if (o->n_threads > 0)
        omp_set_num_threads((int)o->n_threads);
#endif
    const struct fy_gguf_load_opts lo = {.no_mmap = o->no_mmap, .mlock = o->mlock};
    fy_gguf_set_load_opts(&lo);
    FY_TRY(fy_model_load(o->model, m_out));
    (*m_out)->hp.rope.unrounded = o->yarn_unrounded;
    return FY_OK;
}

/* GiB of the GPU0 weights, duplicated biases and KV cache a placement would hold (plan figures) */
static double placed_gib(const struct fy_place_rules *r, const struct fy_model *m,
                         const struct fy_session_opts *so)
{
    struct fy_place_dims dims;
    struct fy_placement *p = NULL;
    struct fy_plan_opts po;
    struct fy_plan pl;
    double gib = -1;
    fy_plan_opts_default(&po);
    po.n_ctx = so->n_ctx;
    po.n_ubatch = so->n_ubatch < so->n_ctx ? so->n_ubatch : so->n_ctx;
    po.kv_type = so->kv_type;
    if (fy_place_dims_from_gguf(m->gguf, &dims) == FY_OK &&
        fy_placement_new(r, m->gguf, &dims, &p) == FY_OK && fy_plan_make(p, &po, &pl) == FY_OK)
        gib = pl.dev[FY_DEV_GPU0].total / (1024.0 * 1024.0 * 1024.0);
    fy_placement_free(p);
    return gib;
}

/* No usable GPU (or -dev none) with placement flags: said once per process, then the CPU. */
static fy_status cpu_fallback(const struct fy_cli *o, const struct fy_model *m, int n_gpu,
                              const struct fy_session_opts *so)
{
    static bool said;
    if (said)
        return FY_OK;
    said = true;
    const double gib = placed_gib(o->rules, m, so);
    char what[96];
    if (gib >= 0)
        snprintf(what, sizeof(what), "; the placement would put %.2f GiB on GPU0", gib);
    else
        what[0] = '\0';
    if (o->no_gpu)
        fy_log(FY_LOG_INFO, "-dev none: running everything on the CPU%s", what);
    else if (!strcmp(fy_device_gpu_platform(), "none"))
        fy_log(FY_LOG_WARN, "no GPU support in this build: running everything on the CPU%s "
               "(rebuild with -Dgpu=cuda or -Dgpu=hip for a GPU)", what);
    else if (n_gpu < 0)
        fy_log(FY_LOG_WARN, "no usable GPU: running everything on the CPU%s", what);
    else
        fy_log(FY_LOG_WARN, "no GPU found (%s GPU %d; %d present): running everything on the "
               "CPU%s", fy_device_gpu_platform(), o->main_gpu, n_gpu, what);
    return FY_OK;
}

/* --fit with a GPU: without placement flags, the placement that fits GPU0's free memory (and
 * so->n_ctx may shrink with --fit-ctx); with them, a warning when theirs does not fit. */
static fy_status fit_placement(struct fy_cli *o, const struct fy_model *m,
                               struct fy_session_opts *so, bool *place)
{
    uint64_t free_b = 0, total_b = 0;
    if (fy_device_gpu_mem(o->main_gpu, &free_b, &total_b) != FY_OK || free_b == 0)
        return FY_OK; /* said by the GPU layer; the placement stays as given */
    struct fy_place_dims dims;
    FY_TRY(fy_place_dims_from_gguf(m->gguf, &dims));
    struct fy_plan_opts po;
    fy_plan_opts_default(&po);
    po.n_ctx = so->n_ctx;
    po.n_ubatch = so->n_ubatch < so->n_ctx ? so->n_ubatch : so->n_ctx;
    po.kv_type = so->kv_type;
    const struct fy_fit_opts fo = {.vram = free_b, .margin = o->fit_margin,
                                   .min_ctx = o->fit_min_ctx};
    struct fy_fit ft;
    FY_TRY(fy_plan_fit(m->gguf, &dims, o->rules, &po, &fo, &ft));
    const double gib = 1024.0 * 1024.0 * 1024.0;
    if (*place) {
        const double need = placed_gib(o->rules, m, so);
        if (need * gib > (double)(free_b > fo.margin ? free_b - fo.margin : 0))
            fy_log(FY_LOG_WARN, "--fit: the placement needs %.2f GiB on GPU0, which has %.2f GiB "
                   "free (%.2f GiB kept free); %s%s", need, free_b / gib, fo.margin / gib,
                   ft.fits ? "this fits: " : "nothing fits; run on the CPU with -dev none",
                   ft.fits ? ft.flags : "");
        return FY_OK;
    }
    if (!ft.fits) {
        fy_log(FY_LOG_INFO, "--fit: nothing fits GPU0's %.2f GiB free (%.2f GiB kept free): "
               "running on the CPU", free_b / gib, fo.margin / gib);
        return FY_OK;
    }
    FY_TRY(fy_place_rules_from_fit(o->rules, &ft));
    so->n_ctx = ft.n_ctx;
    *place = true;
    fy_log(FY_LOG_INFO, "--fit: %s (GPU0 %.2f GiB of %.2f GiB free; --fit off to run on the CPU)",
           ft.flags, ft.gpu_bytes / gib, free_b / gib);
    return FY_OK;
}

fy_status fy_cli_session(const struct fy_cli *o, const struct fy_model *m, int64_t need_ctx,
                         struct fy_session **s_out)
{
    struct fy_session_opts so;
    fy_session_opts_default(&so);
    so.n_ctx = o->n_ctx ? o->n_ctx : need_ctx;
    if (so.n_ctx > m->hp.n_ctx_train)
        fy_log(FY_LOG_WARN, "context %lld exceeds the model's training context %lld",
               (long long)so.n_ctx, (long long)m->hp.n_ctx_train);
    if (o->n_ubatch)
        so.n_ubatch = o->n_ubatch;
    so.kv_type = o->kv_type;
    so.swa_full = o->swa_full;
    so.n_seq = o->n_seq > 0 ? o->n_seq : 1;
    so.n_threads = (int)o->n_threads;
    so.n_threads_batch = (int)(o->n_threads_batch ? o->n_threads_batch : o->n_threads);
    struct fy_cli *w = (struct fy_cli *)o; /* the placement and device live in the options */
    bool place = o->placement_given || o->test_gpu;
    if (!o->test_gpu) {
        const int n_gpu = o->no_gpu ? 0 : fy_device_gpu_count();
        if (o->no_gpu || n_gpu <= o->main_gpu) {
            if (place)
                FY_TRY(cpu_fallback(o, m, n_gpu, &so));
            place = false;
        } else if (o->fit != 0) {
            FY_TRY(fit_placement(w, m, &so, &place));
        }
    }
    if (place) {
        struct fy_place_dims dims;
        FY_TRY(fy_place_dims_from_gguf(m->gguf, &dims));
        FY_TRY(fy_placement_new(o->rules, m->gguf, &dims, &w->placement));
        if (o->test_gpu) {
            FY_TRY(fy_device_test_new(FY_DEV_GPU0, &w->gpu));
        } else {
            struct fy_device_gpu_opts go;
            fy_device_gpu_opts_default(&go);
            go.index = o->main_gpu;
            go.pin = !o->no_pin;
            FY_TRY(fy_device_gpu_new(FY_DEV_GPU0, &go, &w->gpu));
        }
        so.placement = o->placement;
        so.gpu = o->gpu;
    }
    if (o->numa) {
        FY_TRY(fy_cli_numa_setup(w, m, place));
        so.numa = o->numa;
    }
    fy_log(FY_LOG_DEBUG, "session: context %lld, micro-batch %lld, KV %s, threads %d (batch "
           "%d), CPU kernels %s, %s", (long long)so.n_ctx, (long long)so.n_ubatch,
           fy_dtype_name(so.kv_type), so.n_threads, so.n_threads_batch, fy_cpu_set()->name,
           place ? "with a placement on GPU0" : "the CPU only");
    return fy_session_new(m, &so, s_out);
}

fy_status fy_cli_open(const struct fy_cli *o, int64_t need_ctx, struct fy_model **m_out,
                      struct fy_session **s_out)
{
    FY_TRY(fy_cli_load(o, m_out));
    return fy_cli_session(o, *m_out, need_ctx, s_out);
}

const char fy_cli_help_sampling[] =
    "  --temp T               temperature (0: greedy)\n"
    "  --top-k N              keep the N most likely tokens (0: off)\n"
    "  --top-p P              keep the smallest set of probability >= P (1: off)\n"
    "  --min-p P              drop tokens below P x the top probability (0: off)\n"
    "  --repeat-penalty F     penalise the last --repeat-last-n tokens (1: off)\n"
    "  --repeat-last-n N      tokens the repetition penalty looks back (default 64)\n"
    "  -s, --seed N           random seed (same seed, same output)\n";

int fy_cli_parse_sampling(struct fy_sampler_params *p, bool *temp_set, int argc, char **argv,
                          int *i)
{
    const char *a = argv[*i], *v;
    int64_t x;
    fy_status st;
    if (!strcmp(a, "--temp") || !strcmp(a, "--top-k") || !strcmp(a, "--top-p") ||
        !strcmp(a, "--min-p") || !strcmp(a, "--repeat-penalty") ||
        !strcmp(a, "--repeat-last-n") || !strcmp(a, "-s") || !strcmp(a, "--seed")) {
        if (!(v = fy_arg_value(argc, argv, i)))
            return -1;
    } else {
        return 0;
    }
    if (!strcmp(a, "--temp")) {
        st = fy_arg_float(a, v, 0, 100, &p->temp);
        *temp_set = true;
    } else if (!strcmp(a, "--top-k")) {
        st = fy_arg_int(a, v, 0, INT32_MAX, &x);
        p->top_k = (int32_t)x;
    } else if (!strcmp(a, "--top-p")) {
        st = fy_arg_float(a, v, 0, 1, &p->top_p);
    } else if (!strcmp(a, "--min-p")) {
        st = fy_arg_float(a, v, 0, 1, &p->min_p);
    } else if (!strcmp(a, "--repeat-penalty")) {
        st = fy_arg_float(a, v, 1e-3, 100, &p->repeat_penalty);
    } else if (!strcmp(a, "--repeat-last-n")) {
        st = fy_arg_int(a, v, 0, INT32_MAX, &x);
        p->repeat_last_n = (int32_t)x;
    } else {
        st = fy_arg_u64(a, v, &p->seed);
    }
    return st == FY_OK ? 1 : -1;
}

int fy_cli_parse_gen(struct fy_cli *o, struct fy_sampler_params *p, bool *temp_set, int argc,
                     char **argv, int *i)
{
    int r = fy_cli_parse_common(o, argc, argv, i);
    return r ? r : fy_cli_parse_sampling(p, temp_set, argc, argv, i);
}
