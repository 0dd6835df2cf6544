/* Fuzzes the tokenizer on text: the first byte's low bit says whether special-token strings
 * become their ids (fy_tokenize's special), the rest is the text. The o200k tokenizer from the
 * rank file (the toy one without it). Checked besides the sanitizers: valid UTF-8 (by this file's
 * own decoder) is accepted and anything else refused with FY_E_INVAL, and the ids of an accepted
 * text give back exactly its bytes, through fy_token_bytes and through the streaming
 * detokenizer. Seeds: tools/fuzz.sh writes the strings of tests/data/tok_*.json. */
#include "fuzz.h"

static struct fy_tokenizer *tok;
static struct fy_tokens ids;

/* Standard UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        if (len > 1) {
            c &= 0x7F >> len;
            for (size_t k = 1; k < len; k++) {
                if ((p[i + k] & 0xC0) != 0x80)
                    return 0;
                c = (c << 6) | (p[i + k] & 0x3F);
            }
            static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
            if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                return 0;
        }
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const bool special = data[0] & 1;
    const char *text = (const char *)data + 1;
    const size_t n = size - 1;
    ids.n = 0;
    fy_status st = fy_tokenize(tok, text, n, special, &ids);
    const int valid = utf8_valid(data + 1, n);
    if (st != FY_OK) {
        if (st != FY_E_INVAL || valid)
            fy_fuzz_die("a text was refused though it is valid UTF-8 (or not with FY_E_INVAL)");
        return 0;
    }
    if (!valid)
        fy_fuzz_die("a text that is not valid UTF-8 was accepted");
    /* the bytes back, both ways */
    size_t at = 0, got = 0;
    struct fy_detok d = {0};
    static char out[8192];
    for (int64_t i = 0; i < ids.n; i++) {
        size_t len;
        const uint8_t *b = fy_token_bytes(tok, ids.ids[i], &len);
        if (!b || len > n - at || memcmp(b, text + at, len))
            fy_fuzz_die("the ids do not give back the text (fy_token_bytes)");
        at += len;
        size_t k = fy_detok_push(&d, tok, ids.ids[i], out, sizeof(out));
        if (k > n - got || memcmp(out, text + got, k))
            fy_fuzz_die("the ids do not give back the text (fy_detok_push)");
        got += k;
    }
    size_t k = fy_detok_flush(&d, out, sizeof(out));
    if (at != n || k != n - got || memcmp(out, text + got, k))
        fy_fuzz_die("the ids do not give back the whole text");
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fy_fuzz_quiet();
    if (fy_fuzz_seed_dir())
        exit(0); /* the seeds come from tests/data (tools/fuzz.sh) */
    tok = fy_fuzz_tokenizer(1);
    return 0;
}
