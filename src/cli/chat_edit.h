/* The line editor of `ferry chat` on a terminal, on libedit's native API (histedit.h): emacs
 * keys (arrows, Home/End, Ctrl-A/E/K/U/W, Alt-B/F and Ctrl-arrows by word, ~/.editrc read
 * last), a history recalled with Up/Down and searched with Ctrl-R, kept in a file across runs,
 * Tab completion of the slash commands, and libedit's signal handling (Ctrl-C returns from the
 * read with the cooked terminal back, a resize redraws). Built only where libedit is found
 * (FY_HAVE_LIBEDIT); chat_input.c reads plain lines without it. */
#ifndef FY_CHAT_EDIT_H
#define FY_CHAT_EDIT_H

#include "ferry.h"

#include <stdbool.h>
#include <stddef.h>

#define FY_CHAT_HISTORY_SIZE 1000         /* entries the history keeps (the oldest go) */
#define FY_CHAT_HISTORY_ENTRY (64 * 1024) /* longer messages are not remembered */

enum fy_chat_edit_got {
    FY_CHAT_EDIT_LINE,      /* a line, Enter pressed */
    FY_CHAT_EDIT_EOF,       /* Ctrl-D at an empty line, or the terminal is gone */
    FY_CHAT_EDIT_INTERRUPT, /* Ctrl-C */
};

struct fy_chat_edit;

/* Opens the editor on standard input and output. commands: the slash commands Tab completes,
 * NULL-terminated (a trailing space: it takes an argument). history: keep one, in
 * history_file, or (NULL) in the default file (fy_chat_history_path). Problems with the history
 * file are logged and leave the editor without it (FY_OK all the same). */
fy_status fy_chat_edit_open(const char *const *commands, bool history, const char *history_file,
                            struct fy_chat_edit **out);

/* Reads one line at the prompt "> " (". " when cont: the message goes on). *text is valid until
 * the next call, without the final newline; it may hold newlines (an entry of several lines
 * recalled from the history). FY_CHAT_EDIT_INTERRUPT: *len is what the line held then. */
enum fy_chat_edit_got fy_chat_edit_gets(struct fy_chat_edit *e, bool cont, const char **text,
                                        size_t *len);

/* Adds entry (a whole message as typed, lines joined by newlines) to the history and writes the
 * history file. */
void fy_chat_edit_remember(struct fy_chat_edit *e, const char *entry);

/* Restores the terminal and frees (NULL-safe). */
void fy_chat_edit_close(struct fy_chat_edit *e);

/* The default history file: $XDG_STATE_HOME/ferry/chat_history (an absolute XDG_STATE_HOME),
 * else $HOME/.local/state/ferry/chat_history; *out NULL (and FY_OK) without either. */
fy_status fy_chat_history_path(char **out);

#endif
