/* The messages of `ferry chat` (chat_input.h): plain lines from stdio (a pipe, or a terminal
 * without libedit), or lines from the line editor (chat_edit.c). */
#include "chat_input.h"

#include "cli_signal.h"
#include "fy_config.h"
#if FY_HAVE_LIBEDIT
#include "chat_edit.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fy_chat_input {
    bool tty;
    struct fy_chat_edit *ed; /* NULL: stdio */
    bool eof;                /* Ctrl-D ended a message: the input is over */
    char *pend;              /* the editor's last text (several lines when recalled) */
    size_t pend_len, pend_off;
    bool pend_left; /* lines of pend not yet taken */
};

/* ---- a message from its lines ---- */

struct msg_build {
    char *msg;
    size_t len, cap;
    bool block; /* inside a """ block */
    bool over;  /* past FY_LIMIT_CHAT_MESSAGE: the lines are followed, not kept (the editor) */
};

/* Appends line (n bytes) to b, after a newline unless b is empty. 0, or -1 out of memory. */
static int msg_append(struct msg_build *b, const char *line, size_t n)
{
    if (b->over)
        return 0;
    if (b->len + n + 2 > b->cap) {
        size_t ncap = (b->len + n + 2) * 2;
        char *p = realloc(b->msg, ncap);
        if (!p)
            return -1;
        b->msg = p;
        b->cap = ncap;
    }
    if (b->len)
        b->msg[b->len++] = '\n';
    memcpy(b->msg + b->len, line, n);
    b->len += n;
    b->msg[b->len] = '\0';
    return 0;
}

/* Adds one line (len bytes, NUL-terminated; a final \ is cut off in place). Returns 1 when the
 * message goes on, 0 when it is whole, -1 out of memory. */
static int msg_add(struct msg_build *b, char *line, size_t len)
{
    static const char quote[] = "\"\"\"";
    bool cont = false;
    if (!strcmp(line, quote)) {
        b->block = !b->block;
        if (!b->block || b->len == 0)
            return b->block;
    } else if (!b->block && len && line[len - 1] == '\\') {
        line[--len] = '\0';
        cont = true;
    }
    if (msg_append(b, line, len))
        return -1;
    return b->block || cont;
}

/* The end of a message: its kind, and *msg (NULL unless FY_CHAT_IN_TEXT). */
static enum fy_chat_in msg_finish(struct msg_build *b, enum fy_chat_in k, char **msg, size_t *len)
{
    if (k == FY_CHAT_IN_EOF && b->len)
        k = FY_CHAT_IN_TEXT; /* a last message without a newline */
    if (k == FY_CHAT_IN_TEXT && (b->over || b->len + 1 > FY_LIMIT_CHAT_MESSAGE))
        k = FY_CHAT_IN_TOOLONG; /* the newlines joining the lines took it over */
    if (k == FY_CHAT_IN_TEXT && !b->msg) {
        b->msg = calloc(1, 1);
        if (!b->msg)
            k = FY_CHAT_IN_EOF;
    }
    if (k != FY_CHAT_IN_TEXT) {
        free(b->msg);
        b->msg = NULL;
        b->len = 0;
    }
    *msg = b->msg;
    *len = b->len;
    return k;
}

/* ---- plain lines (stdio) ---- */

/* One byte of standard input; EOF at its end, FY_CHAT_INTR when Ctrl-C interrupted the read. */
#define FY_CHAT_INTR (EOF - 1)
static int read_char(void)
{
    errno = 0;
    int ch = fgetc(stdin);
    if (ch == EOF && ferror(stdin) && errno == EINTR) {
        clearerr(stdin);
        fy_sigint_take();
        return FY_CHAT_INTR;
    }
    return ch;
}

/* Skips to the end of the line: FY_CHAT_IN_TOOLONG once found (or at EOF), FY_CHAT_IN_BAD past
 * FY_CHAT_SKIP_MAX bytes. */
static enum fy_chat_in skip_line(void)
{
    for (size_t n = 0; n < FY_CHAT_SKIP_MAX; n++) {
        int ch = read_char();
        if (ch == FY_CHAT_INTR)
            return FY_CHAT_IN_INTERRUPT;
        if (ch == EOF || ch == '\n')
            return FY_CHAT_IN_TOOLONG;
    }
    return FY_CHAT_IN_BAD;
}

/* Reads one line into *line (grown as needed, newline stripped), of at most `limit` bytes:
 * FY_CHAT_IN_TOOLONG (the rest of the line skipped) beyond. */
static enum fy_chat_in read_line(char **line, size_t *cap, size_t *len, size_t limit)
{
    *len = 0;
    for (;;) {
        if (*len >= limit)
            return skip_line();
        if (*len + 2 > *cap) {
            size_t ncap = *cap ? *cap * 2 : 256;
            char *p = realloc(*line, ncap);
            if (!p)
                return FY_CHAT_IN_EOF;
            *line = p;
            *cap = ncap;
        }
        int ch = read_char();
        if (ch == FY_CHAT_INTR)
            return FY_CHAT_IN_INTERRUPT;
        if (ch == EOF) {
            (*line)[*len] = '\0';
            return *len ? FY_CHAT_IN_TEXT : FY_CHAT_IN_EOF;
        }
        if (ch == '\n')
            break;
        (*line)[(*len)++] = (char)ch;
    }
    if (*len && (*line)[*len - 1] == '\r')
        (*len)--;
    (*line)[*len] = '\0';
    return FY_CHAT_IN_TEXT;
}

/* After a too-long line inside a """ block: skips the block's remaining lines, at most
 * FY_CHAT_SKIP_MAX bytes. */
static enum fy_chat_in skip_block(char **line, size_t *cap)
{
    size_t len = 0, skipped = 0;
    for (;;) {
        enum fy_chat_in k = read_line(line, cap, &len, FY_LIMIT_CHAT_MESSAGE);
        if (k == FY_CHAT_IN_EOF)
            return FY_CHAT_IN_TOOLONG;
        if (k == FY_CHAT_IN_TOOLONG)
            len = FY_LIMIT_CHAT_MESSAGE;
        else if (k != FY_CHAT_IN_TEXT)
            return k;
        else if (!strcmp(*line, "\"\"\""))
            return FY_CHAT_IN_TOOLONG;
        if ((skipped += len + 1) > FY_CHAT_SKIP_MAX)
            return FY_CHAT_IN_BAD;
    }
}

/* A whole message from stdio, with "> " and ". " prompts on a terminal. */
static enum fy_chat_in read_plain(const struct fy_chat_input *in, char **msg, size_t *msg_len)
{
    struct msg_build b = {0};
    char *line = NULL;
    size_t cap = 0, len = 0;
    int more = 1;
    enum fy_chat_in k = FY_CHAT_IN_TEXT;
    if (in->tty) {
        printf("> ");
        fflush(stdout);
    }
    while (more) {
        size_t room = b.len < FY_LIMIT_CHAT_MESSAGE ? FY_LIMIT_CHAT_MESSAGE - b.len : 0;
        k = read_line(&line, &cap, &len, room);
        if (k == FY_CHAT_IN_TOOLONG && b.block)
            k = skip_block(&line, &cap);
        if (k != FY_CHAT_IN_TEXT)
            break;
        more = msg_add(&b, line, len);
        if (more < 0) {
            k = FY_CHAT_IN_EOF;
            break;
        }
        if (more && in->tty) {
            printf(". ");
            fflush(stdout);
        }
    }
    free(line);
    return msg_finish(&b, k, msg, msg_len);
}

/* ---- lines from the editor ---- */

#if FY_HAVE_LIBEDIT
/* The next line: what is left of a recalled entry of several lines, or a new one from the
 * editor (cont: the message goes on). */
static enum fy_chat_in edit_line(struct fy_chat_input *in, bool cont, char **line, size_t *len)
{
    if (!in->pend_left) {
        const char *t;
        size_t n;
        enum fy_chat_edit_got g = fy_chat_edit_gets(in->ed, cont, &t, &n);
        if (g == FY_CHAT_EDIT_EOF)
            return FY_CHAT_IN_EOF;
        if (g == FY_CHAT_EDIT_INTERRUPT) {
            fputs(n || cont ? "^C\n" : "^C", stdout); /* as the terminal echoed it */
            fflush(stdout);
            return n || cont ? FY_CHAT_IN_CLEARED : FY_CHAT_IN_INTERRUPT;
        }
        char *p = realloc(in->pend, n + 1);
        if (!p)
            return FY_CHAT_IN_EOF;
        memcpy(p, t, n + 1);
        in->pend = p;
        in->pend_len = n;
        in->pend_off = 0;
        in->pend_left = true;
    }
    char *s = in->pend + in->pend_off;
    char *nl = memchr(s, '\n', in->pend_len - in->pend_off);
    size_t l = nl ? (size_t)(nl - s) : in->pend_len - in->pend_off;
    s[l] = '\0';
    in->pend_off += l + 1;
    in->pend_left = nl != NULL;
    *line = s;
    *len = l;
    return FY_CHAT_IN_TEXT;
}

/* A whole message from the editor; as typed (its lines joined by newlines) it becomes one
 * history entry, /exit and /quit excepted. */
static enum fy_chat_in read_edited(struct fy_chat_input *in, char **msg, size_t *msg_len)
{
    struct msg_build b = {0}, typed = {0};
    int more = 1;
    int64_t lines = 0;
    enum fy_chat_in k = FY_CHAT_IN_TEXT;
    if (in->eof)
        return msg_finish(&b, FY_CHAT_IN_EOF, msg, msg_len);
    while (more) {
        char *line;
        size_t len;
        k = edit_line(in, lines > 0, &line, &len);
        if (k != FY_CHAT_IN_TEXT)
            break;
        lines++;
        if (b.len + len + 1 > FY_LIMIT_CHAT_MESSAGE)
            b.over = typed.over = true;
        if (msg_append(&typed, line, len) || (more = msg_add(&b, line, len)) < 0) {
            k = FY_CHAT_IN_EOF;
            break;
        }
    }
    if (k == FY_CHAT_IN_EOF && lines)
        in->eof = true; /* Ctrl-D in a message: it is sent, then the chat ends */
    if ((k == FY_CHAT_IN_TEXT || k == FY_CHAT_IN_EOF) && typed.msg && !typed.over &&
        strcmp(typed.msg, "/exit") && strcmp(typed.msg, "/quit"))
        fy_chat_edit_remember(in->ed, typed.msg);
    free(typed.msg);
    return msg_finish(&b, k, msg, msg_len);
}
#endif

/* ---- the input ---- */

fy_status fy_chat_input_open(const struct fy_chat_input_opts *o, struct fy_chat_input **out)
{
    FY_CHECK_ARG(o && out);
    *out = NULL;
    struct fy_chat_input *in = calloc(1, sizeof(*in));
    if (!in)
        return FY_E_NOMEM;
    in->tty = o->tty;
#if FY_HAVE_LIBEDIT
    static const char *const none[] = {NULL};
    if (in->tty) {
        fy_status st = fy_chat_edit_open(o->commands ? o->commands : none, o->history,
                                         o->history_file, &in->ed);
        if (st != FY_OK) {
            free(in);
            return st;
        }
    }
#else
    if (in->tty)
        fy_log(FY_LOG_WARN, "chat: built without libedit: plain line input (no editing, "
                            "history or completion)");
#endif
    *out = in;
    return FY_OK;
}

enum fy_chat_in fy_chat_input_read(struct fy_chat_input *in, char **msg, size_t *len)
{
#if FY_HAVE_LIBEDIT
    if (in->ed)
        return read_edited(in, msg, len);
#endif
    return read_plain(in, msg, len);
}

void fy_chat_input_close(struct fy_chat_input *in)
{
    if (!in)
        return;
#if FY_HAVE_LIBEDIT
    fy_chat_edit_close(in->ed);
#endif
    free(in->pend);
    free(in);
}
