/* KV cache: per layer, slot j holds the rotated K and the V of position j. */
#ifndef FY_KVCACHE_H
#define FY_KVCACHE_H

#include "../ferry.h"

struct fy_kvcache {
    enum fy_dtype type;   /* FY_F16 (default) or FY_F32 */
    int64_t n_layer;
    int64_t n_ctx;        /* slots per layer */
    int64_t width;        /* n_head_kv * head_dim */
    void **k;             /* n_layer pointers to (n_ctx, width) */
    void **v;             /* n_layer pointers to (n_ctx, width) */
};

fy_status fy_kvcache_new(int64_t n_layer, int64_t n_ctx, int64_t width, enum fy_dtype type,
                         struct fy_kvcache **out);
void fy_kvcache_free(struct fy_kvcache *kv);
size_t fy_kvcache_bytes(const struct fy_kvcache *kv);

#endif
