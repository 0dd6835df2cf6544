/* Shared command-line value parsing. */
#include "args.h"
#include "infile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fy_arg_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fy_log(FY_LOG_ERR, "flag %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int fy_arg_help_or_unknown(const char *cmd, const char *flag, const char *help1,
                           const char *help2, const char *help3, const char *help4)
{
    if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
        const char *h[4] = {help1, help2, help3, help4};
        for (int i = 0; i < 4; i++)
            if (h[i])
                fputs(h[i], stdout);
        return 0;
    }
    fy_log(FY_LOG_ERR, "%s: unknown flag %s (see ferry %s -h)", cmd, flag, cmd);
    return 2;
}

fy_status fy_arg_int(const char *flag, const char *val, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end != '\0' || v < lo || v > hi) {
        fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not an integer in [%lld, %lld]", flag, val,
               (long long)lo, (long long)hi);
        return FY_E_INVAL;
    }
    *out = v;
    return FY_OK;
}

fy_status fy_arg_u64(const char *flag, const char *val, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || end == val || *end != '\0' || val[0] == '-') {
        fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not an unsigned 64-bit integer", flag, val);
        return FY_E_INVAL;
    }
    *out = v;
    return FY_OK;
}

fy_status fy_arg_float(const char *flag, const char *val, double lo, double hi, float *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end != '\0' || !(v >= lo && v <= hi)) {
        fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not a number in [%g, %g]", flag, val, lo, hi);
        return FY_E_INVAL;
    }
    *out = (float)v;
    return FY_OK;
}

static fy_status parse_list(const char *flag, const char *text, const char *seps, int32_t **out,
                            int64_t *n_out)
{
    int64_t cap = 64, n = 0;
    int32_t *ids = malloc((size_t)cap * sizeof(*ids));
    const char *p = text;
    if (!ids)
        return FY_E_NOMEM;
    while (*p) {
        while (*p && strchr(seps, *p))
            p++;
        if (!*p)
            break;
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX || (*end && !strchr(seps, *end))) {
            fy_log(FY_LOG_ERR, "flag %s: bad token id at character %lld (\"%.16s\"): expected "
                   "non-negative integers separated by commas", flag, (long long)(p - text), p);
            free(ids);
            return FY_E_INVAL;
        }
        if (n == cap) {
            int32_t *q = realloc(ids, (size_t)(cap *= 2) * sizeof(*ids));
            if (!q) {
                free(ids);
                return FY_E_NOMEM;
            }
            ids = q;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (n == 0) {
        fy_log(FY_LOG_ERR, "flag %s: no token ids given", flag);
        free(ids);
        return FY_E_INVAL;
    }
    *out = ids;
    *n_out = n;
    return FY_OK;
}

fy_status fy_arg_tokens(const char *flag, const char *val, int32_t **out, int64_t *n_out)
{
    return parse_list(flag, val, ",", out, n_out);
}

char *fy_arg_read_file(const char *flag, const char *path, size_t limit, size_t *len)
{
    char *buf = NULL;
    if (fy_infile_read(flag, path, limit, &buf, len) != FY_OK)
        return NULL;
    return buf;
}

fy_status fy_arg_tokens_file(const char *flag, const char *path, int32_t **out, int64_t *n_out)
{
    size_t n = 0;
    char *buf = fy_arg_read_file(flag, path, FY_LIMIT_TOKENS_FILE, &n);
    if (!buf)
        return FY_E_IO;
    fy_status st = parse_list(flag, buf, ", \t\r\n", out, n_out);
    free(buf);
    return st;
}

const char *fy_kv_type_name(enum fy_dtype t)
{
    return t == FY_F16 ? "f16" : t == FY_F32 ? "f32" : t == FY_Q8_0 ? "q8_0" : "?";
}

int fy_arg_kv_type(struct fy_arg_kv *st, enum fy_dtype *type, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const bool all = !strcmp(a, "--kv-type");
    const bool k = !strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k");
    const bool v = !strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v");
    if (!all && !k && !v)
        return 0;
    const char *val = fy_arg_value(argc, argv, i);
    if (!val)
        return -1;
    enum fy_dtype t;
    if (!strcmp(val, "f16"))
        t = FY_F16;
    else if (!strcmp(val, "f32"))
        t = FY_F32;
    else if (!strcmp(val, "q8_0"))
        t = FY_Q8_0;
    else {
        fy_log(FY_LOG_ERR, "flag %s: \"%s\" is not one of f16, f32, q8_0", a, val);
        return -1;
    }
    if (all) {
        st->k_flag = st->v_flag = NULL; /* one type for both, whatever came before */
    } else if (k) {
        st->k_flag = a;
        st->k = t;
    } else {
        st->v_flag = a;
        st->v = t;
    }
    if (st->k_flag && st->v_flag && st->k != st->v) {
        fy_log(FY_LOG_ERR, "flags %s %s and %s %s differ: ferry keeps one cache type for K and "
               "V (give the same type to both, or --kv-type)", st->k_flag,
               fy_kv_type_name(st->k), st->v_flag, fy_kv_type_name(st->v));
        return -1;
    }
    *type = t;
    return 1;
}
