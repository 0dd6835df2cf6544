/* KV cache: per layer, slot j holds the rotated K and the V of position j; a sliding-window
 * layer may keep a ring of R slots instead, position p at slot p % R (fy_place_kv_slots). A slot
 * is one row of `width` elements: F32, F16, or Q8_0 (width/32 blocks of 34 bytes: an f16 scale,
 * 32 int8).
 *
 * Several sequences: each has a region of its own in every layer (sequence s's slots follow
 * sequence s-1's: region s starts at row s * slots of the layer), so sequences are added,
 * dropped, truncated and forked without moving another's rows. */
#ifndef FY_KVCACHE_H
#define FY_KVCACHE_H

#include "ferry.h"
#include "graph.h"

struct fy_kvcache {
    enum fy_dtype type;   /* FY_F16 (default), FY_F32 or FY_Q8_0 */
    int64_t n_layer;
    int64_t n_ctx;        /* positions per sequence (the slots of a full layer's region) */
    int64_t n_seq;        /* sequences: regions per layer */
    int64_t width;        /* n_head_kv * head_dim */
    void **k;             /* n_layer pointers to (slots, width) */
    void **v;             /* n_layer pointers to (slots, width) */
    int64_t *ring;        /* [n_layer]: 0, or R < n_ctx: a ring of R slots; NULL: no rings */
    void *lin_k;          /* host scratch (lin_rows, width): a ring's positions in order */
    void *lin_v;
    int64_t lin_rows;
};

/* slots[l]: the slots of layer l (fy_place_kv_slots), n_ctx or fewer (a ring), per sequence. */
fy_status fy_kvcache_new(int64_t n_layer, int64_t n_ctx, const int64_t *slots, int64_t width,
                         enum fy_dtype type, struct fy_kvcache **out);
/* the same for n_seq sequences */
fy_status fy_kvcache_new_seqs(int64_t n_layer, int64_t n_ctx, int64_t n_seq,
                              const int64_t *slots, int64_t width, enum fy_dtype type,
                              struct fy_kvcache **out);
void fy_kvcache_free(struct fy_kvcache *kv);
/* The ring size of layer l, 0 when its slot j holds position j. */
static inline int64_t fy_kvcache_ring(const struct fy_kvcache *kv, int64_t l)
{
    return kv->ring ? kv->ring[l] : 0;
}
/* Slots of one sequence's region in layer l: the ring, or n_ctx. */
static inline int64_t fy_kvcache_slots(const struct fy_kvcache *kv, int64_t l)
{
    const int64_t r = fy_kvcache_ring(kv, l);
    return r > 0 ? r : kv->n_ctx;
}
/* Bytes of layer l's K and V (every sequence's region), and of every layer's. */
size_t fy_kvcache_layer_bytes(const struct fy_kvcache *kv, int64_t l);
/* bytes of one slot's row (K or V) */
static inline size_t fy_kvcache_row_bytes(const struct fy_kvcache *kv)
{
    return fy_dtype_row_bytes(kv->type, kv->width);
}
size_t fy_kvcache_bytes(const struct fy_kvcache *kv);
/* Where sequence seq's region starts in a layer buffer base (K or V, host or device) of layer l */
static inline void *fy_kvcache_seq_at(const struct fy_kvcache *kv, int64_t l, void *base,
                                      int32_t seq)
{
    return (char *)base + (size_t)seq * (size_t)fy_kvcache_slots(kv, l) * fy_kvcache_row_bytes(kv);
}

/* A run of a micro-batch: tokens t0 .. t0 + n_tok - 1 belong to sequence seq, whose cache holds
 * n_kv positions once they are stored. A batch without runs is one run of sequence 0. */
struct fy_seq_run {
    int64_t t0, n_tok, n_kv;
    int32_t seq;
};
static inline int64_t fy_batch_n_runs(const struct fy_batch *b)
{
    return b->n_runs > 0 ? b->n_runs : 1;
}
static inline struct fy_seq_run fy_batch_run(const struct fy_batch *b, int64_t i)
{
    if (b->n_runs <= 0)
        return (struct fy_seq_run){0, b->n_tok, b->n_kv, 0};
    return b->runs[i];
}

/* The attention arguments of an ATTENTION node over run r of batch b (its tokens, its sequence's
 * region of the cache; the pointers are whatever memory b and the node hold: host for the CPU,
 * device for a GPU); a ring layer's have ring set (the GPU kernels take that; the CPU's take
 * fy_kvcache_linear's view). The output rows of the run start at row r->t0. */
static inline struct fy_attn_args fy_attn_args_of(const struct fy_node *n,
                                                  const struct fy_batch *b,
                                                  const struct fy_seq_run *r)
{
    const struct fy_attn_shape *sh = n->params;
    const struct fy_kvcache *kv = b->kv;
    struct fy_attn_args a = {
        .n_tok = r->n_tok,
        .n_head = sh->n_head,
        .n_head_kv = sh->n_head_kv,
        .head_dim = sh->head_dim,
        .q = (const float *)n->src[0]->data + r->t0 * sh->n_head * sh->head_dim,
        .k = fy_kvcache_seq_at(kv, n->layer, kv->k[n->layer], r->seq),
        .v = fy_kvcache_seq_at(kv, n->layer, kv->v[n->layer], r->seq),
        .kv_type = kv->type,
        .n_kv = r->n_kv,
        .pos = b->pos + r->t0,
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
