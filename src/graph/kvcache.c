/* KV cache storage. Pages are allocated zeroed and touched only as positions are written. */
#include "kvcache.h"

#include <stdlib.h>
#include <string.h>

static size_t row_bytes(const struct fy_kvcache *kv)
{
    return fy_dtype_row_bytes(kv->type, kv->width);
}

static int64_t layer_slots(const struct fy_kvcache *kv, int64_t l)
{
    return fy_kvcache_slots(kv, l) * kv->n_seq;
}

fy_status fy_kvcache_new(int64_t n_layer, int64_t n_ctx, const int64_t *slots, int64_t width,
                         enum fy_dtype type, struct fy_kvcache **out)
{
    return fy_kvcache_new_seqs(n_layer, n_ctx, 1, slots, width, type, out);
}

fy_status fy_kvcache_new_seqs(int64_t n_layer, int64_t n_ctx, int64_t n_seq,
                              const int64_t *slots, int64_t width, enum fy_dtype type,
                              struct fy_kvcache **out)
{
    FY_CHECK_ARG(out && n_layer > 0 && n_ctx > 0 && width > 0 && n_seq > 0);
    FY_CHECK_ARG(type == FY_F16 || type == FY_F32 || type == FY_Q8_0);
    for (int64_t l = 0; slots && l < n_layer; l++)
        FY_CHECK_ARG(slots[l] > 0 && slots[l] <= n_ctx);
    *out = NULL;
    if (width % fy_dtype_block_elems(type) != 0) {
        fy_log(FY_LOG_ERR, "KV cache: a %s cache needs a row width (n_head_kv * head_dim = %lld) "
               "that is a multiple of %lld", fy_dtype_name(type), (long long)width,
               (long long)fy_dtype_block_elems(type));
        return FY_E_UNSUPPORTED;
    }
    struct fy_kvcache *kv = calloc(1, sizeof(*kv));
    if (!kv)
        return FY_E_NOMEM;
    kv->type = type;
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->n_seq = n_seq;
    kv->width = width;
    kv->k = calloc((size_t)n_layer, sizeof(void *));
    kv->v = calloc((size_t)n_layer, sizeof(void *));
    kv->ring = calloc((size_t)n_layer, sizeof(int64_t));
    if (!kv->k || !kv->v || !kv->ring)
        goto fail;
    for (int64_t l = 0; l < n_layer; l++) {
        const int64_t r = slots ? slots[l] : n_ctx;
        kv->ring[l] = r < n_ctx ? r : 0;
        kv->lin_rows = r < n_ctx && r > kv->lin_rows ? r : kv->lin_rows;
    }
    for (int64_t l = 0; l < n_layer; l++) {
        const size_t bytes = (size_t)layer_slots(kv, l) * row_bytes(kv);
        kv->k[l] = calloc(1, bytes);
        kv->v[l] = calloc(1, bytes);
        if (!kv->k[l] || !kv->v[l])
            goto fail;
    }
    if (kv->lin_rows > 0) {
        kv->lin_k = malloc((size_t)kv->lin_rows * row_bytes(kv));
        kv->lin_v = malloc((size_t)kv->lin_rows * row_bytes(kv));
        if (!kv->lin_k || !kv->lin_v)
            goto fail;
    }
    *out = kv;
    return FY_OK;
fail:
    fy_log(FY_LOG_ERR, "KV cache: cannot allocate %lld layers x %lld sequences x %lld positions "
           "x %lld (%s)", (long long)n_layer, (long long)n_seq, (long long)n_ctx,
           (long long)width, fy_dtype_name(type));
    fy_kvcache_free(kv);
    return FY_E_NOMEM;
}

void fy_kvcache_free(struct fy_kvcache *kv)
{
    if (!kv)
        return;
    for (int64_t l = 0; l < kv->n_layer; l++) {
        if (kv->k)
            free(kv->k[l]);
        if (kv->v)
            free(kv->v[l]);
    }
    free(kv->k);
    free(kv->v);
    free(kv->ring);
    free(kv->lin_k);
    free(kv->lin_v);
    free(kv);
}

size_t fy_kvcache_layer_bytes(const struct fy_kvcache *kv, int64_t l)
{
    return 2 * (size_t)layer_slots(kv, l) * row_bytes(kv);
}

size_t fy_kvcache_bytes(const struct fy_kvcache *kv)
{
    size_t n = 0;
    for (int64_t l = 0; l < kv->n_layer; l++)
        n += fy_kvcache_layer_bytes(kv, l);
    return n;
}

fy_status fy_kvcache_linear(const struct fy_kvcache *kv, struct fy_attn_args *a)
{
    const int64_t r = a->ring;
    if (r <= 0 || a->n_tok <= 0)
        return FY_OK;
    int64_t pmin = INT64_MAX, pmax = -1;
    for (int64_t t = 0; t < a->n_tok; t++) {
        pmin = a->pos[t] < pmin ? a->pos[t] : pmin;
        pmax = a->pos[t] > pmax ? a->pos[t] : pmax;
    }
    int64_t lo = a->window > 0 && pmin - a->window + 1 > 0 ? pmin - a->window + 1 : 0;
    int64_t hi = pmax < a->n_kv - 1 ? pmax : a->n_kv - 1;
    if (hi < lo) { /* nothing visible */
        lo = 0;
        hi = -1;
    }
    const int64_t n = hi - lo + 1;
    if (n > r || n > kv->lin_rows) {
        fy_log(FY_LOG_ERR, "KV cache: positions %lld .. %lld do not fit in a ring of %lld slots",
               (long long)lo, (long long)hi, (long long)r);
        return FY_E_INVAL;
    }
    const size_t row = row_bytes(kv);
    const int64_t s0 = lo % r;
    if (s0 + n > r) { /* wraps: the two pieces, in position order, into the scratch */
        const int64_t n0 = r - s0;
        memcpy(kv->lin_k, (const char *)a->k + (size_t)s0 * row, (size_t)n0 * row);
        memcpy(kv->lin_v, (const char *)a->v + (size_t)s0 * row, (size_t)n0 * row);
        memcpy((char *)kv->lin_k + (size_t)n0 * row, a->k, (size_t)(n - n0) * row);
        memcpy((char *)kv->lin_v + (size_t)n0 * row, a->v, (size_t)(n - n0) * row);
        a->k = kv->lin_k;
        a->v = kv->lin_v;
    } else {
        a->k = (const char *)a->k + (size_t)s0 * row;
        a->v = (const char *)a->v + (size_t)s0 * row;
    }
    a->kv_pos0 = lo;
    a->n_kv = n;
    a->ring = 0;
    return FY_OK;
}
