/* Flags shared by the model-running subcommands, and opening a session. */
#include "cli_common.h"

#include "args.h"
#include "fy_config.h"
#include "graph/device.h"
#include "graph/device_gpu.h"
#include "placement/placement.h"

#include <stdlib.h>
#include <string.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif

fy_status fy_cli_init(struct fy_cli *o)
{
    memset(o, 0, sizeof(*o));
    o->kv_type = FY_F16;
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
    "  -mg, --main-gpu N      the GPU that placement flags use as GPU0/CUDA0 (default 0)\n"
    "  --no-pin               do not pin the host memory experts are uploaded from (for\n"
    "                         models larger than RAM; uploads are then slower)\n"
    "  --test-gpu             GPU0 is a test device in host memory that counts every byte\n"
    "                         moved (exercises placement and offload without a GPU)\n"
    "  -h, --help             this help\n";

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
    } else if (!strcmp(a, "--test-gpu")) {
        o->test_gpu = true;
    } else if (!strcmp(a, "--no-pin")) {
        o->no_pin = true;
    } else if (!strcmp(a, "-mg") || !strcmp(a, "--main-gpu")) {
        VALUE();
        if (fy_arg_int(a, v, 0, 63, &x) != FY_OK)
            return -1;
        o->main_gpu = (int)x;
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
#if FY_HAVE_OPENMP
    if (o->n_threads > 0)
        omp_set_num_threads((int)o->n_threads);
#endif
    FY_TRY(fy_model_load(o->model, m_out));
    (*m_out)->hp.rope.unrounded = o->yarn_unrounded;
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
    so.n_threads = (int)o->n_threads;
    so.n_threads_batch = (int)(o->n_threads_batch ? o->n_threads_batch : o->n_threads);
    if (o->placement_given || o->test_gpu) {
        struct fy_cli *w = (struct fy_cli *)o; /* the placement and device live in the options */
        struct fy_place_dims dims;
        const int n_gpu = o->test_gpu ? 0 : fy_device_gpu_count();
        if (!o->test_gpu && n_gpu < 0)
            return FY_E_GPU; /* a driver that cannot be used: said by fy_gpu_count */
        if (!o->test_gpu && n_gpu <= o->main_gpu) {
            if (!strcmp(fy_device_gpu_platform(), "none"))
                fy_log(FY_LOG_ERR, "placement flags need a GPU, and this ferry was built without "
                       "GPU support (rebuild with -Dgpu=cuda or -Dgpu=hip); --test-gpu runs GPU0 "
                       "as a test device in host memory");
            else
                fy_log(FY_LOG_ERR, "placement flags need a GPU: %s GPU %d not found (%d "
                       "present); drop -ngl/-ot/--n-cpu-moe to run on the CPU",
                       fy_device_gpu_platform(), o->main_gpu, n_gpu);
            return FY_E_UNSUPPORTED;
        }
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
