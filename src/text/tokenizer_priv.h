/* Internals of the tokenizer (tokenizer.c: loading, lookup, detokenization; tokenizer_bpe.c:
 * pre-tokenization and BPE). */
#ifndef FY_TOKENIZER_PRIV_H
#define FY_TOKENIZER_PRIV_H

#include "tokenizer.h"

#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define FY_TOK_MAX_BYTES 256  /* longest token accepted (o200k: 128); fy_detok_push relies on it */
#define FY_TOK_NONE INT32_MAX /* "no token" rank */

/* Open-addressing map (linear probing, load <= 1/2) from token bytes to id. A slot holds the
 * first 8 bytes of its token, so most lookups touch one cache line and no token blob. */
struct fy_tok_slot {
    uint64_t w; /* bytes 0..7 of the token, zero-padded */
    int32_t id; /* -1: empty */
    uint16_t len;
    uint16_t tag; /* 16 more bits of the hash */
};

struct fy_tok_map {
    struct fy_tok_slot *slots;
    uint64_t mask;
};

struct fy_tokenizer {
    int64_t n_vocab;
    uint8_t *blob;           /* every token's bytes, back to back */
    uint64_t *off;           /* [n_vocab + 1] token i is blob[off[i] .. off[i+1]) */
    int32_t *types;          /* [n_vocab] token types as given, except "[PAD<id>]" -> 3 */
    struct fy_tok_map bpe;   /* type-1 (normal) tokens: bytes -> id = rank */
    struct fy_tok_map named; /* every other token: literal string -> id (fy_tokenizer_special) */
    size_t max_bpe_len;      /* longest normal token, bytes */
    int32_t byte_id[256];    /* the token of each single byte */
    int32_t *specials;       /* [n_specials] specials (control 3, user-defined 4) other than
                              * "<|name|>" ones (no '|' in name), longest first: scanned */
    int64_t n_specials;
    int64_t n_bar_specials;     /* "<|name|>" specials (all of o200k's): one lookup in named */
    uint8_t special_first[256]; /* 1 where some special string starts with that byte */
    pcre2_code *re;
    pcre2_match_context *mctx;
    int jit; /* 1 when the pattern is JIT-compiled */
};

/* Hash of p[0..n); *w gets the first min(n, 8) bytes, zero-padded. */
static inline uint64_t fy_tok_key(const uint8_t *p, size_t n, uint64_t *w)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t x = 0;
    if (n >= 8) {
        memcpy(&x, p, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        x = a | (uint64_t)b << ((n - 4) * 8);
    } else if (n >= 2) {
        uint16_t a, b;
        memcpy(&a, p, 2);
        memcpy(&b, p + n - 2, 2);
        x = a | (uint64_t)b << ((n - 2) * 8);
    } else if (n == 1) {
        x = p[0];
    }
    *w = x;
    uint64_t h = (x ^ (n * 0xD6E8FEB86659FD93ull)) * k;
    for (size_t i = 8; i < n; i += 8) {
        uint64_t y = 0;
        memcpy(&y, p + i, n - i < 8 ? n - i : 8);
        h = ((h ^ (h >> 29)) ^ y) * k;
    }
    h ^= h >> 32;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 29);
}

/* Id of the token with exactly these bytes in map m, or -1. */
static inline int32_t fy_tok_map_find(const struct fy_tokenizer *t, const struct fy_tok_map *m,
                                      const uint8_t *p, size_t n)
{
    uint64_t w;
    uint64_t h = fy_tok_key(p, n, &w);
    uint16_t tag = (uint16_t)(h >> 48);
    for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const struct fy_tok_slot *s = &m->slots[i];
        if (s->id < 0)
            return -1;
        if (s->w == w && s->len == n && s->tag == tag &&
            (n <= 8 || !memcmp(t->blob + t->off[s->id] + 8, p + 8, n - 8)))
            return s->id;
    }
}

/* UTF-8 sequence at p (n bytes available): 1 with *adv = its length when complete and valid,
 * 0 when it is a valid but incomplete prefix (*adv = n), -1 when invalid (*adv = the length of the
 * maximal ill-formed subpart, >= 1). */
int fy_tok_utf8_seq(const uint8_t *p, size_t n, size_t *adv);

/* tokenizer_bpe.c */
fy_status fy_tok_regex_init(struct fy_tokenizer *t);
void fy_tok_regex_free(struct fy_tokenizer *t);
/* Pre-tokenization alone (PCRE2 split, no BPE): counts the pieces of text. For benchmarks. */
fy_status fy_tok_pretokenize(const struct fy_tokenizer *t, const char *text, size_t len,
                             int64_t *n_pieces);

#endif
