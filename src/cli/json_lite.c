/* One flat JSON object per line (see json_lite.h). */
#include "json_lite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jl {
    const char *s, *p;
    char *err;
    size_t err_cap;
};

__attribute__((format(printf, 2, 3))) static fy_status jl_fail(struct jl *j, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(j->err, j->err_cap, "column %d: ", (int)(j->p - j->s) + 1);
    if (n >= 0 && (size_t)n < j->err_cap) {
        va_start(ap, fmt);
        vsnprintf(j->err + n, j->err_cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return FY_E_FORMAT;
}

static void skip_ws(struct jl *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n')
        j->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
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

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* At the opening quote; *out malloc'd. */
static fy_status parse_string(struct jl *j, char **out)
{
    const char *q = ++j->p;
    size_t cap = 0;
    while (*q && *q != '"') {
        if (*q == '\\' && q[1])
            q++;
        q++;
        cap++;
    }
    char *o = malloc(cap * 4 + 1), *w = o;
    if (!o)
        return FY_E_NOMEM;
    for (;;) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"')
            break;
        if (c == '\0') {
            free(o);
            return jl_fail(j, "unterminated string");
        }
        if (c < 0x20) {
            free(o);
            return jl_fail(j, "control character in a string");
        }
        if (c != '\\') {
            *w++ = (char)c;
            j->p++;
            continue;
        }
        char e = j->p[1];
        unsigned cp;
        j->p += 2;
        switch (e) {
        case '"':
            *w++ = '"';
            break;
        case '\\':
            *w++ = '\\';
            break;
        case '/':
            *w++ = '/';
            break;
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u':
            if (hex4(j->p, &cp) != 0) {
                free(o);
                return jl_fail(j, "bad \\u escape");
            }
            j->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && j->p[0] == '\\' && j->p[1] == 'u') {
                unsigned lo;
                if (hex4(j->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    j->p += 6;
                }
            }
            w += put_utf8(w, cp);
            break;
        default:
            j->p -= 2;
            free(o);
            return jl_fail(j, "bad escape \\%c", e ? e : '?');
        }
    }
    j->p++;
    *w = '\0';
    *out = o;
    return FY_OK;
}

static fy_status parse_number(struct jl *j, double *out)
{
    const char *p = j->p;
    /* JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return jl_fail(j, "expected a value");
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return jl_fail(j, "bad number");
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return jl_fail(j, "bad number");
        while (*p >= '0' && *p <= '9')
            p++;
    }
    *out = strtod(j->p, NULL);
    j->p = p;
    return FY_OK;
}

static fy_status parse_array(struct jl *j, struct fy_jl_val *v)
{
    int64_t cap = 0;
    j->p++;
    skip_ws(j);
    v->type = FY_JL_ARR;
    if (*j->p == ']') {
        j->p++;
        return FY_OK;
    }
    for (;;) {
        skip_ws(j);
        if (v->n_arr == cap) {
            cap = cap ? 2 * cap : 8;
            double *a = realloc(v->arr, (size_t)cap * sizeof(*a));
            if (!a)
                return FY_E_NOMEM;
            v->arr = a;
        }
        FY_TRY(parse_number(j, &v->arr[v->n_arr]));
        v->n_arr++;
        skip_ws(j);
        if (*j->p == ']') {
            j->p++;
            return FY_OK;
        }
        if (*j->p != ',')
            return jl_fail(j, "expected ',' or ']' in an array of numbers");
        j->p++;
    }
}

static fy_status parse_value(struct jl *j, struct fy_jl_val *v)
{
    if (*j->p == '"') {
        v->type = FY_JL_STR;
        return parse_string(j, &v->str);
    }
    if (*j->p == '[')
        return parse_array(j, v);
    if (*j->p == '{')
        return jl_fail(j, "nested objects are not supported");
    if (!strncmp(j->p, "true", 4) || !strncmp(j->p, "false", 5)) {
        v->type = FY_JL_BOOL;
        v->num = *j->p == 't';
        j->p += *j->p == 't' ? 4 : 5;
        return FY_OK;
    }
    if (!strncmp(j->p, "null", 4)) {
        v->type = FY_JL_NULL;
        j->p += 4;
        return FY_OK;
    }
    v->type = FY_JL_NUM;
    return parse_number(j, &v->num);
}

static void val_free(struct fy_jl_val *v)
{
    free(v->key);
    free(v->str);
    free(v->arr);
}

fy_status fy_jl_parse(const char *line, struct fy_jl_obj *out, char *err, size_t err_cap)
{
    struct jl j = {.s = line, .p = line, .err = err, .err_cap = err_cap};
    int64_t cap = 0;
    fy_status st;

    FY_CHECK_ARG(line && out && err && err_cap > 0);
    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    skip_ws(&j);
    if (*j.p != '{') {
        st = jl_fail(&j, "expected '{'");
        goto fail;
    }
    j.p++;
    skip_ws(&j);
    if (*j.p == '}') {
        j.p++;
        goto end;
    }
    for (;;) {
        skip_ws(&j);
        if (*j.p != '"') {
            st = jl_fail(&j, "expected a key string");
            goto fail;
        }
        if (out->n == cap) {
            cap = cap ? 2 * cap : 16;
            struct fy_jl_val *nv = realloc(out->v, (size_t)cap * sizeof(*nv));
            if (!nv) {
                st = FY_E_NOMEM;
                goto fail;
            }
            out->v = nv;
        }
        struct fy_jl_val *v = &out->v[out->n];
        memset(v, 0, sizeof(*v));
        out->n++;
        const char *key_at = j.p;
        if ((st = parse_string(&j, &v->key)) != FY_OK)
            goto fail;
        if (out->n > 1 && fy_jl_get(&(struct fy_jl_obj){out->v, out->n - 1}, v->key)) {
            j.p = key_at;
            st = jl_fail(&j, "duplicate key \"%s\"", v->key);
            goto fail;
        }
        skip_ws(&j);
        if (*j.p != ':') {
            st = jl_fail(&j, "expected ':'");
            goto fail;
        }
        j.p++;
        skip_ws(&j);
        if ((st = parse_value(&j, v)) != FY_OK)
            goto fail;
        skip_ws(&j);
        if (*j.p == '}') {
            j.p++;
            break;
        }
        if (*j.p != ',') {
            st = jl_fail(&j, "expected ',' or '}'");
            goto fail;
        }
        j.p++;
    }
end:
    skip_ws(&j);
    if (*j.p) {
        st = jl_fail(&j, "text after the object");
        goto fail;
    }
    return FY_OK;
fail:
    if (st == FY_E_NOMEM)
        snprintf(err, err_cap, "out of memory");
    fy_jl_free(out);
    return st;
}

void fy_jl_free(struct fy_jl_obj *o)
{
    if (!o)
        return;
    for (int64_t i = 0; i < o->n; i++)
        val_free(&o->v[i]);
    free(o->v);
    o->v = NULL;
    o->n = 0;
}

const struct fy_jl_val *fy_jl_get(const struct fy_jl_obj *o, const char *key)
{
    for (int64_t i = 0; o && i < o->n; i++)
        if (o->v[i].key && !strcmp(o->v[i].key, key))
            return &o->v[i];
    return NULL;
}

const char *fy_jl_str(const struct fy_jl_obj *o, const char *key)
{
    const struct fy_jl_val *v = fy_jl_get(o, key);
    return v && v->type == FY_JL_STR ? v->str : NULL;
}

bool fy_jl_num(const struct fy_jl_obj *o, const char *key, double *out)
{
    const struct fy_jl_val *v = fy_jl_get(o, key);
    if (!v || v->type != FY_JL_NUM)
        return false;
    *out = v->num;
    return true;
}
