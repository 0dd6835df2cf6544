/* A minimal JSON reader for ferry's test-vector files: the whole document becomes a tree of
 * nodes. Strings are decoded to UTF-8 (\u escapes, surrogate pairs); numbers are doubles. No
 * streaming and no error recovery: enough for committed, machine-written files. */
#ifndef FY_JSON_MIN_H
#define FY_JSON_MIN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum fy_json_type {
    FY_JSON_NULL,
    FY_JSON_BOOL,
    FY_JSON_NUM,
    FY_JSON_STR,
    FY_JSON_ARR,
    FY_JSON_OBJ
};

struct fy_json {
    enum fy_json_type type;
    double num;            /* NUM; BOOL: 0 or 1 */
    char *str;             /* STR: NUL-terminated UTF-8 (may hold NUL bytes: use len) */
    size_t len;            /* STR: bytes; ARR/OBJ: entries */
    struct fy_json *items; /* ARR elements / OBJ values */
    char **keys;           /* OBJ keys */
};

struct fy_json_parser {
    const char *p, *end;
    const char *err;
};

static inline void fy_json_free_node(struct fy_json *j)
{
    if (j->type == FY_JSON_STR)
        free(j->str);
    if (j->type == FY_JSON_ARR || j->type == FY_JSON_OBJ) {
        for (size_t i = 0; i < j->len; i++) {
            fy_json_free_node(&j->items[i]);
            if (j->keys)
                free(j->keys[i]);
        }
        free(j->items);
        free(j->keys);
    }
}

static inline void fy_json_free(struct fy_json *j)
{
    if (!j)
        return;
    fy_json_free_node(j);
    free(j);
}

static inline void fy_json_ws(struct fy_json_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static inline int fy_json_hex4(struct fy_json_parser *ps, unsigned *out)
{
    unsigned v = 0;
    if (ps->end - ps->p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static inline size_t fy_json_put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string at ps->p (the opening quote); returns malloc'd UTF-8 or NULL. */
static inline char *fy_json_str(struct fy_json_parser *ps, size_t *len)
{
    const char *q = ++ps->p;
    while (q < ps->end && *q != '"')
        q += (*q == '\\') ? 2 : 1;
    if (q >= ps->end) {
        ps->err = "unterminated string";
        return NULL;
    }
    char *s = malloc((size_t)(q - ps->p) + 1), *d = s;
    if (!s) {
        ps->err = "out of memory";
        return NULL;
    }
    while (ps->p < q) {
        char c = *ps->p++;
        if (c != '\\') {
            *d++ = c;
            continue;
        }
        c = *ps->p++;
        unsigned cp, lo;
        switch (c) {
        case 'n':
            *d++ = '\n';
            break;
        case 't':
            *d++ = '\t';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case 'b':
            *d++ = '\b';
            break;
        case 'f':
            *d++ = '\f';
            break;
        case '/':
            *d++ = '/';
            break;
        case '\\':
            *d++ = '\\';
            break;
        case '"':
            *d++ = '"';
            break;
        case 'u':
            if (fy_json_hex4(ps, &cp))
                goto bad;
            if (cp >= 0xD800 && cp < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                ps->p += 2;
                if (fy_json_hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    goto bad;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            d += fy_json_put_utf8(d, cp); /* \uXXXX expands to at most 4 bytes from 6 */
            break;
        default:
            goto bad;
        }
    }
    *d = '\0';
    *len = (size_t)(d - s);
    ps->p = q + 1;
    return s;
bad:
    ps->err = "bad escape";
    free(s);
    return NULL;
}

static inline int fy_json_value(struct fy_json_parser *ps, struct fy_json *j, int depth);

static inline int fy_json_push(struct fy_json *j, size_t *cap)
{
    if (j->len < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 8;
    struct fy_json *it = realloc(j->items, n * sizeof(*it));
    if (!it)
        return -1;
    j->items = it;
    if (j->type == FY_JSON_OBJ) {
        char **k = realloc(j->keys, n * sizeof(*k));
        if (!k)
            return -1;
        j->keys = k;
    }
    *cap = n;
    return 0;
}

static inline int fy_json_value(struct fy_json_parser *ps, struct fy_json *j, int depth)
{
    memset(j, 0, sizeof(*j));
    fy_json_ws(ps);
    if (ps->p >= ps->end || depth > 64) {
        ps->err = depth > 64 ? "nesting too deep" : "unexpected end";
        return -1;
    }
    char c = *ps->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        size_t cap = 0;
        j->type = c == '{' ? FY_JSON_OBJ : FY_JSON_ARR;
        ps->p++;
        fy_json_ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        for (;;) {
            char *key = NULL;
            size_t klen;
            fy_json_ws(ps);
            if (j->type == FY_JSON_OBJ) {
                if (ps->p >= ps->end || *ps->p != '"' || !(key = fy_json_str(ps, &klen))) {
                    ps->err = ps->err ? ps->err : "expected a key";
                    return -1;
                }
                fy_json_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':') {
                    free(key);
                    ps->err = "expected ':'";
                    return -1;
                }
                ps->p++;
            }
            if (fy_json_push(j, &cap)) {
                free(key);
                ps->err = "out of memory";
                return -1;
            }
            if (j->keys)
                j->keys[j->len] = key;
            if (fy_json_value(ps, &j->items[j->len], depth + 1)) {
                j->len++;
                return -1;
            }
            j->len++;
            fy_json_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                return 0;
            }
            ps->err = "expected ',' or a closing bracket";
            return -1;
        }
    }
    if (c == '"') {
        j->str = fy_json_str(ps, &j->len);
        if (!j->str)
            return -1;
        j->type = FY_JSON_STR;
        return 0;
    }
    if (ps->end - ps->p >= 4 && !memcmp(ps->p, "null", 4)) {
        ps->p += 4;
        return 0;
    }
    if (ps->end - ps->p >= 4 && !memcmp(ps->p, "true", 4)) {
        j->type = FY_JSON_BOOL;
        j->num = 1;
        ps->p += 4;
        return 0;
    }
    if (ps->end - ps->p >= 5 && !memcmp(ps->p, "false", 5)) {
        j->type = FY_JSON_BOOL;
        ps->p += 5;
        return 0;
    }
    char *e;
    j->num = strtod(ps->p, &e);
    if (e == ps->p || e > ps->end) {
        ps->err = "unexpected character";
        return -1;
    }
    j->type = FY_JSON_NUM;
    ps->p = e;
    return 0;
}

/* Parses text[0..len) (which must be followed by a NUL, for strtod). Returns NULL and prints the
 * error with its byte offset on failure. */
static inline struct fy_json *fy_json_parse(const char *text, size_t len, const char *what)
{
    struct fy_json_parser ps = {text, text + len, NULL};
    struct fy_json *j = malloc(sizeof(*j));
    if (!j)
        return NULL;
    if (fy_json_value(&ps, j, 0) == 0) {
        fy_json_ws(&ps);
        if (ps.p == ps.end)
            return j;
        ps.err = "trailing characters";
    }
    fprintf(stderr, "%s: JSON error at byte %zu: %s\n", what, (size_t)(ps.p - text), ps.err);
    fy_json_free(j);
    return NULL;
}

/* Member key of object j, or NULL. */
static inline const struct fy_json *fy_json_get(const struct fy_json *j, const char *key)
{
    if (!j || j->type != FY_JSON_OBJ)
        return NULL;
    for (size_t i = 0; i < j->len; i++)
        if (!strcmp(j->keys[i], key))
            return &j->items[i];
    return NULL;
}

/* Decodes base64 s[0..n) (padding and unknown characters skipped) into out; returns the bytes
 * written (at most 3 * n / 4 + 3). */
static inline size_t fy_json_b64_decode(const char *s, size_t n, uint8_t *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+'             ? 62
                : c == '/'             ? 63
                                       : -1;
        if (v < 0)
            continue;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    return k;
}

/* Reads a whole file, NUL-terminated; NULL if it cannot be read. */
static inline char *fy_json_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

#endif
