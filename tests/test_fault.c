/* Fault injection into the GGUF reader, the model loader and the tokenizer loader, on a small
 * synthetic model: every allocation failing in turn (N = 0, 1, ... until the operation no longer
 * allocates that many times), mmap failing (ENOMEM; ENODEV: the private mapping fallback), and
 * --no-mmap's reads cut short (a few bytes each, EINTR, the file ending early, EIO). Each failure
 * must give an error status (FY_E_NOMEM for memory, FY_E_IO for the file), leave the result NULL,
 * log an error message, and release every allocation and mapping it made; each survivable fault
 * must give the same tensors as a plain open.
 * The hooks: the program is linked with -Wl,--wrap for malloc, calloc, realloc, aligned_alloc,
 * strdup, free, mmap64 (what mmap is with _FILE_OFFSET_BITS=64), munmap and read
 * (tests/meson.build), so every call ferry's code makes goes through the __wrap_ functions below
 * (calls inside libc and PCRE2 do not). */
#include "fy_test.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- the hooks ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t k);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void __real_free(void *p);
void *__real_mmap64(void *a, size_t n, int prot, int flags, int fd, off_t off);
int __real_munmap(void *a, size_t n);
ssize_t __real_read(int fd, void *buf, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t k);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);
void *__wrap_mmap64(void *a, size_t n, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *a, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);

enum read_fault { R_NONE, R_SHORT, R_EINTR, R_EOF, R_EIO };

static struct {
    bool armed;
    long n_alloc;    /* allocation calls since arming */
    long fail_alloc; /* the call that fails (-1: none) */
    bool injected;   /* a fault was injected */
    long n_live;     /* blocks allocated since arming and not freed */
    long n_mmap;
    long fail_mmap; /* the mmap call that fails, with mmap_errno */
    int mmap_errno;
    long live_maps; /* mappings made since arming and not unmapped */
    enum read_fault rf;
    long n_read;
    size_t read_total; /* bytes read since arming */
    size_t read_limit; /* R_EOF: the file "ends" here */
} H = {.fail_alloc = -1, .fail_mmap = -1};

/* blocks allocated while armed (open addressing; a free of anything else is passed on) */
#define LIVE_CAP (1 << 18)
static void *live[LIVE_CAP];

static size_t slot_of(const void *p)
{
    return ((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 46; /* 18 bits */
}

static void live_add(void *p)
{
    size_t i = slot_of(p);
    while (live[i])
        i = (i + 1) & (LIVE_CAP - 1);
    live[i] = p;
    H.n_live++;
}

/* removes p, keeping the probe chains intact; false when p was not there */
static bool live_del(void *p)
{
    size_t i = slot_of(p);
    while (live[i] && live[i] != p)
        i = (i + 1) & (LIVE_CAP - 1);
    if (!live[i])
        return false;
    live[i] = NULL;
    H.n_live--;
    for (size_t j = (i + 1) & (LIVE_CAP - 1); live[j]; j = (j + 1) & (LIVE_CAP - 1)) {
        void *q = live[j];
        live[j] = NULL;
        H.n_live--;
        live_add(q);
    }
    return true;
}

/* true: this allocation call must fail */
static bool alloc_fails(void)
{
    if (!H.armed)
        return false;
    if (H.n_alloc++ == H.fail_alloc) {
        H.injected = true;
        errno = ENOMEM;
        return true;
    }
    return false;
}

static void *track(void *p)
{
    if (p && H.armed)
        live_add(p);
    return p;
}

void *__wrap_malloc(size_t n)
{
    return alloc_fails() ? NULL : track(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t k)
{
    return alloc_fails() ? NULL : track(__real_calloc(n, k));
}

void *__wrap_realloc(void *p, size_t n)
{
    if (alloc_fails())
        return NULL;
    void *q = __real_realloc(p, n);
    if (!q)
        return NULL;
    if (!p)
        return track(q);
    if (live_del(p)) /* a tracked block stays tracked where it moved */
        live_add(q);
    return q;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return alloc_fails() ? NULL : track(__real_aligned_alloc(align, n));
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = __wrap_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void __wrap_free(void *p)
{
    if (p)
        live_del(p);
    __real_free(p);
}

void *__wrap_mmap64(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
    if (H.armed && H.n_mmap++ == H.fail_mmap) {
        H.injected = true;
        errno = H.mmap_errno;
        return MAP_FAILED;
    }
    void *m = __real_mmap64(a, n, prot, flags, fd, off);
    if (m != MAP_FAILED && H.armed)
        H.live_maps++;
    return m;
}

int __wrap_munmap(void *a, size_t n)
{
    if (H.armed)
        H.live_maps--;
    return __real_munmap(a, n);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (!H.armed || H.rf == R_NONE)
        return __real_read(fd, buf, n);
    long k = H.n_read++;
    switch (H.rf) {
    case R_SHORT: /* 1 to 7 bytes a call */
        n = n < (size_t)(k % 7 + 1) ? n : (size_t)(k % 7 + 1);
        break;
    case R_EINTR:
        if (k % 2 == 0) {
            errno = EINTR;
            return -1;
        }
        n = n < 4096 ? n : 4096;
        break;
    case R_EOF:
        if (H.read_total >= H.read_limit) {
            H.injected = true;
            return 0;
        }
        n = n < H.read_limit - H.read_total ? n : H.read_limit - H.read_total;
        break;
    case R_EIO:
        if (k == 1) {
            H.injected = true;
            errno = EIO;
            return -1;
        }
        n = n < 4096 ? n : 4096;
        break;
    default:
        break;
    }
    ssize_t r = __real_read(fd, buf, n);
    if (r > 0)
        H.read_total += (size_t)r;
    return r;
}

static void arm(long fail_alloc, long fail_mmap, int mmap_errno, enum read_fault rf)
{
    H.n_alloc = H.n_mmap = H.n_read = H.n_live = H.live_maps = 0;
    H.read_total = 0;
    H.fail_alloc = fail_alloc;
    H.fail_mmap = fail_mmap;
    H.mmap_errno = mmap_errno;
    H.rf = rf;
    H.injected = false;
    H.armed = true;
}

static void disarm(void)
{
    H.armed = false;
    memset(live, 0, sizeof(live));
}

/* ---- stderr, captured: what each failure logged ---- */

static int log_fd = -1, saved_err = -1;
static char logged[8192];

static void capture(const char *dir)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/stderr.txt", dir);
    log_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    unlink(path);
    fflush(stderr);
    saved_err = dup(2);
    dup2(log_fd, 2);
}

static void release(void)
{
    fflush(stderr);
    dup2(saved_err, 2);
    close(saved_err);
    close(log_fd);
}

/* what was logged since the last call, into `logged` */
static const char *take_log(void)
{
    ssize_t n = pread(log_fd, logged, sizeof(logged) - 1, 0);
    logged[n > 0 ? n : 0] = '\0';
    if (ftruncate(log_fd, 0) != 0 || lseek(log_fd, 0, SEEK_SET) != 0)
        logged[0] = '\0';
    return logged;
}

/* ---- the operations ---- */

static const char *model_path;

/* each opens, checks the handle's state, closes; returns the status */
static fy_status op_gguf(void)
{
    struct fy_gguf *g = (struct fy_gguf *)1;
    fy_status st = fy_gguf_open(model_path, &g);
    if (st == FY_OK)
        fy_gguf_close(g);
    else if (g)
        return (fy_status)1; /* a failure that left a handle */
    return st;
}

static fy_status op_model(void)
{
    struct fy_model *m = (struct fy_model *)1;
    fy_status st = fy_model_load(model_path, &m);
    if (st == FY_OK)
        fy_model_free(m);
    else if (m)
        return (fy_status)1;
    return st;
}

static struct fy_gguf *tok_gguf;

static fy_status op_tokenizer(void)
{
    struct fy_tokenizer *t = (struct fy_tokenizer *)1;
    fy_status st = fy_tokenizer_load(tok_gguf, &t);
    if (st == FY_OK)
        fy_tokenizer_free(t);
    else if (t)
        return (fy_status)1;
    return st;
}

/* One case: op under the armed faults. want: the status a fault must give (FY_OK: the fault is
 * survivable). Returns 1 on a failed check (printed), 0 otherwise; *injected: a fault happened. */
static int check(const char *what, fy_status (*op)(void), fy_status want, const char *msg,
                 bool *injected)
{
    fy_status st = op();
    const long n_live = H.n_live, live_maps = H.live_maps;
    *injected = H.injected;
    disarm();
    const char *log = take_log();
    const char *why = NULL;
    if (!*injected)
        why = st != FY_OK ? "failed without a fault" : NULL;
    else if (st != want)
        why = want == FY_OK ? "a survivable fault failed the operation" : "wrong status";
    else if (want != FY_OK && !strstr(log, "ferry: error: "))
        why = "no error message";
    else if (msg && !strstr(log, msg))
        why = "not the expected message";
    if (!why && n_live)
        why = "allocations leaked";
    if (!why && live_maps)
        why = "mappings leaked";
    if (!why)
        return 0;
    printf("FAIL %s: %s (status %d, want %d; %ld blocks, %ld mappings left)\n  log: %.300s\n", what,
           why, (int)st, (int)want, n_live, live_maps, log);
    return 1;
}

/* Every allocation of op failing in turn. */
static int alloc_loop(const char *what, fy_status (*op)(void))
{
    int bad = 0;
    long n = 0;
    for (;; n++) {
        bool injected;
        char w[160];
        snprintf(w, sizeof(w), "%s, allocation %ld failing", what, n);
        arm(n, -1, 0, R_NONE);
        bad += check(w, op, FY_E_NOMEM, NULL, &injected);
        if (!injected || bad > 5)
            break;
    }
    printf("%s %s: each of its %ld allocations failing in turn\n", bad ? "FAIL" : "ok  ", what, n);
    return bad;
}

static int one(const char *what, fy_status (*op)(void), long fail_mmap, int mmap_errno,
               enum read_fault rf, size_t read_limit, fy_status want, const char *msg)
{
    bool injected;
    arm(-1, fail_mmap, mmap_errno, rf);
    H.read_limit = read_limit;
    int bad = check(what, op, want, msg, &injected);
    if (!bad && !injected && (want != FY_OK || rf == R_EOF || rf == R_EIO || fail_mmap >= 0)) {
        printf("FAIL %s: the fault was never injected\n", what);
        bad = 1;
    }
    printf("%s %s\n", bad ? "FAIL" : "ok  ", what);
    return bad;
}

/* The tensors of a --no-mmap open under short reads equal those of a mapped open. */
static int same_tensors(const char *what, enum read_fault rf)
{
    struct fy_gguf *a = NULL, *b = NULL;
    int bad = fy_gguf_open(model_path, &a) != FY_OK;
    fy_gguf_set_load_opts(&(struct fy_gguf_load_opts){.no_mmap = true});
    arm(-1, -1, 0, rf);
    bad |= fy_gguf_open(model_path, &b) != FY_OK;
    disarm();
    fy_gguf_set_load_opts(&(struct fy_gguf_load_opts){0});
    for (int64_t i = 0; !bad && i < fy_gguf_n_tensors(a); i++) {
        const struct fy_gguf_tensor *x = fy_gguf_tensor_at(a, i), *y = fy_gguf_tensor_at(b, i);
        bad |= x->size != y->size || memcmp(x->data, y->data, x->size) != 0;
    }
    fy_gguf_close(a);
    fy_gguf_close(b);
    take_log();
    printf("%s %s: the same tensors as mapped\n", bad ? "FAIL" : "ok  ", what);
    return bad;
}

int main(void)
{
    char dir[64] = "/tmp/fy-fault-XXXXXX", path[128];
    struct fy_synth_config c;
    int failed = 0;
    if (!mkdtemp(dir))
        return FY_TEST_HARD;
    snprintf(path, sizeof(path), "%s/m.gguf", dir);
    model_path = path;
    fy_synth_preset("tiny", &c);
    c.n_layer = 2;
    c.d_model = 32;
    c.n_head = 2;
    c.n_head_kv = 1;
    c.head_dim = 16;
    c.n_expert = 2;
    c.n_expert_used = 1;
    c.n_ff_exp = 32;
    c.n_vocab = 300;
    c.toy_vocab = 1;
    c.sliding_window = 8;
    c.progress = 0;
    if (fy_synth_write(&c, NULL, path) != FY_OK || fy_gguf_open(path, &tok_gguf) != FY_OK) {
        fprintf(stderr, "FAIL: writing the test model\n");
        return FY_TEST_HARD;
    }
    capture(dir);

    failed += alloc_loop("gguf open", op_gguf);
    failed += alloc_loop("model load", op_model);
    failed += alloc_loop("tokenizer load", op_tokenizer);
    fy_gguf_set_load_opts(&(struct fy_gguf_load_opts){.no_mmap = true});
    failed += alloc_loop("gguf open --no-mmap", op_gguf);
    fy_gguf_set_load_opts(&(struct fy_gguf_load_opts){0});

    failed +=
        one("mmap fails (ENOMEM)", op_gguf, 0, ENOMEM, R_NONE, 0, FY_E_IO, "m.gguf: mmap of ");
    failed += one("model load, mmap fails (ENOMEM)", op_model, 0, ENOMEM, R_NONE, 0, FY_E_IO,
                  "m.gguf: mmap of ");
    failed += one("no shared mapping (ENODEV): mapped private", op_gguf, 0, ENODEV, R_NONE, 0,
                  FY_OK, "no shared mapping");
    fy_gguf_set_load_opts(&(struct fy_gguf_load_opts){.no_mmap = true});
    failed += one("--no-mmap, its memory fails (ENOMEM)", op_gguf, 0, ENOMEM, R_NONE, 0, FY_E_IO,
                  "--no-mmap: ");
    failed += one("--no-mmap, 1 to 7 bytes a read", op_gguf, -1, 0, R_SHORT, 0, FY_OK, NULL);
    failed += one("--no-mmap, EINTR every other read", op_gguf, -1, 0, R_EINTR, 0, FY_OK, NULL);
    failed += one("--no-mmap, the file ends early", op_gguf, -1, 0, R_EOF, 1000, FY_E_IO,
                  "the file ended early");
    failed += one("--no-mmap, EIO", op_gguf, -1, 0, R_EIO, 0, FY_E_IO, "Input/output error");
    failed +=
        one("model load --no-mmap, EIO", op_model, -1, 0, R_EIO, 0, FY_E_IO, "Input/output error");
    fy_gguf_set_load_opts(&(struct fy_gguf_load_opts){0});
    failed += same_tensors("--no-mmap, 1 to 7 bytes a read", R_SHORT);
    failed += same_tensors("--no-mmap, EINTR every other read", R_EINTR);

    release();
    fy_gguf_close(tok_gguf);
    unlink(path);
    rmdir(dir);
    printf("%s\n", failed ? "test_fault: FAILED" : "test_fault: ok");
    return failed ? 1 : 0;
}
