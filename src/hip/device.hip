/* The GPU runtime half of fy_gpu.h: device selection, memory (with out-of-memory messages that
 * name what did not fit), pinned host memory, streams, events and copies. Every vendor
 * difference of the host API stays in this file (style.md section 6). */
#include "fy_gpu.h"
#include "fy_gpu_compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FY_HIP_TRY(call, what)                                                                     \
    do {                                                                                           \
        hipError_t e_ = (call);                                                                    \
        if (e_ != hipSuccess) {                                                                    \
            fy_log(FY_LOG_ERR, "GPU: %s: %s", (what), hipGetErrorString(e_));                      \
            return FY_E_GPU;                                                                       \
        }                                                                                          \
    } while (0)

static hipStream_t hs(fy_gpu_stream s) { return (hipStream_t)s; }

static bool g_matrix_units; /* of the device fy_gpu_init selected */
static bool g_async_copy;   /* of the device fy_gpu_init selected */
static uint64_t g_alloc_epoch; /* fy_gpu_malloc and fy_gpu_free calls */

extern "C" uint64_t fy_gpu_alloc_epoch(void) { return g_alloc_epoch; }

extern "C" const char *fy_gpu_platform(void) { return FY_GPU_PLATFORM; }

extern "C" bool fy_gpu_matrix_units(void) { return g_matrix_units; }

extern "C" bool fy_gpu_async_copy(void) { return g_async_copy; }

extern "C" bool fy_gpu_fuse_enabled(void)
{
    const char *v = getenv("FY_GPU_FUSE");
    return !v || strcmp(v, "0") != 0;
}

/* Is a GPU kernel driver loaded on this machine? Without one, "insufficient driver" from the
 * runtime only means that no GPU is installed. */
static bool kernel_driver_present(void)
{
#if defined(FY_GPU_CUDA)
    return access("/proc/driver/nvidia/version", F_OK) == 0;
#elif defined(FY_GPU_HIP)
    return access("/dev/kfd", F_OK) == 0;
#else
    return true; /* the emulator: FY_EMU_DEVICES=-1 stands for a broken driver */
#endif
}

extern "C" int fy_gpu_count(void)
{
    int n = 0;
    const hipError_t e = hipGetDeviceCount(&n);
    if (e == hipSuccess)
        return n;
    (void)hipGetLastError();
    if (e == hipErrorNoDevice || (e == hipErrorInsufficientDriver && !kernel_driver_present()))
        return 0; /* no GPU here: not an error */
    static bool said;
    if (!said) {
        said = true;
        fy_log(FY_LOG_WARN, "GPU: a GPU driver is present but the %s runtime cannot use it: %s "
               "(%s)%s", FY_GPU_PLATFORM, hipGetErrorName(e), hipGetErrorString(e),
               e == hipErrorInsufficientDriver ? "; the driver is older than the runtime this "
                                                 "ferry was built with" : "");
    }
    return -1;
}

extern "C" fy_status fy_gpu_init(int dev, struct fy_gpu_info *info)
{
    int n = fy_gpu_count();
    if (n < 0)
        return FY_E_GPU; /* said by fy_gpu_count */
    if (dev < 0 || dev >= n) {
        fy_log(FY_LOG_ERR, "GPU: device %d requested, %d present (%s build)", dev, n,
               FY_GPU_PLATFORM);
        return FY_E_GPU;
    }
    FY_HIP_TRY(hipSetDevice(dev), "select device");
    struct fy_gpu_info local;
    if (!info)
        info = &local;
    hipDeviceProp_t p;
    memset(info, 0, sizeof(*info));
    FY_HIP_TRY(hipGetDeviceProperties(&p, dev), "device properties");
    snprintf(info->name, sizeof(info->name), "%s", p.name);
#if defined(FY_GPU_CUDA)
    snprintf(info->arch, sizeof(info->arch), "sm_%d%d", p.major, p.minor);
    info->matrix_units = p.major >= 8;
    info->async_copy = p.major >= 8; /* cp.async */
#elif defined(FY_GPU_HIP)
    snprintf(info->arch, sizeof(info->arch), "%s", p.gcnArchName);
    info->matrix_units = !strncmp(p.gcnArchName, "gfx90a", 6) || !strncmp(p.gcnArchName, "gfx94", 5);
#else
    snprintf(info->arch, sizeof(info->arch), "emu");
    info->matrix_units = true; /* the emulator runs the matrix-unit code path */
    info->async_copy = true;   /* and emulates asynchronous copies (made at the wait) */
#endif
    g_matrix_units = info->matrix_units;
    g_async_copy = info->async_copy;
    info->n_sm = p.multiProcessorCount;
    info->warp = p.warpSize;
    FY_HIP_TRY(hipMemGetInfo(&info->mem_free, &info->mem_total), "memory info");
    return FY_OK;
}

static double gib(size_t n) { return (double)n / (1024.0 * 1024.0 * 1024.0); }

/* "1.25 GiB", "3.0 MiB" or "512 B" */
static const char *human(size_t n, char *buf, size_t cap)
{
    if (n >= ((size_t)1 << 30))
        snprintf(buf, cap, "%.2f GiB", gib(n));
    else if (n >= ((size_t)1 << 20))
        snprintf(buf, cap, "%.1f MiB", (double)n / 1048576.0);
    else
        snprintf(buf, cap, "%zu B", n);
    return buf;
}

extern "C" fy_status fy_gpu_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    size_t f = 0, t = 0;
    FY_HIP_TRY(hipMemGetInfo(&f, &t), "memory info");
    if (free_bytes)
        *free_bytes = f;
    if (total_bytes)
        *total_bytes = t;
    return FY_OK;
}

extern "C" fy_status fy_gpu_malloc(void **p, size_t n, const char *what)
{
    *p = NULL;
    g_alloc_epoch++;
    hipError_t e = hipMalloc(p, n ? n : 1);
    if (e == hipSuccess)
        return FY_OK;
    (void)hipGetLastError(); /* clear the sticky error */
    *p = NULL;
    size_t f = 0, t = 0;
    if (hipMemGetInfo(&f, &t) != hipSuccess)
        (void)hipGetLastError();
    char a[32], b[32], c[32];
    fy_log(FY_LOG_ERR, "GPU out of memory: %s needs %s (%zu bytes), %s free of %s (%s)",
           what ? what : "an allocation", human(n, a, sizeof(a)), n, human(f, b, sizeof(b)),
           human(t, c, sizeof(c)), hipGetErrorString(e));
    return FY_E_NOMEM;
}

extern "C" void fy_gpu_free(void *p)
{
    g_alloc_epoch += p != NULL;
    if (p && hipFree(p) != hipSuccess)
        (void)hipGetLastError();
}

extern "C" fy_status fy_gpu_host_register(void *p, size_t n, bool read_only)
{
    unsigned flags = hipHostRegisterDefault;
#ifdef hipHostRegisterReadOnly /* CUDA 11.1+, ROCm 6 (older HIP headers lack it: Debian 12) */
    if (read_only)
        flags |= hipHostRegisterReadOnly; /* mapped read-only model files */
#else
    (void)read_only;
#endif
    hipError_t e = hipHostRegister(p, n, flags);
    if (e != hipSuccess) {
        (void)hipGetLastError();
        fy_log(FY_LOG_WARN, "GPU: cannot pin %.2f GiB of host memory (%s)", gib(n),
               hipGetErrorString(e));
        return FY_E_GPU;
    }
    return FY_OK;
}

extern "C" void fy_gpu_host_unregister(void *p)
{
    if (p && hipHostUnregister(p) != hipSuccess)
        (void)hipGetLastError();
}

extern "C" fy_status fy_gpu_host_alloc(void **p, size_t n)
{
    *p = NULL;
    hipError_t e = hipHostMalloc(p, n ? n : 1, hipHostMallocDefault);
    if (e != hipSuccess) {
        (void)hipGetLastError();
        *p = NULL;
        fy_log(FY_LOG_ERR, "GPU: cannot allocate %.2f GiB of pinned host memory (%s)", gib(n),
               hipGetErrorString(e));
        return FY_E_NOMEM;
    }
    return FY_OK;
}

extern "C" void fy_gpu_host_free(void *p)
{
    if (p && hipHostFree(p) != hipSuccess)
        (void)hipGetLastError();
}

extern "C" fy_status fy_gpu_stream_new(fy_gpu_stream *s)
{
    hipStream_t h = NULL;
    *s = NULL;
    FY_HIP_TRY(hipStreamCreateWithFlags(&h, hipStreamNonBlocking), "create stream");
    *s = (fy_gpu_stream)h;
    return FY_OK;
}

extern "C" void fy_gpu_stream_free(fy_gpu_stream s)
{
    if (s && hipStreamDestroy(hs(s)) != hipSuccess)
        (void)hipGetLastError();
}

extern "C" fy_status fy_gpu_stream_sync(fy_gpu_stream s)
{
    FY_HIP_TRY(hipStreamSynchronize(hs(s)), "stream synchronize");
    return FY_OK;
}

extern "C" fy_status fy_gpu_event_new(fy_gpu_event *ev)
{
    hipEvent_t h = NULL;
    *ev = NULL;
    FY_HIP_TRY(hipEventCreateWithFlags(&h, hipEventDisableTiming), "create event");
    *ev = (fy_gpu_event)h;
    return FY_OK;
}

extern "C" void fy_gpu_event_free(fy_gpu_event ev)
{
    if (ev && hipEventDestroy((hipEvent_t)ev) != hipSuccess)
        (void)hipGetLastError();
}

extern "C" fy_status fy_gpu_event_record(fy_gpu_event ev, fy_gpu_stream s)
{
    FY_HIP_TRY(hipEventRecord((hipEvent_t)ev, hs(s)), "record event");
    return FY_OK;
}

extern "C" fy_status fy_gpu_stream_wait(fy_gpu_stream s, fy_gpu_event ev)
{
    FY_HIP_TRY(hipStreamWaitEvent(hs(s), (hipEvent_t)ev, 0), "stream wait");
    return FY_OK;
}

extern "C" fy_status fy_gpu_event_sync(fy_gpu_event ev)
{
    FY_HIP_TRY(hipEventSynchronize((hipEvent_t)ev), "event synchronize");
    return FY_OK;
}

extern "C" fy_status fy_gpu_copy_h2d(void *dst, const void *src, size_t n, fy_gpu_stream s)
{
    if (!n)
        return FY_OK;
    FY_HIP_TRY(hipMemcpyAsync(dst, src, n, hipMemcpyHostToDevice, hs(s)), "copy to device");
    return FY_OK;
}

extern "C" fy_status fy_gpu_copy_d2h(void *dst, const void *src, size_t n, fy_gpu_stream s)
{
    if (!n)
        return FY_OK;
    FY_HIP_TRY(hipMemcpyAsync(dst, src, n, hipMemcpyDeviceToHost, hs(s)), "copy to host");
    return FY_OK;
}

extern "C" fy_status fy_gpu_copy_d2d(void *dst, const void *src, size_t n, fy_gpu_stream s)
{
    if (!n)
        return FY_OK;
    FY_HIP_TRY(hipMemcpyAsync(dst, src, n, hipMemcpyDeviceToDevice, hs(s)), "copy on device");
    return FY_OK;
}

extern "C" fy_status fy_gpu_memset(void *dst, int v, size_t n, fy_gpu_stream s)
{
    if (!n)
        return FY_OK;
    FY_HIP_TRY(hipMemsetAsync(dst, v, n, hs(s)), "memset");
    return FY_OK;
}

/* ------------------------------------------------------------------ graphs */

extern "C" fy_status fy_gpu_capture_begin(fy_gpu_stream s)
{
    FY_HIP_TRY(hipStreamBeginCapture(hs(s), hipStreamCaptureModeRelaxed), "begin graph capture");
    return FY_OK;
}

extern "C" fy_status fy_gpu_capture_end(fy_gpu_stream s, fy_gpu_graph *out)
{
    hipGraph_t gr = NULL;
    hipGraphExec_t ex = NULL;
    *out = NULL;
    FY_HIP_TRY(hipStreamEndCapture(hs(s), &gr), "end graph capture");
#if defined(FY_GPU_CUDA)
    const hipError_t e = cudaGraphInstantiate(&ex, gr, 0);
#else
    const hipError_t e = hipGraphInstantiate(&ex, gr, NULL, NULL, 0);
#endif
    (void)hipGraphDestroy(gr);
    FY_HIP_TRY(e, "instantiate graph");
    *out = (fy_gpu_graph)ex;
    return FY_OK;
}

extern "C" fy_status fy_gpu_graph_launch(fy_gpu_graph g, fy_gpu_stream s)
{
    FY_HIP_TRY(hipGraphLaunch((hipGraphExec_t)g, hs(s)), "launch graph");
    return FY_OK;
}

extern "C" void fy_gpu_graph_free(fy_gpu_graph g)
{
    if (g && hipGraphExecDestroy((hipGraphExec_t)g) != hipSuccess)
        (void)hipGetLastError();
}
