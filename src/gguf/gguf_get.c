/* GGUF reader queries: shards, keys, tensors and typed getters over an opened model. */
#include "gguf_priv.h"

#include <string.h>

/* ---- queries ---- */

uint32_t fy_gguf_version(const struct fy_gguf *g)
{
    return g ? g->shards[0].version : 0;
}

int fy_gguf_n_shards(const struct fy_gguf *g)
{
    return g ? g->n_shards : 0;
}

const char *fy_gguf_path(const struct fy_gguf *g, int shard)
{
    return (g && shard >= 0 && shard < g->n_shards) ? g->shards[shard].path : NULL;
}

uint64_t fy_gguf_file_size(const struct fy_gguf *g)
{
    uint64_t n = 0;
    for (int s = 0; g && s < g->n_shards; s++)
        n += g->shards[s].size;
    return n;
}

int64_t fy_gguf_n_kv(const struct fy_gguf *g)
{
    return g ? g->n_kv : 0;
}

const struct fy_gguf_kv *fy_gguf_kv_at(const struct fy_gguf *g, int64_t i)
{
    return (g && i >= 0 && i < g->n_kv) ? &g->kvs[i].kv : NULL;
}

const struct fy_gguf_kv *fy_gguf_find_kv(const struct fy_gguf *g, const char *key)
{
    if (!g || !key)
        return NULL;
    int64_t k = fy_gguf_ht_find(&g->kv_ht, key, strlen(key));
    return k >= 0 ? &g->kvs[k].kv : NULL;
}

int64_t fy_gguf_n_tensors(const struct fy_gguf *g)
{
    return g ? g->n_tensors : 0;
}

const struct fy_gguf_tensor *fy_gguf_tensor_at(const struct fy_gguf *g, int64_t i)
{
    return (g && i >= 0 && i < g->n_tensors) ? &g->tensors[i] : NULL;
}

const struct fy_gguf_tensor *fy_gguf_find_tensor(const struct fy_gguf *g, const char *name)
{
    if (!g || !name)
        return NULL;
    int64_t k = fy_gguf_ht_find(&g->t_ht, name, strlen(name));
    return k >= 0 ? &g->tensors[k] : NULL;
}

/* ---- typed getters ---- */

static fy_status type_error(const struct fy_gguf *g, const struct fy_gguf_kv *kv,
                            const char *want)
{
    const char *path = (g && kv->shard >= 0 && kv->shard < g->n_shards)
                           ? g->shards[kv->shard].path : NULL;
    fy_log(FY_LOG_ERR, "%s%skey \"%.*s\" has type %s%s%s, expected %s", path ? path : "",
           path ? ": " : "", (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr,
           fy_gguf_vtype_str(kv->type), kv->type == FY_GGUF_ARR ? " of " : "",
           kv->type == FY_GGUF_ARR ? fy_gguf_vtype_str(kv->arr_type) : "", want);
    return FY_E_FORMAT;
}

fy_status fy_gguf_get_u32(const struct fy_gguf *g, const char *key, uint32_t *out)
{
    FY_CHECK_ARG(g && key && out);
    const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
    if (!kv)
        return FY_E_INVAL;
    if (!fy_gguf_vtype_is_int(kv->type))
        return type_error(g, kv, "an integer");
    int fits = fy_gguf_vtype_is_signed(kv->type) ? (kv->v.i >= 0 && kv->v.i <= (int64_t)UINT32_MAX)
                                         : kv->v.u <= UINT32_MAX;
    if (!fits) {
        if (fy_gguf_vtype_is_signed(kv->type))
            fy_log(FY_LOG_ERR, "%s: key \"%s\": value %lld does not fit in u32",
                   g->shards[kv->shard].path, key, (long long)kv->v.i);
        else
            fy_log(FY_LOG_ERR, "%s: key \"%s\": value %llu does not fit in u32",
                   g->shards[kv->shard].path, key, (unsigned long long)kv->v.u);
        return FY_E_FORMAT;
    }
    *out = fy_gguf_vtype_is_signed(kv->type) ? (uint32_t)kv->v.i : (uint32_t)kv->v.u;
    return FY_OK;
}

fy_status fy_gguf_get_f32(const struct fy_gguf *g, const char *key, float *out)
{
    FY_CHECK_ARG(g && key && out);
    const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
    if (!kv)
        return FY_E_INVAL;
    if (kv->type != FY_GGUF_F32 && kv->type != FY_GGUF_F64)
        return type_error(g, kv, "f32");
    *out = (float)kv->v.f;
    return FY_OK;
}

fy_status fy_gguf_get_str(const struct fy_gguf *g, const char *key, char *buf, size_t cap)
{
    FY_CHECK_ARG(g && key && buf && cap > 0);
    const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
    if (!kv)
        return FY_E_INVAL;
    if (kv->type != FY_GGUF_STR)
        return type_error(g, kv, "str");
    size_t n = kv->v.s.len < cap - 1 ? (size_t)kv->v.s.len : cap - 1;
    memcpy(buf, kv->v.s.ptr, n);
    buf[n] = '\0';
    return FY_OK;
}

fy_status fy_gguf_arr_str(const struct fy_gguf_kv *kv, uint64_t i, struct fy_gguf_str *out)
{
    FY_CHECK_ARG(kv && out);
    if (kv->type != FY_GGUF_ARR || kv->arr_type != FY_GGUF_STR)
        return type_error(NULL, kv, "an array of str");
    if (i >= kv->arr_n)
        return FY_E_INVAL;
    const struct fy_gguf_kv_ent *e = (const struct fy_gguf_kv_ent *)kv;
    const uint8_t *p = kv->arr_data + e->str_off[i];
    memcpy(&out->len, p, 8);
    out->ptr = (const char *)(p + 8);
    return FY_OK;
}

fy_status fy_gguf_arr_int(const struct fy_gguf_kv *kv, uint64_t i, int64_t *out)
{
    FY_CHECK_ARG(kv && out);
    if (kv->type != FY_GGUF_ARR || !fy_gguf_vtype_is_int(kv->arr_type))
        return type_error(NULL, kv, "an array of integers");
    if (i >= kv->arr_n)
        return FY_E_INVAL;
    const uint8_t *p = kv->arr_data + i * fy_gguf_vt_size[kv->arr_type];
    switch (kv->arr_type) {
    case FY_GGUF_U8: *out = p[0]; break;
    case FY_GGUF_I8: *out = (int8_t)p[0]; break;
    case FY_GGUF_U16: { uint16_t x; memcpy(&x, p, 2); *out = x; break; }
    case FY_GGUF_I16: { int16_t x; memcpy(&x, p, 2); *out = x; break; }
    case FY_GGUF_U32: { uint32_t x; memcpy(&x, p, 4); *out = x; break; }
    case FY_GGUF_I32: { int32_t x; memcpy(&x, p, 4); *out = x; break; }
    case FY_GGUF_I64: { int64_t x; memcpy(&x, p, 8); *out = x; break; }
    case FY_GGUF_U64: {
        uint64_t x;
        memcpy(&x, p, 8);
        if (x > INT64_MAX) {
            fy_log(FY_LOG_ERR, "key \"%.*s\": element %llu = %llu does not fit in i64",
                   (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr,
                   (unsigned long long)i, (unsigned long long)x);
            return FY_E_FORMAT;
        }
        *out = (int64_t)x;
        break;
    }
    default: return FY_E_FORMAT;
    }
    return FY_OK;
}
