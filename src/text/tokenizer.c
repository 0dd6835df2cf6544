/* The o200k_harmony tokenizer (tokenizer.md §3, §5, §6): loading from a GGUF or from token
 * strings, byte and special-token lookup, id vectors, streaming detokenization. Pre-tokenization
 * and BPE live in tokenizer_bpe.c.
 *
 * Normal tokens (type 1) are GPT-2 byte-level unicode: each character stands for one byte
 * (vocab_o200k.h, fy_byte_to_unicode), and id = rank. Every other type (control 3, user-defined 4,
 * unused 5, ...) is a literal string.
 *
 * Reserved ids: llama.cpp's converter writes the ids that the HF vocabulary lacks (o200k_harmony:
 * 200019..201087) as "[PAD<id>]". tiktoken's o200k_harmony (openai/gpt-oss gpt_oss/tokenizer.py)
 * names every id of its special range that has no other name "<|reserved_<id>|>", a special token
 * like "<|reserved_200017|>". So a non-normal token whose string is exactly "[PAD<id>]" of its own
 * id is loaded as the control token "<|reserved_<id>|>": matched as one token when specials are
 * allowed and decoded to that string. */
#include "tokenizer_priv.h"

#include "vocab_o200k.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- maps ---- */

static fy_status map_init(struct fy_tok_map *m, int64_t n)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2)
        cap <<= 1;
    m->slots = malloc(cap * sizeof(*m->slots));
    if (!m->slots)
        return FY_E_NOMEM;
    for (uint64_t i = 0; i < cap; i++)
        m->slots[i] = (struct fy_tok_slot){.id = -1};
    m->mask = cap - 1;
    return FY_OK;
}

/* Inserts id unless its bytes are already present; returns 1 when inserted. */
static int map_insert(struct fy_tokenizer *t, struct fy_tok_map *m, int32_t id)
{
    const uint8_t *p = t->blob + t->off[id];
    size_t n = (size_t)(t->off[id + 1] - t->off[id]);
    uint64_t w;
    if (fy_tok_map_find(t, m, p, n) >= 0)
        return 0;
    uint64_t h = fy_tok_key(p, n, &w);
    uint64_t i = h & m->mask;
    while (m->slots[i].id >= 0)
        i = (i + 1) & m->mask;
    m->slots[i] =
        (struct fy_tok_slot){.w = w, .id = id, .len = (uint16_t)n, .tag = (uint16_t)(h >> 48)};
    return 1;
}

/* ---- UTF-8 ---- */

int fy_tok_utf8_seq(const uint8_t *p, size_t n, size_t *adv)
{
    uint8_t c = p[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80) {
        *adv = 1;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *adv = 1;
        return -1;
    }
    for (size_t k = 1; k < len; k++) {
        if (k >= n) {
            *adv = n;
            return 0;
        }
        uint8_t b = p[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
            *adv = k;
            return -1;
        }
    }
    *adv = len;
    return 1;
}

/* ---- loading ---- */

/* The tiktoken name of reserved id: "<|reserved_<id>|>" written to buf; returns its length. */
static size_t reserved_name(int64_t id, char *buf, size_t cap)
{
    int k = snprintf(buf, cap, "<|reserved_%lld|>", (long long)id);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

/* 1 when s[0..n) is "[PAD<id>]", the converter's stand-in for an id without a string. */
static int is_pad_of(const char *s, uint64_t n, int64_t id)
{
    char want[32];
    int k = snprintf(want, sizeof(want), "[PAD%lld]", (long long)id);
    return s && k > 0 && (uint64_t)k == n && !memcmp(s, want, n);
}

/* Byte for the byte-level unicode character cp, or -1. */
struct unbyte {
    int16_t b[0x200];
};

static void unbyte_init(struct unbyte *u)
{
    for (int i = 0; i < 0x200; i++)
        u->b[i] = -1;
    for (int b = 0; b < 256; b++) {
        char s[2];
        int n = fy_byte_to_unicode((uint8_t)b, s);
        unsigned cp =
            n == 1 ? (uint8_t)s[0] : (((uint8_t)s[0] & 0x1Fu) << 6) | ((uint8_t)s[1] & 0x3Fu);
        u->b[cp] = (int16_t)b;
    }
}

/* Decodes a byte-level token string into dst; returns the byte count or -1. */
static int64_t unbyte_decode(const struct unbyte *u, const uint8_t *s, uint64_t n, uint8_t *dst)
{
    int64_t k = 0;
    for (uint64_t i = 0; i < n;) {
        unsigned cp;
        if (s[i] < 0x80) {
            cp = s[i];
            i++;
        } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
            cp = ((s[i] & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
            i += 2;
            if (cp < 0x80)
                return -1; /* overlong */
        } else {
            return -1;
        }
        if (cp >= 0x200 || u->b[cp] < 0)
            return -1;
        dst[k++] = (uint8_t)u->b[cp];
    }
    return k;
}

static int cmp_special_len(const void *a, const void *b, void *ctx)
{
    const struct fy_tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint64_t lx = t->off[x + 1] - t->off[x], ly = t->off[y + 1] - t->off[y];
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* 1 when token id's string is "<|name|>" with no '|' in name: the special that must start at p
 * if any does is then p up to the first '|' after "<|", plus '>' (special_at, tokenizer_bpe.c). */
static int is_bar_name(const struct fy_tokenizer *t, int32_t id)
{
    const uint8_t *p = t->blob + t->off[id];
    size_t n = (size_t)(t->off[id + 1] - t->off[id]);
    return n >= 4 && p[0] == '<' && p[1] == '|' && p[n - 2] == '|' && p[n - 1] == '>' &&
           !memchr(p + 2, '|', n - 4);
}

static fy_status build_maps(struct fy_tokenizer *t)
{
    fy_status st;
    int64_t n_norm = 0, n_dup = 0, first_dup = -1;
    for (int64_t i = 0; i < t->n_vocab; i++)
        n_norm += t->types[i] == 1;
    st = map_init(&t->bpe, n_norm);
    if (st != FY_OK)
        return st;
    st = map_init(&t->named, t->n_vocab - n_norm);
    if (st != FY_OK)
        return st;
    t->specials = malloc(sizeof(*t->specials) * (size_t)(t->n_vocab - n_norm + 1));
    if (!t->specials)
        return FY_E_NOMEM;
    for (int64_t i = 0; i < t->n_vocab; i++) {
        uint64_t len = t->off[i + 1] - t->off[i];
        if (t->types[i] == 1) {
            if (!map_insert(t, &t->bpe, (int32_t)i) && n_dup++ == 0)
                first_dup = i;
            if (len > t->max_bpe_len)
                t->max_bpe_len = (size_t)len;
            continue;
        }
        map_insert(t, &t->named, (int32_t)i);
        if ((t->types[i] == 3 || t->types[i] == 4) && len > 0) {
            /* a special whose string an earlier named token holds is not found by lookup */
            if (is_bar_name(t, (int32_t)i) &&
                fy_tok_map_find(t, &t->named, t->blob + t->off[i], len) == i)
                t->n_bar_specials++;
            else
                t->specials[t->n_specials++] = (int32_t)i;
            t->special_first[t->blob[t->off[i]]] = 1;
        }
    }
    if (n_dup)
        fy_log(FY_LOG_WARN,
               "tokenizer: %lld normal tokens repeat the bytes of an earlier one "
               "(first: id %lld); the lowest id wins",
               (long long)n_dup, (long long)first_dup);
    qsort_r(t->specials, (size_t)t->n_specials, sizeof(*t->specials), cmp_special_len, t);
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = fy_tok_map_find(t, &t->bpe, &c, 1);
        if (t->byte_id[b] < 0) {
            fy_log(FY_LOG_ERR,
                   "tokenizer: no normal token for byte 0x%02x (a byte-level BPE "
                   "vocabulary needs all 256)",
                   b);
            return FY_E_FORMAT;
        }
    }
    return FY_OK;
}

fy_status fy_tokenizer_from_strings(const char *const *strs, const uint64_t *lens,
                                    const int32_t *types, int64_t n, struct fy_tokenizer **out)
{
    struct fy_tokenizer *t = NULL;
    struct unbyte u;
    fy_status st;
    uint64_t total = 0;
    char rname[48];

    FY_CHECK_ARG(out);
    *out = NULL;
    FY_CHECK_ARG(strs && lens && types && n > 0 && n < INT32_MAX);
    for (int64_t i = 0; i < n; i++) {
        if (!strs[i] && lens[i]) {
            fy_log(FY_LOG_ERR, "tokenizer: token %lld has no string", (long long)i);
            return FY_E_INVAL;
        }
        total += lens[i];
        if (types[i] != 1 && is_pad_of(strs[i], lens[i], i))
            total += reserved_name(i, rname, sizeof(rname));
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return FY_E_NOMEM;
    t->n_vocab = n;
    t->blob = malloc(total + 1);
    t->off = malloc(sizeof(*t->off) * (size_t)(n + 1));
    t->types = malloc(sizeof(*t->types) * (size_t)n);
    if (!t->blob || !t->off || !t->types) {
        st = FY_E_NOMEM;
        goto fail;
    }
    unbyte_init(&u);
    uint64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *s = (const uint8_t *)strs[i];
        t->off[i] = pos;
        t->types[i] = types[i];
        if (types[i] == 1) {
            int64_t k = unbyte_decode(&u, s, lens[i], t->blob + pos);
            if (k <= 0) {
                fy_log(FY_LOG_ERR, "tokenizer: normal token %lld \"%.*s\" is %s", (long long)i,
                       (int)(lens[i] > 64 ? 64 : lens[i]), strs[i] ? strs[i] : "",
                       k == 0 ? "empty" : "not GPT-2 byte-level unicode");
                st = FY_E_FORMAT;
                goto fail;
            }
            pos += (uint64_t)k;
        } else if (is_pad_of(strs[i], lens[i], i)) {
            size_t k = reserved_name(i, rname, sizeof(rname));
            memcpy(t->blob + pos, rname, k);
            pos += k;
            t->types[i] = FY_TOKEN_CONTROL;
        } else {
            if (lens[i])
                memcpy(t->blob + pos, s, lens[i]);
            pos += lens[i];
        }
        if (pos - t->off[i] > FY_TOK_MAX_BYTES) {
            fy_log(FY_LOG_ERR, "tokenizer: token %lld is %llu bytes long (at most %d supported)",
                   (long long)i, (unsigned long long)(pos - t->off[i]), FY_TOK_MAX_BYTES);
            st = FY_E_FORMAT;
            goto fail;
        }
    }
    t->off[n] = pos;
    st = build_maps(t);
    if (st != FY_OK)
        goto fail;
    st = fy_tok_regex_init(t);
    if (st != FY_OK)
        goto fail;
    *out = t;
    return FY_OK;
fail:
    fy_tokenizer_free(t);
    return st;
}

fy_status fy_tokenizer_load(const struct fy_gguf *g, struct fy_tokenizer **out)
{
    const char **strs = NULL;
    uint64_t *lens = NULL;
    int32_t *types = NULL;
    char model[64];
    fy_status st;

    FY_CHECK_ARG(g && out);
    *out = NULL;
    st = fy_gguf_get_str(g, "tokenizer.ggml.model", model, sizeof(model));
    if (st != FY_OK) {
        if (st == FY_E_INVAL)
            fy_log(FY_LOG_ERR, "%s: no tokenizer.ggml.model", fy_gguf_path(g, 0));
        return FY_E_FORMAT;
    }
    if (strcmp(model, "gpt2") != 0) {
        fy_log(FY_LOG_ERR,
               "%s: tokenizer.ggml.model is \"%s\"; only \"gpt2\" (byte-level BPE) "
               "is supported",
               fy_gguf_path(g, 0), model);
        return FY_E_UNSUPPORTED;
    }
    const struct fy_gguf_kv *kt = fy_gguf_find_kv(g, "tokenizer.ggml.tokens");
    const struct fy_gguf_kv *ky = fy_gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (!kt || !ky || kt->type != FY_GGUF_ARR || ky->type != FY_GGUF_ARR ||
        kt->arr_type != FY_GGUF_STR || kt->arr_n != ky->arr_n || kt->arr_n == 0 ||
        kt->arr_n >= INT32_MAX) {
        fy_log(FY_LOG_ERR,
               "%s: tokenizer.ggml.tokens and tokenizer.ggml.token_type must be "
               "non-empty arrays (strings, integers) of equal length",
               fy_gguf_path(g, 0));
        return FY_E_FORMAT;
    }
    int64_t n = (int64_t)kt->arr_n;
    strs = malloc(sizeof(*strs) * (size_t)n);
    lens = malloc(sizeof(*lens) * (size_t)n);
    types = malloc(sizeof(*types) * (size_t)n);
    if (!strs || !lens || !types) {
        fy_log(FY_LOG_ERR, "%s: out of memory for %lld tokens", fy_gguf_path(g, 0), (long long)n);
        st = FY_E_NOMEM;
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        struct fy_gguf_str s;
        int64_t ty;
        st = fy_gguf_arr_str(kt, (uint64_t)i, &s);
        if (st == FY_OK)
            st = fy_gguf_arr_int(ky, (uint64_t)i, &ty);
        if (st != FY_OK) {
            fy_log(FY_LOG_ERR, "%s: tokenizer entry %lld unreadable", fy_gguf_path(g, 0),
                   (long long)i);
            st = FY_E_FORMAT;
            goto fail;
        }
        strs[i] = s.ptr;
        lens[i] = s.len;
        types[i] = ty < INT32_MIN || ty > INT32_MAX ? 0 : (int32_t)ty;
    }
    st = fy_tokenizer_from_strings(strs, lens, types, n, out);
    if (st != FY_OK)
        fy_log(FY_LOG_ERR, "%s: tokenizer not loaded", fy_gguf_path(g, 0));
fail:
    free(strs);
    free(lens);
    free(types);
    return st;
}

void fy_tokenizer_free(struct fy_tokenizer *t)
{
    if (!t)
        return;
    fy_tok_regex_free(t);
    free(t->bpe.slots);
    free(t->named.slots);
    free(t->specials);
    free(t->blob);
    free(t->off);
    free(t->types);
    free(t);
}

int64_t fy_tokenizer_n_vocab(const struct fy_tokenizer *t)
{
    return t ? t->n_vocab : 0;
}

/* ---- lookup ---- */

int32_t fy_tokenizer_special(const struct fy_tokenizer *t, const char *name)
{
    if (!t || !name)
        return -1;
    return fy_tok_map_find(t, &t->named, (const uint8_t *)name, strlen(name));
}

const uint8_t *fy_token_bytes(const struct fy_tokenizer *t, int32_t id, size_t *len)
{
    if (!t || id < 0 || id >= t->n_vocab) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = (size_t)(t->off[id + 1] - t->off[id]);
    return t->blob + t->off[id];
}

/* ---- id vectors ---- */

void fy_tokens_free(struct fy_tokens *v)
{
    if (!v)
        return;
    free(v->ids);
    v->ids = NULL;
    v->n = 0;
    v->cap = 0;
}

fy_status fy_tokens_push(struct fy_tokens *v, int32_t id)
{
    FY_CHECK_ARG(v);
    if (v->n == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, sizeof(*p) * (size_t)cap);
        if (!p)
            return FY_E_NOMEM;
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return FY_OK;
}

/* ---- streaming detokenization ---- */

/* Writes src[0..n) to out at *k (room: cap - 1), invalid sequences as U+FFFD (raw bytes when the
 * replacement does not fit, which cap >= 256 + 8 rules out for any sane stream). */
static void put_checked(const uint8_t *src, size_t n, char *out, size_t cap, size_t *k)
{
    static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    for (size_t i = 0; i < n;) {
        size_t adv;
        int r = fy_tok_utf8_seq(src + i, n - i, &adv);
        if (r > 0) {
            if (*k + adv > cap - 1)
                return;
            memcpy(out + *k, src + i, adv);
            *k += adv;
        } else if (*k + 3 <= cap - 1) {
            memcpy(out + *k, fffd, 3);
            *k += 3;
        } else {
            size_t m = adv < cap - 1 - *k ? adv : cap - 1 - *k;
            memcpy(out + *k, src + i, m);
            *k += m;
        }
        i += adv;
    }
}

size_t fy_detok_push(struct fy_detok *d, const struct fy_tokenizer *t, int32_t id, char *out,
                     size_t cap)
{
    uint8_t buf[8 + FY_TOK_MAX_BYTES];
    size_t n, len, k = 0;

    if (!d || !out || cap == 0)
        return 0;
    out[0] = '\0';
    const uint8_t *p = fy_token_bytes(t, id, &len);
    if (!p)
        return 0;
    n = (size_t)(d->n_pending > 0 && d->n_pending <= 8 ? d->n_pending : 0);
    memcpy(buf, d->pending, n);
    memcpy(buf + n, p, len);
    n += len;
    /* hold back a valid but incomplete sequence at the end (at most 3 bytes) */
    size_t hold = 0;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = buf[n - back];
        if ((c & 0xC0) != 0x80) {
            size_t adv;
            if (fy_tok_utf8_seq(buf + n - back, back, &adv) == 0)
                hold = back;
            break;
        }
    }
    put_checked(buf, n - hold, out, cap, &k);
    memcpy(d->pending, buf + n - hold, hold);
    d->n_pending = (int)hold;
    out[k] = '\0';
    return k;
}

size_t fy_detok_flush(struct fy_detok *d, char *out, size_t cap)
{
    size_t k = 0;
    if (!d || !out || cap == 0)
        return 0;
    size_t n = (size_t)(d->n_pending > 0 && d->n_pending <= 8 ? d->n_pending : 0);
    put_checked(d->pending, n, out, cap, &k);
    d->n_pending = 0;
    out[k] = '\0';
    return k;
}
