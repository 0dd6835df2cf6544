/* GGUF reader tests: files built byte by byte (fy_test_gguf.h, independent of the writer) and read
 * back: every value type, split files, tokenizer-sized arrays, a sparse 12 GiB file. The refused
 * files (truncations, corruptions) are test_gguf_corrupt.c. */
#include "fy_test_gguf.h"

#include <sys/stat.h>
#include <time.h>

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
