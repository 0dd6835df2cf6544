/* Knobs, counters and self-tests of the CPU GPU emulator (src/hip/emu/), callable from C tests.
 * Only linked in emulator builds (test_*_emu, ferry-emu). */
#ifndef FY_EMU_CTL_H
#define FY_EMU_CTL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fy_emu_stats {
    uint64_t launches;     /* kernels run */
    uint64_t blocks;       /* blocks run */
    uint64_t threads;      /* GPU threads (fibers) run */
    uint64_t barriers;     /* __syncthreads released (per block) */
    uint64_t warp_ops;     /* shuffles / ballots / syncwarps resolved (per warp) */
    uint64_t copies;       /* memcpy / memset operations run */
    uint64_t copy_bytes;
    size_t mem_used;       /* device bytes allocated now */
    size_t mem_peak;       /* since the last reset */
    size_t mem_limit;      /* the emulated device's memory */
    int64_t pending;       /* operations enqueued on streams and not yet run */
    /* Happens-before analysis of what was enqueued since the last reset (vector clocks over
     * streams, from events, stream 0 and host synchronisation; see emu_priv.h): operations a GPU
     * is allowed to run at the same time, whatever order the emulator ran them in. */
    uint64_t copies_overlappable;   /* copies/memsets concurrent with a kernel on another stream */
    uint64_t kernels_overlappable;  /* kernels concurrent with a copy/memset on another stream */
    /* Bytes hipHostRegister was asked to pin that lie in private file mappings (MAP_PRIVATE of
     * a file, /proc/self/maps): a real driver pins for the long term, and Linux then breaks
     * copy-on-write of such page-cache pages (mm/gup.c, gup_must_unshare), so each becomes an
     * anonymous copy. ferry maps model files MAP_SHARED read-only, which is not a COW mapping. */
    uint64_t pin_cow_bytes;
    /* Times the host waited for the device: stream, event and device synchronisation, and the
     * synchronous operations of stream 0 (hipMemcpy, hipMemset, hipFree, ...). */
    uint64_t host_syncs;
    /* Kernel launches the host made (FY_LAUNCH; kernels replayed by a graph are counted in
     * launches only) and graphs launched (hipGraphLaunch). */
    uint64_t launch_calls;
    uint64_t graph_launches;
    /* Asynchronous global-to-shared copies started by kernels (fy_async_copy16, cp.async on
     * CUDA sm_80+), and the waits that completed at least one. */
    uint64_t async_copies;
    uint64_t async_waits;
};
void fy_emu_stats_get(struct fy_emu_stats *st);
/* counters to 0, mem_peak to mem_used; the overlap analysis forgets what was enqueued before */
void fy_emu_stats_reset(void);

/* Emulated device memory; hipMalloc fails with hipErrorOutOfMemory beyond it. 0: the default
 * (FY_EMU_MEM_MB, else half the host's RAM, at most 16 GiB). Never below what is allocated. */
void fy_emu_set_mem_limit(size_t bytes);
/* OS threads running blocks (1 = only the thread that syncs; 0 = FY_EMU_WORKERS or all cores). */
void fy_emu_set_workers(int n);
/* 1: every stream operation runs as it is enqueued (FY_EMU_EAGER=1); 0: lazy (default). */
void fy_emu_set_eager(int on);
/* 1: lanes run 31..0 (and warps last to first) between synchronisation points (FY_EMU_ORDER=reverse). */
void fy_emu_set_reverse(int on);
/* Number of operations enqueued on all streams that have not run yet. */
int64_t fy_emu_pending(void);
/* 1 when [p, p + n) lies inside one device allocation. */
int fy_emu_is_device_ptr(const void *p, size_t n);

/* The emulator's f16 conversions (fy_f16_to_f32 / fy_f32_to_f16 of the dialect). */
float fy_emu_f16_to_f32(uint16_t h);
uint16_t fy_emu_f32_to_f16(float f);

/* Self-tests: kernels inside the emulator that check launch geometry, barriers, shuffles,
 * atomics, dynamic shared memory, lazy streams, events and error reporting. Returns 0 on pass,
 * 1 on failure (printed), -1 for an unknown name. The names starting with "abort_" must kill
 * the process, by abort() (divergent barrier or shuffle) or SIGSEGV (a read past the end of a
 * buffer hits the guard page): run them in a child process. */
int fy_emu_selftest(const char *name);
const char *fy_emu_selftest_name(int i);  /* i = 0, 1, ...; NULL past the last */

#ifdef __cplusplus
}
#endif

#endif
