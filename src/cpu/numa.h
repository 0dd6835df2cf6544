/* NUMA: the machine's memory nodes (libnuma: their CPUs and memory), the mode ferry runs them in
 * (--numa), how the OpenMP team splits into node groups, the split of a layer's experts across
 * nodes, and the memory operations on host ranges (numa_mem.c).
 *
 * The state lives in a struct fy_numa that its caller owns (the command line makes one per
 * process; a session reads it through fy_session_opts, the ops through fy_batch): no globals.
 *
 * FY_NUMA_FAKE=N (fy_numa_opts.fake) cuts the CPUs and the memory accounting into N pretend
 * nodes. They bind nothing (unless fake_bind, for tests: every pretend node is then the real
 * node it was cut from), so the split and the combine run on any machine. */
#ifndef FY_CPU_NUMA_H
#define FY_CPU_NUMA_H

#include "ferry.h"

#include <stdbool.h>
#include <stddef.h>

enum fy_numa_mode {
    FY_NUMA_OFF,        /* no NUMA handling: threads and pages where the kernel puts them */
    FY_NUMA_DISTRIBUTE, /* threads spread evenly over the nodes; --no-mmap: pages interleaved */
    FY_NUMA_ISOLATE,    /* threads (default: as many as its CPUs) on the node ferry started on;
                           --no-mmap: pages there */
    FY_NUMA_MIRROR,     /* the CPU-resident experts copied onto every node; each node's threads
                           compute a share of every MoE step from their own copy */
    FY_NUMA_EXPERTS,    /* each layer's experts split evenly across the nodes, each part on its
                           node, computed by that node's threads (default with >= 2 nodes) */
    FY_NUMA_MODE_COUNT
};

#define FY_NUMA_MAX_NODES 64

/* one node of the topology */
struct fy_numa_node {
    int os_id; /* the kernel's node number (a pretend node: the real one it is cut from) */
    int n_cpus;
    int *cpus;          /* [n_cpus]: CPUs of the node this process may run on */
    uint64_t mem_total; /* bytes (a pretend node: its share of the real node's) */
    uint64_t mem_free;
};

/* mirror mode: a host range (a tensor's bytes) and its copy on every node */
struct fy_numa_mirror {
    const uint8_t *base;
    size_t n;
    uint8_t *copy[FY_NUMA_MAX_NODES]; /* page-aligned mappings of n bytes (rounded up) */
    size_t map_bytes;
};

struct fy_numa_opts {
    enum fy_numa_mode mode; /* FY_NUMA_MODE_COUNT: the default (experts with >= 2 nodes) */
    int fake;               /* > 0: that many pretend nodes (FY_NUMA_FAKE) */
    bool fake_bind;         /* tests: pretend nodes bind and pin as real ones would */
};

struct fy_numa {
    enum fy_numa_mode mode;
    int n_nodes; /* nodes of the topology (real, or pretend) */
    struct fy_numa_node node[FY_NUMA_MAX_NODES];
    int home;                      /* index of the node the process started on (isolate) */
    bool fake;                     /* pretend nodes */
    bool bind;                     /* pages are bound and threads pinned: >= 2 real nodes in a mode
                                      other than off, or fake_bind */
    bool have_lib;                 /* libnuma is usable (else: one node, nothing bound) */
    int pinned_for;                /* team size the OpenMP threads were last pinned for (0: none) */
    bool placed;                   /* the weights were put on their nodes (graph/numa_place.c) */
    struct fy_numa_mirror *mirror; /* [n_mirror], mirror mode */
    int64_t n_mirror;
};

/* "off", "distribute", "isolate", "mirror", "experts" */
const char *fy_numa_mode_name(enum fy_numa_mode m);
/* The mode of a --numa value (llama.cpp's "numactl" is the default mode: ferry keeps to the CPUs
 * and nodes the process is allowed anyway); FY_E_INVAL (not logged) for another word. */
fy_status fy_numa_mode_parse(const char *s, enum fy_numa_mode *out);
/* FY_NUMA_FAKE from the environment into *n (0 when unset); FY_E_INVAL (logged) unless 1..64. */
fy_status fy_numa_fake_env(int *n);

/* Reads the topology (or makes the pretend one) and settles the mode. */
fy_status fy_numa_new(const struct fy_numa_opts *o, struct fy_numa **out);
/* Frees the mirror copies too. NULL-safe. */
void fy_numa_free(struct fy_numa *nu);

/* Node groups of a compute step: the nodes in distribute, mirror and experts mode, else 1. */
int fy_numa_groups(const struct fy_numa *nu);
/* Whether the MoE steps split their work by node (mirror and experts with >= 2 nodes). */
bool fy_numa_splits_moe(const struct fy_numa *nu);

/* The first of n items (experts) that part p of `parts` even parts holds: the first n % parts
 * parts get one more (32 over 3: 11, 11, 10; 8 over 3: 3, 3, 2). p = parts gives n. */
static inline int64_t fy_numa_split(int64_t n, int parts, int p)
{
    return (int64_t)p * (n / parts) + (p < n % parts ? p : n % parts);
}

/* The threads [*t0, *t1) of a team of nt that work for node group g (fy_numa_groups): each
 * group at least one, the rest in proportion to the nodes' CPUs. With fewer threads than groups,
 * thread g % nt serves group g. */
void fy_numa_team(const struct fy_numa *nu, int nt, int g, int *t0, int *t1);
/* Pins the OpenMP threads of a team of nt to their nodes' CPUs (isolate: all to the home node),
 * when nu->bind; once per team size. NULL-safe. */
void fy_numa_pin(struct fy_numa *nu, int nt);

/* Runs fn(ctx, g, i) for every i in [lo[g], lo[g + 1]) of every node group g, on the
 * threads of that group (fy_numa_team) in one parallel region: contiguous parts per thread, or
 * with dynamic one item at a time. */
typedef void (*fy_numa_item_fn)(const void *ctx, int g, int64_t i);
void fy_numa_for(const struct fy_numa *nu, const int64_t *lo, bool dynamic, fy_numa_item_fn fn,
                 const void *ctx);

/* mirror mode: node group g's copy of host byte p (p itself when no mirror holds it) */
const void *fy_numa_local(const struct fy_numa *nu, const void *p, int g);

/* ---- memory (numa_mem.c): binding, relocation and queries are FY_E_UNSUPPORTED without
 * libnuma; mirror copies are made without it (not bound) ---- */

/* Binds the whole pages inside [p, p + n) to node (MPOL_BIND; move: migrate those already
 * there, which an anonymous private mapping allows). */
fy_status fy_numa_bind(const struct fy_numa *nu, void *p, size_t n, int node, bool move);
/* The same, interleaved over every node of nu. */
fy_status fy_numa_interleave(const struct fy_numa *nu, void *p, size_t n, bool move);
/* One span of a relocation: bytes [off, off + n) of the range go to node. */
struct fy_numa_span {
    size_t off, n;
    int node;
};
/* Replaces the pages holding [p, p + n) (a read-only mapping: a shared file mapping, whose pages
 * the kernel binds to no policy) by anonymous pages bound span by span (a page goes to the span
 * holding its first byte; bytes around the range on its first and last page keep their
 * contents), filled with the same bytes, at the same addresses (mremap): every pointer into the
 * range stays valid, the layout is unchanged. */
fy_status fy_numa_relocate(const struct fy_numa *nu, const void *p, size_t n,
                           const struct fy_numa_span *spans, int n_spans);
/* mirror mode: copies [p, p + n) onto every node (fy_numa_local finds the copies; bound to their
 * nodes when nu->bind, plain anonymous memory for pretend nodes). */
fy_status fy_numa_add_mirror(struct fy_numa *nu, const void *p, size_t n);
/* Unmaps every mirror copy. */
void fy_numa_drop_mirrors(struct fy_numa *nu);
/* Counts every `stride`-th page of [p, p + n) by the kernel's node number (count[id]; *absent:
 * not in memory, or a node number of 64 or more): a move_pages query. */
fy_status fy_numa_query(const void *p, size_t n, size_t stride, int64_t count[FY_NUMA_MAX_NODES],
                        int64_t *absent);
/* The kernel's node of each of n pages starting at the page of p (move_pages), into node[]
 * (negative: not present). */
fy_status fy_numa_page_nodes(const void *p, int64_t n, int *node);

#endif
