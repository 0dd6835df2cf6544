/* The o200k_harmony tokenizer against tiktoken@1.0.22 (tokenizer.md §8): the committed JSON
 * vectors in tests/data/tok_o200k_*.json (tools/gen-token-vectors.js) must match id for id, in
 * ordinary and all-specials mode (tok_o200k_reserved.json: the reserved names 200019..201087 of
 * gpt-oss's o200k_harmony, in both modes); round trips and streaming detokenization; the heap BPE
 * path against a naive reference; 1 MiB stress inputs (linear time); invalid UTF-8; concurrent
 * calls; loading from a synthetic GGUF. Needs the o200k_base rank file (FY_DEFAULT_VOCAB or
 * $FERRY_VOCAB); without it only the toy-vocabulary checks run and the test exits 77.
 * $FERRY_TOKEN_VECTORS overrides the vector directory. */
#include "fy_config.h"
#include "fy_test.h"
#include "gguf/gguf.h"
#include "json_min.h"
#include "model/synth.h"
#include "text/tokenizer.h"
#include "text/vocab_o200k.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Code points whose pre-tokenizer class differs between Unicode 14 (PCRE2 10.42) and later
 * versions (tiktoken 1.0.22 knows Unicode 16): characters assigned in Unicode 15.0-17.0 and
 * U+0295 (Ll -> Lo in 16.0); gaps unassigned everywhere are merged in. Strings holding one of
 * these may tokenize differently from tiktoken; every other string must match exactly.
 * The same table is in tools/gen-token-vectors.js. */
static const uint32_t divergent[][2] = {
    {0x0295, 0x0295},   {0x088F, 0x088F},   {0x0897, 0x0897},   {0x0C5C, 0x0C5C},
    {0x0CDC, 0x0CDC},   {0x0CF3, 0x0CF3},   {0x0ECE, 0x0ECE},   {0x1ACF, 0x1AEB},
    {0x1C89, 0x1C8A},   {0xA7CB, 0xA7CF},   {0xA7D2, 0xA7D2},   {0xA7D4, 0xA7D4},
    {0xA7DA, 0xA7F1},   {0x105C0, 0x105F3}, {0x10940, 0x10959}, {0x10D40, 0x10D6D},
    {0x10D6F, 0x10D85}, {0x10EC2, 0x10EC7}, {0x10EFA, 0x10EFF}, {0x1123F, 0x11241},
    {0x11380, 0x113D3}, {0x113E1, 0x113E2}, {0x116D0, 0x116E3}, {0x11B60, 0x11BE0},
    {0x11BF0, 0x11BF9}, {0x11DB0, 0x11DE9}, {0x11F00, 0x11F42}, {0x11F50, 0x11F5A},
    {0x1342F, 0x1342F}, {0x13440, 0x143FA}, {0x16100, 0x16139}, {0x16D40, 0x16D6C},
    {0x16D70, 0x16D79}, {0x16EA0, 0x16ED3}, {0x16FF2, 0x16FF6}, {0x187F8, 0x187FF},
    {0x18CFF, 0x18CFF}, {0x18D09, 0x18DF2}, {0x1B132, 0x1B132}, {0x1B155, 0x1B155},
    {0x1CCF0, 0x1CCF9}, {0x1D2C0, 0x1D2D3}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E08F},
    {0x1E4D0, 0x1E5FA}, {0x1E6C0, 0x1E6FF}, {0x2B739, 0x2B73F}, {0x2CEA2, 0x2CEAD},
    {0x2EBF0, 0x2EE5D}, {0x31350, 0x33479},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- small helpers ---- */

/* Next code point of valid UTF-8 at s[*i]; advances *i. */
static uint32_t utf8_next(const uint8_t *s, size_t *i)
{
    uint8_t c = s[*i];
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; k++)
        cp = cp << 6 | (s[*i + (size_t)k] & 0x3F);
    *i += (size_t)n;
    return cp;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80                   ? 1
                     : (c >= 0xC2 && c <= 0xDF) ? 2
                     : (c >= 0xE0 && c <= 0xEF) ? 3
                     : (c >= 0xF0 && c <= 0xF4) ? 4
                                                : 0;
        if (!len || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        size_t j = i;
        uint32_t cp = utf8_next(s, &j);
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += len;
    }
    return true;
}

static bool has_divergent(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp = utf8_next(s, &i);
        for (size_t k = 0; k < FY_ARRAY_LEN(divergent); k++)
            if (cp >= divergent[k][0] && cp <= divergent[k][1])
                return true;
    }
    return false;
}

static uint32_t fnv1a_ids(const int32_t *ids, int64_t n)
{
    uint32_t h = 0x811c9dc5u;
    for (int64_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) {
            h ^= ((uint32_t)ids[i] >> (8 * b)) & 0xFF;
            h *= 0x01000193u;
        }
    return h;
}

static void print_text(const uint8_t *s, size_t n)
{
    fputc('"', stderr);
    for (size_t i = 0; i < n && i < 160; i++) {
        if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' && s[i] != 0x7F)
            fputc(s[i], stderr);
        else
            fprintf(stderr, "\\x%02x", s[i]);
    }
    fprintf(stderr, n > 160 ? "\"... (%zu bytes)" : "\" (%zu bytes)", n);
}

static int ids_equal(const char *what, size_t idx, const uint8_t *s, size_t n, const int32_t *got,
                     int64_t n_got, const int32_t *want, int64_t n_want, bool quiet)
{
    int64_t i = 0;
    while (i < n_got && i < n_want && got[i] == want[i])
        i++;
    if (i == n_got && i == n_want)
        return 1;
    if (!quiet) {
        fprintf(stderr, "FAIL %s case %zu: ", what, idx);
        print_text(s, n);
        fprintf(stderr, "\n     %lld ids, want %lld; first difference at %lld: %d vs %d\n",
                (long long)n_got, (long long)n_want, (long long)i, i < n_got ? got[i] : -1,
                i < n_want ? want[i] : -1);
    }
    return 0;
}

/* Concatenated token bytes == s, and the streaming detokenizer gives s in complete characters. */
static int check_roundtrip(const struct fy_tokenizer *t, const char *what, size_t idx,
                           const uint8_t *s, size_t n, const int32_t *ids, int64_t n_ids,
                           int64_t *n_held)
{
    int failed = 0;
    uint8_t *cat = malloc(n + 1), *st = malloc(n + 1);
    size_t k = 0, ks = 0;
    struct fy_detok d = {0};
    char chunk[512];
    for (int64_t i = 0; i < n_ids && !failed; i++) {
        size_t len;
        const uint8_t *p = fy_token_bytes(t, ids[i], &len);
        if (!p || k + len > n) {
            failed = 1;
            break;
        }
        memcpy(cat + k, p, len);
        k += len;
        size_t m = fy_detok_push(&d, t, ids[i], chunk, sizeof(chunk));
        if (d.n_pending)
            (*n_held)++;
        if (ks + m > n || !utf8_valid((const uint8_t *)chunk, m) || chunk[m] != '\0') {
            failed = 1;
            break;
        }
        memcpy(st + ks, chunk, m);
        ks += m;
    }
    size_t m = fy_detok_flush(&d, chunk, sizeof(chunk));
    if (!failed && (k != n || memcmp(cat, s, n) || m != 0 || ks != n || memcmp(st, s, n)))
        failed = 1;
    if (failed) {
        fprintf(stderr, "FAIL %s case %zu: round trip / streaming detokenization: ", what, idx);
        print_text(s, n);
        fputc('\n', stderr);
    }
    free(cat);
    free(st);
    return failed;
}

/* ---- vector files ---- */

static char vec_dir[4096];

static void find_vec_dir(void)
{
    const char *env = getenv("FERRY_TOKEN_VECTORS");
    struct stat sb;
    if (env && *env) {
        snprintf(vec_dir, sizeof(vec_dir), "%s", env);
        return;
    }
    /* next to this source file (meson compiles it by a path relative to the build directory,
     * where meson test runs), else beside the default rank file */
    const char *file = __FILE__, *slash = strrchr(file, '/');
    snprintf(vec_dir, sizeof(vec_dir), "%.*s/data", slash ? (int)(slash - file) : 1,
             slash ? file : ".");
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/tok_o200k_ordinary.json", vec_dir);
    if (stat(probe, &sb) == 0)
        return;
    slash = strrchr(FY_DEFAULT_VOCAB, '/');
    if (slash)
        snprintf(vec_dir, sizeof(vec_dir), "%.*s/../tests/data", (int)(slash - FY_DEFAULT_VOCAB),
                 FY_DEFAULT_VOCAB);
}

static struct fy_json *load_json(const char *name)
{
    char path[4200];
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", vec_dir, name);
    char *text = fy_json_read_file(path, &len);
    if (!text) {
        fprintf(stderr, "FAIL: cannot read %s (set FERRY_TOKEN_VECTORS)\n", path);
        return NULL;
    }
    struct fy_json *j = fy_json_parse(text, len, path);
    free(text);
    const struct fy_json *src = fy_json_get(j, "source"), *cases = fy_json_get(j, "cases");
    if (j && (!src || src->type != FY_JSON_STR || strcmp(src->str, "tiktoken@1.0.22") || !cases ||
              cases->type != FY_JSON_ARR)) {
        fprintf(stderr, "FAIL: %s: not a tiktoken@1.0.22 vector file\n", path);
        fy_json_free(j);
        return NULL;
    }
    return j;
}

/* ids array of a case into a malloc'd int32 vector */
static int32_t *json_ids(const struct fy_json *a, int64_t *n)
{
    *n = 0;
    if (!a || a->type != FY_JSON_ARR)
        return NULL;
    int32_t *v = malloc(sizeof(*v) * (a->len + 1));
    for (size_t i = 0; v && i < a->len; i++)
        v[i] = (int32_t)a->items[i].num;
    *n = (int64_t)a->len;
    return v;
}

struct vec_stats {
    int64_t cases, ids, mismatches, tolerated, held;
};

/* Checks every case of one file. mode_divergent: mismatches are allowed only where the string
 * holds a listed code point. */
static int check_file(const struct fy_tokenizer *t, const char *name, bool divergent_file,
                      struct vec_stats *vs)
{
    int failed = 0;
    struct fy_json *j = load_json(name);
    if (!j)
        return 1;
    const struct fy_json *mode = fy_json_get(j, "mode"), *cases = fy_json_get(j, "cases");
    bool special = mode && mode->type == FY_JSON_STR && !strcmp(mode->str, "all");
    struct fy_tokens out = {0};
    if (divergent_file) { /* the generator's table must be this test's table */
        const struct fy_json *r = fy_json_get(j, "divergent_ranges");
        bool same = r && r->type == FY_JSON_ARR && r->len == FY_ARRAY_LEN(divergent);
        for (size_t k = 0; same && k < r->len; k++)
            same = r->items[k].type == FY_JSON_ARR && r->items[k].len == 2 &&
                   r->items[k].items[0].num == divergent[k][0] &&
                   r->items[k].items[1].num == divergent[k][1];
        if (!same) {
            fprintf(stderr, "FAIL %s: divergent_ranges differ from this test's table\n", name);
            failed++;
        }
    }
    for (size_t c = 0; c < cases->len; c++) {
        const struct fy_json *b64 = fy_json_get(&cases->items[c], "utf8_b64");
        int64_t n_want;
        int32_t *want = json_ids(fy_json_get(&cases->items[c], "ids"), &n_want);
        if (!b64 || b64->type != FY_JSON_STR || !want) {
            fprintf(stderr, "FAIL %s case %zu: no utf8_b64 / ids\n", name, c);
            free(want);
            failed++;
            continue;
        }
        uint8_t *s = malloc(b64->len + 1);
        size_t n = fy_json_b64_decode(b64->str, b64->len, s);
        bool div = has_divergent(s, n);
        if (div && !divergent_file) {
            fprintf(stderr,
                    "FAIL %s case %zu: holds a Unicode 15+ code point; it belongs in the "
                    "divergent file\n",
                    name, c);
            failed++;
        }
        out.n = 0;
        fy_status st = fy_tokenize(t, (const char *)s, n, special, &out);
        vs->cases++;
        vs->ids += n_want;
        if (st != FY_OK) {
            fprintf(stderr, "FAIL %s case %zu: fy_tokenize: %s\n", name, c, fy_status_str(st));
            failed++;
        } else if (!ids_equal(name, c, s, n, out.ids, out.n, want, n_want, div)) {
            if (div) {
                vs->tolerated++;
            } else {
                vs->mismatches++;
                failed++;
            }
        }
        /* with specials off, special strings are text ("ids_ordinary": tok_o200k_reserved.json) */
        const struct fy_json *jo = fy_json_get(&cases->items[c], "ids_ordinary");
        if (jo) {
            int64_t n_ord;
            int32_t *ord = json_ids(jo, &n_ord);
            struct fy_tokens o = {0};
            if (!ord || fy_tokenize(t, (const char *)s, n, false, &o) != FY_OK ||
                !ids_equal(name, c, s, n, o.ids, o.n, ord, n_ord, div)) {
                fprintf(stderr, "FAIL %s case %zu: ids_ordinary\n", name, c);
                vs->mismatches++;
                failed++;
            }
            if (ord)
                failed += check_roundtrip(t, name, c, s, n, ord, n_ord, &vs->held);
            fy_tokens_free(&o);
            free(ord);
        }
        /* round trips hold for the reference ids and for ours */
        if (st == FY_OK)
            failed += check_roundtrip(t, name, c, s, n, out.ids, out.n, &vs->held);
        failed += check_roundtrip(t, name, c, s, n, want, n_want, &vs->held);
        free(s);
        free(want);
    }
    fy_tokens_free(&out);
    fy_json_free(j);
    return failed;
}

/* Long runs of one unit: counts and id hashes from tiktoken (64 KiB runs; the WASM build is
 * quadratic on one piece), then 1 MiB runs timed. */
static int check_stress(const struct fy_tokenizer *t, double *worst_mbs)
{
    int failed = 0;
    struct fy_json *j = load_json("tok_o200k_stress.json");
    if (!j)
        return 1;
    const struct fy_json *cases = fy_json_get(j, "cases");
    struct fy_tokens out = {0};
    *worst_mbs = 1e30;
    for (size_t c = 0; c < cases->len; c++) {
        const struct fy_json *cs = &cases->items[c];
        const struct fy_json *b64 = fy_json_get(cs, "unit_b64"), *rep = fy_json_get(cs, "repeat");
        const struct fy_json *nids = fy_json_get(cs, "n_ids"), *fnv = fy_json_get(cs, "ids_fnv1a");
        int64_t n_head, n_tail;
        int32_t *head = json_ids(fy_json_get(cs, "ids_head"), &n_head);
        int32_t *tail = json_ids(fy_json_get(cs, "ids_tail"), &n_tail);
        uint8_t unit[16];
        if (!b64 || !rep || !nids || !fnv || !head || !tail || b64->len > 20) {
            fprintf(stderr, "FAIL stress case %zu: malformed\n", c);
            failed++;
            free(head);
            free(tail);
            continue;
        }
        size_t ulen = fy_json_b64_decode(b64->str, b64->len, unit);
        size_t reps = (size_t)rep->num;
        size_t big = ((size_t)1 << 20) / ulen; /* 1 MiB of the unit */
        uint8_t *s = malloc(ulen * big);
        for (size_t i = 0; i < big; i++)
            memcpy(s + i * ulen, unit, ulen);
        out.n = 0;
        FY_EXPECT(fy_tokenize(t, (const char *)s, ulen * reps, false, &out) == FY_OK);
        bool ok = out.n == (int64_t)nids->num && fnv1a_ids(out.ids, out.n) == (uint32_t)fnv->num &&
                  out.n >= n_head && !memcmp(out.ids, head, sizeof(*head) * (size_t)n_head) &&
                  !memcmp(out.ids + out.n - n_tail, tail, sizeof(*tail) * (size_t)n_tail);
        if (!ok) {
            fprintf(stderr, "FAIL stress case %zu (%zu x ", c, reps);
            print_text(unit, ulen);
            fprintf(stderr, "): %lld ids (fnv %08x), tiktoken %lld (fnv %08x)\n", (long long)out.n,
                    fnv1a_ids(out.ids, out.n), (long long)nids->num, (uint32_t)fnv->num);
            failed++;
        }
        /* the 1 MiB run: linear time and a round trip */
        out.n = 0;
        double t0 = now_s();
        fy_status st = fy_tokenize(t, (const char *)s, ulen * big, false, &out);
        double dt = now_s() - t0;
        double mbs = (double)(ulen * big) / 1e6 / dt;
        if (getenv("FERRY_TOK_VERBOSE"))
            printf("     1 MiB of unit %zu: %lld ids, %.3f s\n", c, (long long)out.n, dt);
        if (mbs < *worst_mbs)
            *worst_mbs = mbs;
        if (st != FY_OK || dt > 10.0) {
            fprintf(stderr, "FAIL stress case %zu: 1 MiB run: %s in %.2f s\n", c, fy_status_str(st),
                    dt);
            failed++;
        } else {
            int64_t held = 0;
            failed += check_roundtrip(t, "stress 1 MiB", c, s, ulen * big, out.ids, out.n, &held);
        }
        free(s);
        free(head);
        free(tail);
    }
    fy_tokens_free(&out);
    fy_json_free(j);
    return failed;
}

/* ---- naive reference BPE for the heap path ---- */

struct ref_map {
    int32_t *slot;
    uint64_t mask;
    const struct fy_tokenizer *t;
};

static uint64_t ref_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int32_t ref_find(const struct ref_map *m, const uint8_t *p, size_t n)
{
    for (uint64_t i = ref_hash(p, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slot[i];
        size_t len;
        if (id < 0)
            return -1;
        const uint8_t *q = fy_token_bytes(m->t, id, &len);
        if (len == n && !memcmp(q, p, n))
            return id;
    }
}

static void ref_build(struct ref_map *m, const struct fy_tokenizer *t, int64_t n_base)
{
    m->mask = (1u << 20) - 1;
    m->slot = malloc(sizeof(*m->slot) * (m->mask + 1));
    m->t = t;
    memset(m->slot, 0xFF, sizeof(*m->slot) * (m->mask + 1));
    for (int32_t id = 0; id < n_base; id++) {
        size_t len;
        const uint8_t *p = fy_token_bytes(t, id, &len);
        uint64_t i = ref_hash(p, len) & m->mask;
        while (m->slot[i] >= 0)
            i = (i + 1) & m->mask;
        m->slot[i] = id;
    }
}

/* tiktoken's definition, literally: whole piece, else merge the lowest-rank pair (leftmost). */
static int64_t ref_bpe(const struct ref_map *m, const uint8_t *p, size_t n, int32_t *ids)
{
    int32_t whole = ref_find(m, p, n);
    if (whole >= 0) {
        ids[0] = whole;
        return 1;
    }
    size_t *b = malloc(sizeof(*b) * (n + 1)), k = n;
    for (size_t i = 0; i <= n; i++)
        b[i] = i;
    for (;;) {
        int32_t best = -1;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            int32_t r = ref_find(m, p + b[i], b[i + 2] - b[i]);
            if (r >= 0 && (best < 0 || r < best)) {
                best = r;
                bi = i;
            }
        }
        if (best < 0)
            break;
        memmove(b + bi + 1, b + bi + 2, (k - bi - 1) * sizeof(*b));
        k--;
    }
    for (size_t i = 0; i < k; i++)
        ids[i] = ref_find(m, p + b[i], b[i + 1] - b[i]);
    free(b);
    return (int64_t)k;
}

/* fy_tokenize against ref_bpe on single-piece strings: random runs of characters drawn from each
 * alphabet (all of one byte length), short and long (up to 3000 bytes: the long-piece path). */
static int naive_compare(const struct fy_tokenizer *t, int64_t n_ref, const char *const *alphabets,
                         size_t n_alpha, int reps, uint64_t seed, const char *what)
{
    int failed = 0, n_cases = 0;
    struct ref_map m;
    struct fy_rng rng = {seed};
    struct fy_tokens out = {0};
    uint8_t *s = malloc(4096);
    int32_t *want = malloc(sizeof(*want) * 4096);
    ref_build(&m, t, n_ref);
    for (size_t a = 0; a < n_alpha; a++) {
        const char *al = alphabets[a];
        size_t step = (uint8_t)al[0] >= 0xE0 ? 3 : (uint8_t)al[0] >= 0xC0 ? 2 : 1;
        size_t n_chars = strlen(al) / step;
        for (int rep = 0; rep < reps; rep++) {
            size_t target = 1 + (size_t)(fy_rng_unif(&rng) * (rep < reps / 2 ? 120 : 3000)), n = 0;
            for (; n + step <= target; n += step)
                memcpy(s + n, al + step * (size_t)(fy_rng_unif(&rng) * (double)n_chars), step);
            if (n == 0)
                continue;
            int64_t nw = ref_bpe(&m, s, n, want);
            out.n = 0;
            FY_EXPECT(fy_tokenize(t, (const char *)s, n, false, &out) == FY_OK);
            failed += !ids_equal(what, (size_t)n_cases, s, n, out.ids, out.n, want, nw, false);
            n_cases++;
        }
    }
    printf("%s %s vs naive reference BPE: %d single-piece strings\n", failed ? "FAIL" : "ok  ",
           what, n_cases);
    free(s);
    free(want);
    free(m.slot);
    fy_tokens_free(&out);
    return failed;
}

static int check_bpe_paths(const struct fy_tokenizer *t)
{
    static const char *const alphabets[] = {"x",
                                            "ab",
                                            "aeiou",
                                            "abcdefghijklmnopqrstuvwxyz",
                                            "etaoinshr",
                                            "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97",
                                            "\xc3\xa9\xc3\xa8\xc3\xa0"};
    return naive_compare(t, FY_O200K_N_BASE, alphabets, FY_ARRAY_LEN(alphabets), 12, 12345,
                         "o200k BPE (scan and long-piece paths)");
}

/* A vocabulary with shuffled ranks over {a, b, c} (ids 0..59; the 256 bytes come after them):
 * merges create pairs of lower rank than the one being merged, unlike a trained vocabulary,
 * which exercises the re-queueing path of the long-piece BPE. */
static int check_bpe_shuffled(void)
{
    int failed = 0;
    enum { N_MERGE = 60, N = N_MERGE + 256 };
    struct fy_rng rng = {777};
    char store[N][8];
    const char *strs[N];
    uint64_t lens[N];
    int32_t types[N];
    for (int n = 0; n < N; n++) {
        strs[n] = store[n];
        types[n] = 1;
        if (n >= N_MERGE) {
            lens[n] = (uint64_t)fy_byte_to_unicode((uint8_t)(n - N_MERGE), store[n]);
            continue;
        }
        bool dup = true;
        while (dup) {
            lens[n] = 2 + (uint64_t)(fy_rng_unif(&rng) * 4);
            for (size_t i = 0; i < lens[n]; i++)
                store[n][i] = "abc"[(int)(fy_rng_unif(&rng) * 3)];
            dup = false;
            for (int k = 0; k < n && !dup; k++)
                dup = lens[k] == lens[n] && !memcmp(store[k], store[n], lens[n]);
        }
    }
    struct fy_tokenizer *t = NULL;
    FY_EXPECT(fy_tokenizer_from_strings(strs, lens, types, N, &t) == FY_OK);
    if (t) {
        static const char *const alphabets[] = {"abc", "ab", "abc", "ac"};
        failed +=
            naive_compare(t, N, alphabets, FY_ARRAY_LEN(alphabets), 20, 778, "shuffled-rank BPE");
    }
    fy_tokenizer_free(t);
    return failed;
}

/* ---- concurrency ---- */

struct thread_job {
    const struct fy_tokenizer *t;
    const uint8_t *s;
    size_t n;
    struct fy_tokens out;
    fy_status st;
};

static void *thread_main(void *arg)
{
    struct thread_job *j = arg;
    for (int r = 0; r < 3 && j->st == FY_OK; r++) {
        j->out.n = 0;
        j->st = fy_tokenize(j->t, (const char *)j->s, j->n, r == 1, &j->out);
    }
    return NULL;
}

static int check_threads(const struct fy_tokenizer *t, const uint8_t *s, size_t n)
{
    int failed = 0;
    struct thread_job jobs[4];
    pthread_t th[4];
    struct fy_tokens ref = {0};
    FY_EXPECT(fy_tokenize(t, (const char *)s, n, false, &ref) == FY_OK);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct thread_job){.t = t, .s = s, .n = n};
        FY_EXPECT(pthread_create(&th[i], NULL, thread_main, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        FY_EXPECT(jobs[i].st == FY_OK && jobs[i].out.n == ref.n &&
                  !memcmp(jobs[i].out.ids, ref.ids, sizeof(*ref.ids) * (size_t)ref.n));
        fy_tokens_free(&jobs[i].out);
    }
    fy_tokens_free(&ref);
    return failed;
}

/* ---- single checks ---- */

static int tok_is(const struct fy_tokenizer *t, const char *s, size_t n, bool special,
                  const int32_t *want, int64_t n_want)
{
    struct fy_tokens out = {0};
    int ok = fy_tokenize(t, s, n, special, &out) == FY_OK &&
             ids_equal("vector", 0, (const uint8_t *)s, n, out.ids, out.n, want, n_want, false);
    fy_tokens_free(&out);
    return ok;
}

#define TOK_IS(t, s, special, ...)                                                                 \
    tok_is(t, s, sizeof(s) - 1, special, (const int32_t[]){__VA_ARGS__},                           \
           (int64_t)(sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)))

static int check_basics(const struct fy_tokenizer *t)
{
    int failed = 0;
    size_t len;
    FY_EXPECT(fy_tokenizer_n_vocab(t) == FY_O200K_N_VOCAB);
    FY_EXPECT(fy_tokenizer_special(t, "<|startoftext|>") == 199998);
    FY_EXPECT(fy_tokenizer_special(t, "<|endoftext|>") == 199999);
    FY_EXPECT(fy_tokenizer_special(t, "<|return|>") == 200002);
    FY_EXPECT(fy_tokenizer_special(t, "<|start|>") == 200006);
    FY_EXPECT(fy_tokenizer_special(t, "<|call|>") == 200012);
    FY_EXPECT(fy_tokenizer_special(t, "<|endofprompt|>") == 200018);
    FY_EXPECT(fy_tokenizer_special(t, "<|reserved_200017|>") == 200017);
    /* the converter's "[PAD<id>]" ids take tiktoken's names (tok_o200k_reserved.json) */
    FY_EXPECT(fy_tokenizer_special(t, "<|reserved_200019|>") == 200019);
    FY_EXPECT(fy_tokenizer_special(t, "<|reserved_201087|>") == 201087);
    FY_EXPECT(fy_tokenizer_special(t, "[PAD201087]") == -1);
    FY_EXPECT(fy_tokenizer_special(t, "<|reserved_201088|>") == -1);
    FY_EXPECT(fy_tokenizer_special(t, "<|reserved_200018|>") == -1); /* <|endofprompt|> */
    FY_EXPECT(fy_tokenizer_special(t, "<|nope|>") == -1);
    FY_EXPECT(fy_tokenizer_special(t, "hello") == -1); /* normal tokens are not specials */
    FY_EXPECT(fy_tokenizer_special(t, NULL) == -1);
    const uint8_t *p = fy_token_bytes(t, 220, &len);
    FY_EXPECT(p && len == 1 && p[0] == ' ');
    p = fy_token_bytes(t, 188, &len);
    FY_EXPECT(p && len == 1 && p[0] == 0x00);
    p = fy_token_bytes(t, 187, &len);
    FY_EXPECT(p && len == 1 && p[0] == 0xFF);
    p = fy_token_bytes(t, 200006, &len);
    FY_EXPECT(p && len == 9 && !memcmp(p, "<|start|>", 9));
    p = fy_token_bytes(t, 201087, &len);
    FY_EXPECT(p && len == 19 && !memcmp(p, "<|reserved_201087|>", 19));
    p = fy_token_bytes(t, 200018, &len);
    FY_EXPECT(p && len == 15 && !memcmp(p, "<|endofprompt|>", 15));
    FY_EXPECT(fy_token_bytes(t, -1, &len) == NULL && len == 0);
    FY_EXPECT(fy_token_bytes(t, FY_O200K_N_VOCAB, &len) == NULL);

    /* tokenizer.md §5.4 and the dotnet vector */
    FY_EXPECT(TOK_IS(t, "<|endoftext|>", false, 27, 91, 419, 1440, 919, 91, 29));
    FY_EXPECT(TOK_IS(t, "<|startoftext|><|start|><|message|>Hello World<|end|><|endoftext|>", true,
                     199998, 200006, 200008, 13225, 5922, 200007, 199999));
    FY_EXPECT(TOK_IS(t, "<|start|>assistant", true, 200006, 173781));
    FY_EXPECT(TOK_IS(t, "hello world", false, 24912, 2375));
    FY_EXPECT(TOK_IS(t, "mvs\xe1\xa0\x8ex", false, 76, 16121, 157, 254, 236, 87));
    /* a reserved name is one token only with specials; "[PAD<id>]" and names outside the range
     * are text either way */
    FY_EXPECT(TOK_IS(t, "[PAD200500]<|reserved_200500|>", true, 58, 92158, 1179, 3234, 60, 200500));
    FY_EXPECT(TOK_IS(t, "<|reserved_201088|>", true, 27, 91, 116758, 62, 667, 43163, 91, 29));
    FY_EXPECT(TOK_IS(t, "[PAD200500]<|reserved_200500|>", false, 58, 92158, 1179, 3234, 80424, 91,
                     116758, 62, 1179, 3234, 91, 29));

    /* invalid UTF-8: FY_E_INVAL, out untouched */
    struct fy_tokens a = {0};
    static const char *const bad[] = {"\xff",     "a\xc3",        "\xed\xa0\x80",
                                      "\xc0\xaf", "ok\x80",       "\xf4\x90\x80\x80",
                                      "\xe4\xb8", "\xf0\x9f\x98", "x\xc3\x28"};
    a.n = 0;
    FY_EXPECT(fy_tokens_push(&a, 42) == FY_OK);
    fprintf(stderr, "expected errors follow:\n");
    for (size_t i = 0; i < FY_ARRAY_LEN(bad); i++)
        FY_EXPECT(fy_tokenize(t, bad[i], strlen(bad[i]), false, &a) == FY_E_INVAL && a.n == 1);
    FY_EXPECT(fy_tokenize(t, NULL, 0, false, &a) == FY_OK && a.n == 1);
    FY_EXPECT(fy_tokenize(t, "", 0, true, &a) == FY_OK && a.n == 1);
    /* an embedded NUL is ordinary text */
    FY_EXPECT(TOK_IS(t, "a\0b", false, 64, 188, 65));
    fy_tokens_free(&a);
    FY_EXPECT(a.ids == NULL && a.n == 0);
    fy_tokens_free(NULL);
    return failed;
}

/* Streaming detokenization of characters split across byte tokens. */
static int check_detok(const struct fy_tokenizer *t)
{
    int failed = 0;
    struct fy_detok d = {0};
    char out[300];
    int32_t id[4] = {-1, -1, -1, -1};
    const uint8_t emoji[4] = {0xF0, 0x9F, 0x98, 0x80}; /* U+1F600, fed one byte token at a time */
    for (int32_t k = 0; k < 256; k++) {
        size_t len;
        const uint8_t *p = fy_token_bytes(t, k, &len);
        for (int i = 0; i < 4; i++)
            if (len == 1 && p[0] == emoji[i])
                id[i] = k;
    }
    FY_EXPECT(fy_detok_push(&d, t, id[0], out, sizeof(out)) == 0 && out[0] == '\0');
    FY_EXPECT(d.n_pending == 1);
    FY_EXPECT(fy_detok_push(&d, t, id[1], out, sizeof(out)) == 0 && d.n_pending == 2);
    FY_EXPECT(fy_detok_push(&d, t, id[2], out, sizeof(out)) == 0 && d.n_pending == 3);
    FY_EXPECT(fy_detok_push(&d, t, id[3], out, sizeof(out)) == 4 && !memcmp(out, emoji, 4) &&
              out[4] == '\0' && d.n_pending == 0);
    /* a truncated character followed by text: U+FFFD, then the text */
    FY_EXPECT(fy_detok_push(&d, t, id[0], out, sizeof(out)) == 0);
    static const char fffd_a[] = "\xef\xbf\xbd"
                                 "a";
    FY_EXPECT(fy_detok_push(&d, t, 64, out, sizeof(out)) == 4 && !memcmp(out, fffd_a, 4));
    /* a stray byte: U+FFFD right away */
    FY_EXPECT(fy_detok_push(&d, t, 187, out, sizeof(out)) == 3 && !memcmp(out, "\xef\xbf\xbd", 3));
    /* flush of a held prefix */
    FY_EXPECT(fy_detok_push(&d, t, id[0], out, sizeof(out)) == 0);
    FY_EXPECT(fy_detok_push(&d, t, id[1], out, sizeof(out)) == 0);
    FY_EXPECT(fy_detok_flush(&d, out, sizeof(out)) == 3 && !memcmp(out, "\xef\xbf\xbd", 3));
    FY_EXPECT(d.n_pending == 0 && fy_detok_flush(&d, out, sizeof(out)) == 0 && out[0] == '\0');
    /* specials are their literal strings; invalid ids add nothing */
    FY_EXPECT(fy_detok_push(&d, t, 200007, out, sizeof(out)) == 7 && !strcmp(out, "<|end|>"));
    FY_EXPECT(fy_detok_push(&d, t, 200019, out, sizeof(out)) == 19 &&
              !strcmp(out, "<|reserved_200019|>"));
    FY_EXPECT(fy_detok_push(&d, t, -5, out, sizeof(out)) == 0);
    /* real tokens of CJK, emoji and Devanagari text stream complete characters */
    static const char text[] = "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92"
                               "\xbb \xe0\xa4\x95\xe0\xa5\x8d\xe0\xa4\xb7";
    struct fy_tokens v = {0};
    int64_t held = 0;
    FY_EXPECT(fy_tokenize(t, text, sizeof(text) - 1, false, &v) == FY_OK);
    failed +=
        check_roundtrip(t, "detok", 0, (const uint8_t *)text, sizeof(text) - 1, v.ids, v.n, &held);
    fy_tokens_free(&v);
    return failed;
}

/* ---- loading ---- */

static int check_gguf(const struct fy_tokenizer *ref, const char *vocab)
{
    int failed = 0;
    char dir[] = "/tmp/ferry-tok-XXXXXX", path[96], bad[96];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "FAIL: mkdtemp\n");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/tiny.gguf", dir);
    snprintf(bad, sizeof(bad), "%s/bad.gguf", dir);
    struct fy_synth_config c;
    FY_EXPECT(fy_synth_preset("tiny", &c) == FY_OK);
    c.n_layer = 1;
    struct fy_gguf *g = NULL;
    struct fy_tokenizer *t = NULL;
    FY_EXPECT(fy_synth_write(&c, vocab, path) == FY_OK);
    FY_EXPECT(fy_gguf_open(path, &g) == FY_OK);
    FY_EXPECT(g && fy_tokenizer_load(g, &t) == FY_OK);
    if (t) {
        FY_EXPECT(fy_tokenizer_n_vocab(t) == fy_tokenizer_n_vocab(ref));
        FY_EXPECT(TOK_IS(t, "hello world", false, 24912, 2375));
        FY_EXPECT(TOK_IS(t, "I'M HERE'S", false, 40, 95346, 32396, 31233));
        FY_EXPECT(TOK_IS(t,
                         "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8"
                         "\xd1\x80!",
                         false, 23881, 131903, 11, 37934, 0));
        FY_EXPECT(TOK_IS(t, "<|startoftext|><|start|><|message|>Hello World<|end|><|endoftext|>",
                         true, 199998, 200006, 200008, 13225, 5922, 200007, 199999));
        FY_EXPECT(fy_tokenizer_special(t, "<|call|>") == 200012);
        FY_EXPECT(TOK_IS(t, "a<|reserved_201087|><|reserved_200019|>", true, 64, 201087, 200019));
    }
    fy_tokenizer_free(t);
    fy_gguf_close(g);

    /* another tokenizer model is refused; a file without tokens is malformed */
    struct fy_gguf_writer *w = NULL;
    g = NULL;
    t = NULL;
    FY_EXPECT(fy_gguf_writer_new(bad, 32, &w) == FY_OK);
    FY_EXPECT(fy_gguf_writer_kv_str(w, "tokenizer.ggml.model", "llama") == FY_OK);
    FY_EXPECT(fy_gguf_writer_begin_data(w) == FY_OK && fy_gguf_writer_finish(w) == FY_OK);
    fy_gguf_writer_free(w);
    fprintf(stderr, "expected errors follow:\n");
    FY_EXPECT(fy_gguf_open(bad, &g) == FY_OK);
    FY_EXPECT(g && fy_tokenizer_load(g, &t) == FY_E_UNSUPPORTED && t == NULL);
    fy_gguf_close(g);
    g = NULL;
    FY_EXPECT(fy_gguf_writer_new(bad, 32, &w) == FY_OK);
    FY_EXPECT(fy_gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2") == FY_OK);
    FY_EXPECT(fy_gguf_writer_begin_data(w) == FY_OK && fy_gguf_writer_finish(w) == FY_OK);
    fy_gguf_writer_free(w);
    FY_EXPECT(fy_gguf_open(bad, &g) == FY_OK);
    FY_EXPECT(g && fy_tokenizer_load(g, &t) == FY_E_FORMAT && t == NULL);
    fy_gguf_close(g);
    unlink(path);
    unlink(bad);
    rmdir(dir);
    return failed;
}

/* Toy vocabulary (bytes + specials, no merges) and malformed inputs: no rank file needed. */
static int check_toy(void)
{
    int failed = 0;
    struct fy_vocab_o200k *v = NULL;
    struct fy_tokenizer *t = NULL;
    FY_EXPECT(fy_vocab_o200k_toy(300, &v) == FY_OK);
    FY_EXPECT(v && fy_tokenizer_from_strings(v->tokens, v->token_lens, v->token_types, v->n_vocab,
                                             &t) == FY_OK);
    if (t) {
        FY_EXPECT(TOK_IS(t, "ab", false, 64, 65));
        FY_EXPECT(TOK_IS(t, " \n", false, 220, 198));
        FY_EXPECT(TOK_IS(t, "a<|return|>b", true, 64, 260, 65));
        FY_EXPECT(fy_tokenizer_special(t, "<|startoftext|>") == 256);
        /* pads 277..299 are "<|reserved_<id>|>" specials; 300 is past the table */
        size_t len;
        const uint8_t *p = fy_token_bytes(t, 299, &len);
        FY_EXPECT(p && len == 16 && !memcmp(p, "<|reserved_299|>", 16));
        FY_EXPECT(TOK_IS(t, "a<|reserved_277|><|reserved_299|>b", true, 64, 277, 299, 65));
        FY_EXPECT(TOK_IS(t, "<|reserved_299|>", false, 27, 91, 81, 68, 82, 68, 81, 85, 68, 67, 62,
                         17, 24, 24, 91, 29));
        FY_EXPECT(TOK_IS(t, "<|reserved_300|>", true, 27, 91, 81, 68, 82, 68, 81, 85, 68, 67, 62,
                         18, 15, 15, 91, 29));
    }
    fy_tokenizer_free(t);
    t = NULL;
    /* a normal token that is not byte-level unicode; a vocabulary missing byte tokens */
    const char *strs[3] = {"\xe4\xb8\xad", "a", "b"};
    const uint64_t lens[3] = {3, 1, 1};
    const int32_t types[3] = {1, 1, 1};
    fprintf(stderr, "expected errors follow:\n");
    FY_EXPECT(fy_tokenizer_from_strings(strs, lens, types, 3, &t) == FY_E_FORMAT && !t);
    FY_EXPECT(fy_tokenizer_from_strings(strs + 1, lens + 1, types + 1, 2, &t) == FY_E_FORMAT);
    FY_EXPECT(fy_tokenizer_from_strings(NULL, lens, types, 3, &t) == FY_E_INVAL);
    fy_tokenizer_free(NULL);
    fy_vocab_o200k_free(v);
    return failed;
}

int main(void)
{
    int failed = 0;
    struct stat sb;

    failed += check_toy();
    const char *vocab = getenv("FERRY_VOCAB");
    if (!vocab || !*vocab)
        vocab = FY_DEFAULT_VOCAB;
    if (stat(vocab, &sb) != 0) {
        printf("skip: rank file %s absent (tools/setup-vocab.sh); toy checks %s\n", vocab,
               failed ? "FAILED" : "passed");
        return failed ? 1 : FY_TEST_SKIP;
    }
    find_vec_dir();

    struct fy_vocab_o200k *v = NULL;
    struct fy_tokenizer *t = NULL;
    double t0 = now_s();
    if (fy_vocab_o200k_load(vocab, 0, &v) != FY_OK ||
        fy_tokenizer_from_strings(v->tokens, v->token_lens, v->token_types, v->n_vocab, &t) !=
            FY_OK) {
        fprintf(stderr, "FAIL: tokenizer from %s\n", vocab);
        fy_vocab_o200k_free(v);
        return 1;
    }
    printf("ok   tokenizer built from %s in %.2f s\n", vocab, now_s() - t0);

    failed += check_basics(t);
    failed += check_detok(t);

    static const struct {
        const char *file;
        bool divergent;
    } files[] = {
        {"tok_o200k_ordinary.json", false},
        {"tok_o200k_harmony_all.json", false},
        {"tok_o200k_reserved.json", false},
        {"tok_o200k_large.json", false},
        {"tok_o200k_divergent.json", true},
    };
    for (size_t i = 0; i < FY_ARRAY_LEN(files); i++) {
        struct vec_stats vs = {0};
        int f = check_file(t, files[i].file, files[i].divergent, &vs);
        failed += f;
        printf("%s %s: %lld cases, %lld ids, %lld mismatches", f ? "FAIL" : "ok  ", files[i].file,
               (long long)vs.cases, (long long)vs.ids, (long long)vs.mismatches);
        if (files[i].divergent)
            printf(" + %lld allowed (Unicode 15+ code points)", (long long)vs.tolerated);
        printf(", %lld held-back UTF-8 tails in streaming\n", (long long)vs.held);
    }

    double worst = 0;
    int f = check_stress(t, &worst);
    failed += f;
    printf("%s stress: 64 KiB runs match tiktoken; 1 MiB runs at >= %.1f MB/s\n",
           f ? "FAIL" : "ok  ", worst);

    failed += check_bpe_paths(t);
    failed += check_bpe_shuffled();

    /* the large document: timing and concurrency */
    struct fy_json *j = load_json("tok_o200k_large.json");
    if (j) {
        const struct fy_json *b64 = fy_json_get(&fy_json_get(j, "cases")->items[0], "utf8_b64");
        uint8_t *s = malloc(b64->len);
        size_t n = fy_json_b64_decode(b64->str, b64->len, s);
        struct fy_tokens out = {0};
        double ts = now_s();
        FY_EXPECT(fy_tokenize(t, (const char *)s, n, false, &out) == FY_OK);
        double dt = now_s() - ts;
        printf("ok   large document: %zu bytes, %lld tokens, %.1f MB/s\n", n, (long long)out.n,
               (double)n / 1e6 / dt);
        int ft = check_threads(t, s, n);
        failed += ft;
        printf("%s concurrent fy_tokenize from 4 threads\n", ft ? "FAIL" : "ok  ");
        fy_tokens_free(&out);
        free(s);
        fy_json_free(j);
    } else {
        failed++;
    }

    f = check_gguf(t, vocab);
    failed += f;
    printf("%s fy_tokenizer_load from a synthetic GGUF\n", f ? "FAIL" : "ok  ");

    fy_tokenizer_free(t);
    fy_vocab_o200k_free(v);
    if (failed) {
        fprintf(stderr, "%d tokenizer check(s) failed\n", failed);
        return 1;
    }
    printf("all tokenizer checks passed\n");
    return 0;
}
