/* Input files the user names (--tokens-file, -f, bench-compare's files, the vocabulary), read
 * with a size limit: a regular file is size-checked before it is read, anything else (a pipe,
 * a device such as /dev/zero, standard output of another program) is read up to the limit and
 * then refused. Messages name the flag, the path and the limit. */
#ifndef FY_INFILE_H
#define FY_INFILE_H

#include "ferry.h"

#define FY_MiB ((size_t)1 << 20)
/* The limits, stated in the commands' -h texts. */
#define FY_LIMIT_TOKENS_FILE (64 * FY_MiB) /* --tokens-file */
#define FY_LIMIT_PROMPT_FILE (64 * FY_MiB) /* -f (run, tokenize) */
#define FY_LIMIT_JSONL_FILE (64 * FY_MiB)  /* bench-compare inputs */
#define FY_LIMIT_VOCAB_FILE (64 * FY_MiB)  /* the o200k .tiktoken file */
#define FY_LIMIT_CHAT_MESSAGE (1 * FY_MiB) /* one chat message (lines and blocks together) */

/* Reads the whole of PATH ("-" is standard input) into a malloc'd NUL-terminated buffer
 * (*len excludes the NUL). `what` names the flag ("--tokens-file") or the role ("vocabulary")
 * in messages. FY_E_IO when it cannot be read, FY_E_INVAL when it is over `limit` bytes or a
 * directory; *out is NULL then. */
fy_status fy_infile_read(const char *what, const char *path, size_t limit, char **out, size_t *len);

/* "64 MiB", "1 MiB", "512 KiB", "100 bytes": for messages and help texts. */
const char *fy_size_text(size_t bytes, char *buf, size_t cap);

#endif
