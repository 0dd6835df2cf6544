/* ferry: one binary, subcommands. */
#include "cli/cli_common.h"
#include "cmd.h"
#include "cpu/qdot.h"
#include "ferry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "ferry %s: GPT-OSS inference on one GPU plus system RAM\n\n"
            "usage: ferry COMMAND [options]   (ferry COMMAND -h for a command's options)\n\n"
            "commands:\n"
            "  synth     write a synthetic gpt-oss GGUF (presets tiny, 20b, 120b)\n"
            "  logits    evaluate token ids, write every row of logits to a file\n"
            "  run       complete text (-p) or token ids (--tokens), streamed\n"
            "  chat      interactive harmony chat\n"
            "  tokenize  show the tokens of a text\n"
            "  plan      where each tensor goes (-ngl, -ot, --n-cpu-moe), memory per device\n"
            "  sweep-bench  PP and TG speed at growing KV depth (llama-sweep-bench's table)\n"
            "  bench     llama-bench-style pp/tg tests: median t/s and spread (md/csv/json/jsonl)\n"
            "  bench-compare  compare two `bench -o jsonl` files; exit 1 on a regression\n"
            "  serve     an OpenAI-compatible HTTP server (/v1/chat/completions, /v1/models)\n"
            "  batch     a file of prompts, N sequences decoding together (JSON lines out)\n"
            "  batched-bench  t/s of B sequences decoding together (llama-batched-bench's table)\n\n"
            "exit status: 0 done, 1 runtime error, 2 usage error (plan: 3 when the placement\n"
            "does not fit --vram); ferry COMMAND -h says each command's\n",
            FY_VERSION);
}

/* Whatever the command wrote to standard output must have reached it: a write error (a full
 * disk, an I/O error) makes the exit status 1 and is said, unless the command failed already
 * (and said why). */
static int stdout_done(int rc)
{
    errno = 0;
    const bool flush_failed = fflush(stdout) != 0;
    const int e = errno;
    if ((!flush_failed && !ferror(stdout)) || rc != 0)
        return rc;
    if (flush_failed && e)
        fy_log(FY_LOG_ERR, "writing standard output failed: %s", strerror(e));
    else
        fy_log(FY_LOG_ERR, "writing standard output failed");
    return 1;
}

int main(int argc, char **argv)
{
    fy_omp_wait_setup(argc, argv);
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"synth", fy_cmd_synth},
        {"logits", fy_cmd_logits},
        {"run", fy_cmd_run},
        {"batch", fy_cmd_batch},
        {"batched-bench", fy_cmd_batched_bench},
        {"chat", fy_cmd_chat},
        {"tokenize", fy_cmd_tokenize},
        {"plan", fy_cmd_plan},
        {"bench", fy_cmd_bench},
        {"bench-compare", fy_cmd_bench_compare},
        {"sweep-bench", fy_cmd_sweep_bench},
        {"serve", fy_cmd_serve},
    };
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return stdout_done(0);
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ferry %s (CPU kernels: %s; OpenMP threads wait: %s)\n", FY_VERSION,
               fy_cpu_set()->name, fy_omp_wait_desc());
        return stdout_done(0);
    }
    for (size_t i = 0; i < FY_ARRAY_LEN(cmds); i++)
        if (!strcmp(argv[1], cmds[i].name))
            return stdout_done(cmds[i].fn(argc - 1, argv + 1));
    fprintf(stderr, "ferry: unknown command \"%s\"; commands: synth, logits, run, chat, "
            "tokenize, plan, sweep-bench, bench, bench-compare, serve\n", argv[1]);
    return 2;
}
