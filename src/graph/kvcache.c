/* KV cache storage. Pages are allocated zeroed and touched only as positions are written. */
#include "kvcache.h"

#include <stdlib.h>

fy_status fy_kvcache_new(int64_t n_layer, int64_t n_ctx, int64_t width, enum fy_dtype type,
                         struct fy_kvcache **out)
{
    FY_CHECK_ARG(out && n_layer > 0 && n_ctx > 0 && width > 0);
    FY_CHECK_ARG(type == FY_F16 || type == FY_F32 || type == FY_Q8_0);
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
    kv->width = width;
    kv->k = calloc((size_t)n_layer, sizeof(void *));
    kv->v = calloc((size_t)n_layer, sizeof(void *));
    if (!kv->k || !kv->v)
        goto fail;
    const size_t bytes = (size_t)n_ctx * fy_kvcache_row_bytes(kv);
    for (int64_t l = 0; l < n_layer; l++) {
        kv->k[l] = calloc(1, bytes);
        kv->v[l] = calloc(1, bytes);
        if (!kv->k[l] || !kv->v[l])
            goto fail;
    }
    *out = kv;
    return FY_OK;
fail:
    fy_log(FY_LOG_ERR, "KV cache: cannot allocate %lld layers x %lld positions x %lld (%s)",
           (long long)n_layer, (long long)n_ctx, (long long)width, fy_dtype_name(type));
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
    free(kv);
}

size_t fy_kvcache_bytes(const struct fy_kvcache *kv)
{
    return 2 * (size_t)kv->n_layer * (size_t)kv->n_ctx * fy_kvcache_row_bytes(kv);
}
