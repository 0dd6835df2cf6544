/* GGUF v2/v3 reader, the parser: validates every byte of a mapped file's header (kvs, tensor
 * infos, tensor data ranges) before use. Opening, mmap and split files are gguf_open.c; the
 * writer is gguf_write.c. */
#include "gguf_priv.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif
_Static_assert(sizeof(size_t) == 8, "the GGUF reader assumes a 64-bit size_t");

const uint8_t fy_gguf_vt_size[FY_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const vt_name[FY_GGUF_VTYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};

const char *fy_gguf_vtype_str(uint32_t t)
{
    return t < FY_GGUF_VTYPE_COUNT ? vt_name[t] : "?";
}

int fy_gguf_vtype_is_int(uint32_t t)
{
    return t == FY_GGUF_U8 || t == FY_GGUF_I8 || t == FY_GGUF_U16 || t == FY_GGUF_I16 ||
           t == FY_GGUF_U32 || t == FY_GGUF_I32 || t == FY_GGUF_U64 || t == FY_GGUF_I64;
}

int fy_gguf_vtype_is_signed(uint32_t t)
{
    return t == FY_GGUF_I8 || t == FY_GGUF_I16 || t == FY_GGUF_I32 || t == FY_GGUF_I64;
}

/* ---- reader primitives ---- */

static fy_status rd_fail(const struct fy_gguf_rd *r, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static fy_status rd_fail(const struct fy_gguf_rd *r, uint64_t off, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fy_log(FY_LOG_ERR, "%s: %s%s%s at byte offset %llu", r->path, r->what, r->what[0] ? ": " : "",
           msg, (unsigned long long)off);
    return FY_E_FORMAT;
}

/* Sets r->what to `kind i ("name")`, the name shortened and made printable. */
static void rd_what(struct fy_gguf_rd *r, const char *kind, uint64_t i, const char *name,
                    uint64_t n)
{
    char clean[68];
    size_t k = 0;

    for (; k < n && k < 64; k++) {
        unsigned char c = (unsigned char)name[k];
        clean[k] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (n > 64) {
        memcpy(clean + k, "...", 3);
        k += 3;
    }
    clean[k] = '\0';
    snprintf(r->what, sizeof(r->what), "%s %llu (\"%s\")", kind, (unsigned long long)i, clean);
}

static fy_status rd_need(const struct fy_gguf_rd *r, uint64_t n, const char *what)
{
    if (n <= r->size - r->pos)
        return FY_OK;
    return rd_fail(r, r->pos, "file truncated: %s needs %llu bytes but only %llu remain "
                   "(file size %llu)", what, (unsigned long long)n,
                   (unsigned long long)(r->size - r->pos), (unsigned long long)r->size);
}

static fy_status rd_u32(struct fy_gguf_rd *r, uint32_t *v, const char *what)
{
    FY_TRY(rd_need(r, 4, what));
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return FY_OK;
}

static fy_status rd_u64(struct fy_gguf_rd *r, uint64_t *v, const char *what)
{
    FY_TRY(rd_need(r, 8, what));
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return FY_OK;
}

/* A key or tensor name: 1..max bytes, no NUL inside. */
static fy_status rd_name(struct fy_gguf_rd *r, struct fy_gguf_str *s, const char *what,
                         uint64_t max)
{
    uint64_t at = r->pos;
    uint64_t len;

    FY_TRY(rd_u64(r, &len, what));
    if (len == 0)
        return rd_fail(r, at, "empty %s", what);
    if (len > max)
        return rd_fail(r, at, "%s length %llu exceeds the limit of %llu bytes", what,
                       (unsigned long long)len, (unsigned long long)max);
    FY_TRY(rd_need(r, len, what));
    if (memchr(r->p + r->pos, 0, len))
        return rd_fail(r, r->pos, "%s contains a NUL byte", what);
    s->len = len;
    s->ptr = (const char *)(r->p + r->pos);
    r->pos += len;
    return FY_OK;
}

/* ---- values ---- */

static void decode_scalar(struct fy_gguf_kv *kv, const uint8_t *b)
{
    switch (kv->type) {
    case FY_GGUF_U8: kv->v.u = b[0]; break;
    case FY_GGUF_I8: kv->v.i = (int8_t)b[0]; break;
    case FY_GGUF_BOOL: kv->v.u = b[0] != 0; break;
    case FY_GGUF_U16: { uint16_t x; memcpy(&x, b, 2); kv->v.u = x; break; }
    case FY_GGUF_I16: { int16_t x; memcpy(&x, b, 2); kv->v.i = x; break; }
    case FY_GGUF_U32: { uint32_t x; memcpy(&x, b, 4); kv->v.u = x; break; }
    case FY_GGUF_I32: { int32_t x; memcpy(&x, b, 4); kv->v.i = x; break; }
    case FY_GGUF_U64: { uint64_t x; memcpy(&x, b, 8); kv->v.u = x; break; }
    case FY_GGUF_I64: { int64_t x; memcpy(&x, b, 8); kv->v.i = x; break; }
    case FY_GGUF_F32: { float x; memcpy(&x, b, 4); kv->v.f = x; break; }
    case FY_GGUF_F64: { double x; memcpy(&x, b, 8); kv->v.f = x; break; }
    default: break;
    }
}

/* Validates one array value (the part after its vtype) and moves past it. Arrays are not decoded:
 * the caller gets the element type, count and first element. When tab is not NULL and the
 * elements are strings, *tab receives each element's offset from the first element. */
static fy_status rd_array(struct fy_gguf_rd *r, int depth, uint32_t *et_out, uint64_t *n_out,
                          const uint8_t **data_out, uint64_t **tab)
{
    uint64_t at = r->pos;
    uint32_t et;
    uint64_t n;

    FY_TRY(rd_u32(r, &et, "array element type"));
    if (et >= FY_GGUF_VTYPE_COUNT)
        return rd_fail(r, at, "unknown array element type %u (valid: 0..12)", et);
    if (et == FY_GGUF_ARR && depth >= FY_GGUF_DEPTH_MAX)
        return rd_fail(r, at, "arrays nested more than %d deep", FY_GGUF_DEPTH_MAX);
    at = r->pos;
    FY_TRY(rd_u64(r, &n, "array count"));
    const uint8_t *data = r->p + r->pos;
    uint64_t left = r->size - r->pos;

    if (fy_gguf_vt_size[et]) {
        uint64_t bytes;
        if (__builtin_mul_overflow(n, (uint64_t)fy_gguf_vt_size[et], &bytes) || bytes > left)
            return rd_fail(r, at, "array of %llu %s elements does not fit in the %llu bytes left",
                           (unsigned long long)n, vt_name[et], (unsigned long long)left);
        r->pos += bytes;
    } else if (et == FY_GGUF_STR) {
        if (n > left / 8)
            return rd_fail(r, at, "array of %llu strings does not fit in the %llu bytes left",
                           (unsigned long long)n, (unsigned long long)left);
        uint64_t *off = NULL;
        if (tab && n) {
            off = malloc(n * sizeof(*off));
            if (!off) {
                fy_log(FY_LOG_ERR, "%s: %s: out of memory for %llu string offsets", r->path,
                       r->what, (unsigned long long)n);
                return FY_E_NOMEM;
            }
            *tab = off;
        }
        /* hot loop: 650k strings in the tokenizer arrays */
        const uint8_t *p = r->p;
        uint64_t pos = r->pos, size = r->size;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t len;
            if (size - pos < 8) {
                r->pos = pos;
                return rd_fail(r, pos, "file truncated in the length of array string %llu",
                               (unsigned long long)i);
            }
            memcpy(&len, p + pos, 8);
            if (off)
                off[i] = pos - r->pos;
            pos += 8;
            if (len > size - pos) {
                r->pos = pos;
                return rd_fail(r, pos - 8, "array string %llu has length %llu but only %llu "
                               "bytes remain", (unsigned long long)i, (unsigned long long)len,
                               (unsigned long long)(size - pos));
            }
            pos += len;
        }
        r->pos = pos;
    } else {
        /* arrays of arrays: each element is at least a u32 type and a u64 count */
        if (n > left / 12)
            return rd_fail(r, at, "array of %llu arrays does not fit in the %llu bytes left",
                           (unsigned long long)n, (unsigned long long)left);
        for (uint64_t i = 0; i < n; i++) {
            uint32_t et2;
            uint64_t n2;
            const uint8_t *d2;
            FY_TRY(rd_array(r, depth + 1, &et2, &n2, &d2, NULL));
        }
    }
    *et_out = et;
    *n_out = n;
    *data_out = data;
    return FY_OK;
}

static fy_status rd_value(struct fy_gguf_rd *r, struct fy_gguf_kv_ent *e)
{
    struct fy_gguf_kv *kv = &e->kv;

    if (kv->type == FY_GGUF_STR) {
        uint64_t at = r->pos;
        uint64_t len;
        FY_TRY(rd_u64(r, &len, "string length"));
        if (len > r->size - r->pos)
            return rd_fail(r, at, "string length %llu exceeds the %llu bytes left",
                           (unsigned long long)len, (unsigned long long)(r->size - r->pos));
        kv->v.s.len = len;
        kv->v.s.ptr = (const char *)(r->p + r->pos);
        r->pos += len;
        return FY_OK;
    }
    if (kv->type == FY_GGUF_ARR) {
        uint32_t et;
        fy_status st = rd_array(r, 1, &et, &kv->arr_n, &kv->arr_data, &e->str_off);
        kv->arr_type = (enum fy_gguf_vtype)et;
        return st;
    }
    FY_TRY(rd_need(r, fy_gguf_vt_size[kv->type], vt_name[kv->type]));
    decode_scalar(kv, r->p + r->pos);
    r->pos += fy_gguf_vt_size[kv->type];
    return FY_OK;
}

/* ---- shards ---- */

static struct fy_gguf_kv_ent *kv_push(struct fy_gguf *g)
{
    if (g->n_kv == g->cap_kv) {
        int64_t cap = g->cap_kv ? g->cap_kv * 2 : 64;
        struct fy_gguf_kv_ent *k = realloc(g->kvs, (size_t)cap * sizeof(*k));
        if (!k)
            return NULL;
        g->kvs = k;
        g->cap_kv = cap;
    }
    struct fy_gguf_kv_ent *e = &g->kvs[g->n_kv++];
    memset(e, 0, sizeof(*e));
    return e;
}

static struct fy_gguf_tensor *tensor_push(struct fy_gguf *g)
{
    if (g->n_tensors == g->cap_tensors) {
        int64_t cap = g->cap_tensors ? g->cap_tensors * 2 : 64;
        uint64_t *pos = realloc(g->t_off_pos, (size_t)cap * sizeof(*pos));
        if (!pos)
            return NULL;
        g->t_off_pos = pos;
        struct fy_gguf_tensor *t = realloc(g->tensors, (size_t)cap * sizeof(*t));
        if (!t)
            return NULL;
        g->tensors = t;
        g->cap_tensors = cap;
    }
    struct fy_gguf_tensor *t = &g->tensors[g->n_tensors++];
    memset(t, 0, sizeof(*t));
    return t;
}

int fy_gguf_str_is(const struct fy_gguf_str *s, const char *c)
{
    size_t n = strlen(c);
    return s->len == n && memcmp(s->ptr, c, n) == 0;
}

/* The kv table of shard s: keys unique within the shard, general.alignment checked. */
static fy_status parse_kvs(struct fy_gguf *g, int s, struct fy_gguf_rd *r, uint64_t n_kv)
{
    struct fy_gguf_shard *sh = &g->shards[s];
    struct fy_gguf_ht dup = {0};
    fy_status st = FY_OK;

    sh->kv_begin = g->n_kv;
    for (uint64_t i = 0; i < n_kv; i++) {
        uint64_t at = r->pos;
        struct fy_gguf_str key;
        uint32_t vt;

        snprintf(r->what, sizeof(r->what), "kv %llu", (unsigned long long)i);
        st = rd_name(r, &key, "key", FY_GGUF_KEY_MAX);
        if (st != FY_OK)
            goto fail;
        rd_what(r, "kv", i, key.ptr, key.len);
        st = rd_u32(r, &vt, "value type");
        if (st != FY_OK)
            goto fail;
        if (vt >= FY_GGUF_VTYPE_COUNT) {
            st = rd_fail(r, r->pos - 4, "unknown value type %u (valid: 0..12)", vt);
            goto fail;
        }
        int64_t prev = fy_gguf_ht_find(&dup, key.ptr, key.len);
        if (prev >= 0) {
            st = rd_fail(r, at, "duplicate key (first at byte offset %llu)",
                         (unsigned long long)g->kvs[prev].file_off);
            goto fail;
        }
        struct fy_gguf_kv_ent *e = kv_push(g);
        if (!e) {
            st = FY_E_NOMEM;
            goto fail;
        }
        e->kv.key = key;
        e->kv.type = (enum fy_gguf_vtype)vt;
        e->kv.shard = s;
        e->file_off = at;
        st = rd_value(r, e);
        if (st != FY_OK)
            goto fail;
        st = fy_gguf_ht_put(&dup, key.ptr, key.len, g->n_kv - 1);
        if (st != FY_OK)
            goto fail;
        if (fy_gguf_str_is(&key, "general.alignment")) {
            if (vt != FY_GGUF_U32) {
                st = rd_fail(r, at, "general.alignment has type %s, expected u32", vt_name[vt]);
                goto fail;
            }
            uint64_t a = e->kv.v.u;
            if (a == 0 || (a & (a - 1))) {
                st = rd_fail(r, at, "general.alignment %llu is not a nonzero power of two",
                             (unsigned long long)a);
                goto fail;
            }
            sh->alignment = (uint32_t)a;
        }
    }
    sh->n_kv = g->n_kv - sh->kv_begin;
    /* the model-wide table: earlier shards win */
    for (int64_t k = sh->kv_begin; k < g->n_kv; k++) {
        const struct fy_gguf_str *key = &g->kvs[k].kv.key;
        if (fy_gguf_ht_find(&g->kv_ht, key->ptr, key->len) < 0) {
            st = fy_gguf_ht_put(&g->kv_ht, key->ptr, key->len, k);
            if (st != FY_OK)
                goto fail;
        }
    }
    r->what[0] = '\0';
    fy_gguf_ht_free(&dup);
    return FY_OK;
fail:
    if (st == FY_E_NOMEM)
        fy_log(FY_LOG_ERR, "%s: out of memory reading the kv table", r->path);
    fy_gguf_ht_free(&dup);
    return st;
}

/* One tensor info entry; the data range is checked later, once the data section is known. */
static fy_status parse_tensor_info(struct fy_gguf *g, int s, struct fy_gguf_rd *r, uint64_t i)
{
    const uint32_t align = g->shards[s].alignment;
    uint64_t at = r->pos;
    struct fy_gguf_str name;
    uint32_t n_dims;
    uint32_t type;
    uint64_t offset;
    int64_t ne[4] = {1, 1, 1, 1};

    snprintf(r->what, sizeof(r->what), "tensor info %llu", (unsigned long long)i);
    FY_TRY(rd_name(r, &name, "tensor name", FY_GGUF_NAME_MAX));
    rd_what(r, "tensor info", i, name.ptr, name.len);
    FY_TRY(rd_u32(r, &n_dims, "n_dims"));
    if (n_dims == 0 || n_dims > 4)
        return rd_fail(r, r->pos - 4, "n_dims %u %s", n_dims, n_dims ? "> 4" : "(must be 1..4)");
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t v;
        FY_TRY(rd_u64(r, &v, "ne"));
        if (v > INT64_MAX)
            return rd_fail(r, r->pos - 8, "ne[%u] is negative (%lld)", d, (long long)v);
        if (v == 0)
            return rd_fail(r, r->pos - 8, "ne[%u] is 0", d);
        ne[d] = (int64_t)v;
    }
    FY_TRY(rd_u32(r, &type, "ggml type"));
    if (!fy_dtype_known(type))
        return rd_fail(r, r->pos - 4, "unknown or unsupported ggml type id %u (known: 0 F32, "
                       "1 F16, 8 Q8_0, 30 BF16, 39 MXFP4)", type);
    const enum fy_dtype dt = (enum fy_dtype)type;
    const int64_t blk = fy_dtype_block_elems(dt);
    if (ne[0] % blk)
        return rd_fail(r, r->pos - 4, "ne[0] = %lld is not a multiple of the %s block size %lld",
                       (long long)ne[0], fy_dtype_name(dt), (long long)blk);
    int64_t nel = ne[0];
    uint64_t row = 0;
    uint64_t nb2 = 0;
    uint64_t nb3 = 0;
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(nel, ne[1], &nel) || __builtin_mul_overflow(nel, ne[2], &nel) ||
        __builtin_mul_overflow(nel, ne[3], &nel) ||
        __builtin_mul_overflow((uint64_t)(ne[0] / blk), (uint64_t)fy_dtype_block_bytes(dt),
                               &row) ||
        __builtin_mul_overflow(row, (uint64_t)ne[1], &nb2) ||
        __builtin_mul_overflow(nb2, (uint64_t)ne[2], &nb3) ||
        __builtin_mul_overflow(nb3, (uint64_t)ne[3], &bytes) || bytes > INT64_MAX)
        return rd_fail(r, at, "shape [%lld, %lld, %lld, %lld] overflows", (long long)ne[0],
                       (long long)ne[1], (long long)ne[2], (long long)ne[3]);
    FY_TRY(rd_u64(r, &offset, "data offset"));
    if (offset % align)
        return rd_fail(r, r->pos - 8, "data offset %llu is not a multiple of the alignment %u",
                       (unsigned long long)offset, align);

    int64_t prev = fy_gguf_ht_find(&g->t_ht, name.ptr, name.len);
    if (prev >= 0) {
        const struct fy_gguf_tensor *o = &g->tensors[prev];
        return rd_fail(r, at, "duplicate tensor name (also tensor info %lld of %s)",
                       (long long)(prev - g->shards[o->shard].t_begin),
                       g->shards[o->shard].path);
    }
    struct fy_gguf_tensor *t = tensor_push(g);
    if (!t || fy_gguf_ht_put(&g->t_ht, name.ptr, name.len, g->n_tensors - 1) != FY_OK) {
        fy_log(FY_LOG_ERR, "%s: out of memory reading the tensor table", r->path);
        return FY_E_NOMEM;
    }
    memcpy(t->name, name.ptr, name.len);
    t->name[name.len] = '\0';
    t->type = dt;
    t->n_dims = (int)n_dims;
    memcpy(t->ne, ne, sizeof(ne));
    t->nb[0] = fy_dtype_block_bytes(dt);
    t->nb[1] = row;
    t->nb[2] = nb2;
    t->nb[3] = nb3;
    t->offset = offset;
    t->size = bytes;
    t->shard = s;
    g->t_off_pos[g->n_tensors - 1] = r->pos - 8;
    return FY_OK;
}

/* Parses and validates the whole header of mapped shard s. */
fy_status fy_gguf_parse_shard(struct fy_gguf *g, int s)
{
    struct fy_gguf_shard *sh = &g->shards[s];
    struct fy_gguf_rd r = {.path = sh->path, .p = sh->map, .size = sh->size};
    uint32_t magic;
    uint32_t version;
    uint64_t n_tensors;
    uint64_t n_kv;

    FY_TRY(rd_u32(&r, &magic, "magic"));
    if (magic != FY_GGUF_MAGIC)
        return rd_fail(&r, 0, "bad magic 0x%08x, expected 0x%08x (\"GGUF\"): not a GGUF file",
                       magic, FY_GGUF_MAGIC);
    FY_TRY(rd_u32(&r, &version, "version"));
    if (version == 0x02000000u || version == 0x03000000u)
        return rd_fail(&r, 4, "big-endian GGUF files are not supported");
    if (version == 1)
        return rd_fail(&r, 4, "GGUF version 1 (32-bit counts) is not supported; re-convert the "
                       "model to version 3");
    if (version != 2 && version != 3)
        return rd_fail(&r, 4, "unsupported GGUF version %u (supported: 2 and 3)", version);
    sh->version = version;
    FY_TRY(rd_u64(&r, &n_tensors, "tensor count"));
    FY_TRY(rd_u64(&r, &n_kv, "kv count"));
    uint64_t left = r.size - r.pos;
    if (n_kv > left / FY_GGUF_KV_MIN)
        return rd_fail(&r, 16, "kv count %llu cannot fit in the %llu bytes left (a kv takes at "
                       "least %u)", (unsigned long long)n_kv, (unsigned long long)left,
                       FY_GGUF_KV_MIN);
    left -= n_kv * FY_GGUF_KV_MIN;
    if (n_tensors > left / FY_GGUF_TI_MIN)
        return rd_fail(&r, 8, "tensor count %llu cannot fit in the file (a tensor info takes at "
                       "least %u bytes)", (unsigned long long)n_tensors, FY_GGUF_TI_MIN);

    sh->alignment = FY_GGUF_ALIGN_DEFAULT;
    FY_TRY(parse_kvs(g, s, &r, n_kv));

    sh->t_begin = g->n_tensors;
    for (uint64_t i = 0; i < n_tensors; i++)
        FY_TRY(parse_tensor_info(g, s, &r, i));
    sh->n_tensors = g->n_tensors - sh->t_begin;

    const uint64_t end = r.pos;
    const uint64_t a = sh->alignment;
    sh->data_start = (end + a - 1) / a * a;
    r.what[0] = '\0';
    if (n_tensors && sh->data_start > r.size)
        return rd_fail(&r, end, "file truncated: the data section would start at %llu but the "
                       "file has %llu bytes", (unsigned long long)sh->data_start,
                       (unsigned long long)r.size);
    const uint64_t data_len = n_tensors ? r.size - sh->data_start : 0;
    for (int64_t k = sh->t_begin; k < g->n_tensors; k++) {
        struct fy_gguf_tensor *t = &g->tensors[k];
        if (t->offset > data_len || t->size > data_len - t->offset) {
            rd_what(&r, "tensor info", (uint64_t)(k - sh->t_begin), t->name, strlen(t->name));
            return rd_fail(&r, g->t_off_pos[k], "data offset %llu + size %llu runs past the end "
                           "of the data section (%llu bytes from byte %llu; file truncated?)",
                           (unsigned long long)t->offset, (unsigned long long)t->size,
                           (unsigned long long)data_len, (unsigned long long)sh->data_start);
        }
        t->data = sh->map + sh->data_start + t->offset;
    }
    return FY_OK;
}
