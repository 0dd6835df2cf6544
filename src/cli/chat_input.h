/* The messages of `ferry chat`, read from standard input: lines joined into one message by a
 * final \ (continued on the next line) or between lines holding only """. On a terminal the
 * lines come from the line editor (chat_edit.h, where ferry was built with libedit), and each
 * message, as typed, is one history entry; otherwise, and from a pipe, from stdio, with the
 * limits of FY_LIMIT_CHAT_MESSAGE (infile.h). */
#ifndef FY_CHAT_INPUT_H
#define FY_CHAT_INPUT_H

#include "infile.h"

#include <stdbool.h>
#include <stddef.h>

enum fy_chat_in {
    FY_CHAT_IN_TEXT,      /* a message (maybe empty) */
    FY_CHAT_IN_EOF,       /* the input ended (Ctrl-D at an empty prompt) */
    FY_CHAT_IN_INTERRUPT, /* Ctrl-C at an empty prompt */
    FY_CHAT_IN_CLEARED,   /* Ctrl-C dropped the message being typed (the editor only) */
    FY_CHAT_IN_TOOLONG,   /* a message over FY_LIMIT_CHAT_MESSAGE (the rest of it skipped) */
    FY_CHAT_IN_BAD,       /* a line so long that skipping it gave up: input that is not text */
};

#define FY_CHAT_SKIP_MAX (16 * FY_MiB) /* most bytes skipped to find the end of a long line */

struct fy_chat_input_opts {
    bool tty;                    /* standard input is a terminal: prompts, the line editor */
    bool history;                /* the editor keeps a history file */
    const char *history_file;    /* NULL: the default (chat_edit.h: fy_chat_history_path) */
    const char *const *commands; /* what Tab completes, NULL-terminated (chat_edit.h) */
};

struct fy_chat_input;

/* Opens the input. On a terminal without libedit it says once that it reads plain lines. */
fy_status fy_chat_input_open(const struct fy_chat_input_opts *o, struct fy_chat_input **out);
/* Reads a whole message into *msg (malloc'ed, NUL-terminated, *len bytes) when
 * FY_CHAT_IN_TEXT; *msg is NULL otherwise. */
enum fy_chat_in fy_chat_input_read(struct fy_chat_input *in, char **msg, size_t *len);
/* NULL-safe. */
void fy_chat_input_close(struct fy_chat_input *in);

#endif
