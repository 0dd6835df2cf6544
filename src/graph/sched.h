/* The hybrid scheduler: runs a session's graph over the host and one GPU device according to a
 * placement (src/placement/). Private to src/graph/. */
#ifndef FY_SCHED_H
#define FY_SCHED_H

#include "session_priv.h"

/* Uploads the weights placed on the GPU (and the duplicated biases), allocates the device's
 * activations, KV cache of its layers and staging. */
fy_status fy_sched_new(struct fy_session *s, struct fy_sched **out);
void fy_sched_free(struct fy_sched *sc);

/* Runs s->graph for batch b: assigns each node a device, groups consecutive nodes of one device
 * into segments, copies activations across the boundary where needed, uploads the experts an
 * offloaded MoE layer selects. The logits are on the host afterwards. */
fy_status fy_sched_exec(struct fy_sched *sc, const struct fy_batch *b);

const struct fy_sched_stats *fy_sched_stats(const struct fy_sched *sc);

#endif
