/* GGUF v3 streaming writer (little-endian).
 *
 * The header, the kv table and the tensor-info table are built in memory (they are small: the
 * tokenizer arrays of a gpt-oss file are a few MB); tensor bytes go straight to the file through
 * a large stdio buffer, so a 60 GB model needs no more memory than one chunk of the caller's.
 *
 * The file goes through fy_outfile (outfile.h): a regular file is written as a temporary file
 * beside it and renamed to <path> by fy_gguf_writer_finish, so an interrupted write never leaves
 * a half file under the real name, and fy_gguf_writer_free without a successful finish removes
 * the temporary file. A FIFO or a character device is written in place, holes as zeros.
 *
 * Alignment: offsets of tensor data are multiples of the writer's alignment (32 when 0 is
 * passed). When it differs from 32 the reader needs a `general.alignment` (u32) kv: the writer
 * appends one itself at fy_gguf_writer_begin_data unless the caller added it, and refuses a
 * caller's `general.alignment` whose type or value disagrees. */
#include "gguf.h"
#include "outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GW_MAGIC 0x46554747u        /* "GGUF" as a little-endian u32 */
#define GW_VERSION 3u
#define GW_ALIGN_DEFAULT 32u
#define GW_NAME_MAX 63u             /* ggml's GGML_MAX_NAME (64) less the NUL */
#define GW_IOBUF (1u << 20)         /* stdio buffer: big writes bypass it (glibc writes whole
                                     * buffer-sized blocks straight to the file) */

enum gw_state { GW_BUILD = 0, GW_DATA = 1, GW_DONE = 2, GW_FAILED = 3 };

struct gw_buf {
    uint8_t *p;
    size_t n;
    size_t cap;
};

struct gw_tensor {
    char *name;
    enum fy_dtype type;
    int n_dims;
    int64_t ne[4];
    uint64_t size;    /* bytes */
    uint64_t offset;  /* inside the data section */
};

struct fy_gguf_writer {
    char *path;        /* final name */
    struct fy_outfile *out; /* NULL once committed or discarded */
    FILE *f;                /* its stream */
    bool seekable;          /* a temporary regular file: holes and ftruncate work */
    char *iobuf;
    uint32_t alignment;
    enum gw_state state;

    struct gw_buf kv;  /* serialized kvs, in the order added */
    uint64_t n_kv;
    char **keys;       /* for the duplicate check */
    uint64_t cap_keys;
    int have_align_kv;

    struct gw_tensor *t;
    int64_t n_t;
    int64_t cap_t;
    uint64_t data_size;  /* sum of padded tensor sizes */

    int64_t cur;         /* tensor being written */
    uint64_t cur_done;   /* bytes of it written so far */
};

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* ---- in-memory serialization ---- */

static fy_status buf_reserve(struct gw_buf *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return FY_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return FY_E_NOMEM;
    b->p = p;
    b->cap = cap;
    return FY_OK;
}

static fy_status buf_put(struct gw_buf *b, const void *src, size_t n)
{
    FY_TRY(buf_reserve(b, n));
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
    return FY_OK;
}

static fy_status buf_u32(struct gw_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return buf_put(b, x, 4);
}

static fy_status buf_u64(struct gw_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return buf_put(b, x, 8);
}

static fy_status buf_str(struct gw_buf *b, const char *s, uint64_t n)
{
    FY_TRY(buf_u64(b, n));
    return buf_put(b, s, (size_t)n);
}

static void buf_free(struct gw_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---- writer lifecycle ---- */

fy_status fy_gguf_writer_new(const char *path, uint32_t alignment, struct fy_gguf_writer **out)
{
    struct fy_gguf_writer *w = NULL;
    fy_status st = FY_E_NOMEM;

    FY_CHECK_ARG(path && *path && out);
    *out = NULL;
    if (alignment == 0)
        alignment = GW_ALIGN_DEFAULT;
    if (alignment & (alignment - 1)) {
        fy_log(FY_LOG_ERR, "%s: GGUF alignment %u is not a power of two", path, alignment);
        return FY_E_INVAL;
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return FY_E_NOMEM;
    w->alignment = alignment;
    size_t n = strlen(path);
    w->path = malloc(n + 1);
    w->iobuf = malloc(GW_IOBUF);
    if (!w->path || !w->iobuf)
        goto fail;
    memcpy(w->path, path, n + 1);
    if ((st = fy_outfile_open(NULL, path, &w->out)) != FY_OK)
        goto fail;
    w->f = fy_outfile_fp(w->out);
    w->seekable = fy_outfile_seekable(w->out);
    setvbuf(w->f, w->iobuf, _IOFBF, GW_IOBUF);
    *out = w;
    return FY_OK;
fail:
    fy_gguf_writer_free(w);
    return st;
}

void fy_gguf_writer_free(struct fy_gguf_writer *w)
{
    if (!w)
        return;
    fy_outfile_discard(w->out); /* closes and removes the temporary file, if not committed */
    w->out = NULL;
    w->f = NULL;
    for (uint64_t i = 0; i < w->n_kv && w->keys; i++)
        free(w->keys[i]);
    free(w->keys);
    for (int64_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    buf_free(&w->kv);
    free(w->iobuf);
    free(w->path);
    free(w);
}

/* ---- metadata ---- */

static fy_status kv_begin(struct fy_gguf_writer *w, const char *key, uint32_t vtype)
{
    FY_CHECK_ARG(w && key);
    if (w->state != GW_BUILD) {
        fy_log(FY_LOG_ERR, "%s: kv \"%s\" added after the data section began", w->path, key);
        return FY_E_INVAL;
    }
    size_t n = strlen(key);
    if (n == 0) {
        fy_log(FY_LOG_ERR, "%s: empty kv key", w->path);
        return FY_E_INVAL;
    }
    if (vtype >= FY_GGUF_VTYPE_COUNT) {
        fy_log(FY_LOG_ERR, "%s: kv \"%s\": value type %u is not a GGUF type", w->path, key, vtype);
        return FY_E_INVAL;
    }
    for (uint64_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->keys[i], key)) {
            fy_log(FY_LOG_ERR, "%s: kv \"%s\" added twice", w->path, key);
            return FY_E_INVAL;
        }
    }
    if (w->n_kv == w->cap_keys) {
        uint64_t cap = w->cap_keys ? 2 * w->cap_keys : 64;
        char **k = realloc(w->keys, cap * sizeof(*k));
        if (!k)
            return FY_E_NOMEM;
        w->keys = k;
        w->cap_keys = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return FY_E_NOMEM;
    memcpy(copy, key, n + 1);
    fy_status st = buf_str(&w->kv, key, n);
    if (st == FY_OK)
        st = buf_u32(&w->kv, vtype);
    if (st != FY_OK) {
        free(copy);
        return st;
    }
    w->keys[w->n_kv++] = copy;
    return FY_OK;
}

/* general.alignment added by the caller must be a u32 equal to the writer's alignment. */
static fy_status check_align_kv(struct fy_gguf_writer *w, const char *key, uint32_t vtype,
                                const void *bytes, size_t n)
{
    if (!key || strcmp(key, "general.alignment") != 0)
        return FY_OK;
    uint32_t v = 0;
    if (vtype != FY_GGUF_U32 || n != 4) {
        fy_log(FY_LOG_ERR, "%s: general.alignment must be a u32", w ? w->path : "?");
        return FY_E_INVAL;
    }
    const uint8_t *b = bytes;
    v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    if (v != w->alignment) {
        fy_log(FY_LOG_ERR, "%s: general.alignment %u differs from the writer's alignment %u",
               w->path, v, w->alignment);
        return FY_E_INVAL;
    }
    w->have_align_kv = 1;
    return FY_OK;
}

fy_status fy_gguf_writer_kv_raw(struct fy_gguf_writer *w, const char *key, uint32_t vtype,
                                const void *bytes, size_t n)
{
    FY_CHECK_ARG(w && key && (bytes || n == 0));
    if (w->state == GW_BUILD)
        FY_TRY(check_align_kv(w, key, vtype, bytes, n));
    FY_TRY(kv_begin(w, key, vtype));
    return buf_put(&w->kv, bytes, n);
}

fy_status fy_gguf_writer_kv_u32(struct fy_gguf_writer *w, const char *key, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return fy_gguf_writer_kv_raw(w, key, FY_GGUF_U32, x, 4);
}

fy_status fy_gguf_writer_kv_u16(struct fy_gguf_writer *w, const char *key, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return fy_gguf_writer_kv_raw(w, key, FY_GGUF_U16, x, 2);
}

fy_status fy_gguf_writer_kv_i32(struct fy_gguf_writer *w, const char *key, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t x[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    return fy_gguf_writer_kv_raw(w, key, FY_GGUF_I32, x, 4);
}

fy_status fy_gguf_writer_kv_f32(struct fy_gguf_writer *w, const char *key, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t x[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    return fy_gguf_writer_kv_raw(w, key, FY_GGUF_F32, x, 4);
}

fy_status fy_gguf_writer_kv_bool(struct fy_gguf_writer *w, const char *key, int v)
{
    uint8_t x = v ? 1 : 0;
    return fy_gguf_writer_kv_raw(w, key, FY_GGUF_BOOL, &x, 1);
}

fy_status fy_gguf_writer_kv_str(struct fy_gguf_writer *w, const char *key, const char *v)
{
    FY_CHECK_ARG(w && key && v);
    FY_TRY(kv_begin(w, key, FY_GGUF_STR));
    return buf_str(&w->kv, v, strlen(v));
}

fy_status fy_gguf_writer_kv_str_arr(struct fy_gguf_writer *w, const char *key,
                                    const char *const *strs, const uint64_t *lens, uint64_t n)
{
    FY_CHECK_ARG(w && key && (n == 0 || (strs && lens)));
    uint64_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i] && lens[i]) {
            fy_log(FY_LOG_ERR, "%s: kv \"%s\": string %llu is NULL", w->path, key,
                   (unsigned long long)i);
            return FY_E_INVAL;
        }
        total += 8 + lens[i];
    }
    FY_TRY(kv_begin(w, key, FY_GGUF_ARR));
    FY_TRY(buf_reserve(&w->kv, (size_t)total));
    FY_TRY(buf_u32(&w->kv, FY_GGUF_STR));
    FY_TRY(buf_u64(&w->kv, n));
    for (uint64_t i = 0; i < n; i++)
        FY_TRY(buf_str(&w->kv, strs[i], lens[i]));
    return FY_OK;
}

fy_status fy_gguf_writer_kv_i32_arr(struct fy_gguf_writer *w, const char *key,
                                    const int32_t *v, uint64_t n)
{
    FY_CHECK_ARG(w && key && (n == 0 || v));
    FY_TRY(kv_begin(w, key, FY_GGUF_ARR));
    FY_TRY(buf_reserve(&w->kv, (size_t)(12 + 4 * n)));
    FY_TRY(buf_u32(&w->kv, FY_GGUF_I32));
    FY_TRY(buf_u64(&w->kv, n));
    for (uint64_t i = 0; i < n; i++)
        FY_TRY(buf_u32(&w->kv, (uint32_t)v[i]));
    return FY_OK;
}

/* ---- tensor infos ---- */

fy_status fy_gguf_writer_tensor(struct fy_gguf_writer *w, const char *name, enum fy_dtype type,
                                int n_dims, const int64_t *ne)
{
    FY_CHECK_ARG(w && name && ne);
    if (w->state != GW_BUILD) {
        fy_log(FY_LOG_ERR, "%s: tensor %s added after the data section began", w->path, name);
        return FY_E_INVAL;
    }
    size_t len = strlen(name);
    if (len == 0 || len > GW_NAME_MAX) {
        fy_log(FY_LOG_ERR, "%s: tensor name \"%s\" must have 1..%u bytes", w->path, name,
               GW_NAME_MAX);
        return FY_E_INVAL;
    }
    if (!fy_dtype_known((uint32_t)type)) {
        fy_log(FY_LOG_ERR, "%s: tensor %s: type id %d is not implemented", w->path, name,
               (int)type);
        return FY_E_INVAL;
    }
    if (n_dims < 1 || n_dims > 4) {
        fy_log(FY_LOG_ERR, "%s: tensor %s: %d dimensions (1..4 allowed)", w->path, name, n_dims);
        return FY_E_INVAL;
    }
    uint64_t n_el = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || (uint64_t)ne[d] > (UINT64_MAX >> 8) / n_el) {
            fy_log(FY_LOG_ERR, "%s: tensor %s: bad dimension ne[%d] = %lld", w->path, name, d,
                   (long long)ne[d]);
            return FY_E_INVAL;
        }
        n_el *= (uint64_t)ne[d];
    }
    int64_t be = fy_dtype_block_elems(type);
    if (ne[0] % be) {
        fy_log(FY_LOG_ERR, "%s: tensor %s: ne[0] = %lld is not a multiple of %s's block of %lld",
               w->path, name, (long long)ne[0], fy_dtype_name(type), (long long)be);
        return FY_E_INVAL;
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        if (!strcmp(w->t[i].name, name)) {
            fy_log(FY_LOG_ERR, "%s: tensor %s added twice", w->path, name);
            return FY_E_INVAL;
        }
    }
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? 2 * w->cap_t : 256;
        struct gw_tensor *t = realloc(w->t, (size_t)cap * sizeof(*t));
        if (!t)
            return FY_E_NOMEM;
        w->t = t;
        w->cap_t = cap;
    }
    struct gw_tensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof(*t));
    t->name = malloc(len + 1);
    if (!t->name)
        return FY_E_NOMEM;
    memcpy(t->name, name, len + 1);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->size = n_el / (uint64_t)be * fy_dtype_block_bytes(type);
    t->offset = w->data_size;
    w->data_size += align_up(t->size, w->alignment);
    w->n_t++;
    return FY_OK;
}

/* ---- data ---- */

static fy_status put_file(struct fy_gguf_writer *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n) {
        fy_outfile_fail(w->out, errno);
        w->state = GW_FAILED;
        return FY_E_IO;
    }
    return FY_OK;
}

static fy_status put_zeros(struct fy_gguf_writer *w, uint64_t n)
{
    static const uint8_t zeros[1 << 16];
    while (n) {
        size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
        FY_TRY(put_file(w, zeros, k));
        n -= k;
    }
    return FY_OK;
}

fy_status fy_gguf_writer_begin_data(struct fy_gguf_writer *w)
{
    struct gw_buf h = {0};
    fy_status st;

    FY_CHECK_ARG(w);
    if (w->state != GW_BUILD) {
        fy_log(FY_LOG_ERR, "%s: begin_data called twice or after an error", w->path);
        return FY_E_INVAL;
    }
    if (w->alignment != GW_ALIGN_DEFAULT && !w->have_align_kv)
        FY_TRY(fy_gguf_writer_kv_u32(w, "general.alignment", w->alignment));

    if ((st = buf_u32(&h, GW_MAGIC)) || (st = buf_u32(&h, GW_VERSION)) ||
        (st = buf_u64(&h, (uint64_t)w->n_t)) || (st = buf_u64(&h, w->n_kv)) ||
        (st = buf_put(&h, w->kv.p, w->kv.n)))
        goto fail;
    for (int64_t i = 0; i < w->n_t; i++) {
        const struct gw_tensor *t = &w->t[i];
        if ((st = buf_str(&h, t->name, strlen(t->name))) || (st = buf_u32(&h, (uint32_t)t->n_dims)))
            goto fail;
        for (int d = 0; d < t->n_dims; d++)
            if ((st = buf_u64(&h, (uint64_t)t->ne[d])))
                goto fail;
        if ((st = buf_u32(&h, (uint32_t)t->type)) || (st = buf_u64(&h, t->offset)))
            goto fail;
    }
    size_t pad = (size_t)(align_up(h.n, w->alignment) - h.n);
    if ((st = buf_reserve(&h, pad)))
        goto fail;
    memset(h.p + h.n, 0, pad);
    h.n += pad;
    if ((st = put_file(w, h.p, h.n)))
        goto fail;
    buf_free(&h);
    buf_free(&w->kv);  /* written; no longer needed */
    w->state = GW_DATA;
    w->cur = 0;
    w->cur_done = 0;
    return FY_OK;
fail:
    buf_free(&h);
    w->state = GW_FAILED;
    return st;
}

/* Bytes continue the current tensor; when it is complete, the padding to the alignment is
 * written and the next tensor begins. A call may therefore span several tensors. */
/* Moves the file position n bytes on without writing: a hole that reads as zeros. */
static fy_status put_hole(struct fy_gguf_writer *w, size_t n)
{
    if (!w->seekable)
        return put_zeros(w, n); /* a pipe or a device: the zeros themselves */
    if (n && fseeko(w->f, (off_t)n, SEEK_CUR) != 0) {
        fy_log(FY_LOG_ERR, "%s: seek failed: %s", w->path, strerror(errno));
        w->state = GW_FAILED;
        return FY_E_IO;
    }
    return FY_OK;
}

static fy_status write_or_skip(struct fy_gguf_writer *w, const void *bytes, size_t n);

fy_status fy_gguf_writer_write(struct fy_gguf_writer *w, const void *bytes, size_t n)
{
    FY_CHECK_ARG(w && (bytes || n == 0));
    return write_or_skip(w, bytes, n);
}

fy_status fy_gguf_writer_skip(struct fy_gguf_writer *w, size_t n)
{
    FY_CHECK_ARG(w);
    return write_or_skip(w, NULL, n);
}

/* bytes NULL: the n bytes are left as a hole. */
static fy_status write_or_skip(struct fy_gguf_writer *w, const void *bytes, size_t n)
{
    const uint8_t *p = bytes;

    if (w->state != GW_DATA) {
        fy_log(FY_LOG_ERR, "%s: write outside the data section (begin_data not called, or "
               "finished, or an earlier error)", w->path);
        return FY_E_INVAL;
    }
    while (n) {
        if (w->cur >= w->n_t) {
            fy_log(FY_LOG_ERR, "%s: %zu bytes written past the last tensor", w->path, n);
            w->state = GW_FAILED;
            return FY_E_INVAL;
        }
        const struct gw_tensor *t = &w->t[w->cur];
        uint64_t left = t->size - w->cur_done;
        size_t k = n < left ? n : (size_t)left;
        if (p) {
            FY_TRY(put_file(w, p, k));
            p += k;
        } else {
            FY_TRY(put_hole(w, k));
        }
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->size) {
            FY_TRY(put_zeros(w, align_up(t->size, w->alignment) - t->size));
            w->cur++;
            w->cur_done = 0;
        }
    }
    return FY_OK;
}

static fy_status close_and_rename(struct fy_gguf_writer *w);

fy_status fy_gguf_writer_finish_sparse(struct fy_gguf_writer *w)
{
    FY_CHECK_ARG(w);
    if (w->state == GW_BUILD)
        FY_TRY(fy_gguf_writer_begin_data(w));
    if (w->state != GW_DATA || w->cur != 0 || w->cur_done != 0) {
        fy_log(FY_LOG_ERR, "%s: a sparse finish needs a writer with no tensor bytes written",
               w->path);
        return FY_E_INVAL;
    }
    if (!w->seekable) {
        if (put_zeros(w, w->data_size) != FY_OK)
            return FY_E_IO;
        return close_and_rename(w);
    }
    if (fflush(w->f) != 0) {
        fy_outfile_fail(w->out, errno);
        w->state = GW_FAILED;
        return FY_E_IO;
    }
    off_t end = ftello(w->f);
    if (end < 0 || ftruncate(fileno(w->f), end + (off_t)w->data_size) != 0) {
        fy_log(FY_LOG_ERR, "%s: cannot extend to its full size: %s", w->path,
               strerror(errno));
        w->state = GW_FAILED;
        return FY_E_IO;
    }
    return close_and_rename(w);
}

fy_status fy_gguf_writer_finish(struct fy_gguf_writer *w)
{
    FY_CHECK_ARG(w);
    if (w->state == GW_BUILD)
        FY_TRY(fy_gguf_writer_begin_data(w));
    if (w->state != GW_DATA) {
        fy_log(FY_LOG_ERR, "%s: finish after an error or twice", w->path);
        return FY_E_INVAL;
    }
    if (w->cur < w->n_t) {
        const struct gw_tensor *t = &w->t[w->cur];
        fy_log(FY_LOG_ERR, "%s: tensor %s got %llu of its %llu bytes%s", w->path, t->name,
               (unsigned long long)w->cur_done, (unsigned long long)t->size,
               w->cur + 1 < w->n_t ? " (and the tensors after it none)" : "");
        w->state = GW_FAILED;
        return FY_E_INVAL;
    }
    /* a trailing hole (fy_gguf_writer_skip) leaves the position past the end: extend */
    off_t end = !w->seekable ? 0 : fflush(w->f) == 0 ? ftello(w->f) : -1;
    if (w->seekable && (end < 0 || ftruncate(fileno(w->f), end) != 0)) {
        fy_log(FY_LOG_ERR, "%s: cannot set its final size: %s", w->path, strerror(errno));
        w->state = GW_FAILED;
        return FY_E_IO;
    }
    return close_and_rename(w);
}

/* Flushes, closes and gives the file its final name (fy_outfile_commit). */
static fy_status close_and_rename(struct fy_gguf_writer *w)
{
    struct fy_outfile *o = w->out;
    w->out = NULL;
    w->f = NULL;
    if (fy_outfile_commit(o) != FY_OK) {
        w->state = GW_FAILED;
        return FY_E_IO;
    }
    w->state = GW_DONE;
    return FY_OK;
}
