/* The line editor of `ferry chat` on a terminal (chat_edit.h), on libedit's histedit API. */
#include "chat_edit.h"

#include "cli_signal.h"

#include <errno.h>
#include <histedit.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fy_chat_edit {
    EditLine *el;
    History *h;
    const char *const *commands; /* NULL-terminated; Tab completes them */
    char *path;                  /* the history file; NULL: no history */
    bool cont;                   /* the line continues a message: prompt ". ", no completion */
    bool save_warned;            /* a failed save was said once */
    char *line;                  /* the last line read */
    size_t line_cap;
};

static struct fy_chat_edit *edit_of(EditLine *el)
{
    void *p = NULL;
    el_get(el, EL_CLIENTDATA, &p);
    return p;
}

static char *prompt(EditLine *el)
{
    return edit_of(el)->cont ? (char *)". " : (char *)"> ";
}

/* ---- Tab: the slash commands ---- */

/* Prints the commands that start with the n bytes typed, below the line. */
static void list_commands(const struct fy_chat_edit *e, const char *typed, size_t n)
{
    fputc('\n', stdout);
    for (const char *const *c = e->commands; *c; c++)
        if (!strncmp(*c, typed, n))
            printf("%.*s  ", (int)strcspn(*c, " "), *c);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Completes a slash command typed at the start of a message, the cursor at its end; a Tab
 * anywhere else is a Tab. One match is completed (with a space when it takes an argument),
 * several are completed to what they share and, when that adds nothing, listed. */
static unsigned char complete(EditLine *el, int ch)
{
    (void)ch;
    struct fy_chat_edit *e = edit_of(el);
    const LineInfo *li = el_line(el);
    size_t n = (size_t)(li->lastchar - li->buffer);
    if (e->cont || !n || li->buffer[0] != '/' || li->cursor != li->lastchar ||
        memchr(li->buffer, ' ', n) || memchr(li->buffer, '\n', n))
        return el_insertstr(el, "\t") ? CC_ERROR : CC_REFRESH;
    const char *first = NULL;
    size_t common = 0;
    int found = 0;
    for (const char *const *c = e->commands; *c; c++) {
        if (strncmp(*c, li->buffer, n))
            continue;
        if (!found++) {
            first = *c;
            common = strlen(*c);
        } else {
            size_t k = n;
            while (k < common && first[k] == (*c)[k])
                k++;
            common = k;
        }
    }
    if (!found)
        return CC_REFRESH_BEEP;
    if (common > n) {
        char add[64];
        snprintf(add, sizeof(add), "%.*s", (int)(common - n), first + n);
        return el_insertstr(el, add) ? CC_ERROR : CC_REFRESH;
    }
    if (found == 1)
        return CC_REFRESH_BEEP; /* already complete */
    list_commands(e, li->buffer, n);
    return CC_REDISPLAY;
}

/* ---- the history file ---- */

fy_status fy_chat_history_path(char **out)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int r = -1;
    *out = NULL;
    if (state && state[0] == '/')
        r = asprintf(out, "%s/ferry/chat_history", state);
    else if (home && home[0])
        r = asprintf(out, "%s/.local/state/ferry/chat_history", home);
    else
        return FY_OK;
    if (r < 0) {
        *out = NULL;
        return FY_E_NOMEM;
    }
    return FY_OK;
}

/* mkdir -p of the folder that holds path (new folders 0700). */
static int make_parents(const char *path)
{
    char *p = strdup(path);
    int rc = 0;
    if (!p)
        return -1;
    for (char *s = strchr(p + 1, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    free(p);
    return rc;
}

/* Writes the whole history beside the file (mode 0600) and renames it onto it. */
static void history_save(struct fy_chat_edit *e)
{
    HistEvent ev;
    char *tmp = NULL;
    FILE *f = NULL;
    int fd = -1, ok = 0;
    if (!e->path)
        return;
    if (asprintf(&tmp, "%s.tmpXXXXXX", e->path) < 0) {
        tmp = NULL;
        goto out;
    }
    fd = mkstemp(tmp);
    if (fd < 0)
        goto out;
    f = fdopen(fd, "w");
    if (!f)
        goto out;
    fd = -1;
    ok = history(e->h, &ev, H_SAVE_FP, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    f = NULL;
    ok = ok && rename(tmp, e->path) == 0;
out:
    if (!ok && !e->save_warned) {
        fy_log(FY_LOG_WARN, "chat: cannot write the history file %s: %s", e->path, strerror(errno));
        e->save_warned = true;
    }
    if (fd >= 0)
        close(fd);
    if (f)
        fclose(f);
    if (!ok && tmp && tmp[0])
        unlink(tmp);
    free(tmp);
}

/* Takes the history file (the default one when file is NULL), creating its folder, and reads
 * it; a file that is there but not a history is left alone, without history. */
static fy_status history_open(struct fy_chat_edit *e, const char *file)
{
    HistEvent ev;
    char *path = NULL;
    if (file) {
        path = strdup(file);
        if (!path)
            return FY_E_NOMEM;
    } else {
        FY_TRY(fy_chat_history_path(&path));
        if (!path) {
            fy_log(FY_LOG_WARN, "chat: neither XDG_STATE_HOME nor HOME is set: no history file");
            return FY_OK;
        }
    }
    char *real = realpath(path, NULL); /* a symbolic link stays one: the file it names is written */
    struct stat sb;
    if (real) {
        free(path);
        path = real;
        bool empty = stat(path, &sb) == 0 && sb.st_size == 0; /* an empty history */
        if (!empty && history(e->h, &ev, H_LOAD, path) < 0) {
            fy_log(FY_LOG_WARN,
                   "chat: %s is not a history file that can be read: history is "
                   "off (the file is left as it is)",
                   path);
            free(path);
            return FY_OK;
        }
    } else if (make_parents(path) != 0) {
        fy_log(FY_LOG_WARN, "chat: cannot create the folder of the history file %s: %s", path,
               strerror(errno));
        free(path);
        return FY_OK;
    }
    e->path = path;
    return FY_OK;
}

void fy_chat_edit_remember(struct fy_chat_edit *e, const char *entry)
{
    HistEvent ev;
    if (!e || !entry[0] || strlen(entry) > FY_CHAT_HISTORY_ENTRY)
        return;
    history(e->h, &ev, H_ENTER, entry);
    history_save(e);
}

/* ---- the editor ---- */

/* Keys beyond libedit's emacs map, for what terminals send. */
static void bind_keys(EditLine *el)
{
    static const char *const keys[][2] = {
        {"^R", "em-inc-search-prev"},       {"^W", "ed-delete-prev-word"},
        {"^U", "vi-kill-line-prev"},        {"^I", "fy-complete"},
        {"\033[H", "ed-move-to-beg"},       {"\033[F", "ed-move-to-end"},
        {"\033OH", "ed-move-to-beg"},       {"\033OF", "ed-move-to-end"},
        {"\033[1~", "ed-move-to-beg"},      {"\033[4~", "ed-move-to-end"},
        {"\033[7~", "ed-move-to-beg"},      {"\033[8~", "ed-move-to-end"},
        {"\033[3~", "ed-delete-next-char"}, {"\033[1;5D", "ed-prev-word"},
        {"\033[1;5C", "em-next-word"},      {"\033[1;3D", "ed-prev-word"},
        {"\033[1;3C", "em-next-word"},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        el_set(el, EL_BIND, keys[i][0], keys[i][1], (const char *)NULL);
}

/* Chat messages are UTF-8, and libedit edits characters of the locale's encoding: a locale
 * that is not UTF-8 gets C.UTF-8's character type (only LC_CTYPE: numbers stay as they are). */
static void utf8_ctype(void)
{
    if (setlocale(LC_CTYPE, "") && !strcmp(nl_langinfo(CODESET), "UTF-8"))
        return;
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "");
}

fy_status fy_chat_edit_open(const char *const *commands, bool history_on, const char *history_file,
                            struct fy_chat_edit **out)
{
    HistEvent ev;
    fy_status st = FY_E_NOMEM;
    FY_CHECK_ARG(commands && out);
    *out = NULL;
    struct fy_chat_edit *e = calloc(1, sizeof(*e));
    if (!e)
        return FY_E_NOMEM;
    e->commands = commands;
    utf8_ctype();
    e->h = history_init();
    if (!e->h)
        goto fail;
    history(e->h, &ev, H_SETSIZE, FY_CHAT_HISTORY_SIZE);
    history(e->h, &ev, H_SETUNIQUE, 1);
    e->el = el_init("ferry", stdin, stdout, stderr);
    if (!e->el) {
        fy_log(FY_LOG_ERR, "chat: the line editor (libedit) does not start");
        st = FY_E_IO;
        goto fail;
    }
    el_set(e->el, EL_CLIENTDATA, (void *)e);
    el_set(e->el, EL_EDITOR, "emacs");
    el_set(e->el, EL_SIGNAL, 1);
    el_set(e->el, EL_PROMPT, prompt);
    el_set(e->el, EL_HIST, history, e->h);
    el_set(e->el, EL_ADDFN, "fy-complete", "complete a chat command", complete);
    bind_keys(e->el);
    el_source(e->el, NULL); /* the user's ~/.editrc (or $EDITRC) */
    if (history_on && (st = history_open(e, history_file)) != FY_OK)
        goto fail;
    *out = e;
    return FY_OK;
fail:
    fy_chat_edit_close(e);
    return st;
}

enum fy_chat_edit_got fy_chat_edit_gets(struct fy_chat_edit *e, bool cont, const char **text,
                                        size_t *len)
{
    e->cont = cont;
    *text = NULL;
    *len = 0;
    for (;;) {
        int n = 0;
        errno = 0;
        const char *s = el_gets(e->el, &n);
        if (s && n > 0) {
            size_t k = strlen(s);
            if (k && s[k - 1] == '\n')
                k--;
            if (k + 1 > e->line_cap) {
                char *p = realloc(e->line, k + 1);
                if (!p)
                    return FY_CHAT_EDIT_EOF;
                e->line = p;
                e->line_cap = k + 1;
            }
            memcpy(e->line, s, k);
            e->line[k] = '\0';
            *text = e->line;
            *len = k;
            return FY_CHAT_EDIT_LINE;
        }
        if (n < 0 && errno == EINTR) {
            /* libedit's handler restored the terminal and raised SIGINT again for ours */
            if (fy_sigint_take()) {
                const LineInfo *li = el_line(e->el);
                *len = (size_t)(li->lastchar - li->buffer);
                return FY_CHAT_EDIT_INTERRUPT;
            }
            continue; /* another signal: read again */
        }
        return FY_CHAT_EDIT_EOF;
    }
}

void fy_chat_edit_close(struct fy_chat_edit *e)
{
    if (!e)
        return;
    if (e->el)
        el_end(e->el);
    if (e->h)
        history_end(e->h);
    free(e->path);
    free(e->line);
    free(e);
}
