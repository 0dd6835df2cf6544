/* The NUMA layout of a placement (--numa, cpu/numa.h): how the CPU-resident expert weights of
 * each layer split across the nodes, and the bytes each node holds. `ferry plan` prints it, the
 * bench JSON records it, and the session's memory placement (graph/numa_place.c) follows it. */
#ifndef FY_PLACEMENT_NUMA_LAYOUT_H
#define FY_PLACEMENT_NUMA_LAYOUT_H

#include "cpu/numa.h"
#include "placement.h"

#include <stdio.h>

struct fy_numa_layout {
    enum fy_numa_mode mode;
    int n_nodes;                        /* entries below: the topology's nodes (off, isolate: 1) */
    int64_t n_expert;                   /* experts of a layer */
    int64_t cpu_layers;                 /* layers with CPU-resident expert weights */
    int64_t first[FY_NUMA_MAX_NODES];   /* experts mode: the node's first expert of each layer */
    int64_t experts[FY_NUMA_MAX_NODES]; /* experts of each layer a node holds (mirror: all) */
    uint64_t expert_bytes[FY_NUMA_MAX_NODES]; /* CPU-resident expert weight bytes on the node
                                                 (distribute: an interleaved share) */
    uint64_t other_bytes; /* the other CPU-resident weights (interleaved with --no-mmap) */
};

/* The layout of p's CPU-resident expert weights under nu's mode. */
fy_status fy_numa_layout_make(const struct fy_placement *p, const struct fy_numa *nu,
                              struct fy_numa_layout *out);
/* For people: a "NUMA:" line and one line per node. */
void fy_numa_layout_print(FILE *f, const struct fy_numa *nu, const struct fy_numa_layout *l);
/* One JSON object (no newline): {"mode", "nodes", "fake", "node_ids", "cpus", "mem_free_bytes",
 * "first_expert", "experts_per_node", "expert_bytes_per_node", "other_bytes"}; the arrays have an
 * entry per node. flat: the same as keys of an enclosing flat object (no braces, no "nodes"),
 * prefixed "numa_" ("numa_mode", ...), for the JSON lines of `ferry bench` (cli/json_lite.h). */
void fy_numa_layout_json(FILE *f, const struct fy_numa *nu, const struct fy_numa_layout *l,
                         bool flat);

#endif
