/* GGUF reader, opening: maps each file read-only (gguf.c parses it), opens split files
 * (<prefix>-NNNNN-of-NNNNN.gguf) as one model and cross-checks their split.* keys; closing. */
#include "gguf_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static struct fy_gguf_load_opts g_load; /* fy_gguf_set_load_opts: how files are brought in */

void fy_gguf_set_load_opts(const struct fy_gguf_load_opts *o)
{
    g_load = *o;
}

/* --no-mmap: the whole file read into anonymous memory (closed and unmapped like a mapping),
 * with progress on a terminal. MAP_FAILED (logged) on error. */
static void *read_whole(int fd, const char *path, size_t size)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        fy_log(FY_LOG_ERR, "%s: --no-mmap: %zu bytes of memory: %s", path, size, strerror(errno));
        return MAP_FAILED;
    }
    const bool progress = isatty(2) && size >= ((size_t)1 << 30);
    size_t done = 0, shown = 0;
    while (done < size) {
        size_t want = size - done < ((size_t)64 << 20) ? size - done : ((size_t)64 << 20);
        ssize_t n = read(fd, (char *)m + done, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fy_log(FY_LOG_ERR, "%s: --no-mmap: read at byte offset %zu: %s", path, done,
                   n < 0 ? strerror(errno) : "the file ended early");
            munmap(m, size);
            return MAP_FAILED;
        }
        done += (size_t)n;
        if (progress && (done - shown >= ((size_t)256 << 20) || done == size)) {
            fprintf(stderr, "\rreading %s: %.1f / %.1f GiB", path, done / 1073741824.0,
                    size / 1073741824.0);
            shown = done;
        }
    }
    if (progress)
        fputc('\n', stderr);
    mprotect(m, size, PROT_READ);
    return m;
}

static fy_status load_shard(struct fy_gguf *g, int s)
{
    struct fy_gguf_shard *sh = &g->shards[s];
    struct stat sb;
    fy_status st;
    int fd = open(sh->path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (g->n_shards > 1)
            fy_log(FY_LOG_ERR, "%s: open (shard %d of %d): %s", sh->path, s + 1, g->n_shards,
                   strerror(errno));
        else
            fy_log(FY_LOG_ERR, "%s: open: %s", sh->path, strerror(errno));
        return FY_E_IO;
    }
    if (fstat(fd, &sb) != 0) {
        fy_log(FY_LOG_ERR, "%s: stat: %s", sh->path, strerror(errno));
        st = FY_E_IO;
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        fy_log(FY_LOG_ERR, "%s: not a regular file", sh->path);
        st = FY_E_IO;
        goto fail;
    }
    if (sb.st_size == 0) {
        fy_log(FY_LOG_ERR, "%s: empty file, not a GGUF file (truncated at byte offset 0)",
               sh->path);
        st = FY_E_FORMAT;
        goto fail;
    }
    /* MAP_SHARED, read-only (the fd is O_RDONLY, so no write can ever reach the file): the
     * same page-cache pages as MAP_PRIVATE, but not a copy-on-write mapping, so the GPU
     * driver's long-term pinning of CPU-resident experts (sched_upload.c) pins them in place.
     * Of a MAP_PRIVATE mapping Linux would break COW and copy every pinned page into anonymous
     * memory: +10 GB of RAM for the 20b with -ot exps=CPU (issue 12; the emulator counts such
     * bytes, fy_emu_stats.pin_cow_bytes, and test_gpu_e2e asserts none). */
    void *m = g_load.no_mmap ? read_whole(fd, sh->path, (size_t)sb.st_size)
                             : mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (g_load.no_mmap && m == MAP_FAILED) {
        st = FY_E_IO;
        goto fail;
    }
    if (m == MAP_FAILED && (errno == ENODEV || errno == EINVAL)) {
        /* a file system without shared mappings: a private one (pinning then copies) */
        fy_log(FY_LOG_WARN, "%s: no shared mapping (%s); mapped private, so pinning its pages "
               "for a GPU would copy them", sh->path, strerror(errno));
        m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    if (m == MAP_FAILED) {
        fy_log(FY_LOG_ERR, "%s: mmap of %lld bytes: %s", sh->path, (long long)sb.st_size,
               strerror(errno));
        st = FY_E_IO;
        goto fail;
    }
    close(fd);
    fd = -1;
    if (g_load.mlock && mlock(m, (size_t)sb.st_size) != 0)
        fy_log(FY_LOG_WARN, "%s: --mlock: could not lock %lld bytes in RAM (%s); raise the "
               "locked-memory limit (ulimit -l) or run without --mlock", sh->path,
               (long long)sb.st_size, strerror(errno));
    sh->map = m;
    sh->size = (uint64_t)sb.st_size;
    return fy_gguf_parse_shard(g, s);
fail:
    if (fd >= 0)
        close(fd);
    return st;
}

/* Finds an integer key in shard s only. 0: absent; 1: found; <0: error (logged). */
static int shard_int(const struct fy_gguf *g, int s, const char *key, int64_t *out)
{
    const struct fy_gguf_shard *sh = &g->shards[s];
    for (int64_t k = sh->kv_begin; k < sh->kv_begin + sh->n_kv; k++) {
        const struct fy_gguf_kv_ent *e = &g->kvs[k];
        if (!fy_gguf_str_is(&e->kv.key, key))
            continue;
        int ok = fy_gguf_vtype_is_int(e->kv.type) &&
                 (fy_gguf_vtype_is_signed(e->kv.type) ? e->kv.v.i >= 0 : e->kv.v.u <= INT64_MAX);
        if (!ok) {
            fy_log(FY_LOG_ERR,
                   "%s: %s: expected a non-negative integer, got type %s at byte "
                   "offset %llu",
                   sh->path, key, fy_gguf_vtype_str(e->kv.type), (unsigned long long)e->file_off);
            return -1;
        }
        *out = fy_gguf_vtype_is_signed(e->kv.type) ? e->kv.v.i : (int64_t)e->kv.v.u;
        return 1;
    }
    return 0;
}

static unsigned long long kv_off(const struct fy_gguf *g, int s, const char *key)
{
    const struct fy_gguf_shard *sh = &g->shards[s];
    for (int64_t k = sh->kv_begin; k < sh->kv_begin + sh->n_kv; k++)
        if (fy_gguf_str_is(&g->kvs[k].kv.key, key))
            return (unsigned long long)g->kvs[k].file_off;
    return 0;
}

/* Parses "<prefix>-NNNNN-of-NNNNN.gguf". Returns the shard count (0: no match), and the prefix
 * length in *plen. */
static int split_name(const char *path, size_t *plen)
{
    const char *base = strrchr(path, '/');
    size_t len = strlen(path);
    base = base ? base + 1 : path;
    if (strlen(base) < FY_GGUF_SPLIT_TAIL)
        return 0;
    const char *t = path + len - FY_GGUF_SPLIT_TAIL;
    if (t[0] != '-' || memcmp(t + 6, "-of-", 4) != 0 || memcmp(t + 15, ".gguf", 5) != 0)
        return 0;
    int no = 0;
    int count = 0;
    for (int k = 0; k < 5; k++) {
        if (t[1 + k] < '0' || t[1 + k] > '9' || t[10 + k] < '0' || t[10 + k] > '9')
            return 0;
        no = no * 10 + (t[1 + k] - '0');
        count = count * 10 + (t[10 + k] - '0');
    }
    if (count < 1 || no < 1 || no > count)
        return 0;
    *plen = len - FY_GGUF_SPLIT_TAIL;
    return count;
}

static char *shard_path(const char *path, size_t plen, int no, int count)
{
    size_t n = plen + FY_GGUF_SPLIT_TAIL + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%.*s-%05d-of-%05d.gguf", (int)plen, path, no, count);
    return p;
}

/* After shard 0 is loaded: find the shard count, load the others, cross-check split.* keys. */
static fy_status open_split(struct fy_gguf *g, const char *path, size_t plen, int name_count)
{
    const char *p0 = g->shards[0].path;
    int64_t count = 1;
    int64_t want = 0;
    int64_t v;
    int r = shard_int(g, 0, "split.count", &count);

    if (r < 0)
        return FY_E_FORMAT;
    if (r > 0 && (count < 1 || count > 65535)) {
        fy_log(FY_LOG_ERR, "%s: split.count %lld out of range 1..65535 at byte offset %llu", p0,
               (long long)count, kv_off(g, 0, "split.count"));
        return FY_E_FORMAT;
    }
    if (name_count && ((r > 0 && count != name_count) || (r == 0 && name_count > 1))) {
        fy_log(FY_LOG_ERR, "%s: the file name says %d shards but split.count is %s%lld", p0,
               name_count, r ? "" : "absent, defaulting to ", (long long)count);
        return FY_E_FORMAT;
    }
    if (!name_count && count > 1) {
        fy_log(FY_LOG_ERR,
               "%s: split.count is %lld but the file name does not follow "
               "<prefix>-NNNNN-of-NNNNN.gguf, so the other shards cannot be found",
               p0, (long long)count);
        return FY_E_FORMAT;
    }
    if (count > 1) {
        struct fy_gguf_shard *sh = realloc(g->shards, (size_t)count * sizeof(*sh));
        if (!sh)
            return FY_E_NOMEM;
        memset(sh + 1, 0, (size_t)(count - 1) * sizeof(*sh));
        g->shards = sh;
        g->n_shards = (int)count;
        for (int s = 1; s < count; s++) {
            g->shards[s].path = shard_path(path, plen, s + 1, (int)count);
            if (!g->shards[s].path)
                return FY_E_NOMEM;
            FY_TRY(load_shard(g, s));
        }
    }
    int64_t sum = 0;
    for (int s = 0; s < count; s++) {
        const char *ps = g->shards[s].path;
        sum += g->shards[s].n_tensors;
        r = shard_int(g, s, "split.no", &v);
        if (r < 0)
            return FY_E_FORMAT;
        if ((r == 0 && count > 1) || (r > 0 && v != s)) {
            fy_log(FY_LOG_ERR,
                   "%s: split.no is %s%lld but the file is shard %d of %lld (split.no "
                   "%d expected) at byte offset %llu",
                   ps, r ? "" : "absent, ", r ? (long long)v : 0LL, s + 1, (long long)count, s,
                   kv_off(g, s, "split.no"));
            return FY_E_FORMAT;
        }
        r = shard_int(g, s, "split.count", &v);
        if (r < 0)
            return FY_E_FORMAT;
        if ((r == 0 && count > 1) || (r > 0 && v != count)) {
            fy_log(FY_LOG_ERR,
                   "%s: split.count is %s%lld but shard 1 says %lld at byte offset "
                   "%llu",
                   ps, r ? "" : "absent, ", r ? (long long)v : 0LL, (long long)count,
                   kv_off(g, s, "split.count"));
            return FY_E_FORMAT;
        }
        r = shard_int(g, s, "split.tensors.count", &v);
        if (r < 0)
            return FY_E_FORMAT;
        if (r == 0 && count > 1) {
            fy_log(FY_LOG_ERR, "%s: split.tensors.count is absent (shard %d of %lld)", ps, s + 1,
                   (long long)count);
            return FY_E_FORMAT;
        }
        if (r > 0 && s == 0)
            want = v;
        if (r > 0 && v != want) {
            fy_log(FY_LOG_ERR,
                   "%s: split.tensors.count is %lld but shard 1 says %lld at byte "
                   "offset %llu",
                   ps, (long long)v, (long long)want, kv_off(g, s, "split.tensors.count"));
            return FY_E_FORMAT;
        }
    }
    if (shard_int(g, 0, "split.tensors.count", &v) > 0 && sum != want) {
        fy_log(FY_LOG_ERR,
               "%s: split.tensors.count is %lld but the %lld shard(s) hold %lld "
               "tensors (split.tensors.count at byte offset %llu)",
               p0, (long long)want, (long long)count, (long long)sum,
               kv_off(g, 0, "split.tensors.count"));
        return FY_E_FORMAT;
    }
    return FY_OK;
}

/* A model of one shard slot whose path is a copy of path (NULL: out of memory). */
static struct fy_gguf *gguf_new(const char *path)
{
    struct fy_gguf *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->shards = calloc(1, sizeof(*g->shards));
    if (g->shards) {
        g->n_shards = 1;
        g->shards[0].path = strdup(path);
    }
    if (!g->shards || !g->shards[0].path) {
        fy_gguf_close(g);
        return NULL;
    }
    return g;
}

fy_status fy_gguf_open(const char *path, struct fy_gguf **out)
{
    struct fy_gguf *g = NULL;
    size_t plen = 0;
    int name_count;
    fy_status st;

    FY_CHECK_ARG(path && out);
    *out = NULL;
    st = FY_E_NOMEM;
    g = gguf_new(path);
    if (!g)
        goto fail;
    name_count = split_name(path, &plen);
    if (name_count > 1) {
        free(g->shards[0].path);
        g->shards[0].path = shard_path(path, plen, 1, name_count);
        if (!g->shards[0].path)
            goto fail;
    }
    st = load_shard(g, 0);
    if (st != FY_OK)
        goto fail;
    st = open_split(g, path, plen, name_count);
    if (st != FY_OK)
        goto fail;
    *out = g;
    return FY_OK;
fail:
    if (st == FY_E_NOMEM)
        fy_log(FY_LOG_ERR, "%s: out of memory", path);
    fy_gguf_close(g);
    return st;
}

fy_status fy_gguf_open_mem(const void *data, size_t size, const char *name, struct fy_gguf **out)
{
    struct fy_gguf *g = NULL;
    fy_status st;

    FY_CHECK_ARG(name && out && (data || size == 0));
    *out = NULL;
    st = FY_E_NOMEM;
    g = gguf_new(name);
    if (!g)
        goto fail;
    g->shards[0].map = data;
    g->shards[0].size = size;
    g->shards[0].borrowed = true;
    st = fy_gguf_parse_shard(g, 0);
    if (st != FY_OK)
        goto fail;
    st = open_split(g, name, 0, 0);
    if (st != FY_OK)
        goto fail;
    *out = g;
    return FY_OK;
fail:
    if (st == FY_E_NOMEM)
        fy_log(FY_LOG_ERR, "%s: out of memory", name);
    fy_gguf_close(g);
    return st;
}

void fy_gguf_close(struct fy_gguf *g)
{
    if (!g)
        return;
    for (int s = 0; s < g->n_shards; s++) {
        if (g->shards[s].map && !g->shards[s].borrowed)
            munmap((void *)g->shards[s].map, g->shards[s].size);
        free(g->shards[s].path);
    }
    for (int64_t k = 0; k < g->n_kv; k++)
        free(g->kvs[k].str_off);
    fy_gguf_ht_free(&g->kv_ht);
    fy_gguf_ht_free(&g->t_ht);
    free(g->shards);
    free(g->kvs);
    free(g->tensors);
    free(g->t_off_pos);
    free(g);
}
