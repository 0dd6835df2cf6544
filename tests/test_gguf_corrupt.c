/* GGUF reader tests, the refusals: every truncation of a valid file and a long list of corruptions
 * must each be refused with FY_E_FORMAT and one logged error that names the file, the item and
 * the byte offset. */
#include "fy_test_gguf.h"

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

    /* one case per line */
    /* clang-format off */
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
    /* clang-format on */
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

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_gguf_corrupt.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return FY_TEST_HARD;
    }
    test_truncation();
    test_corruptions();
    test_message();

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_gguf_corrupt: could not remove %s\n", tmpdir);
    printf("%s: %d failed\n", failed ? "FAIL" : "PASS", failed);
    return failed ? 1 : 0;
}
