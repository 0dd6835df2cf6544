/* The CPU emulator: device memory (each buffer ends at a guard page), pinned host memory, and
 * copies and memsets, queued on streams like kernels. */
#include "emu_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <vector>

using namespace fy_emu_priv;

namespace {

struct DevAlloc {
    size_t n;        /* bytes asked for */
    void *map;       /* guarded: the mapping (buffer, then a PROT_NONE page); else null */
    size_t map_len;
};
std::map<uintptr_t, DevAlloc> g_dev;  /* device allocations by base */
std::map<uintptr_t, std::pair<size_t, bool>> g_pinned;  /* host ranges: base -> (bytes, owned) */

/* the allocation holding [p, p + n), or g_dev.end() */
std::map<uintptr_t, DevAlloc>::iterator dev_find(const void *p, size_t n)
{
    const uintptr_t a = (uintptr_t)p;
    auto it = g_dev.upper_bound(a);
    if (it == g_dev.begin())
        return g_dev.end();
    --it;
    const size_t sz = it->second.n;
    if (a - it->first > sz || n > sz - (a - it->first))
        return g_dev.end();
    if (n == 0 && a - it->first == sz)
        return g_dev.end();
    return it;
}

}  // namespace

namespace fy_emu_priv {

size_t g_mem_used = 0;
size_t g_mem_peak = 0;
size_t g_mem_limit = 0;

size_t default_mem_limit()
{
    long mb = env_long("FY_EMU_MEM_MB", 0);
    if (mb > 0)
        return (size_t)mb << 20;
    long pages = sysconf(_SC_PHYS_PAGES);
    long psz = sysconf(_SC_PAGESIZE);
    size_t half = pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz / 2 : (size_t)4 << 30;
    return std::min(half, (size_t)16 << 30);
}

size_t mem_limit()
{
    if (!g_mem_limit)
        g_mem_limit = default_mem_limit();
    return g_mem_limit;
}

bool is_dev(const void *p, size_t n) { return dev_find(p, n) != g_dev.end(); }
bool is_pinned(const void *p, size_t n)
{
    const uintptr_t a = (uintptr_t)p;
    auto it = g_pinned.upper_bound(a);
    if (it == g_pinned.begin())
        return false;
    --it;
    return a - it->first < it->second.first && n <= it->second.first - (a - it->first);
}

}  // namespace fy_emu_priv

namespace {

void count_copy(size_t n)
{
    g_stats.copies.fetch_add(1, std::memory_order_relaxed);
    g_stats.copy_bytes.fetch_add(n, std::memory_order_relaxed);
}

hipError_t check_copy(void *dst, const void *src, size_t n, hipMemcpyKind kind)
{
    const bool dd = is_dev(dst, n);
    const bool sd = is_dev(src, n);
    const bool dh = !dd && !is_dev(dst, 1);  /* neither: starts inside a device buffer, overruns it */
    const bool sh = !sd && !is_dev(src, 1);
    bool ok = false;
    switch (kind) {
    case hipMemcpyHostToDevice: ok = dd && sh; break;
    case hipMemcpyDeviceToHost: ok = sd && dh; break;
    case hipMemcpyDeviceToDevice: ok = dd && sd; break;
    case hipMemcpyHostToHost: ok = dh && sh; break;
    case hipMemcpyDefault: ok = (dd || dh) && (sd || sh); break;
    }
    if (!ok)
        return fail_msg(hipErrorInvalidValue,
                        "memcpy of %zu bytes, kind %d: dst %p is %s, src %p is %s", n, (int)kind,
                        dst, dd ? "device memory" : dh ? "host memory" : "out of a device buffer",
                        src, sd ? "device memory" : sh ? "host memory" : "out of a device buffer");
    return hipSuccess;
}

hipError_t memcpy_async(void *dst, const void *src, size_t n, hipMemcpyKind kind,
                        fy_emu_stream *s)
{
    if (!stream_ok(s))
        return fail(hipErrorInvalidResourceHandle);
    if (n == 0)
        return hipSuccess;
    if (!dst || !src)
        return fail(hipErrorInvalidValue);
    hipError_t e = check_copy(dst, src, n, kind);
    if (e != hipSuccess)
        return e;
    /* host to host (kind Default or HostToHost) is no transfer the device could overlap */
    const OpKind ok = is_dev(dst, n) || is_dev(src, n) ? OpKind::copy : OpKind::other;
    if (!is_dev(src, n) && !is_pinned(src, n)) {
        if (s && s->capture)
            return fail_msg(hipErrorStreamCaptureUnsupported,
                            "copy of %zu bytes from pageable host memory %p into a graph capture "
                            "(a replay would copy the capture's bytes): use pinned memory", n, src);
        /* pageable source: the runtime stages it before returning, so the caller may reuse it */
        auto stage = std::make_shared<std::vector<unsigned char>>((const unsigned char *)src,
                                                                  (const unsigned char *)src + n);
        enqueue(s, ok, [dst, stage, n] {
            memcpy(dst, stage->data(), n);
            count_copy(n);
        });
    } else {
        enqueue(s, ok, [dst, src, n] {
            memmove(dst, src, n);
            count_copy(n);
        });
    }
    return hipSuccess;
}

}  // namespace

/* ================================================================== hip* runtime: memory */

hipError_t hipMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    Guard g(g_mu);
    const size_t lim = mem_limit();
    if (free_bytes)
        *free_bytes = lim > g_mem_used ? lim - g_mem_used : 0;
    if (total_bytes)
        *total_bytes = lim;
    return hipSuccess;
}

hipError_t hipMalloc(void **p, size_t n)
{
    if (!p)
        return fail(hipErrorInvalidValue);
    *p = nullptr;
    if (n == 0)
        return hipSuccess;
    Guard g(g_mu);
    const size_t sz = (n + 255) & ~(size_t)255;
    if (sz < n || sz > mem_limit() || g_mem_used > mem_limit() - sz)
        return fail(hipErrorOutOfMemory);
    DevAlloc a = {n, nullptr, 0};
    void *m = nullptr;
    if (cfg().guard && g_dev.size() < 8192) {
        /* the buffer ends (256-byte aligned) right before a PROT_NONE page: an overrun faults */
        const size_t page = 4096;
        a.map_len = ((sz + page - 1) & ~(page - 1)) + page;
        a.map = mmap(nullptr, a.map_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (a.map == MAP_FAILED)
            return fail(hipErrorOutOfMemory);
        char *guard = (char *)a.map + a.map_len - page;
        mprotect(guard, page, PROT_NONE);
        m = guard - sz;
    } else {
        m = aligned_alloc(256, sz);
        if (!m)
            return fail(hipErrorOutOfMemory);
    }
    memset(m, 0xff, sz);  /* fresh device memory is garbage, here NaN everywhere */
    g_dev[(uintptr_t)m] = a;
    g_mem_used += sz;
    g_mem_peak = std::max(g_mem_peak, g_mem_used);
    *p = m;
    return hipSuccess;
}

hipError_t hipFree(void *p)
{
    if (!p)
        return hipSuccess;
    Guard g(g_mu);
    device_synchronize();  /* like cudaFree: waits for the device */
    auto it = g_dev.find((uintptr_t)p);
    if (it == g_dev.end())
        return fail_msg(hipErrorInvalidDevicePointer, "hipFree(%p): not a device allocation", p);
    g_mem_used -= (it->second.n + 255) & ~(size_t)255;
    if (it->second.map)
        munmap(it->second.map, it->second.map_len);
    else
        free(p);
    g_dev.erase(it);
    return hipSuccess;
}

hipError_t hipHostMalloc(void **p, size_t n, unsigned int flags)
{
    (void)flags;
    if (!p)
        return fail(hipErrorInvalidValue);
    *p = nullptr;
    if (n == 0)
        return hipSuccess;
    Guard g(g_mu);
    void *m = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
    if (!m)
        return fail(hipErrorOutOfMemory);
    g_pinned[(uintptr_t)m] = {n, true};
    *p = m;
    return hipSuccess;
}

hipError_t hipHostFree(void *p)
{
    if (!p)
        return hipSuccess;
    Guard g(g_mu);
    device_synchronize();  /* like cudaFreeHost */
    auto it = g_pinned.find((uintptr_t)p);
    if (it == g_pinned.end() || !it->second.second)
        return fail_msg(hipErrorInvalidValue, "hipHostFree(%p): not from hipHostMalloc", p);
    g_pinned.erase(it);
    free(p);
    return hipSuccess;
}

/* The bytes of [a, b) in private file-backed mappings of this process (/proc/self/maps: perms
 * "..p", a nonzero inode), which a real long-term pin copies into anonymous memory. */
static size_t private_file_bytes(uintptr_t a, uintptr_t b)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    size_t n = 0;
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long lo, hi, off, inode;
        char perms[8], dev[32];
        if (sscanf(line, "%lx-%lx %7s %lx %31s %lu", &lo, &hi, perms, &off, dev, &inode) != 6)
            continue;
        if (perms[3] != 'p' || inode == 0)
            continue;
        const uintptr_t s = lo > a ? lo : a, e = hi < b ? hi : b;
        n += s < e ? e - s : 0;
    }
    if (f)
        fclose(f);
    return n;
}

hipError_t hipHostRegister(void *p, size_t n, unsigned int flags)
{
    (void)flags;
    if (!p || n == 0)
        return fail(hipErrorInvalidValue);
    Guard g(g_mu);
    const uintptr_t a = (uintptr_t)p;
    auto it = g_pinned.lower_bound(a);
    if (it != g_pinned.end() && it->first < a + n)
        return fail(hipErrorHostMemoryAlreadyRegistered);
    if (it != g_pinned.begin()) {
        --it;
        if (it->first + it->second.first > a)
            return fail(hipErrorHostMemoryAlreadyRegistered);
    }
    if (is_dev(p, 1))
        return fail(hipErrorInvalidValue);
    g_pinned[a] = {n, false};
    g_stats.pin_cow_bytes += private_file_bytes(a, a + n);
    return hipSuccess;
}

hipError_t hipHostUnregister(void *p)
{
    Guard g(g_mu);
    auto it = g_pinned.find((uintptr_t)p);
    if (it == g_pinned.end() || it->second.second)
        return fail(hipErrorHostMemoryNotRegistered);
    drain_all();  /* pending copies may still read it */
    g_pinned.erase(it);
    return hipSuccess;
}

hipError_t hipMemcpyAsync(void *dst, const void *src, size_t n, hipMemcpyKind kind, hipStream_t s)
{
    Guard g(g_mu);
    return memcpy_async(dst, src, n, kind, s);
}

hipError_t hipMemcpy(void *dst, const void *src, size_t n, hipMemcpyKind kind)
{
    Guard g(g_mu);
    return memcpy_async(dst, src, n, kind, nullptr);  /* stream 0 runs at once, after the rest */
}

hipError_t hipMemsetAsync(void *dst, int v, size_t n, hipStream_t s)
{
    Guard g(g_mu);
    if (!stream_ok(s))
        return fail(hipErrorInvalidResourceHandle);
    if (n == 0)
        return hipSuccess;
    if (!is_dev(dst, n))
        return fail_msg(hipErrorInvalidValue, "memset of %zu bytes at %p: not device memory", n,
                        dst);
    enqueue(s, OpKind::copy, [dst, v, n] {
        memset(dst, v, n);
        count_copy(n);
    });
    return hipSuccess;
}

hipError_t hipMemset(void *dst, int v, size_t n) { return hipMemsetAsync(dst, v, n, nullptr); }
