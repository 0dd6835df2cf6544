/* KV cache: per layer, slot j holds the rotated K and the V of position j; a sliding-window
 * layer may keep a ring of R slots instead, position p at slot p % R (fy_place_kv_slots). A slot
 * is one row of `width` elements: F32, F16, or Q8_0 (width/32 blocks of 34 bytes: an f16 scale,
 * 32 int8). */
#ifndef FY_KVCACHE_H
#define FY_KVCACHE_H

#include "ferry.h"
#include "graph.h"

struct fy_kvcache {
    enum fy_dtype type;   /* FY_F16 (default), FY_F32 or FY_Q8_0 */
    int64_t n_layer;
    int64_t n_ctx;        /* positions (the slots of a full layer) */
    int64_t width;        /* n_head_kv * head_dim */
    void **k;             /* n_layer pointers to (slots, width) */
    void **v;             /* n_layer pointers to (slots, width) */
    int64_t *ring;        /* [n_layer]: 0, or R < n_ctx: a ring of R slots; NULL: no rings */
    void *lin_k;          /* host scratch (lin_rows, width): a ring's positions in order */
    void *lin_v;
    int64_t lin_rows;
};

/* slots[l]: the slots of layer l (fy_place_kv_slots), n_ctx or fewer (a ring). */
fy_status fy_kvcache_new(int64_t n_layer, int64_t n_ctx, const int64_t *slots, int64_t width,
                         enum fy_dtype type, struct fy_kvcache **out);
void fy_kvcache_free(struct fy_kvcache *kv);
/* The ring size of layer l, 0 when its slot j holds position j. */
static inline int64_t fy_kvcache_ring(const struct fy_kvcache *kv, int64_t l)
{
    return kv->ring ? kv->ring[l] : 0;
}
/* Bytes of layer l's K and V, and of every layer's. */
size_t fy_kvcache_layer_bytes(const struct fy_kvcache *kv, int64_t l);
/* bytes of one slot's row (K or V) */
static inline size_t fy_kvcache_row_bytes(const struct fy_kvcache *kv)
{
    return fy_dtype_row_bytes(kv->type, kv->width);
}
size_t fy_kvcache_bytes(const struct fy_kvcache *kv);

/* The attention arguments of an ATTENTION node over batch b's cache (the pointers are whatever
 * memory b and the node hold: host for the CPU, device for a GPU); a ring layer's have ring set
 * (the GPU kernels take that; the CPU's take fy_kvcache_linear's view). */
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
        .ring = fy_kvcache_ring(kv, n->layer),
    };
    return a;
}

/* Host caches: turns a ring layer's arguments (a->ring > 0, a->pos host memory) into a linear
 * range of the positions its queries can see, in position order: a->k, a->v point at the ring's
 * own rows when they do not wrap, else at a copy in the cache's scratch; a->kv_pos0 is the
 * first position, a->n_kv the count, a->ring 0. FY_E_INVAL (logged) when they do not all fit in
 * the ring (a micro-batch larger than the one the ring was made for). */
fy_status fy_kvcache_linear(const struct fy_kvcache *kv, struct fy_attn_args *a);

#endif
