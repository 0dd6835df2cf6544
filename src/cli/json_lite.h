/* A reader for one JSON line of the files `ferry bench -o jsonl` writes, and nothing more: a
 * flat object whose values are strings, numbers, true/false/null, or arrays of numbers. */
#ifndef FY_JSON_LITE_H
#define FY_JSON_LITE_H

#include "ferry.h"

#include <stdbool.h>

enum fy_jl_type { FY_JL_STR, FY_JL_NUM, FY_JL_BOOL, FY_JL_NULL, FY_JL_ARR };

struct fy_jl_val {
    char *key;
    enum fy_jl_type type;
    char *str;   /* FY_JL_STR: decoded (UTF-8), NUL-terminated */
    double num;  /* FY_JL_NUM; FY_JL_BOOL: 1 or 0 */
    double *arr; /* FY_JL_ARR: n_arr numbers */
    int64_t n_arr;
};

struct fy_jl_obj {
    struct fy_jl_val *v;
    int64_t n;
};

/* Parses one line holding exactly one object (surrounding whitespace allowed). On failure
 * returns FY_E_FORMAT (FY_E_NOMEM) with a message in err ("column 17: expected ':'"), and *out
 * is left empty. Duplicate keys are an error. */
fy_status fy_jl_parse(const char *line, struct fy_jl_obj *out, char *err, size_t err_cap);
void fy_jl_free(struct fy_jl_obj *o); /* NULL-safe; leaves *o empty */

/* The value of key, or NULL. */
const struct fy_jl_val *fy_jl_get(const struct fy_jl_obj *o, const char *key);
/* The string (number) of key when present with that type, else NULL (false). */
const char *fy_jl_str(const struct fy_jl_obj *o, const char *key);
bool fy_jl_num(const struct fy_jl_obj *o, const char *key, double *out);

#endif
