/* o200k vocabulary for GGUF (tokenizer.md §3, §6): token strings, types and merges from the rank
 * file, checked by sha256 against the converter's output; the toy vocabulary; rank-file errors.
 * Without the rank file (FY_DEFAULT_VOCAB, or $FERRY_VOCAB) the real-vocabulary part is skipped
 * and the test exits 77 after the other checks. */
#include "fy_config.h"
#include "fy_test.h"
#include "sha256.h"
#include "text/vocab_o200k.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOKENS_SHA256 "0fc8da96e9c1e979d83a0ad79129255c04f3d2806273de8cba33bbc584ed23fe"
#define MERGES_SHA256 "6388f73f15bf8f56c7f1ed822f4aee03946c14bad89c663033c84df73e153a0b"

static int str_is(const char *s, uint64_t n, const char *want)
{
    return n == strlen(want) && !memcmp(s, want, n);
}

static void joined_sha(const char *const *s, const uint64_t *n, int64_t count, int trailing,
                       char out[65])
{
    struct fy_sha256 h;
    fy_sha256_init(&h);
    for (int64_t i = 0; i < count; i++) {
        if (i)
            fy_sha256_update(&h, "\n", 1);
        fy_sha256_update(&h, s[i], (size_t)n[i]);
    }
    if (trailing)
        fy_sha256_update(&h, "\n", 1);
    fy_sha256_hex(&h, out);
}

/* Specials and pads at ids n_base.. (shared by the real and the toy vocabulary). */
static int check_specials(const struct fy_vocab_o200k *v)
{
    int failed = 0;
    const int64_t b = v->n_base;
    char buf[64];
    FY_EXPECT(str_is(v->tokens[b], v->token_lens[b], "<|startoftext|>"));
    FY_EXPECT(str_is(v->tokens[b + 1], v->token_lens[b + 1], "<|endoftext|>"));
    FY_EXPECT(str_is(v->tokens[b + 4], v->token_lens[b + 4], "<|return|>"));
    FY_EXPECT(str_is(v->tokens[b + 5], v->token_lens[b + 5], "<|constrain|>"));
    FY_EXPECT(str_is(v->tokens[b + 7], v->token_lens[b + 7], "<|channel|>"));
    FY_EXPECT(str_is(v->tokens[b + 8], v->token_lens[b + 8], "<|start|>"));
    FY_EXPECT(str_is(v->tokens[b + 9], v->token_lens[b + 9], "<|end|>"));
    FY_EXPECT(str_is(v->tokens[b + 10], v->token_lens[b + 10], "<|message|>"));
    FY_EXPECT(str_is(v->tokens[b + 14], v->token_lens[b + 14], "<|call|>"));
    FY_EXPECT(str_is(v->tokens[b + 20], v->token_lens[b + 20], "<|endofprompt|>"));
    snprintf(buf, sizeof(buf), "<|reserved_%lld|>", (long long)(b + 2));
    FY_EXPECT(str_is(v->tokens[b + 2], v->token_lens[b + 2], buf));
    snprintf(buf, sizeof(buf), "<|reserved_%lld|>", (long long)(b + 19));
    FY_EXPECT(str_is(v->tokens[b + 19], v->token_lens[b + 19], buf));
    snprintf(buf, sizeof(buf), "[PAD%lld]", (long long)(b + 21));
    FY_EXPECT(str_is(v->tokens[b + 21], v->token_lens[b + 21], buf));
    snprintf(buf, sizeof(buf), "[PAD%lld]", (long long)(v->n_vocab - 1));
    FY_EXPECT(str_is(v->tokens[v->n_vocab - 1], v->token_lens[v->n_vocab - 1], buf));
    int64_t bad = -1;
    for (int64_t i = 0; i < v->n_vocab && bad < 0; i++) {
        int want = i < b ? FY_TOKEN_NORMAL : i < b + 21 ? FY_TOKEN_CONTROL : FY_TOKEN_UNUSED;
        if (v->token_types[i] != want)
            bad = i;
    }
    if (bad >= 0)
        fprintf(stderr, "FAIL: token %lld has type %d\n", (long long)bad, v->token_types[bad]);
    failed += bad >= 0;
    FY_EXPECT(v->bos_id == b && v->pad_id == b + 1 && v->eos_id == b + 4);
    return failed;
}

static int check_toy(void)
{
    int failed = 0;
    struct fy_vocab_o200k *v = NULL;
    FY_EXPECT(fy_vocab_o200k_toy(100, &v) == FY_E_INVAL && v == NULL);
    if (fy_vocab_o200k_toy(512, &v) != FY_OK) {
        fprintf(stderr, "FAIL: toy vocabulary\n");
        return 1;
    }
    FY_EXPECT(v->n_vocab == 512 && v->n_base == 256 && v->n_merges == 0 && v->toy);
    FY_EXPECT(str_is(v->tokens[0], v->token_lens[0], "!"));
    FY_EXPECT(str_is(v->tokens[198], v->token_lens[198], "\xc4\x8a"));   /* Ċ = '\n' */
    FY_EXPECT(str_is(v->tokens[220], v->token_lens[220], "\xc4\xa0"));   /* Ġ = ' ' */
    FY_EXPECT(str_is(v->tokens[188], v->token_lens[188], "\xc4\x80"));   /* Ā = 0x00 */
    FY_EXPECT(str_is(v->tokens[187], v->token_lens[187], "\xc3\xbf"));   /* ÿ = 0xff */
    FY_EXPECT(str_is(v->tokens[255], v->token_lens[255], "\xc5\x83"));   /* Ń = 0xad */
    FY_EXPECT(v->bos_id == 256 && v->pad_id == 257 && v->eos_id == 260);
    failed += check_specials(v);
    fy_vocab_o200k_free(v);
    char u[2];
    FY_EXPECT(fy_byte_to_unicode(0x41, u) == 1 && u[0] == 'A');
    FY_EXPECT(fy_byte_to_unicode(0x7f, u) == 2 && !memcmp(u, "\xc4\xa1", 2));  /* ġ */
    FY_EXPECT(fy_byte_to_unicode(0xa0, u) == 2 && !memcmp(u, "\xc5\x82", 2));  /* ł */
    return failed;
}

/* Writes text to a temporary rank file and loads it; returns the status. */
static fy_status load_text(const char *text, int64_t n_vocab, struct fy_vocab_o200k **v)
{
    char path[] = "/tmp/ferry-vocab-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return FY_E_IO;
    size_t n = strlen(text);
    fy_status st = write(fd, text, n) == (ssize_t)n ? FY_OK : FY_E_IO;
    close(fd);
    if (st == FY_OK)
        st = fy_vocab_o200k_load(path, n_vocab, v);
    unlink(path);
    return st;
}

static int check_rank_files(void)
{
    int failed = 0;
    struct fy_vocab_o200k *v = NULL;
    /* tokens a b ab c abc: "ab" gives (a, b); "abc" only (ab, c) since "bc" is no token */
    const char *ok = "YQ== 0\nYg== 1\nYWI= 2\nYw== 3\nYWJj 4\n";
    FY_EXPECT(load_text(ok, 30, &v) == FY_OK);
    if (v) {
        FY_EXPECT(v->n_base == 5 && v->n_vocab == 30 && v->n_merges == 2);
        if (v->n_merges == 2) {
            FY_EXPECT(str_is(v->merges[0], v->merge_lens[0], "a b"));
            FY_EXPECT(str_is(v->merges[1], v->merge_lens[1], "ab c"));
        }
        failed += check_specials(v);
        fy_vocab_o200k_free(v);
        v = NULL;
    }
    /* tokens aa=0 a=1 aaa=2: "aaa" has cuts (a, aa) = (1, 0) and (aa, a) = (0, 1); the order
     * within a token is by (rank(left), rank(right)), so "aa a" comes first */
    FY_EXPECT(load_text("YWE= 0\nYQ== 1\nYWFh 2\n", 30, &v) == FY_OK);
    if (v) {
        FY_EXPECT(v->n_merges == 3);
        if (v->n_merges == 3) {
            FY_EXPECT(str_is(v->merges[0], v->merge_lens[0], "a a"));
            FY_EXPECT(str_is(v->merges[1], v->merge_lens[1], "aa a"));
            FY_EXPECT(str_is(v->merges[2], v->merge_lens[2], "a aa"));
        }
        fy_vocab_o200k_free(v);
        v = NULL;
    }
    fprintf(stderr, "expected errors follow:\n");
    FY_EXPECT(load_text("YQ== 0\nYg== 2\n", 30, &v) == FY_E_FORMAT && !v);     /* rank order */
    FY_EXPECT(load_text("YQ== 0\nY*== 1\n", 30, &v) == FY_E_FORMAT && !v);     /* base64 */
    FY_EXPECT(load_text("YQ== 0\nYQ== 1\n", 30, &v) == FY_E_FORMAT && !v);     /* duplicate */
    FY_EXPECT(load_text("YQ== 0\nYg==\n", 30, &v) == FY_E_FORMAT && !v);       /* no rank */
    FY_EXPECT(load_text("YQ== 0\n\nYg== 1\n", 30, &v) == FY_E_FORMAT && !v);   /* empty line */
    FY_EXPECT(load_text("YQ== 0\nYg== 1x\n", 30, &v) == FY_E_FORMAT && !v);    /* rank text */
    FY_EXPECT(load_text("YQ== 0\n", 10, &v) == FY_E_INVAL && !v);              /* n_vocab */
    FY_EXPECT(fy_vocab_o200k_load("/nonexistent/o200k", 0, &v) == FY_E_IO && !v);
    return failed;
}

int main(void)
{
    int failed = check_toy() + check_rank_files();

    const char *path = getenv("FERRY_VOCAB");
    if (!path || !*path)
        path = FY_DEFAULT_VOCAB;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("skip: rank file %s absent (bash tools/setup-vocab.sh)\n", path);
        return failed ? 1 : FY_TEST_SKIP;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct fy_vocab_o200k *v = NULL;
    if (fy_vocab_o200k_load(path, 0, &v) != FY_OK) {
        fprintf(stderr, "FAIL: loading %s\n", path);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("built the vocabulary from %s in %.2f s\n", path,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));

    FY_EXPECT(v->n_vocab == FY_O200K_N_VOCAB);
    FY_EXPECT(v->n_base == FY_O200K_N_BASE);
    FY_EXPECT(v->n_merges == FY_O200K_N_MERGES);
    FY_EXPECT(v->bos_id == 199998 && v->pad_id == 199999 && v->eos_id == 200002);
    FY_EXPECT(str_is(v->tokens[0], v->token_lens[0], "!"));
    FY_EXPECT(str_is(v->tokens[198], v->token_lens[198], "\xc4\x8a"));
    FY_EXPECT(str_is(v->tokens[220], v->token_lens[220], "\xc4\xa0"));
    FY_EXPECT(str_is(v->tokens[1428], v->token_lens[1428], "user"));
    FY_EXPECT(str_is(v->tokens[173781], v->token_lens[173781], "assistant"));
    FY_EXPECT(str_is(v->tokens[200012], v->token_lens[200012], "<|call|>"));
    FY_EXPECT(str_is(v->tokens[200019], v->token_lens[200019], "[PAD200019]"));
    FY_EXPECT(str_is(v->tokens[201087], v->token_lens[201087], "[PAD201087]"));
    failed += check_specials(v);

    static const char *const first[] = {
        "\xc4\xa0 \xc4\xa0",                        /* "Ġ Ġ" */
        "\xc4\xa0 \xc4\xa0\xc4\xa0\xc4\xa0",            /* "Ġ ĠĠĠ" */
        "\xc4\xa0\xc4\xa0 \xc4\xa0\xc4\xa0",            /* "ĠĠ ĠĠ" */
        "\xc4\xa0\xc4\xa0\xc4\xa0 \xc4\xa0",            /* "ĠĠĠ Ġ" */
        "i n",
    };
    for (int i = 0; i < 5 && v->n_merges >= 5; i++) {
        if (!str_is(v->merges[i], v->merge_lens[i], first[i])) {
            fprintf(stderr, "FAIL: merge %d is \"%.*s\", expected \"%s\"\n", i,
                    (int)v->merge_lens[i], v->merges[i], first[i]);
            failed++;
        }
    }

    char hex[65];
    joined_sha(v->tokens, v->token_lens, v->n_base, 0, hex);
    if (strcmp(hex, TOKENS_SHA256)) {
        fprintf(stderr, "FAIL: sha256 of the %lld token strings is %s, expected %s\n",
                (long long)v->n_base, hex, TOKENS_SHA256);
        failed++;
    } else {
        printf("ok   tokens sha256 %s\n", hex);
    }
    joined_sha(v->merges, v->merge_lens, v->n_merges, 1, hex);
    if (strcmp(hex, MERGES_SHA256)) {
        fprintf(stderr, "FAIL: sha256 of the %lld merges is %s, expected %s\n",
                (long long)v->n_merges, hex, MERGES_SHA256);
        failed++;
    } else {
        printf("ok   merges sha256 %s\n", hex);
    }
    fy_vocab_o200k_free(v);
    printf("%s\n", failed ? "FAILED" : "all vocabulary checks passed");
    return failed ? 1 : 0;
}
