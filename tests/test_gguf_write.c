/* GGUF writer round trip through the reader: every kv type, alignments 32 and 64, tensors of
 * every implemented type written in odd-sized pieces; plus the writer's refusals (short or long
 * tensor data, duplicate keys and names, bad alignment) and its temporary-file handling
 * (PATH.tmpXXXXXX beside PATH while written, src/outfile.c). */
#include "fy_test.h"
#include "gguf/gguf.h"

#include <glob.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_T 6

struct spec {
    const char *name;
    enum fy_dtype type;
    int n_dims;
    int64_t ne[4];
};


/* a temporary file of the writer (PATH.tmpXXXXXX) exists beside path */
static int tmp_exists(const char *path)
{
    char pat[600];
    glob_t g;
    snprintf(pat, sizeof(pat), "%s.tmp*", path);
    int n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    if (n)
        globfree(&g);
    return n > 0;
}

static const struct spec specs[N_T] = {
    {"t.f32", FY_F32, 1, {7, 1, 1, 1}},           /* 28 bytes: padding follows */
    {"t.f16", FY_F16, 2, {5, 3, 1, 1}},
    {"t.bf16", FY_BF16, 3, {4, 2, 2, 1}},
    {"t.q8_0", FY_Q8_0, 2, {64, 3, 1, 1}},
    {"blk.0.ffn_gate_exps.weight", FY_MXFP4, 3, {32, 2, 3, 1}},
    {"t.4d", FY_F32, 4, {2, 3, 1, 2}},
};

static size_t spec_size(const struct spec *s)
{
    return fy_dtype_row_bytes(s->type, s->ne[0]) * (size_t)(s->ne[1] * s->ne[2] * s->ne[3]);
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static int kv_eq_str(const struct fy_gguf_str *s, const char *want)
{
    return s->len == strlen(want) && !memcmp(s->ptr, want, s->len);
}

/* Adds one kv of every type; the matching checks are in check_kvs. */
static fy_status add_kvs(struct fy_gguf_writer *w)
{
    uint8_t u8 = 200;
    int8_t i8 = -100;
    int16_t i16 = -30000;
    uint64_t u64 = 0xFEDCBA9876543210ull;
    int64_t i64 = -1234567890123456789ll;
    double f64 = -2.5e-300;
    FY_TRY(fy_gguf_writer_kv_raw(w, "k.u8", FY_GGUF_U8, &u8, 1));
    FY_TRY(fy_gguf_writer_kv_raw(w, "k.i8", FY_GGUF_I8, &i8, 1));
    FY_TRY(fy_gguf_writer_kv_u16(w, "k.u16", 65535));
    FY_TRY(fy_gguf_writer_kv_raw(w, "k.i16", FY_GGUF_I16, &i16, 2));
    FY_TRY(fy_gguf_writer_kv_u32(w, "k.u32", 4000000000u));
    FY_TRY(fy_gguf_writer_kv_i32(w, "k.i32", -2000000000));
    FY_TRY(fy_gguf_writer_kv_f32(w, "k.f32", 1e-5f));
    FY_TRY(fy_gguf_writer_kv_bool(w, "k.bool", 1));
    FY_TRY(fy_gguf_writer_kv_str(w, "k.str", "gpt-oss \xe3\x80\x90\xe2\x80\xa0"));
    FY_TRY(fy_gguf_writer_kv_str(w, "k.empty", ""));
    FY_TRY(fy_gguf_writer_kv_raw(w, "k.u64", FY_GGUF_U64, &u64, 8));
    FY_TRY(fy_gguf_writer_kv_raw(w, "k.i64", FY_GGUF_I64, &i64, 8));
    FY_TRY(fy_gguf_writer_kv_raw(w, "k.f64", FY_GGUF_F64, &f64, 8));
    const char *strs[] = {"\xc4\xa0 \xc4\xa0", "", "[PAD200019]"};
    const uint64_t lens[] = {5, 0, 11};
    FY_TRY(fy_gguf_writer_kv_str_arr(w, "k.arr_str", strs, lens, 3));
    const int32_t ints[] = {1, 3, 5, -7};
    FY_TRY(fy_gguf_writer_kv_i32_arr(w, "k.arr_i32", ints, 4));
    FY_TRY(fy_gguf_writer_kv_i32_arr(w, "k.arr_empty", NULL, 0));
    /* an f32 array through kv_raw: element type, count, values */
    uint8_t raw[12 + 8];
    uint32_t et = FY_GGUF_F32;
    uint64_t cnt = 2;
    float fv[2] = {0.5f, -3.0f};
    memcpy(raw, &et, 4);
    memcpy(raw + 4, &cnt, 8);
    memcpy(raw + 12, fv, 8);
    FY_TRY(fy_gguf_writer_kv_raw(w, "k.arr_f32", FY_GGUF_ARR, raw, sizeof(raw)));
    return FY_OK;
}

static int check_kvs(const struct fy_gguf *g, uint32_t align)
{
    int failed = 0;
    const struct fy_gguf_kv *kv;
#define KV(k, t) ((kv = fy_gguf_find_kv(g, k)) != NULL && kv->type == (t))
    FY_EXPECT(fy_gguf_n_kv(g) == 17 + (align != 32));
    FY_EXPECT(KV("k.u8", FY_GGUF_U8) && kv->v.u == 200);
    FY_EXPECT(KV("k.i8", FY_GGUF_I8) && kv->v.i == -100);
    FY_EXPECT(KV("k.u16", FY_GGUF_U16) && kv->v.u == 65535);
    FY_EXPECT(KV("k.i16", FY_GGUF_I16) && kv->v.i == -30000);
    FY_EXPECT(KV("k.u32", FY_GGUF_U32) && kv->v.u == 4000000000u);
    FY_EXPECT(KV("k.i32", FY_GGUF_I32) && kv->v.i == -2000000000);
    FY_EXPECT(KV("k.f32", FY_GGUF_F32) && kv->v.f == (double)1e-5f);
    FY_EXPECT(KV("k.bool", FY_GGUF_BOOL) && kv->v.u == 1);
    FY_EXPECT(KV("k.str", FY_GGUF_STR) && kv_eq_str(&kv->v.s, "gpt-oss \xe3\x80\x90\xe2\x80\xa0"));
    FY_EXPECT(KV("k.empty", FY_GGUF_STR) && kv->v.s.len == 0);
    FY_EXPECT(KV("k.u64", FY_GGUF_U64) && kv->v.u == 0xFEDCBA9876543210ull);
    FY_EXPECT(KV("k.i64", FY_GGUF_I64) && kv->v.i == -1234567890123456789ll);
    FY_EXPECT(KV("k.f64", FY_GGUF_F64) && kv->v.f == -2.5e-300);
    if (KV("k.arr_str", FY_GGUF_ARR) && kv->arr_type == FY_GGUF_STR && kv->arr_n == 3) {
        struct fy_gguf_str s;
        FY_EXPECT(fy_gguf_arr_str(kv, 0, &s) == FY_OK && kv_eq_str(&s, "\xc4\xa0 \xc4\xa0"));
        FY_EXPECT(fy_gguf_arr_str(kv, 1, &s) == FY_OK && s.len == 0);
        FY_EXPECT(fy_gguf_arr_str(kv, 2, &s) == FY_OK && kv_eq_str(&s, "[PAD200019]"));
    } else {
        FY_EXPECT(!"k.arr_str");
    }
    if (KV("k.arr_i32", FY_GGUF_ARR) && kv->arr_type == FY_GGUF_I32 && kv->arr_n == 4) {
        int64_t x;
        FY_EXPECT(fy_gguf_arr_int(kv, 0, &x) == FY_OK && x == 1);
        FY_EXPECT(fy_gguf_arr_int(kv, 3, &x) == FY_OK && x == -7);
    } else {
        FY_EXPECT(!"k.arr_i32");
    }
    FY_EXPECT(KV("k.arr_empty", FY_GGUF_ARR) && kv->arr_type == FY_GGUF_I32 && kv->arr_n == 0);
    if (KV("k.arr_f32", FY_GGUF_ARR) && kv->arr_type == FY_GGUF_F32 && kv->arr_n == 2) {
        float fv[2];
        memcpy(fv, kv->arr_data, 8);
        FY_EXPECT(fv[0] == 0.5f && fv[1] == -3.0f);
    } else {
        FY_EXPECT(!"k.arr_f32");
    }
    if (align != 32) {
        uint32_t a = 0;
        FY_EXPECT(fy_gguf_get_u32(g, "general.alignment", &a) == FY_OK && a == align);
    } else {
        FY_EXPECT(fy_gguf_find_kv(g, "general.alignment") == NULL);
    }
    /* kvs come back in the order added */
    kv = fy_gguf_kv_at(g, 0);
    FY_EXPECT(kv && kv_eq_str(&kv->key, "k.u8"));
    kv = fy_gguf_kv_at(g, 16);
    FY_EXPECT(kv && kv_eq_str(&kv->key, "k.arr_f32"));
#undef KV
    return failed;
}

/* Writes a file with every kv and the tensors of specs, data in pieces of `piece` bytes
 * (crossing tensor boundaries), then reads it back. */
static int round_trip(const char *path, uint32_t align, size_t piece, uint8_t **data)
{
    int failed = 0;
    struct fy_gguf_writer *w = NULL;
    unlink(path);

    if (fy_gguf_writer_new(path, align, &w) != FY_OK || add_kvs(w) != FY_OK) {
        fprintf(stderr, "FAIL: writer setup (alignment %u)\n", align);
        fy_gguf_writer_free(w);
        return 1;
    }
    for (int i = 0; i < N_T; i++)
        FY_EXPECT(fy_gguf_writer_tensor(w, specs[i].name, specs[i].type, specs[i].n_dims,
                                        specs[i].ne) == FY_OK);
    FY_EXPECT(fy_gguf_writer_begin_data(w) == FY_OK);
    FY_EXPECT(tmp_exists(path) && !exists(path));
    size_t total = 0;
    for (int i = 0; i < N_T; i++)
        total += spec_size(&specs[i]);
    uint8_t *all = malloc(total);
    size_t off = 0;
    for (int i = 0; i < N_T; i++) {
        memcpy(all + off, data[i], spec_size(&specs[i]));
        off += spec_size(&specs[i]);
    }
    for (off = 0; off < total; off += piece) {
        size_t k = total - off < piece ? total - off : piece;
        FY_EXPECT(fy_gguf_writer_write(w, all + off, k) == FY_OK);
    }
    free(all);
    FY_EXPECT(fy_gguf_writer_finish(w) == FY_OK);
    fy_gguf_writer_free(w);
    FY_EXPECT(exists(path) && !tmp_exists(path));

    struct fy_gguf *g = NULL;
    if (fy_gguf_open(path, &g) != FY_OK) {
        fprintf(stderr, "FAIL: reader refused %s (alignment %u)\n", path, align);
        return failed + 1;
    }
    FY_EXPECT(fy_gguf_version(g) == 3);
    failed += check_kvs(g, align);
    FY_EXPECT(fy_gguf_n_tensors(g) == N_T);
    for (int i = 0; i < N_T && i < fy_gguf_n_tensors(g); i++) {
        const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);
        const struct spec *s = &specs[i];
        FY_EXPECT(!strcmp(t->name, s->name));
        FY_EXPECT(t->type == s->type && t->n_dims == s->n_dims);
        for (int d = 0; d < 4; d++)
            FY_EXPECT(t->ne[d] == s->ne[d]);
        FY_EXPECT(t->size == spec_size(s));
        FY_EXPECT(t->offset % align == 0);
        FY_EXPECT(((uintptr_t)t->data - (uintptr_t)fy_gguf_tensor_at(g, 0)->data) % align == 0);
        FY_EXPECT(!memcmp(t->data, data[i], spec_size(s)));
        FY_EXPECT(fy_gguf_find_tensor(g, s->name) == t);
    }
    /* the file ends right after the padded last tensor */
    struct stat sb;
    FY_EXPECT(stat(path, &sb) == 0 && fy_gguf_file_size(g) == (uint64_t)sb.st_size);
    FY_EXPECT((uint64_t)sb.st_size % align == 0);
    fy_gguf_close(g);
    printf("ok   round trip: alignment %u, pieces of %zu bytes, %lld bytes\n", align, piece,
           (long long)sb.st_size);
    return failed;
}

/* The refusals. */
static int errors(const char *path)
{
    int failed = 0;
    struct fy_gguf_writer *w = NULL;
    unlink(path);
    int64_t ne[2] = {32, 2};
    uint8_t buf[256] = {0};

    fprintf(stderr, "expected errors follow:\n");
    FY_EXPECT(fy_gguf_writer_new(path, 48, &w) == FY_E_INVAL && !w);
    FY_EXPECT(fy_gguf_writer_new("/nonexistent-dir/x.gguf", 32, &w) == FY_E_IO && !w);

    /* short tensor: finish refuses, names the tensor, and free removes the .tmp file */
    FY_EXPECT(fy_gguf_writer_new(path, 32, &w) == FY_OK);
    FY_EXPECT(fy_gguf_writer_kv_u32(w, "a", 1) == FY_OK);
    FY_EXPECT(fy_gguf_writer_kv_u32(w, "a", 2) == FY_E_INVAL);            /* duplicate key */
    FY_EXPECT(fy_gguf_writer_kv_u32(w, "general.alignment", 64) == FY_E_INVAL);
    FY_EXPECT(fy_gguf_writer_tensor(w, "x", FY_Q8_0, 2, ne) == FY_OK);
    FY_EXPECT(fy_gguf_writer_tensor(w, "x", FY_F32, 2, ne) == FY_E_INVAL);  /* duplicate */
    int64_t bad[2] = {31, 2};
    FY_EXPECT(fy_gguf_writer_tensor(w, "y", FY_MXFP4, 2, bad) == FY_E_INVAL); /* not blocks */
    FY_EXPECT(fy_gguf_writer_tensor(w, "z", (enum fy_dtype)2, 2, ne) == FY_E_INVAL); /* Q4_1 */
    FY_EXPECT(fy_gguf_writer_tensor(w, "y", FY_F32, 2, ne) == FY_OK);
    FY_EXPECT(fy_gguf_writer_begin_data(w) == FY_OK);
    FY_EXPECT(fy_gguf_writer_kv_u32(w, "late", 1) == FY_E_INVAL);
    FY_EXPECT(fy_gguf_writer_write(w, buf, 68) == FY_OK);   /* all of x (2 Q8_0 blocks) */
    FY_EXPECT(fy_gguf_writer_write(w, buf, 100) == FY_OK);  /* 100 of y's 256 bytes */
    FY_EXPECT(fy_gguf_writer_finish(w) == FY_E_INVAL);
    FY_EXPECT(tmp_exists(path) && !exists(path));
    fy_gguf_writer_free(w);
    FY_EXPECT(!tmp_exists(path) && !exists(path));

    /* too many bytes */
    w = NULL;
    FY_EXPECT(fy_gguf_writer_new(path, 32, &w) == FY_OK);
    FY_EXPECT(fy_gguf_writer_tensor(w, "x", FY_F32, 2, ne) == FY_OK);
    FY_EXPECT(fy_gguf_writer_begin_data(w) == FY_OK);
    FY_EXPECT(fy_gguf_writer_write(w, buf, 257) == FY_E_INVAL);
    FY_EXPECT(fy_gguf_writer_finish(w) != FY_OK);
    fy_gguf_writer_free(w);
    FY_EXPECT(!tmp_exists(path) && !exists(path));

    /* freed without finishing: nothing left behind */
    w = NULL;
    FY_EXPECT(fy_gguf_writer_new(path, 32, &w) == FY_OK);
    fy_gguf_writer_free(w);
    FY_EXPECT(!tmp_exists(path) && !exists(path));
    fy_gguf_writer_free(NULL);

    /* no tensors at all, alignment given explicitly in a kv: a valid file */
    w = NULL;
    FY_EXPECT(fy_gguf_writer_new(path, 64, &w) == FY_OK);
    FY_EXPECT(fy_gguf_writer_kv_u32(w, "general.alignment", 64) == FY_OK);
    FY_EXPECT(fy_gguf_writer_finish(w) == FY_OK);
    fy_gguf_writer_free(w);
    struct fy_gguf *g = NULL;
    FY_EXPECT(fy_gguf_open(path, &g) == FY_OK);
    if (g) {
        FY_EXPECT(fy_gguf_n_kv(g) == 1 && fy_gguf_n_tensors(g) == 0);
        fy_gguf_close(g);
    }
    unlink(path);
    return failed;
}

int main(void)
{
    int failed = 0;
    struct fy_rng r = {42};
    uint8_t *data[N_T];
    for (int i = 0; i < N_T; i++) {
        size_t n = spec_size(&specs[i]);
        data[i] = malloc(n);
        for (size_t j = 0; j < n; j++)
            data[i][j] = (uint8_t)fy_rng_u64(&r);
        if (specs[i].type == FY_F32) {  /* real floats, for good measure */
            float *f = (float *)data[i];
            for (size_t j = 0; j < n / 4; j++)
                f[j] = (float)fy_rng_normal(&r);
        }
    }
    char path[64];
    snprintf(path, sizeof(path), "/tmp/ferry-test-gguf-write-%d.gguf", (int)getpid());
    failed += round_trip(path, 32, 1, data);
    failed += round_trip(path, 32, 1000, data);
    failed += round_trip(path, 64, 7, data);
    failed += round_trip(path, 64, 1 << 20, data);
    unlink(path);
    failed += errors(path);
    for (int i = 0; i < N_T; i++)
        free(data[i]);
    printf("%s\n", failed ? "FAILED" : "all writer checks passed");
    return failed ? 1 : 0;
}
