/* Shared helpers of the GGUF reader tests (test_gguf.c, test_gguf_corrupt.c): a byte builder for
 * GGUF files made independently of the writer, the full and small test files, stderr silencing,
 * and the case reporting. Each test program includes it once (it defines failed and tmpdir). */
#ifndef FY_TEST_GGUF_H
#define FY_TEST_GGUF_H

#include "gguf/gguf.h"

#include "fy_test.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u
#define MAX_KV 64
#define MAX_T 32

static int failed;
static char tmpdir[64];

/* ---- byte builder ---- */

struct buf {
    uint8_t *p;
    size_t n;
    size_t cap;
};

static inline void put(struct buf *b, const void *x, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "test_gguf: out of memory\n");
            exit(FY_TEST_HARD);
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, x, n);
    b->n += n;
}

static inline void put_u8(struct buf *b, uint8_t v)
{
    put(b, &v, 1);
}
static inline void put_u16(struct buf *b, uint16_t v)
{
    put(b, &v, 2);
}
static inline void put_u32(struct buf *b, uint32_t v)
{
    put(b, &v, 4);
}
static inline void put_u64(struct buf *b, uint64_t v)
{
    put(b, &v, 8);
}
static inline void put_f32(struct buf *b, float v)
{
    put(b, &v, 4);
}
static inline void put_f64(struct buf *b, double v)
{
    put(b, &v, 8);
}

static inline void put_str(struct buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* ---- file spec ---- */

struct tkv {
    char key[128];
    uint64_t key_len; /* written length field */
    size_t key_bytes; /* bytes actually written */
    uint32_t vtype;
    struct buf val; /* value bytes after the vtype */
};

struct tten {
    char name[128];
    uint64_t name_len;
    size_t name_bytes;
    uint32_t n_dims;
    uint64_t ne[8];
    uint32_t type;
    uint64_t offset;
    int off_set; /* offset given explicitly: no data written for it */
    uint64_t bytes;
};

struct tfile {
    uint32_t magic;
    uint32_t version;
    int n_kv_set;
    uint64_t n_kv;
    int n_t_set;
    uint64_t n_t;
    uint32_t align; /* layout alignment (the general.alignment kv is separate) */
    int nkv;
    struct tkv kv[MAX_KV];
    int nt;
    struct tten t[MAX_T];
};

static inline struct tfile *tf_new(uint32_t version)
{
    struct tfile *f = calloc(1, sizeof(*f));
    if (!f)
        exit(FY_TEST_HARD);
    f->magic = GGUF_MAGIC;
    f->version = version;
    f->align = 32;
    return f;
}

static inline void tf_free(struct tfile *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->nkv; i++)
        free(f->kv[i].val.p);
    free(f);
}

static inline struct tkv *kv_add(struct tfile *f, const char *key, uint32_t vt)
{
    struct tkv *k = &f->kv[f->nkv++];
    snprintf(k->key, sizeof(k->key), "%s", key);
    k->key_len = strlen(k->key);
    k->key_bytes = k->key_len;
    k->vtype = vt;
    return k;
}

static inline void kv_u32(struct tfile *f, const char *key, uint32_t v)
{
    put_u32(&kv_add(f, key, FY_GGUF_U32)->val, v);
}

static inline void kv_u16(struct tfile *f, const char *key, uint16_t v)
{
    put_u16(&kv_add(f, key, FY_GGUF_U16)->val, v);
}

static inline void kv_i32(struct tfile *f, const char *key, int32_t v)
{
    put_u32(&kv_add(f, key, FY_GGUF_I32)->val, (uint32_t)v);
}

static inline void kv_str(struct tfile *f, const char *key, const char *s)
{
    put_str(&kv_add(f, key, FY_GGUF_STR)->val, s);
}

static inline void kv_str_arr(struct tfile *f, const char *key, const char *const *s, int n)
{
    struct tkv *k = kv_add(f, key, FY_GGUF_ARR);
    put_u32(&k->val, FY_GGUF_STR);
    put_u64(&k->val, (uint64_t)n);
    for (int i = 0; i < n; i++)
        put_str(&k->val, s[i]);
}

static inline uint64_t tensor_bytes(uint32_t type, uint32_t n_dims, const uint64_t *ne)
{
    uint64_t be = 1, bb;
    switch (type) {
    case FY_F32:
        bb = 4;
        break;
    case FY_F16:
    case FY_BF16:
        bb = 2;
        break;
    case FY_Q8_0:
        bb = 34;
        be = 32;
        break;
    case FY_MXFP4:
        bb = 17;
        be = 32;
        break;
    default:
        return 64;
    }
    if (n_dims < 1 || n_dims > 4 || ne[0] % be)
        return 64;
    uint64_t n = ne[0] / be * bb;
    for (uint32_t d = 1; d < n_dims; d++)
        if (ne[d] == 0 || __builtin_mul_overflow(n, ne[d], &n))
            return 64;
    return n > (1u << 24) ? 64 : n;
}

static inline struct tten *t_add(struct tfile *f, const char *name, uint32_t type, uint32_t n_dims,
                                 const uint64_t *ne)
{
    struct tten *t = &f->t[f->nt++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->name_len = strlen(t->name);
    t->name_bytes = t->name_len;
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims && d < 8; d++)
        t->ne[d] = ne[d];
    return t;
}

static inline uint8_t pat(int ti, uint64_t j)
{
    return (uint8_t)(ti * 37 + j * 13 + (j >> 7));
}

/* Serializes f (assigning offsets to tensors without one); the last tensor ends the file. */
static inline void tf_build(struct tfile *f, struct buf *out)
{
    out->n = 0;
    put_u32(out, f->magic);
    put_u32(out, f->version);
    put_u64(out, f->n_t_set ? f->n_t : (uint64_t)f->nt);
    put_u64(out, f->n_kv_set ? f->n_kv : (uint64_t)f->nkv);
    for (int i = 0; i < f->nkv; i++) {
        struct tkv *k = &f->kv[i];
        put_u64(out, k->key_len);
        put(out, k->key, k->key_bytes);
        put_u32(out, k->vtype);
        put(out, k->val.p, k->val.n);
    }
    uint64_t end = 0, data_len = 0;
    for (int i = 0; i < f->nt; i++) {
        struct tten *t = &f->t[i];
        t->bytes = tensor_bytes(t->type, t->n_dims, t->ne);
        if (!t->off_set) {
            t->offset = (end + f->align - 1) / f->align * f->align;
            end = t->offset + t->bytes;
            data_len = end;
        }
        put_u64(out, t->name_len);
        put(out, t->name, t->name_bytes);
        put_u32(out, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims && d < 8; d++)
            put_u64(out, t->ne[d]);
        put_u32(out, t->type);
        put_u64(out, t->offset);
    }
    if (f->nt) {
        while (out->n % f->align)
            put_u8(out, 0);
    }
    size_t ds = out->n;
    for (uint64_t j = 0; j < data_len; j++)
        put_u8(out, 0);
    for (int i = 0; i < f->nt; i++) {
        struct tten *t = &f->t[i];
        if (!t->off_set)
            for (uint64_t j = 0; j < t->bytes; j++)
                out->p[ds + t->offset + j] = pat(i, j);
    }
}

static inline void path_of(char *p, size_t cap, const char *name)
{
    snprintf(p, cap, "%s/%s", tmpdir, name);
}

static inline void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(p, 1, n, fp) != n) || fclose(fp) != 0) {
        fprintf(stderr, "test_gguf: cannot write %s\n", path);
        exit(FY_TEST_HARD);
    }
}

static inline void write_tf(struct tfile *f, const char *path)
{
    struct buf b = {0};
    tf_build(f, &b);
    write_file(path, b.p, b.n);
    free(b.p);
}

/* stderr to /dev/null (or a file) and back */
static int saved_fd = -1;

static inline void quiet(const char *to)
{
    fflush(stderr);
    saved_fd = dup(2);
    int fd = open(to ? to : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
}

static inline void loud(void)
{
    fflush(stderr);
    dup2(saved_fd, 2);
    close(saved_fd);
    saved_fd = -1;
}

static inline void report(int bad, const char *what)
{
    if (bad) {
        printf("FAIL %s\n", what);
        failed++;
    } else {
        printf("ok   %s\n", what);
    }
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  check failed %s:%d: %s\n", __FILE__, __LINE__, #cond);              \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)

/* ---- the full valid file ---- */

static const uint32_t scalar_types[] = {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12};
static const char *const arr_strs[] = {"", "a", "hello", "world!",
                                       "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                                       "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"};
static const uint32_t dtypes[] = {FY_F32, FY_F16, FY_Q8_0, FY_BF16, FY_MXFP4};

static inline int64_t elem_int(uint32_t et, int j)
{
    int64_t v = (int64_t)j * 1000003 - 2500000;
    switch (et) {
    case 0:
        return (uint8_t)v;
    case 1:
        return (int8_t)v;
    case 2:
        return (uint16_t)v;
    case 3:
        return (int16_t)v;
    case 4:
        return (uint32_t)v;
    case 5:
        return (int32_t)v;
    case 10:
        return (int64_t)((uint64_t)v & 0x7fffffffffffffffull);
    case 11:
        return (int64_t)((uint64_t)v * 1000000007u);
    case 7:
        return j & 1;
    }
    return 0;
}

static inline void put_elem(struct buf *b, uint32_t et, int j)
{
    int64_t v = elem_int(et, j);
    switch (et) {
    case 0:
    case 1:
    case 7:
        put_u8(b, (uint8_t)v);
        break;
    case 2:
    case 3:
        put_u16(b, (uint16_t)v);
        break;
    case 4:
    case 5:
        put_u32(b, (uint32_t)v);
        break;
    case 10:
    case 11:
        put_u64(b, (uint64_t)v);
        break;
    case 6:
        put_f32(b, (float)j * 0.25f - 0.5f);
        break;
    case 12:
        put_f64(b, j * 0.125 - 1e300);
        break;
    }
}

static const char *vt_names[] = {"u8",   "i8",  "u16", "i16", "u32", "i32", "f32",
                                 "bool", "str", "arr", "u64", "i64", "f64"};

static inline struct tfile *full_file(uint32_t version, uint32_t align)
{
    struct tfile *f = tf_new(version);
    char key[64];

    if (align) {
        kv_u32(f, "general.alignment", align);
        f->align = align;
    }
    kv_str(f, "general.name", "full test");
    put_u8(&kv_add(f, "t.u8", 0)->val, 200);
    put_u8(&kv_add(f, "t.i8", 1)->val, (uint8_t)-100);
    put_u16(&kv_add(f, "t.u16", 2)->val, 60000);
    put_u16(&kv_add(f, "t.i16", 3)->val, (uint16_t)-30000);
    put_u32(&kv_add(f, "t.u32", 4)->val, 4000000000u);
    put_u32(&kv_add(f, "t.i32", 5)->val, (uint32_t)-2000000000);
    put_f32(&kv_add(f, "t.f32", 6)->val, 1.5f);
    put_u8(&kv_add(f, "t.bool", 7)->val, 1);
    put_str(&kv_add(f, "t.str", 8)->val, "hello gguf");
    put_u64(&kv_add(f, "t.u64", 10)->val, 0xFFFFFFFFFFFFFFF0ull);
    put_u64(&kv_add(f, "t.i64", 11)->val, (uint64_t)(INT64_MIN + 5));
    put_f64(&kv_add(f, "t.f64", 12)->val, 3.141592653589793);
    for (size_t i = 0; i < FY_ARRAY_LEN(scalar_types); i++) {
        uint32_t et = scalar_types[i];
        snprintf(key, sizeof(key), "a.%s", vt_names[et]);
        struct tkv *k = kv_add(f, key, FY_GGUF_ARR);
        put_u32(&k->val, et);
        put_u64(&k->val, 7);
        for (int j = 0; j < 7; j++)
            put_elem(&k->val, et, j);
    }
    kv_str_arr(f, "a.str", arr_strs, (int)FY_ARRAY_LEN(arr_strs));
    kv_str_arr(f, "a.str_empty", NULL, 0);
    struct tkv *k = kv_add(f, "a.nested", FY_GGUF_ARR); /* [[1, 2], ["q"]] */
    put_u32(&k->val, FY_GGUF_ARR);
    put_u64(&k->val, 2);
    put_u32(&k->val, FY_GGUF_U32);
    put_u64(&k->val, 2);
    put_u32(&k->val, 1);
    put_u32(&k->val, 2);
    put_u32(&k->val, FY_GGUF_STR);
    put_u64(&k->val, 1);
    put_str(&k->val, "q");
    k = kv_add(f, "a.u64_big", FY_GGUF_ARR);
    put_u32(&k->val, FY_GGUF_U64);
    put_u64(&k->val, 1);
    put_u64(&k->val, 0xFFFFFFFFFFFFFFFFull);

    for (size_t ti = 0; ti < FY_ARRAY_LEN(dtypes); ti++) {
        for (uint32_t nd = 1; nd <= 4; nd++) {
            uint32_t dt = dtypes[ti];
            uint64_t ne[4] = {(dt == FY_Q8_0 || dt == FY_MXFP4) ? 64 + 32 * nd : 5 + nd, 3, 2, 2};
            snprintf(key, sizeof(key), "t.%s.%ud", fy_dtype_name((enum fy_dtype)dt), nd);
            t_add(f, key, dt, nd, ne);
        }
    }
    return f;
}

/* ---- a small valid file, and opening a case ---- */

static inline struct tfile *small_file(void)
{
    static const char *const strs[] = {"x", "yy"};
    struct tfile *f = tf_new(3);
    kv_str(f, "general.architecture", "gpt-oss");
    kv_u32(f, "t.u32", 7);
    kv_str_arr(f, "a.str", strs, 2);
    t_add(f, "a", FY_F32, 2, (const uint64_t[]){64, 2});
    t_add(f, "b", FY_Q8_0, 2, (const uint64_t[]){64, 3});
    return f;
}

/* Writes f, opens it expecting `want` (and NULL), frees f. */
static inline void expect_status(struct tfile *f, fy_status want, const char *what)
{
    char path[128];
    struct fy_gguf *g = (struct fy_gguf *)1;
    int bad = 0;

    path_of(path, sizeof(path), "case.gguf");
    write_tf(f, path);
    quiet(NULL);
    fy_status st = fy_gguf_open(path, &g);
    loud();
    if (st != want) {
        fprintf(stderr, "  %s: got %s (%d), want %s\n", what, fy_status_str(st), (int)st,
                fy_status_str(want));
        bad++;
    }
    CHECK(st == FY_OK ? g != NULL : g == NULL);
    if (st == FY_OK)
        fy_gguf_close(g);
    report(bad, what);
    tf_free(f);
}

static inline void expect_bad(struct tfile *f, const char *what)
{
    expect_status(f, FY_E_FORMAT, what);
}

#endif
