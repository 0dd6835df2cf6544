/* Input files the user names, read with a size limit (see infile.h). */
#include "infile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fy_size_text(size_t bytes, char *buf, size_t cap)
{
    if (bytes >= FY_MiB && bytes % FY_MiB == 0)
        snprintf(buf, cap, "%zu MiB", bytes / FY_MiB);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, cap, "%zu KiB", bytes / 1024);
    else
        snprintf(buf, cap, "%zu bytes", bytes);
    return buf;
}

static fy_status too_big(const char *what, const char *path, size_t limit, const char *how)
{
    char lim[32];
    fy_log(FY_LOG_ERR, "%s %s: %s than %s, the limit for %s; refused", what, path, how,
           fy_size_text(limit, lim, sizeof(lim)), what);
    return FY_E_INVAL;
}

fy_status fy_infile_read(const char *what, const char *path, size_t limit, char **out, size_t *len)
{
    struct stat sb;
    char *buf = NULL;
    size_t n = 0, cap;
    int fd = -1;
    fy_status st = FY_E_IO;
    bool is_stdin = !strcmp(path, "-");

    FY_CHECK_ARG(what && path && out && len);
    *out = NULL;
    *len = 0;
    fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fy_log(FY_LOG_ERR, "%s %s: cannot open: %s", what, path, strerror(errno));
        return FY_E_IO;
    }
    if (fstat(fd, &sb) != 0) {
        fy_log(FY_LOG_ERR, "%s %s: cannot stat: %s", what, path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        fy_log(FY_LOG_ERR, "%s %s: is a directory, not a file", what, path);
        st = FY_E_INVAL;
        goto done;
    }
    bool regular = S_ISREG(sb.st_mode);
    if (regular && (uint64_t)sb.st_size > limit) {
        char sz[32];
        snprintf(sz, sizeof(sz), "%lld bytes, more", (long long)sb.st_size);
        st = too_big(what, path, limit, sz);
        goto done;
    }
    /* a regular file: its size (it may still grow while read: the limit holds anyway) */
    cap = regular ? (size_t)sb.st_size + 1 : 64 * 1024;
    if (cap > limit + 1)
        cap = limit + 1;
    if (!(buf = malloc(cap + 1))) {
        st = FY_E_NOMEM;
        goto done;
    }
    for (;;) {
        if (n == cap) {
            if (cap > limit) {
                st = too_big(what, path, limit, regular ? "grew larger" : "more");
                goto done;
            }
            size_t ncap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            char *q = realloc(buf, ncap + 1);
            if (!q) {
                st = FY_E_NOMEM;
                goto done;
            }
            buf = q;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fy_log(FY_LOG_ERR, "%s %s: read error: %s", what, path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > limit) {
        st = too_big(what, path, limit, "more");
        goto done;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    st = FY_OK;
done:
    free(buf);
    if (fd >= 0 && !is_stdin)
        close(fd);
    return st;
}
