/* Command-line value parsing shared by the CLI and the placement flags: errors name the flag and
 * the accepted values. */
#ifndef FY_ARGS_H
#define FY_ARGS_H

#include "ferry.h"

/* Returns argv[*i + 1] and advances *i, or NULL (with a message naming the flag) if absent. */
const char *fy_arg_value(int argc, char **argv, int *i);
/* For a flag no parser took: -h/--help prints the help texts (NULLs skipped) and returns 0;
 * anything else is logged as "CMD: unknown flag F (see ferry CMD -h)" and returns 2. The caller
 * exits with the result. */
int fy_arg_help_or_unknown(const char *cmd, const char *flag, const char *help1,
                           const char *help2, const char *help3, const char *help4);
/* Parses a decimal integer in [lo, hi]; FY_E_INVAL with a message naming the flag otherwise. */
fy_status fy_arg_int(const char *flag, const char *val, int64_t lo, int64_t hi, int64_t *out);
/* Parses an unsigned 64-bit decimal integer. */
fy_status fy_arg_u64(const char *flag, const char *val, uint64_t *out);
/* Parses a finite number in [lo, hi]; FY_E_INVAL with a message naming the flag otherwise. */
fy_status fy_arg_float(const char *flag, const char *val, double lo, double hi, float *out);
/* Parses a comma-separated list of token ids ("1,2,3"); *out is malloc'd. */
fy_status fy_arg_tokens(const char *flag, const char *val, int32_t **out, int64_t *n_out);
/* Reads a whole file, "-" standard input, of at most `limit` bytes (NUL-terminated; *len excludes
 * the NUL). NULL with a message naming the flag, the path and the limit on failure. */
char *fy_arg_read_file(const char *flag, const char *path, size_t limit, size_t *len);
/* Reads a token-id list from a file (commas and/or whitespace separated), at most
 * FY_LIMIT_TOKENS_FILE bytes. */
fy_status fy_arg_tokens_file(const char *flag, const char *path, int32_t **out, int64_t *n_out);

/* The KV cache type flags: --kv-type T and llama.cpp's -ctk/--cache-type-k T and
 * -ctv/--cache-type-v T, T one of f16, f32, q8_0. ferry keeps one type for K and V: --kv-type
 * sets it; -ctk and -ctv set it too, but once both were given they must agree (else an error
 * that names both flags). st starts zeroed and is kept across the flags of one command line.
 * Returns 1 consumed (*type set), 0 not a KV type flag, -1 error (logged). */
struct fy_arg_kv {
    const char *k_flag;   /* the spelling -ctk came as, NULL while absent */
    const char *v_flag;
    enum fy_dtype k, v;
};
int fy_arg_kv_type(struct fy_arg_kv *st, enum fy_dtype *type, int argc, char **argv, int *i);
/* "f16", "f32", "q8_0": a cache type as the flags spell it ("?" for another type) */
const char *fy_kv_type_name(enum fy_dtype t);
#define FY_KV_TYPES_HELP "f16|f32|q8_0"

#endif
