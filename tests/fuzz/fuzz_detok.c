/* Fuzzes the detokenizer on id arrays: after a first byte (bit 0: the smallest output buffer the
 * API allows, 256 + 8 bytes, else 8 KiB), each 4 bytes are an id: mostly one of the vocabulary
 * or just past it (top two bits 0: the value modulo n_vocab + 64), else the raw int32 (negative,
 * huge). The o200k tokenizer from the rank file (the toy one without it). Checked besides the
 * sanitizers: fy_token_bytes answers NULL exactly for the ids outside the vocabulary, and with
 * the large buffer the streamed text is valid UTF-8 (what cannot be decoded becomes U+FFFD).
 * Seeds (FY_FUZZ_SEEDS): the ids of a few texts, with specials and out-of-range ids. */
#include "fuzz.h"

static struct fy_tokenizer *tok;
static int64_t n_vocab;

static int utf8_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = p[i] < 0x80         ? 1
                     : (p[i] >> 5) == 6  ? 2
                     : (p[i] >> 4) == 14 ? 3
                     : (p[i] >> 3) == 30 ? 4
                                         : 0;
        if (!len || i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[8192];
    if (size < 1)
        return 0;
    const size_t cap = data[0] & 1 ? 256 + 8 : sizeof(out);
    struct fy_detok d = {0};
    for (size_t i = 1; i + 4 <= size; i += 4) {
        uint32_t v;
        memcpy(&v, data + i, 4);
        int32_t id = (v >> 30) == 0 ? (int32_t)(v % (uint32_t)(n_vocab + 64)) : (int32_t)v;
        size_t len;
        const uint8_t *b = fy_token_bytes(tok, id, &len);
        if ((b != NULL) != (id >= 0 && id < n_vocab))
            fy_fuzz_die("fy_token_bytes disagrees with the vocabulary's size");
        size_t k = fy_detok_push(&d, tok, id, out, cap);
        if (k >= cap || out[k] != '\0')
            fy_fuzz_die("fy_detok_push wrote past its length");
        if (cap == sizeof(out) && !utf8_ok((const uint8_t *)out, k))
            fy_fuzz_die("fy_detok_push gave invalid UTF-8");
    }
    size_t k = fy_detok_flush(&d, out, cap);
    if (k >= cap || out[k] != '\0' || (cap == sizeof(out) && !utf8_ok((uint8_t *)out, k)))
        fy_fuzz_die("fy_detok_flush gave invalid UTF-8 or wrote past its length");
    return 0;
}

static void seed_text(const char *dir, const char *name, const char *text, int32_t extra)
{
    struct fy_tokens v = {0};
    if (fy_tokenize(tok, text, strlen(text), true, &v) != FY_OK ||
        (extra && fy_tokens_push(&v, extra) != FY_OK))
        fy_fuzz_die("tokenizing a seed failed");
    uint8_t buf[4096];
    size_t n = 1;
    buf[0] = 0;
    for (int64_t i = 0; i < v.n && n + 4 <= sizeof(buf); i++, n += 4) {
        uint32_t u = (uint32_t)v.ids[i];
        memcpy(buf + n, &u, 4);
    }
    fy_tokens_free(&v);
    fy_fuzz_seed(dir, name, buf, n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fy_fuzz_quiet();
    tok = fy_fuzz_tokenizer(1);
    n_vocab = fy_tokenizer_n_vocab(tok);
    const char *dir = fy_fuzz_seed_dir();
    if (!dir)
        return 0;
    seed_text(dir, "ascii", "Hello, world! 12345 it's", 0);
    seed_text(dir, "utf8",
              "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80", 0);
    seed_text(dir, "harmony", "<|start|>assistant<|channel|>final<|message|>ok<|return|>", 0);
    seed_text(dir, "out-of-range", "a\xf0\x9f\x98\x80", -5);
    seed_text(dir, "past-the-end", "b", INT32_MAX);
    exit(0);
}
