/* Internals of harmony shared by harmony.c (token ids, byte strings, message lists, the parser)
 * and harmony_render.c (rendering). */
#ifndef FY_HARMONY_PRIV_H
#define FY_HARMONY_PRIV_H

#include "harmony.h"

#include <stddef.h>
#include <stdint.h>

extern const char fy_hm_constrain[]; /* "<|constrain|>" */
extern const char fy_hm_channel[];   /* "<|channel|>" */

/* The harmony special token ids of a tokenizer, looked up by name. */
struct fy_hm_ids {
    int32_t start, end, message, channel, constrain, ret, call, eot;
};

/* Looks the ids up; FY_E_UNSUPPORTED (logged) when the tokenizer lacks one. */
fy_status fy_hm_ids_get(const struct fy_tokenizer *t, struct fy_hm_ids *ids);

/* A growable byte string, always NUL-terminated once non-empty; zero-initialised = empty. */
struct fy_hm_str {
    char *s;
    size_t n;
    size_t cap;
};

/* Appends s[0..n); FY_E_NOMEM. */
fy_status fy_hm_put(struct fy_hm_str *b, const char *s, size_t n);
fy_status fy_hm_puts(struct fy_hm_str *b, const char *s);
void fy_hm_str_free(struct fy_hm_str *b); /* b is left empty and usable */

#endif
