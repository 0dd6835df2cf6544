/* NUMA topology, modes, thread teams and pinning (numa.h). Memory operations: numa_mem.c.
 *
 * Topology: the nodes this process may allocate on (libnuma's numa_all_nodes_ptr) that have
 * memory and CPUs it may run on (sched_getaffinity), so `numactl -N 0,1 ferry ...` narrows it.
 * Without libnuma, or where it says NUMA is unavailable, the machine is one node.
 *
 * Threads: a team of nt OpenMP threads is cut into one contiguous block per node group (at
 * least one thread each, the rest in proportion to the nodes' CPUs); fy_numa_pin binds each
 * thread of the block to its node's CPUs. libgomp hands thread i of a team to the same pool
 * thread from one region to the next, so a pin holds until the team size changes (a session
 * pins again when it switches between -t and -tb). */
#include "numa.h"

#include "fy_config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif
#if FY_HAVE_NUMA
#include <numa.h>
#endif

static const char *const mode_names[FY_NUMA_MODE_COUNT] = {"off", "distribute", "isolate", "mirror",
                                                           "experts"};

const char *fy_numa_mode_name(enum fy_numa_mode m)
{
    return m >= 0 && m < FY_NUMA_MODE_COUNT ? mode_names[m] : "default";
}

fy_status fy_numa_mode_parse(const char *s, enum fy_numa_mode *out)
{
    for (int m = 0; m < FY_NUMA_MODE_COUNT; m++) {
        if (!strcmp(s, mode_names[m])) {
            *out = (enum fy_numa_mode)m;
            return FY_OK;
        }
    }
    if (!strcmp(s, "numactl")) {
        *out = FY_NUMA_MODE_COUNT;
        return FY_OK;
    }
    return FY_E_INVAL;
}

fy_status fy_numa_fake_env(int *n)
{
    const char *v = getenv("FY_NUMA_FAKE");
    *n = 0;
    if (!v || !*v)
        return FY_OK;
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (*end || x < 1 || x > FY_NUMA_MAX_NODES) {
        fy_log(FY_LOG_ERR, "FY_NUMA_FAKE=%s: not a node count from 1 to %d", v, FY_NUMA_MAX_NODES);
        return FY_E_INVAL;
    }
    *n = (int)x;
    return FY_OK;
}

/* the CPUs this process may run on, ascending: *out malloc'd */
static fy_status allowed_cpus(int **out, int *n_out)
{
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    const int max_cpu = conf > 4096 ? (int)conf : 4096;
    cpu_set_t *set = CPU_ALLOC(max_cpu);
    const size_t sz = CPU_ALLOC_SIZE(max_cpu);
    int *cpus = malloc((size_t)max_cpu * sizeof(int));
    int n = 0;
    *out = NULL;
    *n_out = 0;
    if (!set || !cpus) {
        CPU_FREE(set);
        free(cpus);
        return FY_E_NOMEM;
    }
    if (sched_getaffinity(0, sz, set) == 0) {
        for (int c = 0; c < max_cpu; c++)
            if (CPU_ISSET_S(c, sz, set))
                cpus[n++] = c;
    }
    if (n == 0) /* no mask: every configured CPU */
        for (int c = 0; c < (conf > 0 ? conf : 1) && c < max_cpu; c++)
            cpus[n++] = c;
    CPU_FREE(set);
    *out = cpus;
    *n_out = n;
    return FY_OK;
}

static bool has_cpu(const int *cpus, int n, int c)
{
    for (int i = 0; i < n; i++)
        if (cpus[i] == c)
            return true;
    return false;
}

/* the real nodes into nu (nu->n_nodes of them, at least one) */
static fy_status read_topology(struct fy_numa *nu, const int *allowed, int n_allowed)
{
#if FY_HAVE_NUMA
    if (numa_available() >= 0) {
        nu->have_lib = true;
        struct bitmask *bm = numa_allocate_cpumask();
        if (!bm)
            return FY_E_NOMEM;
        const int max_node = numa_max_node();
        for (int id = 0; id <= max_node && nu->n_nodes < FY_NUMA_MAX_NODES; id++) {
            long long free_b = 0;
            if (!numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)id))
                continue;
            const long long total = numa_node_size64(id, &free_b);
            if (total <= 0 || numa_node_to_cpus(id, bm) != 0)
                continue;
            struct fy_numa_node *nd = &nu->node[nu->n_nodes];
            nd->cpus = malloc((size_t)n_allowed * sizeof(int));
            if (!nd->cpus) {
                numa_free_cpumask(bm);
                return FY_E_NOMEM;
            }
            for (int i = 0; i < n_allowed; i++)
                if (numa_bitmask_isbitset(bm, (unsigned)allowed[i]))
                    nd->cpus[nd->n_cpus++] = allowed[i];
            if (nd->n_cpus == 0) { /* memory only (or CPUs we may not use): no local threads */
                free(nd->cpus);
                nd->cpus = NULL;
                continue;
            }
            nd->os_id = id;
            nd->mem_total = (uint64_t)total;
            nd->mem_free = free_b > 0 ? (uint64_t)free_b : 0;
            nu->n_nodes++;
        }
        numa_free_cpumask(bm);
    }
#endif
    if (nu->n_nodes == 0) {
        struct fy_numa_node *nd = &nu->node[0];
        const long page = sysconf(_SC_PAGESIZE);
        nd->cpus = malloc((size_t)n_allowed * sizeof(int));
        if (!nd->cpus)
            return FY_E_NOMEM;
        memcpy(nd->cpus, allowed, (size_t)n_allowed * sizeof(int));
        nd->n_cpus = n_allowed;
        nd->os_id = 0;
        nd->mem_total = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)page;
        nd->mem_free = (uint64_t)sysconf(_SC_AVPHYS_PAGES) * (uint64_t)page;
        nu->n_nodes = 1;
    }
    return FY_OK;
}

/* the index of the node holding CPU c, or -1 */
static int node_of_cpu(const struct fy_numa *nu, int c)
{
    for (int i = 0; i < nu->n_nodes; i++)
        if (has_cpu(nu->node[i].cpus, nu->node[i].n_cpus, c))
            return i;
    return -1;
}

/* n pretend nodes cut from the real ones in nu: the allowed CPUs in contiguous parts, the memory
 * in equal shares; each stands for the real node of its first CPU (else the home node) */
static fy_status make_fake(struct fy_numa *nu, int n, const int *allowed, int n_allowed)
{
    struct fy_numa real = *nu;
    uint64_t total = 0, free_b = 0;
    for (int i = 0; i < real.n_nodes; i++) {
        total += real.node[i].mem_total;
        free_b += real.node[i].mem_free;
    }
    memset(nu->node, 0, sizeof(nu->node));
    fy_status st = FY_OK;
    for (int p = 0; p < n; p++) {
        struct fy_numa_node *nd = &nu->node[p];
        const int64_t c0 = fy_numa_split(n_allowed, n, p), c1 = fy_numa_split(n_allowed, n, p + 1);
        nd->cpus = malloc((size_t)(c1 > c0 ? c1 - c0 : 1) * sizeof(int));
        if (!nd->cpus) {
            st = FY_E_NOMEM;
            break;
        }
        for (int64_t c = c0; c < c1; c++)
            nd->cpus[nd->n_cpus++] = allowed[c];
        const int r = nd->n_cpus ? node_of_cpu(&real, nd->cpus[0]) : -1;
        nd->os_id = real.node[r >= 0 ? r : real.home].os_id;
        nd->mem_total = total / (uint64_t)n;
        nd->mem_free = free_b / (uint64_t)n;
    }
    for (int i = 0; i < real.n_nodes; i++)
        free(real.node[i].cpus);
    nu->n_nodes = n;
    nu->fake = true;
    return st;
}

fy_status fy_numa_new(const struct fy_numa_opts *o, struct fy_numa **out)
{
    FY_CHECK_ARG(o && out);
    *out = NULL;
    struct fy_numa *nu = calloc(1, sizeof(*nu));
    int *allowed = NULL, n_allowed = 0;
    fy_status st = FY_E_NOMEM;
    if (!nu)
        return FY_E_NOMEM;
    st = allowed_cpus(&allowed, &n_allowed);
    if (st == FY_OK)
        st = read_topology(nu, allowed, n_allowed);
    if (st != FY_OK)
        goto fail;
    const int cpu = sched_getcpu();
    const int h = cpu >= 0 ? node_of_cpu(nu, cpu) : -1;
    nu->home = h >= 0 ? h : 0;
    if (o->fake > 0) {
        st = make_fake(nu, o->fake, allowed, n_allowed);
        if (st != FY_OK)
            goto fail;
        const int hf = cpu >= 0 ? node_of_cpu(nu, cpu) : -1;
        nu->home = hf >= 0 ? hf : 0;
    }
    nu->mode =
        o->mode < FY_NUMA_MODE_COUNT ? o->mode : (nu->n_nodes >= 2 ? FY_NUMA_EXPERTS : FY_NUMA_OFF);
    nu->bind =
        nu->have_lib && nu->mode != FY_NUMA_OFF && (nu->fake ? o->fake_bind : nu->n_nodes >= 2);
    free(allowed);
    *out = nu;
    return FY_OK;
fail:
    free(allowed);
    fy_numa_free(nu);
    return st;
}

void fy_numa_free(struct fy_numa *nu)
{
    if (!nu)
        return;
    for (int i = 0; i < FY_NUMA_MAX_NODES; i++)
        free(nu->node[i].cpus);
    fy_numa_drop_mirrors(nu);
    free(nu);
}

int fy_numa_groups(const struct fy_numa *nu)
{
    if (!nu || nu->n_nodes < 2)
        return 1;
    return nu->mode == FY_NUMA_DISTRIBUTE || nu->mode == FY_NUMA_MIRROR ||
                   nu->mode == FY_NUMA_EXPERTS
               ? nu->n_nodes
               : 1;
}

bool fy_numa_splits_moe(const struct fy_numa *nu)
{
    return fy_numa_groups(nu) > 1 && (nu->mode == FY_NUMA_MIRROR || nu->mode == FY_NUMA_EXPERTS);
}

void fy_numa_team(const struct fy_numa *nu, int nt, int g, int *t0, int *t1)
{
    const int G = fy_numa_groups(nu);
    if (G <= 1) {
        *t0 = 0;
        *t1 = nt;
        return;
    }
    if (nt < G) {
        *t0 = g % nt;
        *t1 = *t0 + 1;
        return;
    }
    /* group i's weight: its CPUs (pretend nodes: 1 each, they stand for equal shares) */
    int64_t w_before[FY_NUMA_MAX_NODES + 1];
    w_before[0] = 0;
    for (int i = 0; i < G; i++) {
        const int w = nu->fake || nu->node[i].n_cpus < 1 ? 1 : nu->node[i].n_cpus;
        w_before[i + 1] = w_before[i] + w;
    }
    const int64_t W = w_before[G];
    *t0 = g + (int)((int64_t)(nt - G) * w_before[g] / W);
    *t1 = g + 1 + (int)((int64_t)(nt - G) * w_before[g + 1] / W);
}

/* the group a thread of a team of nt pins to: the first it serves */
static int group_of_thread(const struct fy_numa *nu, int nt, int tid)
{
    const int G = fy_numa_groups(nu);
    for (int g = 0; g < G; g++) {
        int t0, t1;
        fy_numa_team(nu, nt, g, &t0, &t1);
        if (tid >= t0 && tid < t1)
            return g;
    }
    return 0;
}

/* binds the calling thread to node nd's CPUs; false when the kernel refused */
static bool pin_thread(const struct fy_numa_node *nd)
{
    if (nd->n_cpus == 0)
        return true; /* a pretend node without CPUs: nothing to bind to */
    int max_cpu = 0;
    for (int i = 0; i < nd->n_cpus; i++)
        max_cpu = nd->cpus[i] > max_cpu ? nd->cpus[i] : max_cpu;
    cpu_set_t *set = CPU_ALLOC(max_cpu + 1);
    if (!set)
        return false;
    const size_t sz = CPU_ALLOC_SIZE(max_cpu + 1);
    CPU_ZERO_S(sz, set);
    for (int i = 0; i < nd->n_cpus; i++)
        CPU_SET_S(nd->cpus[i], sz, set);
    const bool ok = sched_setaffinity(0, sz, set) == 0;
    CPU_FREE(set);
    return ok;
}

void fy_numa_pin(struct fy_numa *nu, int nt)
{
    if (!nu || !nu->bind || nt < 1 || nu->pinned_for == nt)
        return;
    int failed = 0, err = 0;
#if FY_HAVE_OPENMP
#pragma omp parallel num_threads(nt) reduction(+ : failed) reduction(max : err)
#endif
    {
#if FY_HAVE_OPENMP
        const int tid = omp_get_thread_num();
#else
        const int tid = 0;
#endif
        const int g = nu->mode == FY_NUMA_ISOLATE ? nu->home : group_of_thread(nu, nt, tid);
        if (!pin_thread(&nu->node[g])) {
            failed++;
            err = errno;
        }
    }
    nu->pinned_for = nt;
    if (failed)
        fy_log(FY_LOG_WARN,
               "numa: %d of %d threads could not be pinned to their node's CPUs "
               "(%s); they run where the kernel puts them",
               failed, nt, strerror(err));
}

void fy_numa_for(const struct fy_numa *nu, const int64_t *lo, bool dynamic, fy_numa_item_fn fn,
                 const void *ctx)
{
    const int G = fy_numa_groups(nu);
    /* each group's next item, a cache line each: the groups' threads sit on different nodes */
    struct {
        int64_t i;
        char pad[64 - sizeof(int64_t)];
    } next[FY_NUMA_MAX_NODES];
    memset(next, 0, sizeof(next));
#if FY_HAVE_OPENMP
#pragma omp parallel
#endif
    {
#if FY_HAVE_OPENMP
        const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
#else
        const int nt = 1, tid = 0;
#endif
        for (int g = 0; g < G; g++) {
            int t0, t1;
            fy_numa_team(nu, nt, g, &t0, &t1);
            if (tid < t0 || tid >= t1)
                continue;
            const int64_t n = lo[g + 1] - lo[g];
            if (!dynamic) {
                const int64_t gs = t1 - t0, li = tid - t0;
                for (int64_t i = lo[g] + n * li / gs; i < lo[g] + n * (li + 1) / gs; i++)
                    fn(ctx, g, i);
                continue;
            }
            for (;;) {
                int64_t i;
#if FY_HAVE_OPENMP
#pragma omp atomic capture
#endif
                i = next[g].i++;
                if (i >= n)
                    break;
                fn(ctx, g, lo[g] + i);
            }
        }
    }
}

const void *fy_numa_local(const struct fy_numa *nu, const void *p, int g)
{
    const uint8_t *b = p;
    for (int64_t i = 0; nu && i < nu->n_mirror; i++) {
        const struct fy_numa_mirror *m = &nu->mirror[i];
        if (b >= m->base && b < m->base + m->n)
            return m->copy[g] + (b - m->base);
    }
    return p;
}
