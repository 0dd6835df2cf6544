/* What a benchmark records besides its timings: the machine, the build, the memory bandwidth
 * measured at start, the model's bytes of weights read per generated token, peak RSS; and a
 * JSON string writer. Shared by `ferry sweep-bench` and `ferry bench`. */
#ifndef FY_BENCHINFO_H
#define FY_BENCHINFO_H

#include "ferry.h"
#include "model/model.h"

#include <stdbool.h>
#include <stdio.h>

struct fy_machine_info {
    char cpu[128];          /* model name from /proc/cpuinfo */
    int cores;              /* online logical CPUs */
    int numa_nodes;         /* libnuma when built with it, else from /sys; >= 1 */
    uint64_t ram_bytes;     /* MemTotal */
    char gpu[128];          /* "" when no GPU backend/device */
    uint64_t gpu_mem_bytes; /* 0 when no GPU */
    double mem_bw_gbps;     /* measured host copy bandwidth (GB/s = 1e9 B/s); 0 if not measured */
};

struct fy_build_info {
    const char *version;    /* FY_VERSION */
    const char *git;        /* git describe of the source tree at build time, or "unknown" */
    const char *compiler;   /* e.g. "gcc 12.2.0" */
    const char *backend;    /* "cpu" (later "cuda", "hip") */
    const char *cpu_kernels; /* the CPU kernel set in use (src/cpu/qdot.h): "c", "avx2", ... */
};

/* Fills m; measure_bw runs the copy test (about 0.3 s) for mem_bw_gbps. */
fy_status fy_machine_info_get(struct fy_machine_info *m, bool measure_bw);
void fy_build_info_get(struct fy_build_info *b);

/* Host memory read bandwidth in GB/s: the median of a few passes of every thread reading a
 * buffer of fy_mem_bandwidth_bytes() (token generation reads the weights; nothing is
 * written). */
double fy_mem_bandwidth_gbps(void);
/* The probe's buffer: 4 x the last-level cache, at least 512 MiB, at most a quarter of the
 * RAM (so that it reads memory, not cache, on machines with hundreds of MiB of L3). */
size_t fy_mem_bandwidth_bytes(void);

/* Bytes of weights one generated token reads: every tensor except token_embd (one row of it),
 * with the expert tensors counted for n_expert_used experts per layer. */
uint64_t fy_model_bytes_per_token(const struct fy_model *m);

/* Peak resident set (VmHWM) of this process, bytes; 0 if unknown. */
uint64_t fy_rss_hwm_bytes(void);

/* Writes s as a JSON string literal (quotes, escapes, control characters as \u00XX). */
void fy_json_str(FILE *f, const char *s);

#endif
