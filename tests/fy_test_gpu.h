/* Shared helpers for ferry's GPU kernel tests (tests/test_gpu_*.c, on a device or the emulator):
 * the start (skip without a device, init, one stream, the "device:" line), the end (free the
 * stream, count the failures), and struct fy_bufs, which owns a case's host and device buffers so
 * that a case allocates, uploads and downloads in a few lines and frees everything in one call.
 *
 *     struct fy_bufs b = { .s = s };
 *     float *x = fy_bufs_host(&b, bytes), *got = fy_bufs_host(&b, bytes);
 *     if (b.err) goto done;                    // "out of memory" already printed
 *     ... fill x ...
 *     float *dx = fy_bufs_up(&b, x, bytes, "x"), *dy = fy_bufs_dev(&b, bytes, "y");
 *     if (b.err || fy_gpu_kernel(dy, dx, ..., s) != FY_OK || fy_bufs_down(&b, got, dy, bytes))
 *         goto done;
 *     ... compare ...
 * done:
 *     fy_bufs_free(&b);
 */
#ifndef FY_TEST_GPU_H
#define FY_TEST_GPU_H

#include <string.h>

#include "fy_test.h"
#include "hip/fy_gpu.h"

#define FY_BUFS_MAX 16

/* Returns FY_TEST_SKIP without a device, FY_TEST_HARD when the driver cannot be used or device 0
 * or a stream cannot be set
 * up, else 0 with *s (and *info, unless NULL) filled and "device: name (arch, platform, warp N)"
 * printed. */
static inline int fy_test_gpu_start(struct fy_gpu_info *info, fy_gpu_stream *s)
{
    struct fy_gpu_info own;
    if (!info)
        info = &own;
    const int n = fy_gpu_count();
    if (n == 0)
        return FY_TEST_SKIP;
    if (n < 0) /* a device whose driver cannot be used fails the suite, not skips it */
        return FY_TEST_HARD;
    if (fy_gpu_init(0, info) != FY_OK || fy_gpu_stream_new(s) != FY_OK)
        return FY_TEST_HARD;
    printf("device: %s (%s, %s, warp %d)\n", info->name, info->arch, fy_gpu_platform(), info->warp);
    return 0;
}

/* 1 on the CPU emulator (where the big cases are trimmed), 0 on a real device. */
static inline int fy_test_gpu_is_emu(void)
{
    return !strcmp(fy_gpu_platform(), "emu");
}

/* Frees s, reports "<failed> <what> case(s) failed" on stderr if any; the exit code of main. */
static inline int fy_test_gpu_end(fy_gpu_stream s, int failed, const char *what)
{
    fy_gpu_stream_free(s);
    if (failed)
        fprintf(stderr, "%d %s case(s) failed\n", failed, what);
    return failed ? 1 : 0;
}

/* Ends a PASS/FAIL line: on failure " (first bad index i: got[i] vs ref[i])", then '\n'. */
static inline void fy_test_first_bad(int64_t first, const float *got, const float *ref)
{
    if (first >= 0)
        printf(" (first bad index %lld: %.9g vs %.9g)", (long long)first, (double)got[first],
               (double)ref[first]);
    printf("\n");
}

/* The buffers of one case. err is sticky: once an allocation or copy fails, the later calls do
 * nothing and return NULL / 1, so a run of them needs one check. Copies go on stream s. */
struct fy_bufs {
    fy_gpu_stream s;
    int err;
    int n_host, n_dev;
    void *host[FY_BUFS_MAX];
    void *dev[FY_BUFS_MAX];
};

/* n zeroed host bytes (n > 0), freed by fy_bufs_free; NULL and "out of memory" on failure. */
static inline void *fy_bufs_host(struct fy_bufs *b, size_t n)
{
    void *p = b->err || b->n_host == FY_BUFS_MAX ? NULL : calloc(1, n);
    if (!p) {
        if (!b->err)
            fprintf(stderr, "out of memory (%zu bytes)\n", n);
        b->err = 1;
        return NULL;
    }
    return b->host[b->n_host++] = p;
}

/* n bytes of device memory (n > 0) named what (in fy_gpu_malloc's error message), uninitialized,
 * freed by fy_bufs_free; NULL on failure. */
static inline void *fy_bufs_dev(struct fy_bufs *b, size_t n, const char *what)
{
    void *p = NULL;
    if (b->err || b->n_dev == FY_BUFS_MAX || fy_gpu_malloc(&p, n, what) != FY_OK) {
        b->err = 1;
        return NULL;
    }
    return b->dev[b->n_dev++] = p;
}

/* A device copy of n host bytes (fy_bufs_dev, then an upload queued on b->s); NULL on failure. */
static inline void *fy_bufs_up(struct fy_bufs *b, const void *host, size_t n, const char *what)
{
    void *p = fy_bufs_dev(b, n, what);
    if (p && fy_gpu_copy_h2d(p, host, n, b->s) != FY_OK) {
        b->err = 1;
        return NULL;
    }
    return p;
}

/* Downloads n bytes of dev into host and waits for the stream; 0, or 1 on failure. */
static inline int fy_bufs_down(struct fy_bufs *b, void *host, const void *dev, size_t n)
{
    if (b->err || fy_gpu_copy_d2h(host, dev, n, b->s) != FY_OK || fy_gpu_stream_sync(b->s) != FY_OK)
        b->err = 1;
    return b->err;
}

/* Frees every buffer of b (device, then host); b can be reused. */
static inline void fy_bufs_free(struct fy_bufs *b)
{
    while (b->n_dev > 0)
        fy_gpu_free(b->dev[--b->n_dev]);
    while (b->n_host > 0)
        free(b->host[--b->n_host]);
    b->err = 0;
}

#endif
