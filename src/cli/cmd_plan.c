/* `ferry plan`: where every tensor goes, what each device needs, and which path the MoE layers
 * take per micro-batch size, from the GGUF's metadata alone (no tensor data is read). */
#include "args.h"
#include "cli_common.h"
#include "cmd.h"
#include "cpu/numa.h"
#include "gguf/gguf.h"
#include "placement/placement.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ferry plan -m MODEL [placement flags] [-c N] [-ub N] [--vram SIZE [--fit]]\n"
            "                  [--json]\n\n"
            "Shows where each tensor goes (grouped), per-device memory (weights, duplicated\n"
            "expert biases, KV cache, compute buffers), whether GPU0 fits in --vram, and for\n"
            "micro-batch sizes 1 .. -ub which path the MoE layers take and what each step\n"
            "uploads. Reads only the file's metadata.\n\n"
            "  -m, --model FILE       gpt-oss GGUF (first shard of a split model)\n"
            "  -c, --ctx-size N       KV cache positions (default 4096)\n"
            "  -ub, --ubatch-size N   tokens per micro-batch (default 512)\n"
            "  --kv-type f16|f32|q8_0 KV cache type (default f16); also -ctk/-ctv TYPE\n"
            "  --swa-full             full-size KV caches on the sliding-window layers too\n"
            "                         (default: a ring of window + ub slots there)\n"
            "  --vram SIZE            GPU0 memory to check against: 24G, 24GiB, 24000M, 25.5GB;\n"
            "                         when the placement does not fit, the fitting flags are\n"
            "                         printed and the exit status is 3\n"
            "  --fit                  choose the placement instead (needs --vram): the fastest\n"
            "                         that fits --vram less --fit-target, in this order: -ngl 99;\n"
            "                         -ngl 99 --n-cpu-moe N, smallest N; -ngl 99 --cpu-moe; -ngl K\n"
            "                         --cpu-moe, largest K (replaces -ngl, --n-cpu-moe, -ot)\n"
            "  --fit-target MIB       memory --fit leaves free on GPU0 (default 1024)\n"
            "  --fit-ctx N            --fit may halve -c down to N when nothing fits (default:\n"
            "                         never shrink the context)\n"
            "  --numa MODE            show the NUMA layout of a mode (off, distribute, isolate,\n"
            "                         mirror, experts; default: experts with 2+ nodes, else off;\n"
            "                         FY_NUMA_FAKE=N pretends N nodes)\n"
            "  --tensors              also list every tensor\n"
            "  --json                 one JSON document instead of the text report\n"
            "  -h, --help             this help\n\n%s\n"
            "exit status: 0 done (and fits, or no --vram), 1 error, 2 usage error, 3 the\n"
            "placement does not fit --vram (--fit: nothing fits)\n",
            fy_place_help);
}

/* The fit's verdict and command line (--fit), or the flags that would fit (a placement that does
 * not fit --vram). False when writing failed. */
static bool print_fit(FILE *f, const struct fy_fit *ft, const struct fy_fit_opts *fo, bool fit,
                      const char *model)
{
    const double gib = 1024.0 * 1024.0 * 1024.0;
    int n;
    if (ft->fits)
        n = fprintf(f, "\nfit: %s GPU0 %.2f GiB of %.2f GiB (%.2f GiB kept free): ferry run -m %s "
                    "%s\n", fit ? "chose" : "this fits:", ft->gpu_bytes / gib, fo->vram / gib,
                    fo->margin / gib, model, ft->flags);
    else
        n = fprintf(f, "\nfit: nothing fits %.2f GiB with %.2f GiB kept free (not even -ngl 1 "
                    "--cpu-moe at -c %lld%s): run on the CPU (-ngl 0)%s\n", fo->vram / gib,
                    fo->margin / gib, (long long)ft->n_ctx, fo->min_ctx ? ", the --fit-ctx floor" : "",
                    fo->min_ctx ? "" : ", or let the context shrink with --fit-ctx N");
    return n > 0;
}

int fy_cmd_plan(int argc, char **argv)
{
    struct fy_place_rules *r = NULL;
    struct fy_gguf *g = NULL;
    struct fy_placement *p = NULL;
    struct fy_plan_opts o;
    struct fy_plan pl;
    struct fy_place_dims dims;
    const char *model = NULL, *v = NULL;
    struct fy_arg_kv kvf = {0};
    bool json = false, fit = false;
    struct fy_fit_opts fo = {.margin = FY_FIT_MARGIN};
    struct fy_fit ft = {0};
    enum fy_numa_mode numa_mode = FY_NUMA_MODE_COUNT; /* the default */
    struct fy_numa *numa = NULL;
    int rc = 2; /* usage errors until the flags are read */

    fy_plan_opts_default(&o);
    if (fy_place_rules_new(&r) != FY_OK)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = fy_place_parse_flag(r, argc, argv, &i);
        if (k == 0)
            k = fy_arg_kv_type(&kvf, &o.kv_type, argc, argv, &i);
        if (k < 0)
            goto done;
        if (k > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(a, v, 1, INT32_MAX, &o.n_ctx) != FY_OK)
                goto done;
        } else if (!strcmp(a, "-ub") || !strcmp(a, "--ubatch-size")) {
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(a, v, 1, 1 << 16, &o.n_ubatch) != FY_OK)
                goto done;
        } else if (!strcmp(a, "--vram")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_place_parse_size(a, v, &o.vram) != FY_OK)
                goto done;
            if (o.vram == 0) {
                fy_log(FY_LOG_ERR, "flag --vram: \"%s\" is zero", v);
                goto done;
            }
        } else if (!strcmp(a, "--fit")) {
            fit = true;
        } else if (!strcmp(a, "--fit-target")) {
            int64_t mib;
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(a, v, 0, INT64_C(1) << 40, &mib) != FY_OK)
                goto done;
            fo.margin = (uint64_t)mib << 20;
        } else if (!strcmp(a, "--fit-ctx")) {
            if (!(v = fy_arg_value(argc, argv, &i)) ||
                fy_arg_int(a, v, 1, INT32_MAX, &fo.min_ctx) != FY_OK)
                goto done;
        } else if (!strcmp(a, "--swa-full")) {
            o.swa_full = true;
        } else if (!strcmp(a, "--numa")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_cli_numa_mode(a, v, &numa_mode) != FY_OK)
                goto done;
        } else if (!strcmp(a, "--tensors")) {
            o.tensors = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            fy_log(FY_LOG_ERR, "plan: unknown flag %s (see ferry plan -h)", a);
            rc = 2;
            goto done;
        }
    }
    if (!model) {
        fy_log(FY_LOG_ERR, "plan: -m MODEL is required (see ferry plan -h)");
        goto done;
    }
    if (fit && !o.vram) {
        fy_log(FY_LOG_ERR, "plan: --fit needs --vram SIZE (the GPU memory to fit)");
        goto done;
    }
    int fake = 0;
    if (fy_numa_fake_env(&fake) != FY_OK)
        goto done;
    rc = 1; /* runtime errors from here */
    const struct fy_numa_opts no = {.mode = numa_mode, .fake = fake};
    if (fy_numa_new(&no, &numa) != FY_OK)
        goto done;
    o.numa = numa;
    if (fy_gguf_open(model, &g) != FY_OK || fy_place_dims_from_gguf(g, &dims) != FY_OK)
        goto done;
    fo.vram = o.vram;
    if (fit) {
        if (fy_plan_fit(g, &dims, r, &o, &fo, &ft) != FY_OK)
            goto done;
        if (ft.fits) {
            if (fy_place_rules_from_fit(r, &ft) != FY_OK)
                goto done;
            o.n_ctx = ft.n_ctx;
        }
    }
    if (fy_placement_new(r, g, &dims, &p) != FY_OK || fy_plan_make(p, &o, &pl) != FY_OK)
        goto done;
    if (!fit && pl.fits == 0 && fy_plan_fit(g, &dims, r, &o, &fo, &ft) != FY_OK)
        goto done;
    fy_status st = json ? fy_plan_print_json(stdout, p, &pl, model)
                        : fy_plan_print(stdout, p, &pl, model);
    if (st == FY_OK && !json && (fit || pl.fits == 0))
        st = print_fit(stdout, &ft, &fo, fit, model) ? FY_OK : FY_E_IO;
    if (st != FY_OK || fflush(stdout) != 0) {
        fy_log(FY_LOG_ERR, "plan: writing the report failed");
        goto done;
    }
    if (json && (fit || pl.fits == 0))
        print_fit(stderr, &ft, &fo, fit, model);
    rc = (fit && !ft.fits) || (!fit && pl.fits == 0) ? 3 : 0;
done:
    fy_placement_free(p);
    fy_gguf_close(g);
    fy_place_rules_free(r);
    fy_numa_free(numa);
    return rc;
}
