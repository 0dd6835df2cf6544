/* What a benchmark records besides its timings (see benchinfo.h). */
#include "benchinfo.h"
#include "cpu/qdot.h"

#include "fy_config.h"
#include "fy_git.h"
#include "generate.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif
#if FY_HAVE_NUMA
#include <numa.h>
#endif

#define BW_MIN_BYTES ((size_t)512 << 20)
#define BW_LLC_TIMES 4 /* the buffer is at least 4 x the last-level cache */
#define BW_MIN_PASSES 3
#define BW_MAX_PASSES 7
#define BW_BUDGET_S 0.35 /* stop adding passes after this (touching excluded) */

/* Value of the first "key<spaces>: value" line of a /proc file, into buf; 0 if found. */
static int proc_field(const char *path, const char *key, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[512];
    size_t klen = strlen(key);
    int rc = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) != 0)
            continue;
        const char *p = line + klen;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ':')
            continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        snprintf(buf, cap, "%s", p);
        size_t n = strlen(buf);
        while (n > 0 && isspace((unsigned char)buf[n - 1]))
            buf[--n] = '\0';
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

/* "<n> kB" fields of /proc files, in bytes; 0 if absent. */
static uint64_t proc_kb(const char *path, const char *key)
{
    char buf[64];
    if (proc_field(path, key, buf, sizeof(buf)) != 0)
        return 0;
    return strtoull(buf, NULL, 10) * 1024;
}

static int numa_nodes_sys(void)
{
    DIR *d = opendir("/sys/devices/system/node");
    struct dirent *e;
    int n = 0;
    if (!d)
        return 1;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "node", 4) && isdigit((unsigned char)e->d_name[4]))
            n++;
    closedir(d);
    return n > 0 ? n : 1;
}

static int numa_nodes(void)
{
#if FY_HAVE_NUMA
    if (numa_available() >= 0) {
        int n = numa_num_configured_nodes();
        if (n >= 1)
            return n;
    }
#endif
    return numa_nodes_sys();
}

typedef uint64_t fy_bw_v4 __attribute__((vector_size(32)));

/* Sum of n bytes (a multiple of 128) read by every OpenMP thread, 32-byte vectors, four
 * independent sums: a read stream like the one token generation makes over the weights. */
static uint64_t read_par(const char *src, size_t n)
{
    uint64_t s = 0;
    const size_t nb = n / 128;
#if FY_HAVE_OPENMP
#pragma omp parallel reduction(+ : s)
#endif
    {
        fy_bw_v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
#if FY_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
        for (size_t i = 0; i < nb; i++) {
            fy_bw_v4 x[4];
            memcpy(x, src + 128 * i, sizeof(x));
            a0 += x[0];
            a1 += x[1];
            a2 += x[2];
            a3 += x[3];
        }
        fy_bw_v4 t = (a0 + a1) + (a2 + a3);
        s += t[0] + t[1] + t[2] + t[3];
    }
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The size of the largest cache (bytes, from sysfs or sysconf; 0 if unknown). Some machines
 * have hundreds of MiB of L3 (a 2-core Xeon VM here reported 480 MiB): a fixed 512 MiB probe
 * would partly read from it and overstate the bandwidth the weights stream at. */
static size_t llc_bytes(void)
{
    size_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], buf[64];
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f)
            break;
        if (fgets(buf, sizeof(buf), f)) {
            char *end;
            size_t v = strtoull(buf, &end, 10);
            v *= *end == 'K' ? 1024 : *end == 'M' ? 1024 * 1024 : 1;
            best = v > best ? v : best;
        }
        fclose(f);
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0 && (size_t)l3 > best)
        best = (size_t)l3;
#endif
    return best;
}

size_t fy_mem_bandwidth_bytes(void)
{
    size_t want = BW_LLC_TIMES * llc_bytes();
    want = want > BW_MIN_BYTES ? want : BW_MIN_BYTES;
    /* at most a quarter of the RAM */
    const uint64_t ram = proc_kb("/proc/meminfo", "MemTotal");
    if (ram && want > ram / 4)
        want = ram / 4 > BW_MIN_BYTES ? (size_t)(ram / 4) : BW_MIN_BYTES;
    return want >> 20 << 20;
}

double fy_mem_bandwidth_gbps(void)
{
    const size_t bytes = fy_mem_bandwidth_bytes();
    char *a = malloc(bytes);
    double gbps[BW_MAX_PASSES];
    int n = 0;
    double res = 0;
    uint64_t sink = 0;
    if (!a)
        return 0;
    /* touch the buffer first (page faults are not bandwidth), from the reading threads */
#if FY_HAVE_OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int64_t i = 0; i < (int64_t)(bytes >> 12); i++)
        memset(a + ((size_t)i << 12), (int)(i & 0x7f), 4096);
    sink += read_par(a, bytes); /* warm-up: settles clocks */
    double t_start = fy_now();
    while (n < BW_MAX_PASSES) {
        double t0 = fy_now();
        sink += read_par(a, bytes);
        double dt = fy_now() - t0;
        gbps[n++] = dt > 0 ? (double)bytes / dt / 1e9 : 0;
        if (n >= BW_MIN_PASSES && fy_now() - t_start > BW_BUDGET_S)
            break;
    }
    qsort(gbps, (size_t)n, sizeof(gbps[0]), cmp_double);
    res = n % 2 ? gbps[n / 2] : 0.5 * (gbps[n / 2 - 1] + gbps[n / 2]);
    if (sink == 1) /* keeps the sums alive */
        res += 0.0;
    free(a);
    return res;
}

fy_status fy_machine_info_get(struct fy_machine_info *m, bool measure_bw)
{
    FY_CHECK_ARG(m);
    memset(m, 0, sizeof(*m));
    if (proc_field("/proc/cpuinfo", "model name", m->cpu, sizeof(m->cpu)) != 0 &&
        proc_field("/proc/cpuinfo", "Model", m->cpu, sizeof(m->cpu)) != 0 &&
        proc_field("/proc/cpuinfo", "Hardware", m->cpu, sizeof(m->cpu)) != 0)
        snprintf(m->cpu, sizeof(m->cpu), "unknown");
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    m->cores = nc > 0 ? (int)nc : 1;
    m->numa_nodes = numa_nodes();
    m->ram_bytes = proc_kb("/proc/meminfo", "MemTotal");
    m->gpu[0] = '\0'; /* no GPU backend in this build yet */
    m->gpu_mem_bytes = 0;
    m->mem_bw_gbps = measure_bw ? fy_mem_bandwidth_gbps() : 0;
    return FY_OK;
}

#if defined(__clang__)
#define FY_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define FY_COMPILER "gcc " __VERSION__
#else
#define FY_COMPILER "unknown"
#endif

void fy_build_info_get(struct fy_build_info *b)
{
    if (!b)
        return;
    b->version = FY_VERSION;
    b->git = FY_GIT[0] ? FY_GIT : "unknown";
    b->compiler = FY_COMPILER;
    b->backend = "cpu";
    b->cpu_kernels = fy_cpu_set()->name;
}

uint64_t fy_model_bytes_per_token(const struct fy_model *m)
{
    uint64_t total = 0;
    if (!m || !m->gguf)
        return 0;
    const int64_t n_exp = m->hp.n_expert > 0 ? m->hp.n_expert : 1;
    const int64_t k = m->hp.n_expert_used < n_exp ? m->hp.n_expert_used : n_exp;
    const int64_t nt = fy_gguf_n_tensors(m->gguf);
    for (int64_t i = 0; i < nt; i++) {
        const struct fy_gguf_tensor *t = fy_gguf_tensor_at(m->gguf, i);
        if (!strncmp(t->name, "token_embd.", 11)) {
            int64_t rows = t->n_dims >= 2 ? t->ne[1] : 1;
            total += rows > 0 ? t->size / (uint64_t)rows : t->size;
        } else if (strstr(t->name, "_exps.")) {
            total += t->size / (uint64_t)n_exp * (uint64_t)k; /* k of the E experts */
        } else {
            total += t->size;
        }
    }
    return total;
}

uint64_t fy_rss_hwm_bytes(void)
{
    return proc_kb("/proc/self/status", "VmHWM");
}

void fy_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}
