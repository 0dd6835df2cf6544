/* fy_outfile (src/outfile.c) through its C API: a new file, replacing a regular file (mode
 * kept, old content intact until commit and after a failed one), discard, symlink chains and a
 * loop, a FIFO written in place (a reader thread), a directory refused, standard output, and
 * nothing left behind in the folder. Tests never name /dev/null or /dev/full. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fy_test.h"
#include "outfile.h"

static char dir[64];

static const char *at(const char *name)
{
    static char buf[8][256];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 256, "%s/%s", dir, name);
    return b;
}

static int file_is(const char *path, const char *want)
{
    char got[256] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    return n == strlen(want) && !memcmp(got, want, n);
}

/* files in dir whose name holds ".tmp" */
static int temporaries(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    return n;
}

static fy_status write_text(const char *path, const char *text)
{
    struct fy_outfile *o = NULL;
    FY_TRY(fy_outfile_open("-o", path, &o));
    fputs(text, fy_outfile_fp(o));
    return fy_outfile_commit(o);
}

struct reader {
    const char *path;
    char got[256];
};

static void *read_fifo(void *arg)
{
    struct reader *r = arg;
    int fd = open(r->path, O_RDONLY);
    size_t n = 0;
    ssize_t k;
    while (fd >= 0 && n < sizeof(r->got) - 1 &&
           (k = read(fd, r->got + n, sizeof(r->got) - 1 - n)) > 0)
        n += (size_t)k;
    if (fd >= 0)
        close(fd);
    return NULL;
}

int main(void)
{
    int failed = 0;
    struct fy_outfile *o = NULL;
    struct stat sb;

    snprintf(dir, sizeof(dir), "/tmp/fy-outfile.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return FY_TEST_HARD;
    }
    mode_t um = umask(022);

    /* a new file: 0666 less the umask, content in place after commit */
    FY_EXPECT(write_text(at("new"), "first") == FY_OK && file_is(at("new"), "first"));
    FY_EXPECT(stat(at("new"), &sb) == 0 && (sb.st_mode & 0777) == 0644);

    /* an existing file: written beside it (the old content stays until commit), mode kept */
    FY_EXPECT(chmod(at("new"), 0640) == 0);
    FY_EXPECT(fy_outfile_open("-o", at("new"), &o) == FY_OK && fy_outfile_seekable(o));
    fputs("second", fy_outfile_fp(o));
    fflush(fy_outfile_fp(o));
    FY_EXPECT(file_is(at("new"), "first") && temporaries() == 1);
    FY_EXPECT(fy_outfile_commit(o) == FY_OK && file_is(at("new"), "second"));
    FY_EXPECT(stat(at("new"), &sb) == 0 && (sb.st_mode & 0777) == 0640 && temporaries() == 0);

    /* a failed write: the old content survives, the temporary file goes */
    FY_EXPECT(fy_outfile_open("-o", at("new"), &o) == FY_OK);
    fputs("third", fy_outfile_fp(o));
    fprintf(stderr, "expected errors follow:\n");
    fy_outfile_fail(o, EIO);
    FY_EXPECT(fy_outfile_commit(o) == FY_E_IO && file_is(at("new"), "second"));
    FY_EXPECT(temporaries() == 0);

    /* discard: nothing created, nothing left */
    FY_EXPECT(fy_outfile_open("-o", at("never"), &o) == FY_OK);
    fputs("x", fy_outfile_fp(o));
    fy_outfile_discard(o);
    FY_EXPECT(access(at("never"), F_OK) != 0 && temporaries() == 0);
    fy_outfile_discard(NULL);

    /* symlinks: a relative chain through a subfolder; the links stay links */
    FY_EXPECT(mkdir(at("sub"), 0755) == 0);
    FY_EXPECT(symlink("../new", at("sub/l1")) == 0 && symlink("sub/l1", at("l2")) == 0);
    FY_EXPECT(write_text(at("l2"), "linked") == FY_OK && file_is(at("new"), "linked"));
    FY_EXPECT(lstat(at("l2"), &sb) == 0 && S_ISLNK(sb.st_mode));
    FY_EXPECT(lstat(at("sub/l1"), &sb) == 0 && S_ISLNK(sb.st_mode));
    /* a dangling link creates its target */
    FY_EXPECT(symlink("made", at("dangling")) == 0);
    FY_EXPECT(write_text(at("dangling"), "made") == FY_OK && file_is(at("made"), "made"));
    FY_EXPECT(lstat(at("dangling"), &sb) == 0 && S_ISLNK(sb.st_mode));
    /* a loop is refused */
    FY_EXPECT(symlink("loop2", at("loop1")) == 0 && symlink("loop1", at("loop2")) == 0);
    FY_EXPECT(fy_outfile_open("-o", at("loop1"), &o) == FY_E_IO && !o);

    /* a directory is refused; an empty path too */
    FY_EXPECT(fy_outfile_open("-o", at("sub"), &o) == FY_E_IO && !o);
    FY_EXPECT(fy_outfile_open("-o", "", &o) == FY_E_INVAL && !o);
    FY_EXPECT(fy_outfile_open("-o", at("nodir/x"), &o) == FY_E_IO && !o);

    /* a FIFO is written in place and stays a FIFO */
    FY_EXPECT(mkfifo(at("fifo"), 0600) == 0);
    struct reader r = {.path = at("fifo")};
    pthread_t th;
    FY_EXPECT(pthread_create(&th, NULL, read_fifo, &r) == 0);
    FY_EXPECT(fy_outfile_open("-o", at("fifo"), &o) == FY_OK && !fy_outfile_seekable(o));
    fputs("through the pipe", fy_outfile_fp(o));
    FY_EXPECT(fy_outfile_commit(o) == FY_OK);
    pthread_join(th, NULL);
    FY_EXPECT(!strcmp(r.got, "through the pipe"));
    FY_EXPECT(lstat(at("fifo"), &sb) == 0 && S_ISFIFO(sb.st_mode));

    /* standard output ("-"), redirected to a file here */
    int saved = dup(1);
    int fd = open(at("stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FY_EXPECT(saved >= 0 && fd >= 0 && dup2(fd, 1) == 1);
    FY_EXPECT(write_text("-", "to stdout") == FY_OK);
    dup2(saved, 1);
    close(fd);
    close(saved);
    FY_EXPECT(file_is(at("stdout"), "to stdout"));

    FY_EXPECT(temporaries() == 0);
    umask(um);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
    printf("%s\n", failed ? "FAILED" : "all outfile checks passed");
    return failed ? 1 : 0;
}
