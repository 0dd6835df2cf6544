/* Tokenization (tokenizer.md §4, §5): special-token split, PCRE2 pre-tokenization with OpenAI's
 * o200k pattern, and byte-level BPE with tiktoken's semantics.
 *
 * BPE of one piece: if the whole piece is a token, that is the answer. Otherwise start from single
 * bytes and repeatedly merge the adjacent pair whose concatenated bytes have the lowest rank
 * (= id; ties: leftmost) until no adjacent concatenation is a token. Short pieces use an
 * O(m^2) scan over an array of parts; long ones (1 MB of 'x' is one piece) a linked list of parts
 * and a queue of pairs bucketed by rank, invalidated lazily: O(m log m). Both give the same
 * merges, since a pair's rank identifies its bytes and the leftmost tie is the smallest start.
 *
 * Thread safety: the compiled pattern, the match context and the maps are read-only after load;
 * match data and scratch space belong to one fy_tokenize call. */
#include "tokenizer_priv.h"

#include <stdlib.h>
#include <string.h>

/* OpenAI's o200k pattern with \s -> \p{White_Space}, \S -> \P{White_Space} (tokenizer.md §4). */
static const char fy_o200k_pattern[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n/]*|\\p{White_Space}*[\\r\\n]+"
    "|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

#define FY_BPE_LONG_MIN 64 /* pieces of at least this many bytes take the bucket-queue path */

fy_status fy_tok_regex_init(struct fy_tokenizer *t)
{
    int err;
    PCRE2_SIZE erroff;
    t->re = pcre2_compile((PCRE2_SPTR)fy_o200k_pattern, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP, &err, &erroff, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        fy_log(FY_LOG_ERR, "tokenizer: pre-tokenizer pattern does not compile at offset %zu: %s",
               (size_t)erroff, (const char *)msg);
        return FY_E_UNSUPPORTED;
    }
    t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0;
    if (!t->jit)
        fy_log(FY_LOG_DEBUG, "tokenizer: PCRE2 JIT unavailable; using the interpreter");
    /* The pattern backtracks at most over one run of a character class, so matching is linear;
     * lift the limits so that megabyte runs are not refused. */
    t->mctx = pcre2_match_context_create(NULL);
    if (!t->mctx)
        return FY_E_NOMEM;
    pcre2_set_match_limit(t->mctx, UINT32_MAX);
    pcre2_set_depth_limit(t->mctx, UINT32_MAX);
    pcre2_set_heap_limit(t->mctx, UINT32_MAX);
    return FY_OK;
}

void fy_tok_regex_free(struct fy_tokenizer *t)
{
    pcre2_match_context_free(t->mctx);
    pcre2_code_free(t->re);
    t->mctx = NULL;
    t->re = NULL;
}

/* ---- BPE ---- */

#define BQ_NIL UINT32_MAX

/* One rank's bucket in the long-piece queue (see bpe_long). */
struct bq_bucket {
    int32_t rank;   /* FY_TOK_NONE: empty map slot */
    uint32_t head;  /* first entry of its list, or BQ_NIL */
    uint32_t base;  /* suspended: its run in w starts here ... */
    uint32_t next;  /* ... and continues from here (0: not suspended, else index + 1) */
    uint8_t queued; /* the rank is in the heap */
};

/* Long pieces: pending pair starts bucketed by rank. */
struct bpe_queue {
    uint32_t *e_pos, *e_next; /* entries: a pair start, the next entry of its bucket */
    size_t e_n, e_cap;
    uint32_t e_free;     /* recycled entries */
    struct bq_bucket *m; /* rank -> bucket, open addressing */
    uint32_t *m_used;    /* [m_n] occupied slots, to reset the map in O(m_n) */
    size_t m_n, m_cap;
    int32_t *h; /* min-heap of the queued ranks, capacity m_cap / 2 + 1 */
    size_t h_n;
    uint32_t *w; /* a stack of sorted runs: the bucket being merged on top */
    size_t w_n, w_cap;
};

/* Scratch space of one fy_tokenize call, grown as needed. */
struct bpe_scratch {
    size_t cap;    /* entries in each array below */
    uint32_t *a;   /* short: part starts; long: next part start */
    uint32_t *b;   /* long: previous part start */
    int32_t *rank; /* rank of the pair starting at part i (FY_TOK_NONE: none) */
    int32_t *id;   /* token of part i */
    struct bpe_queue q;
};

static void scratch_free(struct bpe_scratch *s)
{
    free(s->a);
    free(s->b);
    free(s->rank);
    free(s->id);
    free(s->q.e_pos);
    free(s->q.e_next);
    free(s->q.m);
    free(s->q.m_used);
    free(s->q.h);
    free(s->q.w);
}

static fy_status scratch_grow(struct bpe_scratch *s, size_t n)
{
    if (n <= s->cap)
        return FY_OK;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n)
        cap *= 2;
    uint32_t *a = realloc(s->a, cap * sizeof(*a));
    if (a)
        s->a = a;
    uint32_t *b = realloc(s->b, cap * sizeof(*b));
    if (b)
        s->b = b;
    int32_t *r = realloc(s->rank, cap * sizeof(*r));
    if (r)
        s->rank = r;
    int32_t *d = realloc(s->id, cap * sizeof(*d));
    if (d)
        s->id = d;
    if (!a || !b || !r || !d)
        return FY_E_NOMEM;
    s->cap = cap;
    return FY_OK;
}

static inline int32_t rank_of(const struct fy_tokenizer *t, const uint8_t *p, size_t n)
{
    if (n > t->max_bpe_len)
        return FY_TOK_NONE;
    int32_t id = fy_tok_map_find(t, &t->bpe, p, n);
    return id < 0 ? FY_TOK_NONE : id;
}

static fy_status emit(struct fy_tokens *out, const int32_t *ids, size_t n)
{
    if (out->n + (int64_t)n > out->cap) {
        int64_t cap = out->cap ? out->cap : 64;
        while (cap < out->n + (int64_t)n)
            cap *= 2;
        int32_t *p = realloc(out->ids, sizeof(*p) * (size_t)cap);
        if (!p)
            return FY_E_NOMEM;
        out->ids = p;
        out->cap = cap;
    }
    memcpy(out->ids + out->n, ids, n * sizeof(*ids));
    out->n += (int64_t)n;
    return FY_OK;
}

/* O(m^2) scan: parts in arrays, pos[0..k] their boundaries. */
static fy_status bpe_short(const struct fy_tokenizer *t, struct bpe_scratch *s, const uint8_t *p,
                           size_t m, struct fy_tokens *out)
{
    uint32_t *pos = s->a;
    int32_t *rank = s->rank, *id = s->id;
    size_t k = m;
    for (size_t i = 0; i <= m; i++)
        pos[i] = (uint32_t)i;
    for (size_t i = 0; i < m; i++)
        id[i] = t->byte_id[p[i]];
    for (size_t i = 0; i + 1 < m; i++)
        rank[i] = rank_of(t, p + i, 2);
    while (k > 1) {
        int32_t best = FY_TOK_NONE;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            if (rank[i] < best) {
                best = rank[i];
                bi = i;
            }
        }
        if (best == FY_TOK_NONE)
            break;
        id[bi] = best;
        /* drop boundary bi + 1 */
        memmove(pos + bi + 1, pos + bi + 2, (k - bi - 1) * sizeof(*pos));
        memmove(id + bi + 1, id + bi + 2, (k - bi - 2) * sizeof(*id));
        if (bi + 2 < k)
            memmove(rank + bi + 1, rank + bi + 2, (k - bi - 2 - 1) * sizeof(*rank));
        k--;
        if (bi + 1 < k)
            rank[bi] = rank_of(t, p + pos[bi], pos[bi + 2] - pos[bi]);
        if (bi > 0)
            rank[bi - 1] = rank_of(t, p + pos[bi - 1], pos[bi + 1] - pos[bi - 1]);
    }
    return emit(out, id, k);
}

/* ---- long pieces ----
 * Pending pairs are entries (rank, start) in per-rank buckets; a min-heap holds the ranks whose
 * buckets are non-empty. The lowest rank's bucket is taken whole, sorted by start, and merged
 * left to right, skipping stale entries (rank[start] no longer equal to the bucket's rank). A
 * merge never creates a pair of the rank being merged (a new pair's bytes strictly contain the
 * merged token), so the sorted bucket stays complete; when a merge creates a pair of lower rank,
 * the rest of the run is suspended (left on a stack of runs) and that rank is merged first. Each
 * step therefore merges the (lowest rank, leftmost) pair, as tiktoken does, in O(m log m) with
 * few heap operations on repetitive input (1 MiB of 'x' is ~5 buckets). A trained vocabulary
 * rarely suspends (o200k: never in the test vectors); tests/test_tokenizer.c forces it with a
 * shuffled-rank vocabulary. */

static void rheap_push(int32_t *h, size_t *n, int32_t r)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > r) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = r;
}

static int32_t rheap_pop(int32_t *h, size_t *n)
{
    int32_t top = h[0], key = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= key)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = key;
    return top;
}

static size_t bq_slot(const struct bpe_queue *q, int32_t r)
{
    size_t i = ((uint32_t)r * 0x9E3779B1u) & (q->m_cap - 1);
    while (q->m[i].rank != FY_TOK_NONE && q->m[i].rank != r)
        i = (i + 1) & (q->m_cap - 1);
    return i;
}

/* Doubles the rank map (and the heap with it). */
static fy_status bq_grow_map(struct bpe_queue *q)
{
    size_t cap = q->m_cap ? q->m_cap * 2 : 64;
    struct bq_bucket *m = malloc(cap * sizeof(*m));
    int32_t *h = realloc(q->h, (cap / 2 + 1) * sizeof(*h));
    if (h)
        q->h = h;
    uint32_t *used = realloc(q->m_used, (cap / 2 + 1) * sizeof(*used));
    if (used)
        q->m_used = used;
    if (!m || !h || !used) {
        free(m);
        return FY_E_NOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        m[i].rank = FY_TOK_NONE;
    struct bpe_queue nq = {.m = m, .m_cap = cap};
    for (size_t u = 0; u < q->m_n; u++) {
        size_t j = bq_slot(&nq, q->m[used[u]].rank);
        m[j] = q->m[used[u]];
        used[u] = (uint32_t)j;
    }
    free(q->m);
    q->m = m;
    q->m_cap = cap;
    return FY_OK;
}

static fy_status bq_push(struct bpe_queue *q, int32_t r, uint32_t pos)
{
    if ((q->m_n + 1) * 2 > q->m_cap && bq_grow_map(q) != FY_OK)
        return FY_E_NOMEM;
    uint32_t e = q->e_free;
    if (e != BQ_NIL) {
        q->e_free = q->e_next[e];
    } else {
        if (q->e_n == q->e_cap) {
            size_t cap = q->e_cap ? q->e_cap * 2 : 1024;
            uint32_t *ep = realloc(q->e_pos, cap * sizeof(*ep));
            if (ep)
                q->e_pos = ep;
            uint32_t *en = realloc(q->e_next, cap * sizeof(*en));
            if (en)
                q->e_next = en;
            if (!ep || !en || cap >= BQ_NIL)
                return FY_E_NOMEM;
            q->e_cap = cap;
        }
        e = (uint32_t)q->e_n++;
    }
    struct bq_bucket *b = &q->m[bq_slot(q, r)];
    if (b->rank == FY_TOK_NONE) {
        *b = (struct bq_bucket){.rank = r, .head = BQ_NIL};
        q->m_used[q->m_n++] = (uint32_t)(b - q->m);
    }
    q->e_pos[e] = pos;
    q->e_next[e] = b->head;
    b->head = e;
    if (!b->queued) {
        rheap_push(q->h, &q->h_n, r);
        b->queued = 1;
    }
    return FY_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Makes bucket b's run the top of the w stack, sorted ascending: its suspended run (which is
 * then on top: every run pushed since belongs to a lower rank, merged to completion before b is
 * popped again) followed by the entries of its list. Sets *lo, *cur: the run and where merging
 * resumes. */
static fy_status bq_take(struct bpe_queue *q, struct bq_bucket *b, size_t *lo, size_t *cur)
{
    size_t k = 0;
    for (uint32_t e = b->head; e != BQ_NIL; e = q->e_next[e])
        k++;
    if (q->w_n + k > q->w_cap) {
        size_t cap = q->w_cap ? q->w_cap : 256;
        while (cap < q->w_n + k)
            cap *= 2;
        uint32_t *w = realloc(q->w, cap * sizeof(*w));
        if (!w)
            return FY_E_NOMEM;
        q->w = w;
        q->w_cap = cap;
    }
    *lo = b->next ? b->base : q->w_n;
    *cur = b->next ? b->next - 1 : q->w_n;
    b->next = 0;
    b->queued = 0;
    uint32_t *w = q->w + q->w_n;
    for (uint32_t e = b->head, nx; e != BQ_NIL; e = nx) {
        nx = q->e_next[e];
        *w++ = q->e_pos[e];
        q->e_next[e] = q->e_free;
        q->e_free = e;
    }
    b->head = BQ_NIL;
    /* lists are pushed front, mostly during left-to-right sweeps: usually descending */
    w = q->w + q->w_n;
    size_t up = 0, down = 0;
    for (size_t j = 1; j < k; j++) {
        up += w[j] > w[j - 1];
        down += w[j] < w[j - 1];
    }
    if (up == 0) {
        for (size_t x = 0, y = k ? k - 1 : 0; x < y; x++, y--) {
            uint32_t v = w[x];
            w[x] = w[y];
            w[y] = v;
        }
    } else if (down != 0) {
        qsort(w, k, sizeof(*w), cmp_u32);
    }
    q->w_n += k;
    if (k && *cur < q->w_n - k) /* a resumed run gained entries: merge the two runs */
        qsort(q->w + *cur, q->w_n - *cur, sizeof(*w), cmp_u32);
    return FY_OK;
}

/* Parts as a linked list over byte offsets (next/prev); pending pairs in the bucket queue. */
static fy_status bpe_long(const struct fy_tokenizer *t, struct bpe_scratch *s, const uint8_t *p,
                          size_t m, struct fy_tokens *out)
{
    uint32_t *next = s->a, *prev = s->b;
    int32_t *rank = s->rank, *id = s->id;
    struct bpe_queue *q = &s->q;
    fy_status st = FY_OK;

    /* reset the queue, keeping its memory */
    q->e_n = 0;
    q->e_free = BQ_NIL;
    q->h_n = 0;
    q->w_n = 0;
    for (size_t u = 0; u < q->m_n; u++)
        q->m[q->m_used[u]].rank = FY_TOK_NONE;
    q->m_n = 0;
    for (size_t i = 0; i < m; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)(i - 1); /* prev[0] unused */
        id[i] = t->byte_id[p[i]];
        rank[i] = i + 1 < m ? rank_of(t, p + i, 2) : FY_TOK_NONE;
        if (rank[i] != FY_TOK_NONE && (st = bq_push(q, rank[i], (uint32_t)i)) != FY_OK)
            return st;
    }
    while (q->h_n) {
        int32_t r = rheap_pop(q->h, &q->h_n);
        size_t lo, c;
        if ((st = bq_take(q, &q->m[bq_slot(q, r)], &lo, &c)) != FY_OK)
            return st;
        for (; c < q->w_n; c++) {
            uint32_t i = q->w[c];
            if (rank[i] != r)
                continue; /* stale: the pair at i changed, or part i was merged away */
            uint32_t j = next[i];
            id[i] = r;
            next[i] = next[j];
            rank[j] = FY_TOK_NONE;
            rank[i] = FY_TOK_NONE;
            if (next[i] < m) {
                prev[next[i]] = i;
                rank[i] = rank_of(t, p + i, next[next[i]] - i);
                if (rank[i] != FY_TOK_NONE && (st = bq_push(q, rank[i], i)) != FY_OK)
                    return st;
            }
            if (i > 0) {
                uint32_t h = prev[i];
                rank[h] = rank_of(t, p + h, next[i] - h);
                if (rank[h] != FY_TOK_NONE && (st = bq_push(q, rank[h], h)) != FY_OK)
                    return st;
            }
            if (q->h_n && q->h[0] < r && c + 1 < q->w_n) {
                /* a lower rank appeared: suspend this run, merge that rank first */
                struct bq_bucket *b = &q->m[bq_slot(q, r)];
                b->base = (uint32_t)lo;
                b->next = (uint32_t)(c + 2);
                if (!b->queued) {
                    rheap_push(q->h, &q->h_n, r);
                    b->queued = 1;
                }
                break;
            }
        }
        if (c >= q->w_n)
            q->w_n = lo; /* run done: pop it */
    }
    /* compact the surviving parts into id[] */
    size_t k = 0;
    for (size_t i = 0; i < m; i = next[i])
        id[k++] = id[i];
    return emit(out, id, k);
}

static fy_status bpe_piece(const struct fy_tokenizer *t, struct bpe_scratch *s, const uint8_t *p,
                           size_t m, struct fy_tokens *out)
{
    int32_t whole = rank_of(t, p, m);
    if (whole != FY_TOK_NONE)
        return emit(out, &whole, 1);
    if (m > UINT32_MAX - 2) {
        fy_log(FY_LOG_ERR, "tokenizer: a single pre-token of %zu bytes is too long", m);
        return FY_E_INVAL;
    }
    fy_status st = scratch_grow(s, m + 1);
    if (st != FY_OK)
        return st;
    return m < FY_BPE_LONG_MIN ? bpe_short(t, s, p, m, out) : bpe_long(t, s, p, m, out);
}

/* ---- pre-tokenization ---- */

/* Calls piece() for each pre-token; out == NULL counts them in *n_pieces instead. */
static fy_status piece_out(const struct fy_tokenizer *t, struct bpe_scratch *s, const uint8_t *p,
                           size_t n, struct fy_tokens *out, int64_t *n_pieces)
{
    if (!out) {
        (*n_pieces)++;
        return FY_OK;
    }
    return bpe_piece(t, s, p, n, out);
}

/* encode_ordinary of text[0..len), already validated UTF-8. */
static fy_status encode_ordinary(const struct fy_tokenizer *t, pcre2_match_data *md,
                                 struct bpe_scratch *s, const uint8_t *text, size_t len,
                                 struct fy_tokens *out, int64_t *n_pieces)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t at = 0;
    fy_status st;
    while (at < len) {
        int rc;
        if (t->jit)
            rc = pcre2_jit_match(t->re, text, len, at, PCRE2_NO_UTF_CHECK, md, t->mctx);
        else
            rc = pcre2_match(t->re, text, len, at, PCRE2_NO_UTF_CHECK, md, t->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(t->re, text, len, at, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, t->mctx);
        size_t ms, me;
        if (rc == PCRE2_ERROR_NOMATCH) {
            ms = me = len;
        } else if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof(msg));
            fy_log(FY_LOG_ERR, "tokenizer: pre-tokenizer match at byte %zu failed: %s", at,
                   (const char *)msg);
            return rc == PCRE2_ERROR_NOMEMORY ? FY_E_NOMEM : FY_E_INVAL;
        } else {
            ms = ov[0];
            me = ov[1];
        }
        /* The pattern matches at every position, so there are no gaps and no empty matches;
         * should one occur, its text is encoded as a piece of its own rather than dropped. */
        if (ms > at && (st = piece_out(t, s, text + at, ms - at, out, n_pieces)) != FY_OK)
            return st;
        if (me <= ms) {
            if (ms >= len)
                break;
            size_t adv;
            fy_tok_utf8_seq(text + ms, len - ms, &adv);
            me = ms + adv;
        }
        if ((st = piece_out(t, s, text + ms, me - ms, out, n_pieces)) != FY_OK)
            return st;
        at = me;
    }
    return FY_OK;
}

static fy_status check_utf8(const uint8_t *u, size_t len, const char *fn)
{
    for (size_t i = 0; i < len;) {
        size_t adv;
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        if (fy_tok_utf8_seq(u + i, len - i, &adv) != 1) {
            fy_log(FY_LOG_ERR, "%s: invalid UTF-8 at byte %zu (0x%02x)", fn, i, u[i]);
            return FY_E_INVAL;
        }
        i += adv;
    }
    return FY_OK;
}

fy_status fy_tok_pretokenize(const struct fy_tokenizer *t, const char *text, size_t len,
                             int64_t *n_pieces)
{
    FY_CHECK_ARG(t && n_pieces && (text || len == 0));
    *n_pieces = 0;
    FY_TRY(check_utf8((const uint8_t *)text, len, __func__));
    if (len == 0)
        return FY_OK;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (!md)
        return FY_E_NOMEM;
    fy_status st = encode_ordinary(t, md, NULL, (const uint8_t *)text, len, NULL, n_pieces);
    pcre2_match_data_free(md);
    return st;
}

/* Id of the special token whose string starts at p (n bytes left), or -1; the longest wins.
 * A "<|name|>" special (no '|' in name) is the only one of that form that can start at p: the
 * text up to the first '|' after "<|", plus '>'. It is looked up in the named map, so the 1,090
 * o200k_harmony specials (reserved ones included) cost one lookup; the others are scanned. */
static int32_t special_at(const struct fy_tokenizer *t, const uint8_t *p, size_t n)
{
    int32_t best = -1;
    size_t best_len = 0;
    if (t->n_bar_specials && n >= 4 && p[0] == '<' && p[1] == '|') {
        size_t lim = n < FY_TOK_MAX_BYTES ? n : FY_TOK_MAX_BYTES;
        const uint8_t *bar = memchr(p + 2, '|', lim - 2);
        if (bar && (size_t)(bar - p) + 1 < lim && bar[1] == '>') {
            size_t len = (size_t)(bar - p) + 2;
            int32_t id = fy_tok_map_find(t, &t->named, p, len);
            if (id >= 0 && (t->types[id] == 3 || t->types[id] == 4)) {
                best = id;
                best_len = len;
            }
        }
    }
    for (int64_t k = 0; k < t->n_specials; k++) {
        int32_t id = t->specials[k];
        size_t len = (size_t)(t->off[id + 1] - t->off[id]);
        const uint8_t *sp = t->blob + t->off[id];
        if (len <= best_len)
            break; /* longest first */
        if (len <= n && sp[0] == p[0] && !memcmp(sp, p, len))
            return id;
    }
    return best;
}

fy_status fy_tokenize(const struct fy_tokenizer *t, const char *text, size_t len, bool special,
                      struct fy_tokens *out)
{
    struct bpe_scratch s = {0};
    pcre2_match_data *md = NULL;
    const uint8_t *u = (const uint8_t *)text;
    fy_status st = FY_OK;

    FY_CHECK_ARG(t && out && (text || len == 0));
    int64_t n0 = out->n;
    FY_TRY(check_utf8(u, len, __func__));
    if (len == 0)
        return FY_OK;
    md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (!md) {
        st = FY_E_NOMEM;
        goto fail;
    }
    size_t seg = 0;
    if (special && (t->n_specials || t->n_bar_specials)) {
        for (size_t i = 0; i < len; i++) {
            if (!t->special_first[u[i]])
                continue;
            int32_t id = special_at(t, u + i, len - i);
            if (id < 0)
                continue;
            st = encode_ordinary(t, md, &s, u + seg, i - seg, out, NULL);
            if (st == FY_OK)
                st = fy_tokens_push(out, id);
            if (st != FY_OK)
                goto fail;
            i += (size_t)(t->off[id + 1] - t->off[id]) - 1;
            seg = i + 1;
        }
    }
    st = encode_ordinary(t, md, &s, u + seg, len - seg, out, NULL);
    if (st != FY_OK)
        goto fail;
    pcre2_match_data_free(md);
    scratch_free(&s);
    return FY_OK;
fail:
    out->n = n0;
    pcre2_match_data_free(md);
    scratch_free(&s);
    return st;
}
