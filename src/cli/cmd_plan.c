/* `ferry plan`: where every tensor goes, what each device needs, and which path the MoE layers
 * take per micro-batch size, from the GGUF's metadata alone (no tensor data is read). */
#include "args.h"
#include "cmd.h"
#include "gguf/gguf.h"
#include "placement/placement.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ferry plan -m MODEL [placement flags] [-c N] [-ub N] [--vram SIZE] [--json]\n\n"
            "Shows where each tensor goes (grouped), per-device memory (weights, duplicated\n"
            "expert biases, KV cache, compute buffers), whether GPU0 fits in --vram, and for\n"
            "micro-batch sizes 1 .. -ub which path the MoE layers take and what each step\n"
            "uploads. Reads only the file's metadata.\n\n"
            "  -m, --model FILE       gpt-oss GGUF (first shard of a split model)\n"
            "  -c, --ctx-size N       KV cache positions (default 4096)\n"
            "  -ub, --ubatch-size N   tokens per micro-batch (default 512)\n"
            "  --kv-type f16|f32|q8_0 KV cache type (default f16); also -ctk/-ctv TYPE\n"
            "  --vram SIZE            GPU0 memory to check against: 24G, 24GiB, 24000M, 25.5GB\n"
            "  --tensors              also list every tensor\n"
            "  --json                 one JSON document instead of the text report\n"
            "  -h, --help             this help\n\n%s\n"
            "exit status: 0 done, 1 error, 2 usage error\n",
            fy_place_help);
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
    bool json = false;
    int rc = 1;

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
    if (fy_gguf_open(model, &g) != FY_OK || fy_place_dims_from_gguf(g, &dims) != FY_OK ||
        fy_placement_new(r, g, &dims, &p) != FY_OK || fy_plan_make(p, &o, &pl) != FY_OK)
        goto done;
    fy_status st = json ? fy_plan_print_json(stdout, p, &pl, model)
                        : fy_plan_print(stdout, p, &pl, model);
    if (st != FY_OK || fflush(stdout) != 0) {
        fy_log(FY_LOG_ERR, "plan: writing the report failed");
        goto done;
    }
    rc = 0;
done:
    fy_placement_free(p);
    fy_gguf_close(g);
    fy_place_rules_free(r);
    return rc;
}
