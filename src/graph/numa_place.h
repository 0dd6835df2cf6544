/* The memory side of --numa: a placed model's CPU-resident weights put on their NUMA nodes
 * (numa_place.c). */
#ifndef FY_GRAPH_NUMA_PLACE_H
#define FY_GRAPH_NUMA_PLACE_H

#include "cpu/numa.h"
#include "placement/placement.h"

#include <stdbool.h>

/* Places the CPU-resident weights of p (a placement of the loaded model, whose tensors point at
 * its memory) as nu's mode says, once per nu (later calls do nothing). anon: the model was read
 * into anonymous memory (--no-mmap), else it is a file mapping. Refusals by the kernel are
 * logged, not errors; FY_E_NOMEM when a mirror copy cannot be made. */
fy_status fy_numa_place(struct fy_numa *nu, const struct fy_placement *p, bool anon);

#endif
