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

/* Copies n bytes of layer l's K and V cache from offset src to offset dst (bytes from the
 * layer's start), in device memory where the layer's cache lives on the device. */
fy_status fy_sched_kv_copy(struct fy_sched *sc, int64_t l, size_t dst, size_t src, size_t n);

const struct fy_sched_stats *fy_sched_stats(const struct fy_sched *sc);

/* The cross-layer prefetch rule: after an uploading MoE layer selected n_selected of n_expert
 * experts for n_tok tokens choosing k each, upload the whole next layer speculatively if it
 * uploads too (next_uploads), the layer selected every expert and n_tok * k >= 2 * n_expert. */
bool fy_sched_prefetch_rule(int64_t n_selected, int64_t n_expert, int64_t n_tok, int64_t k,
                            bool next_uploads);

/* Cross-layer prefetch for schedulers created from now on: 1 on, 0 off, -1 the default (on,
 * unless the environment has FY_NO_PREFETCH=1, read once). For tests and comparisons. */
void fy_sched_set_prefetch(int on);

#endif
