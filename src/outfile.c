/* Output files the user names, written safely (see outfile.h). */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FY_OUT_MAX_LINKS 40
#define FY_OUT_SLOTS 16 /* temporary files open at once that a signal can remove */

struct fy_outfile {
    char *path;   /* as given, for messages */
    char *target; /* what is renamed over (the symlink's final target), temp outputs only */
    char *tmp;    /* the temporary file, NULL when written in place */
    FILE *f;
    int slot;      /* signal-cleanup slot of tmp, -1 if none */
    bool in_place; /* device, FIFO, socket or standard output */
    bool failed;   /* a write error was already reported */
};

/* ---- removal of temporary files on SIGINT/SIGTERM/SIGHUP ----
 * The one piece of process state a signal handler needs: the names of the temporary files open
 * now. A handler is installed only where the signal still has its default action (a command
 * that polls Ctrl-C itself, like chat, keeps its own). */
static char g_tmp_names[FY_OUT_SLOTS][PATH_MAX];
static volatile sig_atomic_t g_tmp_used[FY_OUT_SLOTS];

void fy_outfile_cleanup_signal(void)
{
    for (int i = 0; i < FY_OUT_SLOTS; i++)
        if (g_tmp_used[i])
            unlink(g_tmp_names[i]);
}

static void on_fatal_signal(int sig)
{
    fy_outfile_cleanup_signal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_cleanup(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < FY_ARRAY_LEN(sigs); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
            (old.sa_flags & SA_SIGINFO))
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static int slot_take(const char *tmp)
{
    if (strlen(tmp) >= PATH_MAX)
        return -1;
    for (int i = 0; i < FY_OUT_SLOTS; i++) {
        if (!g_tmp_used[i]) {
            strcpy(g_tmp_names[i], tmp);
            g_tmp_used[i] = 1;
            install_cleanup();
            return i;
        }
    }
    return -1;
}

static void slot_release(int i)
{
    if (i >= 0)
        g_tmp_used[i] = 0;
}

/* ---- path resolution ---- */

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Follows symbolic links from path to the first non-link (which may not exist). */
static fy_status resolve_links(const char *what, const char *path, char **out)
{
    char *cur = str_dup(path);
    if (!cur)
        return FY_E_NOMEM;
    for (int hop = 0;; hop++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode)) {
            *out = cur;
            return FY_OK;
        }
        if (hop == FY_OUT_MAX_LINKS) {
            fy_log(FY_LOG_ERR, "%s%s%s: more than %d symbolic links in a row", what ? what : "",
                   what ? " " : "", path, FY_OUT_MAX_LINKS);
            free(cur);
            return FY_E_IO;
        }
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof(link) - 1);
        if (n < 0) {
            fy_log(FY_LOG_ERR, "%s%s%s: cannot read the link %s: %s", what ? what : "",
                   what ? " " : "", path, cur, strerror(errno));
            free(cur);
            return FY_E_IO;
        }
        link[n] = '\0';
        char *next;
        const char *slash = strrchr(cur, '/');
        if (link[0] == '/' || !slash) {
            next = str_dup(link);
        } else {
            size_t dl = (size_t)(slash - cur) + 1;
            next = malloc(dl + (size_t)n + 1);
            if (next) {
                memcpy(next, cur, dl);
                memcpy(next + dl, link, (size_t)n + 1);
            }
        }
        free(cur);
        if (!(cur = next))
            return FY_E_NOMEM;
    }
}

/* ---- open ---- */

static void log_err(const struct fy_outfile *o, const char *what, const char *fmt, int err)
{
    fy_log(FY_LOG_ERR, "%s%s%s: %s%s%s", what ? what : "", what ? " " : "", o->path, fmt,
           err ? ": " : "", err ? strerror(err) : "");
}

static fy_status open_in_place(struct fy_outfile *o, const char *what, int fd_or_neg)
{
    int fd = fd_or_neg;
    if (fd < 0) {
        fd = open(o->target, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            log_err(o, what, "cannot open for writing", errno);
            return FY_E_IO;
        }
    }
    if (!(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        log_err(o, what, "cannot open for writing", e);
        return FY_E_IO;
    }
    o->in_place = true;
    /* a reader that goes away must give EPIPE here, not kill the process */
    signal(SIGPIPE, SIG_IGN);
    return FY_OK;
}

static fy_status open_temp(struct fy_outfile *o, const char *what, const struct stat *old)
{
    size_t n = strlen(o->target);
    if (!(o->tmp = malloc(n + 16)))
        return FY_E_NOMEM;
    memcpy(o->tmp, o->target, n);
    memcpy(o->tmp + n, ".tmpXXXXXX", 11);
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        log_err(o, what, "cannot create", e);
        return FY_E_IO;
    }
    o->slot = slot_take(o->tmp);
    mode_t mode;
    if (old) {
        mode = old->st_mode & 07777;
    } else {
        mode_t um = umask(0);
        umask(um);
        mode = 0666 & ~um;
    }
    (void)fchmod(fd, mode); /* best effort: the 0600 of mkstemp is safe too */
    if (!(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        log_err(o, what, "cannot open for writing", e);
        return FY_E_IO;
    }
    return FY_OK;
}

fy_status fy_outfile_open(const char *what, const char *path, struct fy_outfile **out)
{
    struct fy_outfile *o = NULL;
    fy_status st = FY_E_NOMEM;
    struct stat sb;

    FY_CHECK_ARG(path && out);
    *out = NULL;
    if (!*path) {
        fy_log(FY_LOG_ERR, "%s%san empty output path", what ? what : "", what ? ": " : "");
        return FY_E_INVAL;
    }
    if (!(o = calloc(1, sizeof(*o))))
        return FY_E_NOMEM;
    o->slot = -1;
    if (!(o->path = str_dup(path)))
        goto fail;
    if (!strcmp(path, "-")) {
        int fd = dup(1);
        if (fd < 0) {
            log_err(o, what, "standard output", errno);
            st = FY_E_IO;
            goto fail;
        }
        if (!(o->target = str_dup("(standard output)")))
            goto fail;
        if ((st = open_in_place(o, what, fd)) != FY_OK)
            goto fail;
        *out = o;
        return FY_OK;
    }
    if ((st = resolve_links(what, path, &o->target)) != FY_OK)
        goto fail;
    if (stat(o->target, &sb) != 0) {
        if (errno != ENOENT) {
            log_err(o, what, "cannot use as output", errno);
            st = FY_E_IO;
            goto fail;
        }
        st = open_temp(o, what, NULL); /* a new file */
    } else if (S_ISREG(sb.st_mode)) {
        st = open_temp(o, what, &sb);
    } else if (S_ISDIR(sb.st_mode)) {
        log_err(o, what, "is a directory, not a file", 0);
        st = FY_E_IO;
    } else if (S_ISBLK(sb.st_mode)) {
        log_err(o, what, "is a block device; refusing to write to it", 0);
        st = FY_E_IO;
    } else {
        st = open_in_place(o, what, -1); /* character device, FIFO, socket */
    }
    if (st != FY_OK)
        goto fail;
    *out = o;
    return FY_OK;
fail:
    fy_outfile_discard(o);
    return st;
}

FILE *fy_outfile_fp(struct fy_outfile *o)
{
    return o ? o->f : NULL;
}
bool fy_outfile_seekable(const struct fy_outfile *o)
{
    return o && o->tmp;
}
const char *fy_outfile_path(const struct fy_outfile *o)
{
    return o ? o->path : "";
}

void fy_outfile_fail(struct fy_outfile *o, int err)
{
    if (!o || o->failed)
        return;
    o->failed = true;
    log_err(o, NULL, "write failed", err);
}

/* ---- close ---- */

static void free_outfile(struct fy_outfile *o)
{
    slot_release(o->slot);
    free(o->path);
    free(o->target);
    free(o->tmp);
    free(o);
}

fy_status fy_outfile_commit(struct fy_outfile *o)
{
    if (!o)
        return FY_E_INVAL;
    int err = 0;
    FILE *f = o->f;
    o->f = NULL;
    errno = 0;
    if (fflush(f) != 0 || ferror(f))
        err = errno ? errno : EIO;
    /* durable before the rename: a crash never leaves an empty file under the real name */
    if (!err && o->tmp && fsync(fileno(f)) != 0)
        err = errno;
    errno = 0;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (!err && !o->failed && o->tmp && rename(o->tmp, o->target) != 0) {
        err = errno;
        log_err(o, NULL, "cannot rename the temporary file onto it", err);
        o->failed = true;
    }
    if (err || o->failed) {
        fy_outfile_fail(o, err);
        if (o->tmp)
            unlink(o->tmp);
        free_outfile(o);
        return FY_E_IO;
    }
    free_outfile(o);
    return FY_OK;
}

void fy_outfile_discard(struct fy_outfile *o)
{
    if (!o)
        return;
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    free_outfile(o);
}
