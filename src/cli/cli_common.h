/* Flags shared by the model-running subcommands (llama.cpp spellings), and opening a session. */
#ifndef FY_CLI_COMMON_H
#define FY_CLI_COMMON_H

#include "args.h"
#include "cpu/numa.h"
#include "graph/session.h"
#include "model/model.h"
#include "placement/numa_layout.h"
#include "text/sampler.h"

#include <stdbool.h>
#include <stdio.h>

struct fy_cli {
    const char *model;      /* -m */
    int32_t *tokens;        /* --tokens / --tokens-file (malloc'd) */
    int64_t n_tokens;
    int64_t n_ctx;          /* -c; 0: what the job needs (per sequence with n_seq > 1) */
    int32_t n_seq;          /* sequences the session holds (batch, serve -np); 0: 1 */
    int64_t n_ubatch;       /* -ub; 0: default */
    int64_t n_threads;      /* -t; 0: OpenMP default (all cores) */
    int64_t n_threads_batch; /* -tb: micro-batches of more than one token; 0: as -t */
    enum fy_dtype kv_type;  /* --kv-type, -ctk, -ctv */
    struct fy_arg_kv kv_flags;
    bool swa_full;          /* --swa-full: no sliding-window rings */
    bool yarn_unrounded;    /* --yarn-unrounded (test-only) */
    /* placement: -ot, -ngl, --n-cpu-moe, --cpu-moe, offload settings (src/placement/) */
    struct fy_place_rules *rules;
    bool placement_given;   /* a placement flag was on the command line */
    bool test_gpu;          /* --test-gpu: GPU0 is the counting test device in host memory */
    bool no_pin;            /* --no-pin: leave expert host memory pageable */
    int main_gpu;           /* -mg: the GPU ordinal used as GPU0 */
    bool no_gpu;            /* -dev none: the CPU only, whatever the placement flags say */
    int fit;                /* --fit: -1 default (on with a GPU), 0 off, 1 on */
    uint64_t fit_margin;    /* --fit-target MiB, as bytes */
    int64_t fit_min_ctx;    /* --fit-ctx */
    bool no_mmap, mlock;    /* --no-mmap, --mlock */
    enum fy_numa_mode numa_mode; /* --numa; FY_NUMA_MODE_COUNT: the default */
    struct fy_numa *numa;   /* made by fy_cli_load (FY_NUMA_FAKE applies) */
    struct fy_numa_layout numa_layout; /* of the last session's placement (fy_cli_session) */
    bool numa_layout_made, numa_said;
    int color;              /* --color: -1 auto, 0 off, 1 on */
    struct fy_placement *placement;  /* made by fy_cli_session */
    struct fy_device *gpu;
};

extern const char fy_cli_help_common[];

/* FY_E_NOMEM only. */
fy_status fy_cli_init(struct fy_cli *o);
/* Frees the options, the placement and the GPU device: call it after fy_session_free and before
 * fy_model_free (the placement points into the model's GGUF). */
void fy_cli_free(struct fy_cli *o);
/* Logs what the hybrid scheduler moved (nothing without a placement). */
void fy_cli_report(const struct fy_cli *o, const struct fy_session *s);
/* ---- --numa (cli_numa.c) ---- */
/* The topology and mode into o->numa, once per process (fy_cli_load); isolate without -t: as
 * many threads as the home node has CPUs. */
fy_status fy_cli_numa_open(struct fy_cli *o);
/* The NUMA layout of a session's placement (o->placement when place, else an all-CPU one) into
 * o->numa_layout, logged once, and the weights put on their nodes (fy_cli_session). */
fy_status fy_cli_numa_setup(struct fy_cli *o, const struct fy_model *m, bool place);
/* The NUMA layout (placement/numa_layout.h) as one JSON object ("null" without NUMA state), or
 * flat as "numa_*" keys: of the last session's placement, or before any session of the
 * placement made so far (else all CPU). */
fy_status fy_cli_numa_json(FILE *f, const struct fy_cli *o, const struct fy_model *m, bool flat);
/* A --numa value (flag: its spelling) into *mode; FY_E_INVAL, logged naming the flag, for a word
 * that is not a mode. */
fy_status fy_cli_numa_mode(const char *flag, const char *v, enum fy_numa_mode *mode);
/* Parses one shared flag at argv[*i]: 1 consumed, 0 not a shared flag, -1 error (logged). */
int fy_cli_parse_common(struct fy_cli *o, int argc, char **argv, int *i);

/* --poll (omp_wait.c, in the ferry executable): how the OpenMP threads wait. Called first in
 * main: may execute the program again with GOMP_SPINCOUNT set. */
#define FY_POLL_DEFAULT 0
void fy_omp_wait_setup(int argc, char **argv);
const char *fy_omp_wait_desc(void);
/* 1 if -m and --tokens/--tokens-file were given; otherwise logs what is missing and returns 0. */
int fy_cli_check_tokens(const struct fy_cli *o, const char *cmd);
/* Sets threads and loads the model (with the test-only rope switch applied). */
fy_status fy_cli_load(const struct fy_cli *o, struct fy_model **m_out);
/* Opens a session of -c positions (need_ctx when -c is absent), -ub, --kv-type, --swa-full;
 * with placement flags, over the placement they make, on the GPU (-mg) or the test device
 * (--test-gpu). */
fy_status fy_cli_session(const struct fy_cli *o, const struct fy_model *m, int64_t need_ctx,
                         struct fy_session **s_out);
/* Both of the above. */
fy_status fy_cli_open(const struct fy_cli *o, int64_t need_ctx, struct fy_model **m_out,
                      struct fy_session **s_out);

/* Sampling flags (--temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n -s/--seed):
 * 1 consumed, 0 not a sampling flag, -1 error (logged). *temp_set tells whether --temp came. */
int fy_cli_parse_sampling(struct fy_sampler_params *p, bool *temp_set, int argc, char **argv,
                          int *i);
extern const char fy_cli_help_sampling[];
/* The flags of the generating commands (run, chat): shared flags, then sampling flags. */
int fy_cli_parse_gen(struct fy_cli *o, struct fy_sampler_params *p, bool *temp_set, int argc,
                     char **argv, int *i);

#endif
