/* The GPU device's decode fusions (issue 12 item 3): patterns of consecutive graph nodes that
 * one fused kernel of src/hip/ computes (device_gpu_fuse.c). */
#ifndef FY_DEVICE_GPU_FUSE_H
#define FY_DEVICE_GPU_FUSE_H

#include "graph.h"
#include "hip/fy_gpu.h"

/* What the fused router left in the MoE workspace for the MoE node that follows it: the
 * grouping of these ids (NULL: none). Any other work on the device clears it. */
struct fy_gpu_fuse_state {
    const int32_t *grouped_ids;
    int64_t grouped_rows;
};

/* Runs the fused kernel for the pattern starting at nodes[i] (of n) and sets *used to the
 * nodes it covers; FY_E_UNSUPPORTED (nothing run) when no pattern applies there:
 *   RMSNORM, MATMUL, ROUTER                -> fy_gpu_rmsnorm_router (and the MoE's grouping)
 *   RMSNORM, 1-3 MATMUL of its output      -> fy_gpu_rmsnorm_matmul (q k v; output norm+matrix)
 *   ROPE q, ROPE k, KV_STORE k v           -> fy_gpu_rope_kv_store
 *   MATMUL, ADD of its output              -> fy_gpu_matmul_residual
 *   MOE_FFN, ADD of its output             -> fy_gpu_moe_ffn_residual
 * all but the RoPE one for at most FY_GPU_FUSE_MAX_TOK rows (decode). */
fy_status fy_gpu_fuse_run(struct fy_gpu_moe_ws *ws, fy_gpu_stream s, struct fy_gpu_fuse_state *fs,
                          const struct fy_node *nodes, int64_t n, int64_t i,
                          const struct fy_batch *b, int64_t *used);

#endif
