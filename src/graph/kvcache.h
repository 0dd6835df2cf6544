/* KV cache: per layer, slot j holds the rotated K and the V of position j. A slot is one row of
 * `width` elements: F32, F16, or Q8_0 (width/32 blocks of 34 bytes: an f16 scale, 32 int8). */
#ifndef FY_KVCACHE_H
#define FY_KVCACHE_H

#include "ferry.h"
#include "graph.h"

struct fy_kvcache {
    enum fy_dtype type;   /* FY_F16 (default), FY_F32 or FY_Q8_0 */
    int64_t n_layer;
    int64_t n_ctx;        /* slots per layer */
    int64_t width;        /* n_head_kv * head_dim */
    void **k;             /* n_layer pointers to (n_ctx, width) */
    void **v;             /* n_layer pointers to (n_ctx, width) */
};

fy_status fy_kvcache_new(int64_t n_layer, int64_t n_ctx, int64_t width, enum fy_dtype type,
                         struct fy_kvcache **out);
void fy_kvcache_free(struct fy_kvcache *kv);
/* bytes of one slot's row (K or V) */
static inline size_t fy_kvcache_row_bytes(const struct fy_kvcache *kv)
{
    return fy_dtype_row_bytes(kv->type, kv->width);
}
size_t fy_kvcache_bytes(const struct fy_kvcache *kv);

/* The attention arguments of an ATTENTION node over batch b's cache (the pointers are whatever
 * memory b and the node hold: host for the CPU, device for a GPU). */
static inline struct fy_attn_args fy_attn_args_of(const struct fy_node *n,
                                                  const struct fy_batch *b)
{
    const struct fy_attn_shape *sh = n->params;
    const struct fy_kvcache *kv = b->kv;
    struct fy_attn_args a = {
        .n_tok = b->n_tok,
        .n_head = sh->n_head,
        .n_head_kv = sh->n_head_kv,
        .head_dim = sh->head_dim,
        .q = (const float *)n->src[0]->data,
        .k = kv->k[n->layer],
        .v = kv->v[n->layer],
        .kv_type = kv->type,
        .n_kv = b->n_kv,
        .pos = b->pos,
        .sinks = n->vec,
        .window = n->iparam,
        .scale = n->fparam,
    };
    return a;
}

#endif
