/* NUMA memory operations on host ranges (numa.h): binding, interleaving, relocating a read-only
 * mapping's pages onto nodes at the same addresses, mirror copies, and page-node queries.
 *
 * Linux applies a memory policy (mbind) to anonymous and shmem pages, not to the page cache of a
 * MAP_SHARED file mapping (mbind(2): "the specified policy will be ignored for any MAP_SHARED
 * mappings"), and the page cache may hold the file's pages already, on whatever node read them
 * first. So an anonymous range (--no-mmap) is bound with MPOL_MF_MOVE, which migrates the pages
 * it holds, and a file mapping is relocated: copied into anonymous pages bound before their first
 * touch, which mremap then puts at the file pages' addresses. */
#include "numa.h"

#include "fy_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if FY_HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#define FY_NUMA_COPY_CHUNK ((size_t)2 << 20) /* bytes per parallel copy item */
#define FY_NUMA_QUERY_BATCH 1024             /* pages per move_pages call */

static uintptr_t page_size(void)
{
    return (uintptr_t)sysconf(_SC_PAGESIZE);
}

/* dst = src, n bytes, by every thread */
static void copy_par(uint8_t *dst, const uint8_t *src, size_t n)
{
    const int64_t chunks = (int64_t)((n + FY_NUMA_COPY_CHUNK - 1) / FY_NUMA_COPY_CHUNK);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        const size_t o = (size_t)c * FY_NUMA_COPY_CHUNK;
        memcpy(dst + o, src + o, n - o < FY_NUMA_COPY_CHUNK ? n - o : FY_NUMA_COPY_CHUNK);
    }
}

#if FY_HAVE_NUMA
/* mbind of whole pages [lo, hi) with the nodes of mask (kernel node numbers) */
static fy_status mbind_mask(uintptr_t lo, uintptr_t hi, int mode, struct bitmask *bm,
                            unsigned flags)
{
    if (hi <= lo)
        return FY_OK;
    if (mbind((void *)lo, hi - lo, mode, bm->maskp, bm->size + 1, flags) != 0) {
        fy_log(FY_LOG_WARN, "numa: mbind of %zu bytes: %s", (size_t)(hi - lo), strerror(errno));
        return FY_E_IO;
    }
    return FY_OK;
}

static fy_status mbind_node(uintptr_t lo, uintptr_t hi, int os_id, unsigned flags)
{
    struct bitmask *bm = numa_allocate_nodemask();
    if (!bm)
        return FY_E_NOMEM;
    numa_bitmask_setbit(bm, (unsigned)os_id);
    fy_status st = mbind_mask(lo, hi, MPOL_BIND, bm, flags);
    numa_bitmask_free(bm);
    return st;
}
#endif

fy_status fy_numa_bind(const struct fy_numa *nu, void *p, size_t n, int node, bool move)
{
    FY_CHECK_ARG(nu && node >= 0 && node < nu->n_nodes);
#if FY_HAVE_NUMA
    if (!nu->have_lib)
        return FY_E_UNSUPPORTED;
    const uintptr_t ps = page_size();
    const uintptr_t lo = ((uintptr_t)p + ps - 1) / ps * ps, hi = ((uintptr_t)p + n) / ps * ps;
    return mbind_node(lo, hi, nu->node[node].os_id, move ? MPOL_MF_MOVE : 0);
#else
    (void)p;
    (void)n;
    (void)move;
    return FY_E_UNSUPPORTED;
#endif
}

fy_status fy_numa_interleave(const struct fy_numa *nu, void *p, size_t n, bool move)
{
    FY_CHECK_ARG(nu);
#if FY_HAVE_NUMA
    if (!nu->have_lib)
        return FY_E_UNSUPPORTED;
    const uintptr_t ps = page_size();
    const uintptr_t lo = ((uintptr_t)p + ps - 1) / ps * ps, hi = ((uintptr_t)p + n) / ps * ps;
    struct bitmask *bm = numa_allocate_nodemask();
    if (!bm)
        return FY_E_NOMEM;
    for (int i = 0; i < nu->n_nodes; i++)
        numa_bitmask_setbit(bm, (unsigned)nu->node[i].os_id);
    fy_status st = mbind_mask(lo, hi, MPOL_INTERLEAVE, bm, move ? MPOL_MF_MOVE : 0);
    numa_bitmask_free(bm);
    return st;
#else
    (void)p;
    (void)n;
    (void)move;
    return FY_E_UNSUPPORTED;
#endif
}

#if FY_HAVE_NUMA
/* the node (index) of the span holding byte b of the range, or of the nearest span */
static int span_node(const struct fy_numa_span *sp, int n_sp, size_t b)
{
    for (int i = 0; i < n_sp; i++)
        if (b >= sp[i].off && b < sp[i].off + sp[i].n)
            return sp[i].node;
    return b < sp[0].off ? sp[0].node : sp[n_sp - 1].node;
}
#endif

fy_status fy_numa_relocate(const struct fy_numa *nu, const void *p, size_t n,
                           const struct fy_numa_span *spans, int n_spans)
{
    FY_CHECK_ARG(nu && p && n > 0 && spans && n_spans > 0);
#if FY_HAVE_NUMA
    if (!nu->have_lib)
        return FY_E_UNSUPPORTED;
    const uintptr_t ps = page_size();
    const uintptr_t lo = (uintptr_t)p / ps * ps, hi = ((uintptr_t)p + n + ps - 1) / ps * ps;
    const size_t len = hi - lo;
    fy_status st = FY_OK;
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        fy_log(FY_LOG_WARN, "numa: %zu bytes of memory to relocate into: %s", len, strerror(errno));
        return FY_E_NOMEM;
    }
    /* runs of pages of one node, bound before their first touch */
    uintptr_t run0 = 0;
    int run_node = -1;
    for (uintptr_t a = lo; a <= hi && st == FY_OK; a += ps) {
        int nd = -1;
        if (a < hi) {
            const uintptr_t first = a > (uintptr_t)p ? a : (uintptr_t)p;
            nd = span_node(spans, n_spans, first - (uintptr_t)p);
        }
        if (nd != run_node) {
            if (run_node >= 0)
                st = mbind_node((uintptr_t)m + (run0 - lo), (uintptr_t)m + (a - lo),
                                nu->node[run_node].os_id, 0);
            run0 = a;
            run_node = nd;
        }
    }
    if (st == FY_OK) {
        copy_par(m, (const uint8_t *)lo, len);
        if (mprotect(m, len, PROT_READ) != 0 ||
            mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)lo) == MAP_FAILED) {
            fy_log(FY_LOG_WARN, "numa: moving %zu relocated bytes into place: %s", len,
                   strerror(errno));
            st = FY_E_IO;
        }
    }
    if (st != FY_OK)
        munmap(m, len);
    return st;
#else
    (void)spans;
    (void)n_spans;
    return FY_E_UNSUPPORTED;
#endif
}

fy_status fy_numa_add_mirror(struct fy_numa *nu, const void *p, size_t n)
{
    FY_CHECK_ARG(nu && p && n > 0);
    const uintptr_t ps = page_size();
    struct fy_numa_mirror *grown = realloc(nu->mirror, (size_t)(nu->n_mirror + 1) * sizeof(*grown));
    if (!grown)
        return FY_E_NOMEM;
    nu->mirror = grown;
    struct fy_numa_mirror *mr = &nu->mirror[nu->n_mirror];
    memset(mr, 0, sizeof(*mr));
    mr->base = p;
    mr->n = n;
    mr->map_bytes = (n + ps - 1) / ps * ps;
    nu->n_mirror++; /* counted now: fy_numa_drop_mirrors frees what was made */
    for (int g = 0; g < nu->n_nodes; g++) {
        uint8_t *m =
            mmap(NULL, mr->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            fy_log(FY_LOG_ERR, "numa: mirror copy of %zu bytes for node %d: %s", n, g,
                   strerror(errno));
            return FY_E_NOMEM;
        }
        mr->copy[g] = m;
#if FY_HAVE_NUMA
        if (nu->bind)
            FY_TRY(mbind_node((uintptr_t)m, (uintptr_t)m + mr->map_bytes, nu->node[g].os_id, 0));
#endif
        copy_par(m, p, n);
        mprotect(m, mr->map_bytes, PROT_READ);
    }
    return FY_OK;
}

void fy_numa_drop_mirrors(struct fy_numa *nu)
{
    for (int64_t i = 0; nu && i < nu->n_mirror; i++)
        for (int g = 0; g < FY_NUMA_MAX_NODES; g++)
            if (nu->mirror[i].copy[g])
                munmap(nu->mirror[i].copy[g], nu->mirror[i].map_bytes);
    if (nu) {
        free(nu->mirror);
        nu->mirror = NULL;
        nu->n_mirror = 0;
    }
}

/* the kernel's node of each of n pages (any addresses, n <= FY_NUMA_QUERY_BATCH) */
static fy_status query_pages(void **pages, int64_t n, int *node)
{
#if FY_HAVE_NUMA
    if (n > 0 && move_pages(0, (unsigned long)n, pages, NULL, node, 0) != 0) {
        fy_log(FY_LOG_WARN, "numa: move_pages query: %s", strerror(errno));
        return errno == ENOSYS || errno == EPERM ? FY_E_UNSUPPORTED : FY_E_IO;
    }
    return FY_OK;
#else
    (void)pages;
    (void)n;
    (void)node;
    return FY_E_UNSUPPORTED;
#endif
}

fy_status fy_numa_page_nodes(const void *p, int64_t n, int *node)
{
    FY_CHECK_ARG(p && n >= 0 && node);
    const uintptr_t ps = page_size();
    void *pages[FY_NUMA_QUERY_BATCH];
    for (int64_t i0 = 0; i0 < n; i0 += FY_NUMA_QUERY_BATCH) {
        const int64_t b = n - i0 < FY_NUMA_QUERY_BATCH ? n - i0 : FY_NUMA_QUERY_BATCH;
        for (int64_t i = 0; i < b; i++)
            pages[i] = (void *)(((uintptr_t)p / ps + (uintptr_t)(i0 + i)) * ps);
        FY_TRY(query_pages(pages, b, node + i0));
    }
    return FY_OK;
}

fy_status fy_numa_query(const void *p, size_t n, size_t stride, int64_t count[FY_NUMA_MAX_NODES],
                        int64_t *absent)
{
    FY_CHECK_ARG(p && count && absent && stride > 0);
    memset(count, 0, FY_NUMA_MAX_NODES * sizeof(count[0]));
    *absent = 0;
    const uintptr_t ps = page_size();
    const uintptr_t lo = (uintptr_t)p / ps * ps, hi = ((uintptr_t)p + n + ps - 1) / ps * ps;
    void *pages[FY_NUMA_QUERY_BATCH];
    int node[FY_NUMA_QUERY_BATCH];
    for (uintptr_t a = lo; a < hi;) {
        int64_t b = 0;
        for (; b < FY_NUMA_QUERY_BATCH && a < hi; b++, a += stride * ps)
            pages[b] = (void *)a;
        FY_TRY(query_pages(pages, b, node));
        for (int64_t i = 0; i < b; i++) {
            if (node[i] >= 0 && node[i] < FY_NUMA_MAX_NODES)
                count[node[i]]++;
            else
                (*absent)++;
        }
    }
    return FY_OK;
}
