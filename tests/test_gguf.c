/* GGUF reader tests: files built byte by byte here (independent of the writer), read back, and a
 * long list of corruptions that must each be refused with FY_E_FORMAT and one logged error. */
#include "gguf/gguf.h"

#include "fy_test.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

static void put(struct buf *b, const void *x, size_t n)
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

static void put_u8(struct buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(struct buf *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(struct buf *b, float v) { put(b, &v, 4); }
static void put_f64(struct buf *b, double v) { put(b, &v, 8); }

static void put_str(struct buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* ---- file spec ---- */

struct tkv {
    char key[128];
    uint64_t key_len;  /* written length field */
    size_t key_bytes;  /* bytes actually written */
    uint32_t vtype;
    struct buf val;    /* value bytes after the vtype */
};

struct tten {
    char name[128];
    uint64_t name_len;
    size_t name_bytes;
    uint32_t n_dims;
    uint64_t ne[8];
    uint32_t type;
    uint64_t offset;
    int off_set;       /* offset given explicitly: no data written for it */
    uint64_t bytes;
};

struct tfile {
    uint32_t magic;
    uint32_t version;
    int n_kv_set;
    uint64_t n_kv;
    int n_t_set;
    uint64_t n_t;
    uint32_t align;  /* layout alignment (the general.alignment kv is separate) */
    int nkv;
    struct tkv kv[MAX_KV];
    int nt;
    struct tten t[MAX_T];
};

static struct tfile *tf_new(uint32_t version)
{
    struct tfile *f = calloc(1, sizeof(*f));
    if (!f)
        exit(FY_TEST_HARD);
    f->magic = GGUF_MAGIC;
    f->version = version;
    f->align = 32;
    return f;
}

static void tf_free(struct tfile *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->nkv; i++)
        free(f->kv[i].val.p);
    free(f);
}

static struct tkv *kv_add(struct tfile *f, const char *key, uint32_t vt)
{
    struct tkv *k = &f->kv[f->nkv++];
    snprintf(k->key, sizeof(k->key), "%s", key);
    k->key_len = strlen(k->key);
    k->key_bytes = k->key_len;
    k->vtype = vt;
    return k;
}

static void kv_u32(struct tfile *f, const char *key, uint32_t v)
{
    put_u32(&kv_add(f, key, FY_GGUF_U32)->val, v);
}

static void kv_u16(struct tfile *f, const char *key, uint16_t v)
{
    put_u16(&kv_add(f, key, FY_GGUF_U16)->val, v);
}

static void kv_i32(struct tfile *f, const char *key, int32_t v)
{
    put_u32(&kv_add(f, key, FY_GGUF_I32)->val, (uint32_t)v);
}

static void kv_str(struct tfile *f, const char *key, const char *s)
{
    put_str(&kv_add(f, key, FY_GGUF_STR)->val, s);
}

static void kv_str_arr(struct tfile *f, const char *key, const char *const *s, int n)
{
    struct tkv *k = kv_add(f, key, FY_GGUF_ARR);
    put_u32(&k->val, FY_GGUF_STR);
    put_u64(&k->val, (uint64_t)n);
    for (int i = 0; i < n; i++)
        put_str(&k->val, s[i]);
}

static uint64_t tensor_bytes(uint32_t type, uint32_t n_dims, const uint64_t *ne)
{
    uint64_t be = 1, bb;
    switch (type) {
    case FY_F32: bb = 4; break;
    case FY_F16: case FY_BF16: bb = 2; break;
    case FY_Q8_0: bb = 34; be = 32; break;
    case FY_MXFP4: bb = 17; be = 32; break;
    default: return 64;
    }
    if (n_dims < 1 || n_dims > 4 || ne[0] % be)
        return 64;
    uint64_t n = ne[0] / be * bb;
    for (uint32_t d = 1; d < n_dims; d++)
        if (ne[d] == 0 || __builtin_mul_overflow(n, ne[d], &n))
            return 64;
    return n > (1u << 24) ? 64 : n;
}

static struct tten *t_add(struct tfile *f, const char *name, uint32_t type, uint32_t n_dims,
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

static uint8_t pat(int ti, uint64_t j)
{
    return (uint8_t)(ti * 37 + j * 13 + (j >> 7));
}

/* Serializes f (assigning offsets to tensors without one); the last tensor ends the file. */
static void tf_build(struct tfile *f, struct buf *out)
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

static void path_of(char *p, size_t cap, const char *name)
{
    snprintf(p, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(p, 1, n, fp) != n) || fclose(fp) != 0) {
        fprintf(stderr, "test_gguf: cannot write %s\n", path);
        exit(FY_TEST_HARD);
    }
}

static void write_tf(struct tfile *f, const char *path)
{
    struct buf b = {0};
    tf_build(f, &b);
    write_file(path, b.p, b.n);
    free(b.p);
}

/* stderr to /dev/null (or a file) and back */
static int saved_fd = -1;

static void quiet(const char *to)
{
    fflush(stderr);
    saved_fd = dup(2);
    int fd = open(to ? to : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
}

static void loud(void)
{
    fflush(stderr);
    dup2(saved_fd, 2);
    close(saved_fd);
    saved_fd = -1;
}

static void report(int bad, const char *what)
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

static int64_t elem_int(uint32_t et, int j)
{
    int64_t v = (int64_t)j * 1000003 - 2500000;
    switch (et) {
    case 0: return (uint8_t)v;
    case 1: return (int8_t)v;
    case 2: return (uint16_t)v;
    case 3: return (int16_t)v;
    case 4: return (uint32_t)v;
    case 5: return (int32_t)v;
    case 10: return (int64_t)((uint64_t)v & 0x7fffffffffffffffull);
    case 11: return (int64_t)((uint64_t)v * 1000000007u);
    case 7: return j & 1;
    }
    return 0;
}

static void put_elem(struct buf *b, uint32_t et, int j)
{
    int64_t v = elem_int(et, j);
    switch (et) {
    case 0: case 1: case 7: put_u8(b, (uint8_t)v); break;
    case 2: case 3: put_u16(b, (uint16_t)v); break;
    case 4: case 5: put_u32(b, (uint32_t)v); break;
    case 10: case 11: put_u64(b, (uint64_t)v); break;
    case 6: put_f32(b, (float)j * 0.25f - 0.5f); break;
    case 12: put_f64(b, j * 0.125 - 1e300); break;
    }
}

static const char *vt_names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str",
                                 "arr", "u64", "i64", "f64"};

static struct tfile *full_file(uint32_t version, uint32_t align)
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
    struct tkv *k = kv_add(f, "a.nested", FY_GGUF_ARR);  /* [[1, 2], ["q"]] */
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

static const struct fy_gguf_kv *kv_of(const struct fy_gguf *g, const char *key, uint32_t type)
{
    const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
    return (kv && kv->type == type) ? kv : NULL;
}

/* Every kv and tensor of full_file() reads back. */
static int check_full(const struct fy_gguf *g, struct tfile *f, const struct buf *file,
                      uint32_t version)
{
    int bad = 0;
    const struct fy_gguf_kv *kv;
    uint32_t u32 = 0;
    float f32 = 0;
    char s[64];
    struct fy_gguf_str gs;
    int64_t iv = 0;

    CHECK(fy_gguf_version(g) == version);
    CHECK(fy_gguf_n_shards(g) == 1);
    CHECK(fy_gguf_file_size(g) == file->n);
    CHECK(fy_gguf_n_kv(g) == f->nkv);
    for (int i = 0; i < f->nkv; i++) {
        kv = fy_gguf_kv_at(g, i);
        CHECK(kv && kv->key.len == strlen(f->kv[i].key) &&
              memcmp(kv->key.ptr, f->kv[i].key, kv->key.len) == 0);
        CHECK(kv && kv->type == f->kv[i].vtype && kv->shard == 0);
        CHECK(kv == fy_gguf_find_kv(g, f->kv[i].key));
    }
    CHECK(fy_gguf_kv_at(g, f->nkv) == NULL && fy_gguf_kv_at(g, -1) == NULL);
    CHECK(fy_gguf_find_kv(g, "nope") == NULL && fy_gguf_find_kv(g, "t.u8x") == NULL);

    CHECK((kv = kv_of(g, "t.u8", 0)) && kv->v.u == 200);
    CHECK((kv = kv_of(g, "t.i8", 1)) && kv->v.i == -100);
    CHECK((kv = kv_of(g, "t.u16", 2)) && kv->v.u == 60000);
    CHECK((kv = kv_of(g, "t.i16", 3)) && kv->v.i == -30000);
    CHECK((kv = kv_of(g, "t.u32", 4)) && kv->v.u == 4000000000u);
    CHECK((kv = kv_of(g, "t.i32", 5)) && kv->v.i == -2000000000);
    CHECK((kv = kv_of(g, "t.f32", 6)) && kv->v.f == 1.5);
    CHECK((kv = kv_of(g, "t.bool", 7)) && kv->v.u == 1);
    CHECK((kv = kv_of(g, "t.str", 8)) && kv->v.s.len == 10 &&
          !memcmp(kv->v.s.ptr, "hello gguf", 10));
    CHECK((kv = kv_of(g, "t.u64", 10)) && kv->v.u == 0xFFFFFFFFFFFFFFF0ull);
    CHECK((kv = kv_of(g, "t.i64", 11)) && kv->v.i == INT64_MIN + 5);
    CHECK((kv = kv_of(g, "t.f64", 12)) && kv->v.f == 3.141592653589793);

    /* typed getters */
    CHECK(fy_gguf_get_u32(g, "t.u8", &u32) == FY_OK && u32 == 200);
    CHECK(fy_gguf_get_u32(g, "t.u32", &u32) == FY_OK && u32 == 4000000000u);
    u32 = 77;
    CHECK(fy_gguf_get_u32(g, "absent.key", &u32) == FY_E_INVAL && u32 == 77);
    quiet(NULL);
    CHECK(fy_gguf_get_u32(g, "t.i32", &u32) == FY_E_FORMAT && u32 == 77);
    CHECK(fy_gguf_get_u32(g, "t.u64", &u32) == FY_E_FORMAT);
    CHECK(fy_gguf_get_u32(g, "t.f32", &u32) == FY_E_FORMAT);
    CHECK(fy_gguf_get_f32(g, "t.str", &f32) == FY_E_FORMAT);
    CHECK(fy_gguf_get_str(g, "t.u32", s, sizeof(s)) == FY_E_FORMAT);
    loud();
    CHECK(fy_gguf_get_f32(g, "t.f32", &f32) == FY_OK && f32 == 1.5f);
    CHECK(fy_gguf_get_f32(g, "t.f64", &f32) == FY_OK && f32 == 3.14159265f);
    CHECK(fy_gguf_get_f32(g, "absent", &f32) == FY_E_INVAL);
    CHECK(fy_gguf_get_str(g, "t.str", s, sizeof(s)) == FY_OK && strcmp(s, "hello gguf") == 0);
    CHECK(fy_gguf_get_str(g, "t.str", s, 6) == FY_OK && strcmp(s, "hello") == 0);
    CHECK(fy_gguf_get_str(g, "absent", s, sizeof(s)) == FY_E_INVAL);

    /* arrays */
    char key[32];
    for (size_t i = 0; i < FY_ARRAY_LEN(scalar_types); i++) {
        uint32_t et = scalar_types[i];
        struct buf eb = {0};
        for (int j = 0; j < 7; j++)
            put_elem(&eb, et, j);
        snprintf(key, sizeof(key), "a.%s", vt_names[et]);
        kv = kv_of(g, key, FY_GGUF_ARR);
        CHECK(kv && kv->arr_type == et && kv->arr_n == 7 && !memcmp(kv->arr_data, eb.p, eb.n));
        int is_int = et != 6 && et != 7 && et != 12;
        for (int j = 0; kv && is_int && j < 7; j++)
            CHECK(fy_gguf_arr_int(kv, (uint64_t)j, &iv) == FY_OK && iv == elem_int(et, j));
        if (kv && is_int)
            CHECK(fy_gguf_arr_int(kv, 7, &iv) == FY_E_INVAL);
        if (kv && !is_int) {
            quiet(NULL);
            CHECK(fy_gguf_arr_int(kv, 0, &iv) == FY_E_FORMAT);
            loud();
        }
        free(eb.p);
    }
    kv = kv_of(g, "a.str", FY_GGUF_ARR);
    CHECK(kv && kv->arr_type == FY_GGUF_STR && kv->arr_n == FY_ARRAY_LEN(arr_strs));
    for (size_t j = 0; kv && j < FY_ARRAY_LEN(arr_strs); j++)
        CHECK(fy_gguf_arr_str(kv, j, &gs) == FY_OK && gs.len == strlen(arr_strs[j]) &&
              memcmp(gs.ptr, arr_strs[j], gs.len) == 0);
    if (kv) {
        CHECK(fy_gguf_arr_str(kv, FY_ARRAY_LEN(arr_strs), &gs) == FY_E_INVAL);
        CHECK(fy_gguf_arr_str(kv, UINT64_MAX, &gs) == FY_E_INVAL);
        quiet(NULL);
        CHECK(fy_gguf_arr_int(kv, 0, &iv) == FY_E_FORMAT);
        CHECK(fy_gguf_arr_str(fy_gguf_find_kv(g, "a.u32"), 0, &gs) == FY_E_FORMAT);
        CHECK(fy_gguf_arr_str(fy_gguf_find_kv(g, "t.str"), 0, &gs) == FY_E_FORMAT);
        loud();
    }
    kv = kv_of(g, "a.str_empty", FY_GGUF_ARR);
    CHECK(kv && kv->arr_type == FY_GGUF_STR && kv->arr_n == 0 &&
          fy_gguf_arr_str(kv, 0, &gs) == FY_E_INVAL);
    kv = kv_of(g, "a.nested", FY_GGUF_ARR);
    CHECK(kv && kv->arr_type == FY_GGUF_ARR && kv->arr_n == 2);
    quiet(NULL);
    CHECK(kv && fy_gguf_arr_int(kv, 0, &iv) == FY_E_FORMAT &&
          fy_gguf_arr_str(kv, 0, &gs) == FY_E_FORMAT);
    kv = kv_of(g, "a.u64_big", FY_GGUF_ARR);
    CHECK(kv && fy_gguf_arr_int(kv, 0, &iv) == FY_E_FORMAT);
    loud();

    /* tensors */
    CHECK(fy_gguf_n_tensors(g) == f->nt);
    const size_t ds = file->n - f->t[f->nt - 1].offset - f->t[f->nt - 1].bytes;
    for (int i = 0; i < f->nt; i++) {
        const struct tten *w = &f->t[i];
        const struct fy_gguf_tensor *t = fy_gguf_find_tensor(g, w->name);
        CHECK(t && t == fy_gguf_tensor_at(g, i));
        if (!t)
            continue;
        enum fy_dtype dt = (enum fy_dtype)w->type;
        CHECK(strcmp(t->name, w->name) == 0 && t->type == dt && t->n_dims == (int)w->n_dims);
        for (int d = 0; d < 4; d++)
            CHECK(t->ne[d] == (d < (int)w->n_dims ? (int64_t)w->ne[d] : 1));
        size_t row =
            (size_t)t->ne[0] / (size_t)fy_dtype_block_elems(dt) * fy_dtype_block_bytes(dt);
        CHECK(t->nb[0] == fy_dtype_block_bytes(dt));
        CHECK(t->nb[1] == row && t->nb[1] == fy_dtype_row_bytes(dt, t->ne[0]));
        CHECK(t->nb[2] == row * (size_t)t->ne[1]);
        CHECK(t->nb[3] == t->nb[2] * (size_t)t->ne[2]);
        CHECK(t->size == t->nb[3] * (size_t)t->ne[3] && t->size == w->bytes);
        CHECK(t->offset == w->offset && t->offset % f->align == 0 && t->shard == 0);
        CHECK(memcmp(t->data, file->p + ds + w->offset, t->size) == 0);
        const uint8_t *d = t->data;
        CHECK(d[0] == pat(i, 0) && d[t->size - 1] == pat(i, t->size - 1));
    }
    CHECK(fy_gguf_tensor_at(g, f->nt) == NULL && fy_gguf_tensor_at(g, -1) == NULL);
    CHECK(fy_gguf_find_tensor(g, "t.F32") == NULL && fy_gguf_find_tensor(g, "") == NULL);
    return bad;
}

static void test_full(uint32_t version, uint32_t align, const char *what)
{
    struct tfile *f = full_file(version, align);
    struct buf b = {0};
    char path[128];
    struct fy_gguf *g = NULL;
    int bad = 0;

    tf_build(f, &b);
    path_of(path, sizeof(path), "full.gguf");
    write_file(path, b.p, b.n);
    fy_status st = fy_gguf_open(path, &g);
    CHECK(st == FY_OK && g);
    if (g) {
        CHECK(strcmp(fy_gguf_path(g, 0), path) == 0 && fy_gguf_path(g, 1) == NULL);
        bad += check_full(g, f, &b, version);
    }
    fy_gguf_close(g);
    report(bad, what);
    free(b.p);
    tf_free(f);
}

/* Every proper prefix of the full file is refused; the full file and a longer one open. */
static void test_truncation(void)
{
    struct tfile *f = full_file(3, 64);
    struct buf b = {0};
    char path[128];
    int bad = 0;
    size_t n_ok = 0;

    tf_build(f, &b);
    path_of(path, sizeof(path), "trunc.gguf");
    quiet(NULL);
    for (size_t len = 0; len < b.n; len++) {
        struct fy_gguf *g = (struct fy_gguf *)1;
        write_file(path, b.p, len);
        fy_status st = fy_gguf_open(path, &g);
        if (st != FY_E_FORMAT || g != NULL) {
            fprintf(stdout, "  prefix of %zu bytes: status %d\n", len, (int)st);
            bad++;
            fy_gguf_close(st == FY_OK ? g : NULL);
        } else {
            n_ok++;
        }
    }
    loud();
    struct fy_gguf *g = NULL;
    write_file(path, b.p, b.n);
    CHECK(fy_gguf_open(path, &g) == FY_OK);
    fy_gguf_close(g);
    put_u32(&b, 0xdeadbeef);
    write_file(path, b.p, b.n);
    g = NULL;
    CHECK(fy_gguf_open(path, &g) == FY_OK);
    fy_gguf_close(g);
    char what[96];
    snprintf(what, sizeof(what), "truncation: all %zu proper prefixes refused", b.n - 4);
    report(bad || n_ok != b.n - 4, what);
    free(b.p);
    tf_free(f);
}

/* ---- corruptions ---- */

static struct tfile *small_file(void)
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
static void expect_status(struct tfile *f, fy_status want, const char *what)
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

static void expect_bad(struct tfile *f, const char *what)
{
    expect_status(f, FY_E_FORMAT, what);
}

static void kv_raw_arr(struct tfile *f, const char *key, uint32_t et, uint64_t n, size_t pad)
{
    struct tkv *k = kv_add(f, key, FY_GGUF_ARR);
    put_u32(&k->val, et);
    put_u64(&k->val, n);
    for (size_t i = 0; i < pad; i++)
        put_u8(&k->val, 1);
}

static void test_corruptions(void)
{
    struct tfile *f;

    expect_status(small_file(), FY_OK, "small valid file opens");
    f = small_file(); f->magic = 0x46554746; expect_bad(f, "bad magic");
    f = small_file(); f->magic = 0x47475546; expect_bad(f, "byte-swapped magic");
    f = small_file(); f->version = 1; expect_bad(f, "version 1 refused");
    f = small_file(); f->version = 4; expect_bad(f, "version 4 refused");
    f = small_file(); f->version = 0; expect_bad(f, "version 0 refused");
    f = small_file(); f->version = 0x03000000; expect_bad(f, "big-endian version refused");
    f = small_file(); f->n_kv_set = 1; f->n_kv = 1ull << 63; expect_bad(f, "n_kv 2^63");
    f = small_file(); f->n_kv_set = 1; f->n_kv = UINT64_MAX; expect_bad(f, "n_kv 2^64-1");
    f = small_file(); f->n_t_set = 1; f->n_t = 1ull << 63; expect_bad(f, "n_tensors 2^63");
    f = small_file(); f->n_t_set = 1; f->n_t = 3; expect_bad(f, "n_tensors one too many");
    f = small_file(); f->n_kv_set = 1; f->n_kv = 4; expect_bad(f, "n_kv one too many");
    f = small_file(); f->n_kv_set = 1; f->n_kv = 2; expect_bad(f, "n_kv one too few");

    f = small_file();
    put_u64(&kv_add(f, "s.huge", FY_GGUF_STR)->val, 1ull << 62);
    put(&f->kv[f->nkv - 1].val, "abc", 3);
    expect_bad(f, "huge string length");
    f = small_file();
    put_u64(&kv_add(f, "s.neg", FY_GGUF_STR)->val, UINT64_MAX);
    expect_bad(f, "string length 2^64-1");
    f = small_file(); f->kv[1].key_len = 1ull << 62; expect_bad(f, "huge key length");
    f = small_file(); f->kv[1].key_len = 0; f->kv[1].key_bytes = 0; expect_bad(f, "empty key");
    f = small_file(); memcpy(f->kv[1].key, "t.\0z", 4); expect_bad(f, "key with a NUL byte");
    f = small_file(); kv_raw_arr(f, "a.huge", FY_GGUF_U32, 1ull << 62, 8);
    expect_bad(f, "huge array count");
    f = small_file(); kv_raw_arr(f, "a.ovf", FY_GGUF_U64, 1ull << 62, 8);
    expect_bad(f, "array count*size overflow");
    f = small_file(); kv_raw_arr(f, "a.ovf", FY_GGUF_U64, UINT64_MAX, 8);
    expect_bad(f, "array count 2^64-1");
    f = small_file(); kv_raw_arr(f, "a.s", FY_GGUF_STR, 1ull << 61, 16);
    expect_bad(f, "huge string-array count");
    f = small_file(); kv_raw_arr(f, "a.s", FY_GGUF_STR, 3, 0); put_str(&f->kv[3].val, "a");
    put_u64(&f->kv[3].val, 1ull << 60); put_str(&f->kv[3].val, "c");
    expect_bad(f, "huge length inside a string array");
    f = small_file(); kv_raw_arr(f, "a.a", FY_GGUF_ARR, 1ull << 60, 16);
    expect_bad(f, "huge nested-array count");
    f = small_file(); kv_raw_arr(f, "a.bad", 13, 1, 8);
    expect_bad(f, "unknown array element type 13");
    f = small_file(); kv_raw_arr(f, "a.bad", UINT32_MAX, 1, 8);
    expect_bad(f, "array element type 2^32-1");
    f = small_file();
    {
        struct tkv *k = kv_add(f, "a.deep", FY_GGUF_ARR);
        for (int d = 0; d < 40; d++) {
            put_u32(&k->val, FY_GGUF_ARR);
            put_u64(&k->val, 1);
        }
        put_u32(&k->val, FY_GGUF_U8);
        put_u64(&k->val, 0);
    }
    expect_bad(f, "arrays nested 40 deep");
    f = small_file(); put_u32(&kv_add(f, "x", 13)->val, 0); expect_bad(f, "unknown value type 13");
    f = small_file(); put_u32(&kv_add(f, "x", UINT32_MAX)->val, 0);
    expect_bad(f, "value type 2^32-1");
    f = small_file(); kv_u32(f, "t.u32", 8); expect_bad(f, "duplicate key");
    f = small_file(); kv_u32(f, "general.alignment", 0); expect_bad(f, "alignment 0");
    f = small_file(); kv_u32(f, "general.alignment", 48);
    expect_bad(f, "alignment 48 (not a power of two)");
    f = small_file(); kv_u32(f, "general.alignment", 3); expect_bad(f, "alignment 3");
    f = small_file(); put_u64(&kv_add(f, "general.alignment", FY_GGUF_U64)->val, 32);
    expect_bad(f, "alignment of type u64");
    f = small_file(); kv_u32(f, "general.alignment", 64); f->t[0].ne[1] = 1; f->t[0].ne[0] = 8;
    expect_bad(f, "alignment 64 but offset 32");
    f = small_file(); kv_u32(f, "general.alignment", 64); f->align = 64;
    expect_status(f, FY_OK, "alignment 64 with 64-aligned offsets opens");

    f = small_file(); f->t[1].n_dims = 0; expect_bad(f, "n_dims 0");
    f = small_file(); f->t[1].n_dims = 5; f->t[1].ne[2] = f->t[1].ne[3] = f->t[1].ne[4] = 1;
    expect_bad(f, "n_dims 5");
    f = small_file(); f->t[0].ne[0] = 1ull << 40; f->t[0].ne[1] = 1ull << 40;
    expect_bad(f, "ne 2^40 x 2^40 overflow");
    f = small_file(); f->t[0].n_dims = 1; f->t[0].ne[0] = 1ull << 62;
    expect_bad(f, "F32 ne 2^62: bytes overflow");
    f = small_file(); f->t[0].ne[1] = (uint64_t)-3; expect_bad(f, "negative ne");
    f = small_file(); f->t[0].ne[1] = 0; expect_bad(f, "ne 0");
    f = small_file(); f->t[0].type = 2; expect_bad(f, "type id 2 (Q4_0) refused");
    f = small_file(); f->t[0].type = 353; expect_bad(f, "type id 353 (MXFP4_R8) refused");
    f = small_file(); f->t[0].type = UINT32_MAX; expect_bad(f, "type id 2^32-1 refused");
    f = small_file(); f->t[1].ne[0] = 48; expect_bad(f, "Q8_0 ne[0] 48 not a multiple of 32");
    f = small_file(); f->t[1].type = FY_MXFP4; f->t[1].ne[0] = 16; expect_bad(f, "MXFP4 ne[0] 16");
    f = small_file(); f->t[1].off_set = 1; f->t[1].offset = 512 + 4;
    expect_bad(f, "misaligned offset");
    f = small_file(); f->t[1].off_set = 1; f->t[1].offset = 1 << 20;
    expect_bad(f, "offset past end");
    f = small_file(); f->t[1].off_set = 1; f->t[1].offset = 512 + 32;
    expect_bad(f, "tensor data ends past the end of the file");
    f = small_file(); f->t[1].off_set = 1; f->t[1].offset = UINT64_MAX - 31;
    expect_bad(f, "offset 2^64-32");
    f = small_file(); f->t[1].off_set = 1; f->t[1].offset = 0;
    expect_status(f, FY_OK, "overlapping tensors accepted");
    f = small_file(); snprintf(f->t[1].name, sizeof(f->t[1].name), "a");
    expect_bad(f, "duplicate tensor name");
    f = small_file(); f->t[1].name_len = 0; f->t[1].name_bytes = 0;
    expect_bad(f, "empty tensor name");
    f = small_file(); f->t[1].name_len = 1ull << 62; expect_bad(f, "huge tensor name length");
    f = small_file(); memset(f->t[1].name, 'n', 96); f->t[1].name[96] = 0;
    f->t[1].name_len = f->t[1].name_bytes = 96; expect_bad(f, "tensor name of 96 bytes");
    f = small_file(); memset(f->t[1].name, 'n', 95); f->t[1].name[95] = 0;
    f->t[1].name_len = f->t[1].name_bytes = 95;
    expect_status(f, FY_OK, "tensor name of 95 bytes opens");
    f = small_file(); f->nt = 0; expect_status(f, FY_OK, "file without tensors opens");
}

/* The error names the file, the problem and the byte offset, in exactly one line. */
static void test_message(void)
{
    char path[128], logp[128], text[1024] = {0};
    struct fy_gguf *g = NULL;
    struct tfile *f = small_file();
    int bad = 0;

    f->t[1].n_dims = 7;
    for (int d = 2; d < 7; d++)
        f->t[1].ne[d] = 1;
    path_of(path, sizeof(path), "ndims7.gguf");
    path_of(logp, sizeof(logp), "stderr.txt");
    write_tf(f, path);
    quiet(logp);
    fy_status st = fy_gguf_open(path, &g);
    loud();
    FILE *fp = fopen(logp, "r");
    size_t n = fp ? fread(text, 1, sizeof(text) - 1, fp) : 0;
    if (fp)
        fclose(fp);
    text[n] = 0;
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    CHECK(st == FY_E_FORMAT);
    CHECK(strstr(text, "ndims7.gguf") && strstr(text, "offset") && strstr(text, "n_dims 7"));
    CHECK(strstr(text, "\"b\"") != NULL);
    CHECK(lines == 1);
    printf("     message: %s", text);
    report(bad, "error message names file, tensor and byte offset (one line)");
    tf_free(f);
}

/* ---- split files ---- */

enum split_bad { SPLIT_OK, SPLIT_WRONG_NO, SPLIT_WRONG_COUNT, SPLIT_WRONG_SUM, SPLIT_DUP_NAME,
                 SPLIT_NO_KEYS };

static const char *const split_names[3][2] = {{"s0a", "s0b"}, {"s1a", NULL}, {"s2a", "s2b"}};

static void write_split(const char *prefix, enum split_bad how, uint64_t *total)
{
    *total = 0;
    for (int s = 0; s < 3; s++) {
        struct tfile *f = tf_new(3);
        char path[160];
        if (s == 0) {
            kv_str(f, "general.architecture", "gpt-oss");
            kv_u32(f, "t.u32", 7);
        }
        if (!(how == SPLIT_NO_KEYS && s == 0)) {
            kv_u16(f, "split.no", (uint16_t)(how == SPLIT_WRONG_NO && s == 1 ? 2 : s));
            kv_u16(f, "split.count", how == SPLIT_WRONG_COUNT && s == 2 ? 4 : 3);
            kv_i32(f, "split.tensors.count", how == SPLIT_WRONG_SUM ? 6 : 5);
        }
        for (int i = 0; i < 2; i++) {
            const char *nm = split_names[s][i];
            if (!nm)
                continue;
            if (how == SPLIT_DUP_NAME && s == 2 && i == 1)
                nm = "s0b";
            t_add(f, nm, FY_F32, 2, (const uint64_t[]){8 + (uint64_t)s, 2 + (uint64_t)i});
        }
        snprintf(path, sizeof(path), "%s/%s-%05d-of-00003.gguf", tmpdir, prefix, s + 1);
        struct buf b = {0};
        tf_build(f, &b);
        write_file(path, b.p, b.n);
        *total += b.n;
        free(b.p);
        tf_free(f);
    }
}

static void test_split(void)
{
    char path[160];
    uint64_t total;
    int bad = 0;
    struct fy_gguf *g = NULL;

    write_split("model", SPLIT_OK, &total);
    for (int k = 1; k <= 3; k += 2) {
        bad = 0;
        snprintf(path, sizeof(path), "%s/model-%05d-of-00003.gguf", tmpdir, k);
        g = NULL;
        CHECK(fy_gguf_open(path, &g) == FY_OK && g);
        if (g) {
            CHECK(fy_gguf_n_shards(g) == 3 && fy_gguf_file_size(g) == total);
            CHECK(fy_gguf_n_tensors(g) == 5);
            CHECK(fy_gguf_n_kv(g) == 2 + 3 * 3);
            CHECK(strstr(fy_gguf_path(g, 0), "model-00001-of-00003.gguf") != NULL);
            CHECK(strstr(fy_gguf_path(g, 2), "model-00003-of-00003.gguf") != NULL);
            uint32_t v = 99;
            CHECK(fy_gguf_get_u32(g, "split.no", &v) == FY_OK && v == 0);
            CHECK(fy_gguf_get_u32(g, "split.count", &v) == FY_OK && v == 3);
            CHECK(fy_gguf_get_u32(g, "t.u32", &v) == FY_OK && v == 7);
            const struct fy_gguf_kv *kv = fy_gguf_kv_at(g, fy_gguf_n_kv(g) - 1);
            CHECK(kv && kv->shard == 2);
            int ti = 0;
            for (int s = 0; s < 3; s++) {
                for (int i = 0; i < 2; i++) {
                    if (!split_names[s][i])
                        continue;
                    const struct fy_gguf_tensor *t = fy_gguf_find_tensor(g, split_names[s][i]);
                    CHECK(t && t == fy_gguf_tensor_at(g, ti) && t->shard == s);
                    CHECK(t && t->ne[0] == 8 + s && t->ne[1] == 2 + i);
                    CHECK(t && ((const uint8_t *)t->data)[t->size - 1] == pat(i, t->size - 1));
                    CHECK(t && ((const uint8_t *)t->data)[0] == pat(i, 0));
                    ti++;
                }
            }
        }
        fy_gguf_close(g);
        report(bad, k == 1 ? "split: 3 shards opened from shard 1" : "split: opened from shard 3");
    }

    snprintf(path, sizeof(path), "%s/model-00003-of-00003.gguf", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/model-00001-of-00003.gguf", tmpdir);
    quiet(NULL);
    g = NULL;
    fy_status st = fy_gguf_open(path, &g);
    loud();
    report(!(st == FY_E_IO && g == NULL), "split: missing shard 3 refused (FY_E_IO)");

    static const struct { enum split_bad how; const char *what; } cases[] = {
        {SPLIT_WRONG_NO, "split: wrong split.no refused"},
        {SPLIT_WRONG_COUNT, "split: inconsistent split.count refused"},
        {SPLIT_WRONG_SUM, "split: tensor count sum != split.tensors.count refused"},
        {SPLIT_DUP_NAME, "split: duplicate tensor name across shards refused"},
        {SPLIT_NO_KEYS, "split: shard 1 without split keys refused"},
    };
    for (size_t c = 0; c < FY_ARRAY_LEN(cases); c++) {
        write_split("bad", cases[c].how, &total);
        snprintf(path, sizeof(path), "%s/bad-00002-of-00003.gguf", tmpdir);
        g = NULL;
        quiet(NULL);
        st = fy_gguf_open(path, &g);
        loud();
        report(!(st == FY_E_FORMAT && g == NULL), cases[c].what);
    }

    /* split.count 3 in a file whose name does not say where the other shards are */
    struct tfile *f = small_file();
    kv_u16(f, "split.no", 0);
    kv_u16(f, "split.count", 3);
    kv_i32(f, "split.tensors.count", 2);
    expect_bad(f, "split: split.count 3 under a plain file name refused");
    f = small_file();
    kv_u16(f, "split.no", 0);
    kv_u16(f, "split.count", 1);
    kv_i32(f, "split.tensors.count", 2);
    expect_status(f, FY_OK, "split: split.count 1 in a plain file opens");
    f = small_file();
    kv_i32(f, "split.tensors.count", 3);
    expect_bad(f, "split: split.count 1 with a wrong split.tensors.count refused");
}

/* Tokenizer-sized string arrays: walked once at open, then random access. */
static void test_big_arrays(void)
{
    const uint64_t n1 = 201088, n2 = 446189;
    struct tfile *f = tf_new(3);
    char s[32], path[128];
    struct fy_gguf *g = NULL;
    int bad = 0;

    struct tkv *k = kv_add(f, "tokenizer.ggml.tokens", FY_GGUF_ARR);
    put_u32(&k->val, FY_GGUF_STR);
    put_u64(&k->val, n1);
    for (uint64_t i = 0; i < n1; i++) {
        snprintf(s, sizeof(s), "tok%llu", (unsigned long long)i);
        put_str(&k->val, s);
    }
    k = kv_add(f, "tokenizer.ggml.merges", FY_GGUF_ARR);
    put_u32(&k->val, FY_GGUF_STR);
    put_u64(&k->val, n2);
    for (uint64_t i = 0; i < n2; i++) {
        snprintf(s, sizeof(s), "m%llu x%llu", (unsigned long long)i, (unsigned long long)(i * 7));
        put_str(&k->val, s);
    }
    t_add(f, "w", FY_F32, 1, (const uint64_t[]){4});
    path_of(path, sizeof(path), "big.gguf");
    write_tf(f, path);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(fy_gguf_open(path, &g) == FY_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    if (g) {
        const struct fy_gguf_kv *kt = fy_gguf_find_kv(g, "tokenizer.ggml.tokens");
        const struct fy_gguf_kv *km = fy_gguf_find_kv(g, "tokenizer.ggml.merges");
        struct fy_gguf_str gs;
        CHECK(kt && kt->arr_n == n1 && km && km->arr_n == n2);
        for (uint64_t i = 0; kt && km && i < n2; i += 9973) {
            if (i < n1) {
                snprintf(s, sizeof(s), "tok%llu", (unsigned long long)i);
                CHECK(fy_gguf_arr_str(kt, i, &gs) == FY_OK && gs.len == strlen(s) &&
                      !memcmp(gs.ptr, s, gs.len));
            }
            snprintf(s, sizeof(s), "m%llu x%llu", (unsigned long long)i,
                     (unsigned long long)(i * 7));
            CHECK(fy_gguf_arr_str(km, i, &gs) == FY_OK && gs.len == strlen(s) &&
                  !memcmp(gs.ptr, s, gs.len));
        }
        CHECK(km && fy_gguf_arr_str(km, n2 - 1, &gs) == FY_OK);
    }
    fy_gguf_close(g);
    char what[96];
    snprintf(what, sizeof(what), "string arrays of %llu + %llu entries (open %.1f ms)",
             (unsigned long long)n1, (unsigned long long)n2, ms);
    report(bad, what);
    tf_free(f);
}

/* A 12 GB sparse file opens without touching its data. */
static void test_sparse_large(void)
{
    struct tfile *f = tf_new(3);
    char path[128];
    struct fy_gguf *g = NULL;
    int bad = 0;
    const uint64_t ne0 = 1u << 20, ne1 = 3072;  /* 12 GiB of F32 */

    struct tten *tt = t_add(f, "huge", FY_F32, 2, (const uint64_t[]){ne0, ne1});
    tt->off_set = 1;  /* the builder writes no data: the file is extended sparsely below */
    tt->offset = 0;
    path_of(path, sizeof(path), "sparse.gguf");
    struct buf b = {0};
    tf_build(f, &b);
    write_file(path, b.p, b.n);
    uint64_t size = b.n + ne0 * ne1 * 4;
    if (truncate(path, (off_t)size) != 0) {
        printf("skip sparse 12 GiB file: truncate failed\n");
        free(b.p);
        tf_free(f);
        unlink(path);
        return;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(fy_gguf_open(path, &g) == FY_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    const struct fy_gguf_tensor *t = fy_gguf_find_tensor(g, "huge");
    CHECK(t && t->size == ne0 * ne1 * 4 && fy_gguf_file_size(g) == size);
    CHECK(ms < 1000);
    fy_gguf_close(g);
    char what[96];
    snprintf(what, sizeof(what), "12 GiB sparse file opens in %.2f ms", ms);
    report(bad, what);
    unlink(path);
    free(b.p);
    tf_free(f);
}

static void test_misc(void)
{
    int bad = 0;
    char path[128];
    struct fy_gguf *g = (struct fy_gguf *)1;

    fy_gguf_close(NULL);
    CHECK(fy_gguf_n_kv(NULL) == 0 && fy_gguf_n_tensors(NULL) == 0 && fy_gguf_n_shards(NULL) == 0);
    CHECK(fy_gguf_find_kv(NULL, "x") == NULL && fy_gguf_find_tensor(NULL, "x") == NULL);
    path_of(path, sizeof(path), "does-not-exist.gguf");
    quiet(NULL);
    CHECK(fy_gguf_open(path, &g) == FY_E_IO && g == NULL);
    g = (struct fy_gguf *)1;
    CHECK(fy_gguf_open(tmpdir, &g) == FY_E_IO && g == NULL);
    CHECK(fy_gguf_open(NULL, &g) == FY_E_INVAL);
    loud();
    report(bad, "missing file / directory / NULL path");
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_gguf.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return FY_TEST_HARD;
    }
    test_full(3, 64, "v3 file: every value type, arrays, alignment 64, 20 tensors read back");
    test_full(2, 0, "v2 file: same content, default alignment 32");
    test_truncation();
    test_corruptions();
    test_message();
    test_split();
    test_big_arrays();
    test_sparse_large();
    test_misc();

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_gguf: could not remove %s\n", tmpdir);
    printf("%s: %d failed\n", failed ? "FAIL" : "PASS", failed);
    return failed ? 1 : 0;
}
