/* o200k_harmony vocabulary for gpt-oss GGUFs: rank file -> token strings, types, merges.
 *
 * Token strings (tokenizer.md §3): ids 0..N-1 are the rank file's tokens, each byte mapped through
 * GPT-2's bytes_to_unicode and written as UTF-8; ids N..N+20 the harmony specials (§6); the rest
 * "[PAD<id>]". Merges are HF's "all valid splits": for every token T of >= 2 bytes (in rank order)
 * and every cut i, (T[:i], T[i:]) when both halves are tokens, ordered by (rank(left),
 * rank(right)) within T. */
#include "vocab_o200k.h"
#include "infile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- GPT-2 bytes_to_unicode ---- */

static int byte_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* Code point standing in for byte b: b itself when printable, else 256 + (index of b among the
 * 68 non-printable bytes, in byte order). */
static unsigned byte_codepoint(unsigned b)
{
    if (byte_printable(b))
        return b;
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++)
        n += !byte_printable(c);
    return 256 + n;
}

int fy_byte_to_unicode(uint8_t b, char out[2])
{
    unsigned cp = byte_codepoint(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

struct b2u {
    char s[256][2];
    uint8_t n[256];
};

static void b2u_init(struct b2u *t)
{
    for (unsigned b = 0; b < 256; b++)
        t->n[b] = (uint8_t)fy_byte_to_unicode((uint8_t)b, t->s[b]);
}

static size_t b2u_put(const struct b2u *t, const uint8_t *src, size_t n, char *dst)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        dst[k] = t->s[src[i]][0];
        if (t->n[src[i]] == 2)
            dst[k + 1] = t->s[src[i]][1];
        k += t->n[src[i]];
    }
    return k;
}

/* ---- specials ---- */

void fy_o200k_special_name(int64_t n_base, int k, char *buf, size_t cap)
{
    static const char *const named[FY_O200K_N_SPECIAL] = {
        [0] = "<|startoftext|>", [1] = "<|endoftext|>", [4] = "<|return|>",
        [5] = "<|constrain|>", [7] = "<|channel|>", [8] = "<|start|>", [9] = "<|end|>",
        [10] = "<|message|>", [14] = "<|call|>", [20] = "<|endofprompt|>",
    };
    if (k >= 0 && k < FY_O200K_N_SPECIAL && named[k])
        snprintf(buf, cap, "%s", named[k]);
    else
        snprintf(buf, cap, "<|reserved_%lld|>", (long long)(n_base + k));
}

/* ---- bytes -> rank hash table (open addressing, linear probing) ---- */

struct rank_ht {
    int32_t *slot;  /* rank, or -1 */
    uint64_t mask;
    const uint8_t *raw;
    const uint64_t *off;  /* token r is raw[off[r] .. off[r+1]) */
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* Returns the rank of bytes p[0..n), or -1. */
static int32_t ht_find(const struct rank_ht *t, const uint8_t *p, size_t n)
{
    for (uint64_t i = hash_bytes(p, n) & t->mask;; i = (i + 1) & t->mask) {
        int32_t r = t->slot[i];
        if (r < 0)
            return -1;
        if (t->off[r + 1] - t->off[r] == n && !memcmp(t->raw + t->off[r], p, n))
            return r;
    }
}

/* Inserts rank r; returns the rank already holding the same bytes, or -1. */
static int32_t ht_insert(struct rank_ht *t, int32_t r)
{
    const uint8_t *p = t->raw + t->off[r];
    size_t n = t->off[r + 1] - t->off[r];
    for (uint64_t i = hash_bytes(p, n) & t->mask;; i = (i + 1) & t->mask) {
        int32_t q = t->slot[i];
        if (q < 0) {
            t->slot[i] = r;
            return -1;
        }
        if (t->off[q + 1] - t->off[q] == n && !memcmp(t->raw + t->off[q], p, n))
            return q;
    }
}

/* ---- rank file parsing ---- */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes padded base64 s[0..n) into dst; returns the byte count or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *dst)
{
    if (n == 0 || n % 4)
        return -1;
    long k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else {
                if (pad)
                    return -1;  /* data after '=' */
                v[j] = b64_val(c);
                if (v[j] < 0)
                    return -1;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        dst[k++] = (uint8_t)(x >> 16);
        if (pad < 2)
            dst[k++] = (uint8_t)(x >> 8);
        if (pad < 1)
            dst[k++] = (uint8_t)x;
    }
    return k;
}

/* Parses the rank file into raw token bytes. *raw_out holds the concatenated bytes, *off_out
 * (n + 1 entries) the boundaries. */
static fy_status parse_ranks(const char *path, const char *text, size_t size, uint8_t **raw_out,
                             uint64_t **off_out, int64_t *n_out)
{
    uint8_t *raw = malloc(size / 4 * 3 + 16);
    int64_t cap = 1 << 18, n = 0;
    uint64_t *off = malloc((size_t)(cap + 1) * sizeof(*off));
    uint64_t used = 0;
    fy_status st = FY_E_FORMAT;
    const char *p = text, *end = text + size;
    long line = 0;

    if (!raw || !off) {
        st = FY_E_NOMEM;
        goto fail;
    }
    off[0] = 0;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p) {
            if (!eol || eol + 1 == end)
                break;  /* final empty line */
            fy_log(FY_LOG_ERR, "%s:%ld: empty line", path, line);
            goto fail;
        }
        const char *sp = memchr(p, ' ', (size_t)(le - p));
        if (!sp) {
            fy_log(FY_LOG_ERR, "%s:%ld: expected \"<base64 token> <rank>\"", path, line);
            goto fail;
        }
        long k = b64_decode(p, (size_t)(sp - p), raw + used);
        if (k <= 0) {
            fy_log(FY_LOG_ERR, "%s:%ld: bad base64 token \"%.*s\"", path, line,
                   (int)(sp - p < 40 ? sp - p : 40), p);
            goto fail;
        }
        const char *q = sp + 1;
        int64_t rank = 0;
        if (q == le) {
            fy_log(FY_LOG_ERR, "%s:%ld: missing rank", path, line);
            goto fail;
        }
        for (; q < le; q++) {
            if (*q < '0' || *q > '9' || rank > (int64_t)1 << 40) {
                fy_log(FY_LOG_ERR, "%s:%ld: bad rank \"%.*s\"", path, line, (int)(le - sp - 1),
                       sp + 1);
                goto fail;
            }
            rank = rank * 10 + (*q - '0');
        }
        if (rank != n) {
            fy_log(FY_LOG_ERR, "%s:%ld: rank %lld out of order (expected %lld: ranks must be "
                   "0..N-1, one per line, in order)", path, line, (long long)rank, (long long)n);
            goto fail;
        }
        if (n == INT32_MAX - 1) {
            fy_log(FY_LOG_ERR, "%s:%ld: too many tokens", path, line);
            goto fail;
        }
        if (n == cap) {
            uint64_t *o = realloc(off, (size_t)(2 * cap + 1) * sizeof(*off));
            if (!o) {
                st = FY_E_NOMEM;
                goto fail;
            }
            off = o;
            cap *= 2;
        }
        used += (uint64_t)k;
        off[++n] = used;
        p = eol ? eol + 1 : end;
    }
    if (n == 0) {
        fy_log(FY_LOG_ERR, "%s: no tokens", path);
        goto fail;
    }
    *raw_out = raw;
    *off_out = off;
    *n_out = n;
    return FY_OK;
fail:
    free(raw);
    free(off);
    return st;
}

/* ---- building the GGUF arrays ---- */

static fy_status alloc_arrays(struct fy_vocab_o200k *v, int64_t n_vocab)
{
    v->n_vocab = n_vocab;
    v->tokens = calloc((size_t)n_vocab, sizeof(*v->tokens));
    v->token_lens = calloc((size_t)n_vocab, sizeof(*v->token_lens));
    v->token_types = calloc((size_t)n_vocab, sizeof(*v->token_types));
    return v->tokens && v->token_lens && v->token_types ? FY_OK : FY_E_NOMEM;
}

/* Fills ids n_base.. with the specials and pads, writing their text at blob + *used. The blob
 * must have room for (n_vocab - n_base) * 32 bytes. Offsets go to token_lens temporarily. */
static void put_specials(struct fy_vocab_o200k *v, char *blob, uint64_t *used, uint64_t *offs)
{
    for (int64_t id = v->n_base; id < v->n_vocab; id++) {
        int64_t k = id - v->n_base;
        char s[48];
        if (k < FY_O200K_N_SPECIAL) {
            fy_o200k_special_name(v->n_base, (int)k, s, sizeof(s));
            v->token_types[id] = FY_TOKEN_CONTROL;
        } else {
            snprintf(s, sizeof(s), "[PAD%lld]", (long long)id);
            v->token_types[id] = FY_TOKEN_UNUSED;
        }
        size_t n = strlen(s);
        memcpy(blob + *used, s, n);
        offs[id] = *used;
        v->token_lens[id] = n;
        *used += n;
    }
}

static void set_token_ptrs(struct fy_vocab_o200k *v, const uint64_t *offs)
{
    for (int64_t id = 0; id < v->n_vocab; id++)
        v->tokens[id] = v->tok_blob + offs[id];
}

struct pair {
    int32_t l, r;
    uint32_t cut;
};

static int pair_less(const struct pair *a, const struct pair *b)
{
    return a->l != b->l ? a->l < b->l : a->r < b->r;
}

static fy_status build_merges(struct fy_vocab_o200k *v, const struct rank_ht *ht,
                              const struct b2u *u)
{
    const uint8_t *raw = ht->raw;
    const uint64_t *off = ht->off;
    int64_t cap = 1 << 19, n = 0;
    size_t bcap = (size_t)1 << 23, bused = 0;
    uint64_t *moff = malloc((size_t)cap * sizeof(*moff));
    uint64_t *mlen = malloc((size_t)cap * sizeof(*mlen));
    char *blob = malloc(bcap);
    struct pair *pp = NULL;
    size_t pcap = 0;
    fy_status st = FY_E_NOMEM;

    if (!moff || !mlen || !blob)
        goto fail;
    for (int64_t t = 0; t < v->n_base; t++) {
        const uint8_t *p = raw + off[t];
        size_t len = off[t + 1] - off[t];
        if (len < 2)
            continue;
        if (pcap < len) {
            struct pair *q = realloc(pp, len * sizeof(*pp));
            if (!q)
                goto fail;
            pp = q;
            pcap = len;
        }
        size_t np = 0;
        for (size_t i = 1; i < len; i++) {
            int32_t l = ht_find(ht, p, i);
            if (l < 0)
                continue;
            int32_t r = ht_find(ht, p + i, len - i);
            if (r < 0)
                continue;
            struct pair x = {l, r, (uint32_t)i};
            size_t j = np++;
            while (j > 0 && pair_less(&x, &pp[j - 1])) {  /* insertion sort: np <= 127 */
                pp[j] = pp[j - 1];
                j--;
            }
            pp[j] = x;
        }
        for (size_t j = 0; j < np; j++) {
            if (bused + 2 * len + 1 > bcap) {
                char *b = realloc(blob, 2 * bcap);
                if (!b)
                    goto fail;
                blob = b;
                bcap *= 2;
            }
            if (n == cap) {
                uint64_t *a = realloc(moff, (size_t)(2 * cap) * sizeof(*moff));
                if (!a)
                    goto fail;
                moff = a;
                uint64_t *b = realloc(mlen, (size_t)(2 * cap) * sizeof(*mlen));
                if (!b)
                    goto fail;
                mlen = b;
                cap *= 2;
            }
            size_t k = b2u_put(u, p, pp[j].cut, blob + bused);
            blob[bused + k++] = ' ';
            k += b2u_put(u, p + pp[j].cut, len - pp[j].cut, blob + bused + k);
            moff[n] = bused;
            mlen[n] = k;
            bused += k;
            n++;
        }
    }
    v->merges = malloc((size_t)(n ? n : 1) * sizeof(*v->merges));
    if (!v->merges)
        goto fail;
    for (int64_t i = 0; i < n; i++)
        v->merges[i] = blob + moff[i];
    v->merge_blob = blob;
    v->merge_lens = mlen;
    v->n_merges = n;
    free(moff);
    free(pp);
    return FY_OK;
fail:
    free(moff);
    free(mlen);
    free(blob);
    free(pp);
    return st;
}

fy_status fy_vocab_o200k_load(const char *path, int64_t n_vocab, struct fy_vocab_o200k **out)
{
    struct fy_vocab_o200k *v = NULL;
    char *text = NULL;
    size_t size = 0;
    uint8_t *raw = NULL;
    uint64_t *off = NULL, *offs = NULL;
    int64_t n = 0;
    struct rank_ht ht = {0};
    struct b2u u;
    fy_status st;

    FY_CHECK_ARG(path && out);
    *out = NULL;
    if (n_vocab == 0)
        n_vocab = FY_O200K_N_VOCAB;
    st = fy_infile_read("vocabulary", path, FY_LIMIT_VOCAB_FILE, &text, &size);
    if (st != FY_OK)
        goto fail;
    st = parse_ranks(path, text, size, &raw, &off, &n);
    free(text);
    text = NULL;
    if (st != FY_OK)
        goto fail;
    if (n_vocab < n + FY_O200K_N_SPECIAL || n_vocab > INT32_MAX) {
        fy_log(FY_LOG_ERR, "%s: n_vocab %lld cannot hold the file's %lld tokens plus %d specials",
               path, (long long)n_vocab, (long long)n, FY_O200K_N_SPECIAL);
        st = FY_E_INVAL;
        goto fail;
    }
    if (n != FY_O200K_N_BASE)
        fy_log(FY_LOG_WARN, "%s: %lld tokens, not o200k_base's %d: special ids shift with it",
               path, (long long)n, FY_O200K_N_BASE);

    /* hash table, duplicate check */
    uint64_t tcap = 1;
    while (tcap < 2 * (uint64_t)n)
        tcap <<= 1;
    ht.slot = malloc(tcap * sizeof(*ht.slot));
    st = FY_E_NOMEM;
    if (!ht.slot)
        goto fail;
    memset(ht.slot, 0xff, tcap * sizeof(*ht.slot));
    ht.mask = tcap - 1;
    ht.raw = raw;
    ht.off = off;
    for (int64_t r = 0; r < n; r++) {
        int32_t q = ht_insert(&ht, (int32_t)r);
        if (q >= 0) {
            fy_log(FY_LOG_ERR, "%s:%lld: token of rank %lld repeats the token of rank %d (line %d)",
                   path, (long long)r + 1, (long long)r, q, q + 1);
            st = FY_E_FORMAT;
            goto fail;
        }
    }

    v = calloc(1, sizeof(*v));
    if (!v || alloc_arrays(v, n_vocab) != FY_OK)
        goto fail;
    v->n_base = n;
    offs = malloc((size_t)n_vocab * sizeof(*offs));
    v->tok_blob = malloc((size_t)(2 * off[n] + (uint64_t)(n_vocab - n) * 32 + 1));
    if (!offs || !v->tok_blob)
        goto fail;
    b2u_init(&u);
    uint64_t used = 0;
    for (int64_t r = 0; r < n; r++) {
        size_t k = b2u_put(&u, raw + off[r], off[r + 1] - off[r], v->tok_blob + used);
        offs[r] = used;
        v->token_lens[r] = k;
        v->token_types[r] = FY_TOKEN_NORMAL;
        used += k;
    }
    put_specials(v, v->tok_blob, &used, offs);
    set_token_ptrs(v, offs);
    v->bos_id = (uint32_t)n;
    v->pad_id = (uint32_t)n + 1;
    v->eos_id = (uint32_t)n + 4;

    st = build_merges(v, &ht, &u);
    if (st != FY_OK)
        goto fail;
    free(offs);
    free(ht.slot);
    free(raw);
    free(off);
    *out = v;
    return FY_OK;
fail:
    if (st == FY_OK)
        st = FY_E_NOMEM;
    free(text);
    free(offs);
    free(ht.slot);
    free(raw);
    free(off);
    fy_vocab_o200k_free(v);
    return st;
}

fy_status fy_vocab_o200k_toy(int64_t n_vocab, struct fy_vocab_o200k **out)
{
    struct fy_vocab_o200k *v = NULL;
    uint64_t *offs = NULL;
    fy_status st = FY_E_NOMEM;

    FY_CHECK_ARG(out);
    *out = NULL;
    if (n_vocab < 256 + FY_O200K_N_SPECIAL || n_vocab > INT32_MAX) {
        fy_log(FY_LOG_ERR, "toy vocabulary: n_vocab %lld must be at least %d", (long long)n_vocab,
               256 + FY_O200K_N_SPECIAL);
        return FY_E_INVAL;
    }
    v = calloc(1, sizeof(*v));
    if (!v || alloc_arrays(v, n_vocab) != FY_OK)
        goto fail;
    v->n_base = 256;
    v->toy = 1;
    offs = malloc((size_t)n_vocab * sizeof(*offs));
    v->tok_blob = malloc((size_t)(512 + (uint64_t)(n_vocab - 256) * 32 + 1));
    v->merges = malloc(sizeof(*v->merges));
    v->merge_lens = malloc(sizeof(*v->merge_lens));
    if (!offs || !v->tok_blob || !v->merges || !v->merge_lens)
        goto fail;
    /* o200k ranks 0..255: the printable bytes in byte order, then the other 68 in byte order */
    uint8_t order[256];
    int k = 0;
    for (unsigned b = 0; b < 256; b++)
        if (byte_printable(b))
            order[k++] = (uint8_t)b;
    for (unsigned b = 0; b < 256; b++)
        if (!byte_printable(b))
            order[k++] = (uint8_t)b;
    uint64_t used = 0;
    for (int id = 0; id < 256; id++) {
        int m = fy_byte_to_unicode(order[id], v->tok_blob + used);
        offs[id] = used;
        v->token_lens[id] = (uint64_t)m;
        v->token_types[id] = FY_TOKEN_NORMAL;
        used += (uint64_t)m;
    }
    put_specials(v, v->tok_blob, &used, offs);
    set_token_ptrs(v, offs);
    v->bos_id = 256;
    v->pad_id = 257;
    v->eos_id = 260;
    v->n_merges = 0;
    free(offs);
    *out = v;
    return FY_OK;
fail:
    free(offs);
    fy_vocab_o200k_free(v);
    return st;
}

void fy_vocab_o200k_free(struct fy_vocab_o200k *v)
{
    if (!v)
        return;
    free(v->tokens);
    free(v->token_lens);
    free(v->token_types);
    free(v->merges);
    free(v->merge_lens);
    free(v->tok_blob);
    free(v->merge_blob);
    free(v);
}
