/* fy_infile_read (src/infile.c): random bytes of a regular file read back exactly, the limit
 * at its boundary (equal passes, one more byte is refused) for a regular file and for a FIFO fed
 * by a thread, a directory and a missing file refused, fy_size_text; and the log threshold
 * (status.c): a negative level silences fy_log. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fy_test.h"
#include "infile.h"

static char dir[64];

static const char *at(const char *name)
{
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 256, "%s/%s", dir, name);
    return b;
}

static int put(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f)
        ok &= fclose(f) == 0;
    return ok;
}

struct feeder {
    const char *path;
    const uint8_t *p;
    size_t n;
};

static void *feed(void *arg)
{
    struct feeder *fd = arg;
    int f = open(fd->path, O_WRONLY);
    size_t done = 0;
    ssize_t k;
    while (f >= 0 && done < fd->n && (k = write(f, fd->p + done, fd->n - done)) > 0)
        done += (size_t)k;
    if (f >= 0)
        close(f);
    return NULL;
}

/* reads a FIFO fed with n bytes of p, limit `limit` */
static fy_status read_fifo(const uint8_t *p, size_t n, size_t limit, char **out, size_t *len)
{
    unlink(at("fifo"));
    if (mkfifo(at("fifo"), 0600) != 0)
        return FY_E_IO;
    struct feeder fd = {at("fifo"), p, n};
    pthread_t th;
    if (pthread_create(&th, NULL, feed, &fd) != 0)
        return FY_E_IO;
    fy_status st = fy_infile_read("--test", at("fifo"), limit, out, len);
    pthread_join(th, NULL); /* a refused read closed its end: the writer got EPIPE and stopped */
    return st;
}

/* counts bytes written to stderr by fy_log at the current threshold */
static long logged_bytes(void)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *f = tmpfile();
    if (saved < 0 || !f)
        return -1;
    dup2(fileno(f), 2);
    fy_log(FY_LOG_ERR, "an error that may be silenced");
    fflush(stderr);
    long n = (long)lseek(fileno(f), 0, SEEK_END);
    dup2(saved, 2);
    close(saved);
    fclose(f);
    return n;
}

int main(void)
{
    int failed = 0;
    struct fy_rng rng = {7};
    const size_t limit = 100000;
    uint8_t *data = malloc(limit + 4096);
    char *got = NULL;
    size_t len = 0;
    char sz[32];

    snprintf(dir, sizeof(dir), "/tmp/fy-infile.XXXXXX");
    if (!data || !mkdtemp(dir))
        return FY_TEST_HARD;
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < limit + 4096; i++)
        data[i] = (uint8_t)fy_rng_u64(&rng);

    /* a regular file: exact bytes, NUL-terminated; the limit inclusive */
    FY_EXPECT(put(at("a"), data, limit));
    FY_EXPECT(fy_infile_read("--test", at("a"), limit, &got, &len) == FY_OK && len == limit &&
              got && !memcmp(got, data, limit) && got[limit] == '\0');
    free(got);
    fprintf(stderr, "expected errors follow:\n");
    FY_EXPECT(fy_infile_read("--test", at("a"), limit - 1, &got, &len) == FY_E_INVAL && !got);
    FY_EXPECT(put(at("empty"), data, 0));
    FY_EXPECT(fy_infile_read("--test", at("empty"), limit, &got, &len) == FY_OK && len == 0 &&
              got && got[0] == '\0');
    free(got);

    /* a FIFO: read up to the limit, then refused */
    FY_EXPECT(read_fifo(data, limit, limit, &got, &len) == FY_OK && len == limit &&
              !memcmp(got, data, limit));
    free(got);
    got = NULL;
    FY_EXPECT(read_fifo(data, limit + 4096, limit, &got, &len) == FY_E_INVAL && !got);
    FY_EXPECT(read_fifo(data, limit + 1, limit, &got, &len) == FY_E_INVAL && !got);

    /* a directory and a missing file */
    FY_EXPECT(fy_infile_read("--test", dir, limit, &got, &len) == FY_E_INVAL && !got);
    FY_EXPECT(fy_infile_read("--test", at("missing"), limit, &got, &len) == FY_E_IO && !got);

    FY_EXPECT(!strcmp(fy_size_text(64 * FY_MiB, sz, sizeof(sz)), "64 MiB"));
    FY_EXPECT(!strcmp(fy_size_text(512 * 1024, sz, sizeof(sz)), "512 KiB"));
    FY_EXPECT(!strcmp(fy_size_text(1000, sz, sizeof(sz)), "1000 bytes"));

    /* the log threshold: a negative level silences every message */
    enum fy_log_level was = fy_log_get_level();
    FY_EXPECT(logged_bytes() > 0);
    fy_log_set_level((enum fy_log_level) - 1);
    FY_EXPECT(logged_bytes() == 0);
    fy_log_set_level(FY_LOG_SILENT);
    FY_EXPECT(logged_bytes() == 0);
    fy_log_set_level(FY_LOG_ERR);
    FY_EXPECT(logged_bytes() > 0);
    fy_log_set_level(was);

    unlink(at("a"));
    unlink(at("empty"));
    unlink(at("fifo"));
    rmdir(dir);
    free(data);
    printf("%s\n", failed ? "FAILED" : "all infile checks passed");
    return failed ? 1 : 0;
}
