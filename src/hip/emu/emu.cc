/* The CPU emulator of the GPU dialect (see fy_emu.h for the model): configuration, errors,
 * device queries and the knobs and counters of fy_emu_ctl.h. The rest is in sched.cc (fibers,
 * block scheduler, worker pool), memory.cc, stream.cc (streams, events, launches) and
 * selftest.cc; emu_priv.h is what they share. */
#include "emu_priv.h"
#include "fy_emu_ctl.h"

#include <stdarg.h>
#include <stdlib.h>

#include <algorithm>
#include <thread>

using namespace fy_emu_priv;

namespace {

int g_cur_dev = 0;
thread_local hipError_t t_last_error = hipSuccess;

}  // namespace

namespace fy_emu_priv {

/* ================================================================== configuration */

long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end = nullptr;
    long x = strtol(v, &end, 10);
    return end && *end == 0 ? x : def;
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fy_emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

Config &cfg()
{
    static Config c = [] {
        Config k;
        unsigned hc = std::thread::hardware_concurrency();
        k.workers = (int)env_long("FY_EMU_WORKERS", hc ? (long)std::min(hc, 64u) : 1);
        if (k.workers < 1)
            k.workers = 1;
        k.eager = env_long("FY_EMU_EAGER", 0) != 0;
        k.trace = env_long("FY_EMU_TRACE", 0) != 0;
        const char *o = getenv("FY_EMU_ORDER");
        k.reverse = o && !strcmp(o, "reverse");
        k.stack_bytes = (size_t)env_long("FY_EMU_STACK_KB", 128) * 1024;
        if (k.stack_bytes < 16 * 1024)
            k.stack_bytes = 16 * 1024;
        k.devices = (int)env_long("FY_EMU_DEVICES", 1);
        k.sms = (int)env_long("FY_EMU_SMS", 4);
        k.guard = env_long("FY_EMU_GUARD", 1) != 0;
        if (k.sms < 1)
            k.sms = 1;
        return k;
    }();
    return c;
}

Stats g_stats;

/* ================================================================== errors */

std::recursive_mutex g_mu;

hipError_t fail(hipError_t e)
{
    t_last_error = e;
    return e;
}

hipError_t fail_msg(hipError_t e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fy_emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return fail(e);
}

}  // namespace fy_emu_priv

/* ================================================================== hip* runtime: errors, devices */

const char *hipGetErrorName(hipError_t e)
{
    switch (e) {
    case hipSuccess: return "hipSuccess";
    case hipErrorInvalidValue: return "hipErrorInvalidValue";
    case hipErrorOutOfMemory: return "hipErrorOutOfMemory";
    case hipErrorNotInitialized: return "hipErrorNotInitialized";
    case hipErrorInvalidConfiguration: return "hipErrorInvalidConfiguration";
    case hipErrorInvalidDevicePointer: return "hipErrorInvalidDevicePointer";
    case hipErrorInvalidMemcpyDirection: return "hipErrorInvalidMemcpyDirection";
    case hipErrorInsufficientDriver: return "hipErrorInsufficientDriver";
    case hipErrorNoDevice: return "hipErrorNoDevice";
    case hipErrorInvalidDevice: return "hipErrorInvalidDevice";
    case hipErrorInvalidResourceHandle: return "hipErrorInvalidResourceHandle";
    case hipErrorNotReady: return "hipErrorNotReady";
    case hipErrorHostMemoryAlreadyRegistered: return "hipErrorHostMemoryAlreadyRegistered";
    case hipErrorHostMemoryNotRegistered: return "hipErrorHostMemoryNotRegistered";
    case hipErrorLaunchFailure: return "hipErrorLaunchFailure";
    case hipErrorStreamCaptureUnsupported: return "hipErrorStreamCaptureUnsupported";
    case hipErrorStreamCaptureInvalidated: return "hipErrorStreamCaptureInvalidated";
    case hipErrorCapturedEvent: return "hipErrorCapturedEvent";
    }
    return "hipErrorUnknown";
}

const char *hipGetErrorString(hipError_t e)
{
    switch (e) {
    case hipSuccess: return "no error";
    case hipErrorInvalidValue: return "invalid argument";
    case hipErrorOutOfMemory: return "out of memory";
    case hipErrorNotInitialized: return "initialization error";
    case hipErrorInvalidConfiguration: return "invalid configuration argument";
    case hipErrorInvalidDevicePointer: return "invalid device pointer";
    case hipErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case hipErrorInsufficientDriver: return "driver version is insufficient for runtime version (FY_EMU_DEVICES=-1)";
    case hipErrorNoDevice: return "no GPU device is detected (FY_EMU_DEVICES=0)";
    case hipErrorInvalidDevice: return "invalid device ordinal";
    case hipErrorInvalidResourceHandle: return "invalid resource handle";
    case hipErrorNotReady: return "device not ready";
    case hipErrorHostMemoryAlreadyRegistered: return "part or all of the requested memory range is already mapped";
    case hipErrorHostMemoryNotRegistered: return "pointer does not correspond to a registered memory region";
    case hipErrorLaunchFailure: return "unspecified launch failure";
    case hipErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case hipErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case hipErrorCapturedEvent: return "operation not permitted on an event last recorded in a capturing stream";
    }
    return "unknown error";
}

hipError_t hipGetLastError(void)
{
    hipError_t e = t_last_error;
    t_last_error = hipSuccess;
    return e;
}

hipError_t hipPeekAtLastError(void) { return t_last_error; }

hipError_t hipGetDeviceCount(int *n)
{
    if (!n)
        return fail(hipErrorInvalidValue);
    *n = std::max(cfg().devices, 0);
    if (cfg().devices < 0) /* FY_EMU_DEVICES=-1: a driver that cannot be used */
        return fail(hipErrorInsufficientDriver);
    return *n ? hipSuccess : fail(hipErrorNoDevice);
}

hipError_t hipSetDevice(int dev)
{
    if (dev < 0 || dev >= cfg().devices)
        return fail(hipErrorInvalidDevice);
    g_cur_dev = dev;
    return hipSuccess;
}

hipError_t hipGetDevice(int *dev)
{
    if (!dev)
        return fail(hipErrorInvalidValue);
    if (cfg().devices <= 0)
        return fail(hipErrorNoDevice);
    *dev = g_cur_dev;
    return hipSuccess;
}

hipError_t hipGetDeviceProperties(hipDeviceProp_t *p, int dev)
{
    if (!p)
        return fail(hipErrorInvalidValue);
    if (dev < 0 || dev >= cfg().devices)
        return fail(hipErrorInvalidDevice);
    Guard g(g_mu);
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "ferry CPU emulator (warp %d, %d workers)", kWarp,
             cfg().workers);
    snprintf(p->gcnArchName, sizeof(p->gcnArchName), "emu");
    p->totalGlobalMem = mem_limit();
    p->sharedMemPerBlock = kSmemDefault;
    p->sharedMemPerBlockOptin = kSmemOptin;
    p->sharedMemPerMultiprocessor = kSmemOptin;
    p->maxSharedMemoryPerMultiProcessor = kSmemOptin;
    p->totalConstMem = 64 * 1024;
    p->regsPerBlock = 65536;
    p->warpSize = kWarp;
    p->maxThreadsPerBlock = kMaxThreads;
    p->maxThreadsDim[0] = kMaxThreads;
    p->maxThreadsDim[1] = kMaxThreads;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = 65535;
    p->maxGridSize[2] = 65535;
    p->maxThreadsPerMultiProcessor = 2048;
    p->clockRate = 1000000;
    p->memoryClockRate = 1000000;
    p->memoryBusWidth = 64;
    p->major = 0;
    p->minor = 0;
    p->multiProcessorCount = cfg().sms;
    p->l2CacheSize = 4 << 20;
    p->integrated = 1;
    p->canMapHostMemory = 0;
    p->concurrentKernels = 0;
    p->asyncEngineCount = 0;
    return hipSuccess;
}

hipError_t hipDeviceGetAttribute(int *v, hipDeviceAttribute_t a, int dev)
{
    hipDeviceProp_t p;
    if (!v)
        return fail(hipErrorInvalidValue);
    hipError_t e = hipGetDeviceProperties(&p, dev);
    if (e != hipSuccess)
        return e;
    switch (a) {
    case hipDeviceAttributeMaxThreadsPerBlock: *v = p.maxThreadsPerBlock; break;
    case hipDeviceAttributeWarpSize: *v = p.warpSize; break;
    case hipDeviceAttributeMaxSharedMemoryPerBlock: *v = (int)p.sharedMemPerBlock; break;
    case hipDeviceAttributeMultiprocessorCount: *v = p.multiProcessorCount; break;
    case hipDeviceAttributeComputeCapabilityMajor: *v = p.major; break;
    case hipDeviceAttributeComputeCapabilityMinor: *v = p.minor; break;
    case hipDeviceAttributeSharedMemPerBlockOptin: *v = (int)p.sharedMemPerBlockOptin; break;
    case hipDeviceAttributeL2CacheSize: *v = p.l2CacheSize; break;
    default: return fail(hipErrorInvalidValue);
    }
    return hipSuccess;
}

/* ================================================================== fy_emu_ctl.h */

extern "C" {

void fy_emu_stats_get(struct fy_emu_stats *st)
{
    Guard g(g_mu);
    st->launches = g_stats.launches.load();
    st->blocks = g_stats.blocks.load();
    st->threads = g_stats.threads.load();
    st->barriers = g_stats.barriers.load();
    st->warp_ops = g_stats.warp_ops.load();
    st->copies = g_stats.copies.load();
    st->copy_bytes = g_stats.copy_bytes.load();
    st->mem_used = g_mem_used;
    st->mem_peak = g_mem_peak;
    st->mem_limit = mem_limit();
    st->pending = 0;
    for (fy_emu_stream *s : g_streams)
        st->pending += (int64_t)s->q.size();
    st->copies_overlappable = g_stats.copies_overlappable.load();
    st->pin_cow_bytes = g_stats.pin_cow_bytes.load();
    st->host_syncs = g_stats.host_syncs.load();
    st->launch_calls = g_stats.launch_calls.load();
    st->graph_launches = g_stats.graph_launches.load();
    st->kernels_overlappable = g_stats.kernels_overlappable.load();
    st->async_copies = g_stats.async_copies.load();
    st->async_waits = g_stats.async_waits.load();
}

void fy_emu_stats_reset(void)
{
    Guard g(g_mu);
    g_stats.launches = 0;
    g_stats.blocks = 0;
    g_stats.threads = 0;
    g_stats.barriers = 0;
    g_stats.warp_ops = 0;
    g_stats.copies = 0;
    g_stats.copy_bytes = 0;
    g_stats.host_syncs = 0;
    g_stats.launch_calls = 0;
    g_stats.graph_launches = 0;
    g_stats.async_copies = 0;
    g_stats.async_waits = 0;
    g_stats.pin_cow_bytes = 0;
    g_mem_peak = g_mem_used;
    overlap_reset();
}

void fy_emu_set_mem_limit(size_t bytes)
{
    Guard g(g_mu);
    g_mem_limit = bytes ? std::max(bytes, g_mem_used) : std::max(default_mem_limit(), g_mem_used);
}

void fy_emu_set_workers(int n)
{
    Guard g(g_mu);
    if (n <= 0) {
        unsigned hc = std::thread::hardware_concurrency();
        n = (int)env_long("FY_EMU_WORKERS", hc ? (long)std::min(hc, 64u) : 1);
    }
    cfg().workers = std::max(n, 1);
}

void fy_emu_set_eager(int on)
{
    Guard g(g_mu);
    cfg().eager = on != 0;
}

void fy_emu_set_reverse(int on)
{
    Guard g(g_mu);
    cfg().reverse = on != 0;
}

int64_t fy_emu_pending(void)
{
    struct fy_emu_stats st;
    fy_emu_stats_get(&st);
    return st.pending;
}

int fy_emu_is_device_ptr(const void *p, size_t n)
{
    Guard g(g_mu);
    return is_dev(p, n);
}

float fy_emu_f16_to_f32(uint16_t h) { return fy_f16_to_f32(h); }
uint16_t fy_emu_f32_to_f16(float f) { return fy_f32_to_f16(f); }

}  // extern "C"
