/* Self-tests of the CPU emulator: kernels in the dialect, run through the public runtime like
 * any .hip file; driven by tests/test_gpu_emu.c through fy_emu_selftest() (fy_emu_ctl.h). */
#include "emu_priv.h"
#include "fy_emu_ctl.h"

#include <vector>

using namespace fy_emu_priv;

namespace {

int g_st_fail = 0;

#define ST_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "selftest: %s:%d: check failed: %s: ", __func__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            g_st_fail = 1;                                                                         \
        }                                                                                          \
    } while (0)
#define ST_HIP(call) ST_CHECK((call) == hipSuccess, "%s", #call)

/* geometry: every thread writes its coordinates; 3-D grid and block, odd sizes */
__global__ void st_index_kern(uint32_t *out)
{
    const uint64_t b = blockIdx.x + (uint64_t)gridDim.x * (blockIdx.y + (uint64_t)gridDim.y * blockIdx.z);
    const uint32_t t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const uint64_t g = b * blockDim.x * blockDim.y * blockDim.z + t;
    out[4 * g + 0] = threadIdx.x | threadIdx.y << 10 | threadIdx.z << 20;
    out[4 * g + 1] = blockIdx.x | blockIdx.y << 10 | blockIdx.z << 20;
    out[4 * g + 2] = blockDim.x | blockDim.y << 10 | blockDim.z << 20;
    out[4 * g + 3] = gridDim.x | gridDim.y << 10 | gridDim.z << 20;
}

void st_index()
{
    const dim3 grid(5, 3, 2);
    const dim3 block(7, 3, 2);
    const size_t nt = 5 * 3 * 2 * 7 * 3 * 2;
    std::vector<uint32_t> h(4 * nt, 0);
    uint32_t *d = nullptr;
    ST_HIP(hipMalloc(&d, h.size() * 4));
    FY_LAUNCH(st_index_kern, grid, block, 0, nullptr, d);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpy(h.data(), d, h.size() * 4, hipMemcpyDeviceToHost));
    for (size_t g = 0; g < nt; g++) {
        const size_t t = g % (7 * 3 * 2);
        const size_t b = g / (7 * 3 * 2);
        const uint32_t tid = (uint32_t)(t % 7 | t / 7 % 3 << 10 | t / 21 << 20);
        const uint32_t bid = (uint32_t)(b % 5 | b / 5 % 3 << 10 | b / 15 << 20);
        const uint32_t *o = &h[4 * g];
        if (o[0] != tid || o[1] != bid || o[2] != (7 | 3 << 10 | 2 << 20) ||
            o[3] != (5 | 3 << 10 | 2 << 20)) {
            ST_CHECK(false, "thread %zu: %x %x %x %x", g, o[0], o[1], o[2], o[3]);
            break;
        }
    }
    ST_HIP(hipFree(d));
}

/* block reduction through shared memory; a barrier between writing and reading a mirror */
__global__ __launch_bounds__(256) void st_barrier_kern(float *out, const float *x, int n)
{
    __shared__ float s[256];
    const int t = threadIdx.x;
    s[t] = x[blockIdx.x * n + t];
    __syncthreads();
    const float mirror = s[n - 1 - t];
    __syncthreads();
    for (int h = n / 2; h > 0; h >>= 1) {
        if (t < h)
            s[t] += s[t + h];
        __syncthreads();
    }
    out[blockIdx.x * (n + 1) + t] = mirror;
    if (t == 0)
        out[blockIdx.x * (n + 1) + n] = s[0];
    const int cnt = __syncthreads_count(t % 3 == 0);
    const int any = __syncthreads_or(t == n - 1);
    const int all = __syncthreads_and(t < n - 1);
    if (t == 5 && (cnt != (n + 2) / 3 || !any || all))
        out[blockIdx.x * (n + 1) + n] = -1.0f;
}

void st_barrier()
{
    const int n = 256;
    const int nb = 9;
    std::vector<float> x((size_t)(n * nb));
    std::vector<float> out((size_t)((n + 1) * nb));
    for (size_t i = 0; i < x.size(); i++)
        x[i] = (float)((i * 37) % 101);
    float *dx = nullptr;
    float *dout = nullptr;
    ST_HIP(hipMalloc(&dx, x.size() * 4));
    ST_HIP(hipMalloc(&dout, out.size() * 4));
    ST_HIP(hipMemcpy(dx, x.data(), x.size() * 4, hipMemcpyHostToDevice));
    FY_LAUNCH(st_barrier_kern, nb, n, 0, nullptr, dout, dx, n);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpy(out.data(), dout, out.size() * 4, hipMemcpyDeviceToHost));
    for (int b = 0; b < nb; b++) {
        float sum = 0;
        for (int t = 0; t < n; t++) {
            sum += x[(size_t)(b * n + t)];
            ST_CHECK(out[(size_t)(b * (n + 1) + t)] == x[(size_t)(b * n + n - 1 - t)],
                     "block %d thread %d", b, t);
        }
        ST_CHECK(out[(size_t)(b * (n + 1) + n)] == sum, "block %d: sum %g, want %g", b,
                 out[(size_t)(b * (n + 1) + n)], sum);
    }
    ST_HIP(hipFree(dx));
    ST_HIP(hipFree(dout));
}

/* shuffles of float, int, double; broadcast, rotation, ballot, syncwarp through shared memory */
__global__ __launch_bounds__(128) void st_shfl_kern(int *out)
{
    __shared__ int s[128];
    const int t = threadIdx.x;
    const int lane = t % FY_WARP;
    float f = (float)(t + 1);
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        f += fy_shfl_xor(f, m);
    int i = t * 3;
    i = fy_shfl(i, (lane + 1) % FY_WARP);
    const double d = fy_shfl((double)t * 0.5, 3);
    const int64_t q = fy_shfl_xor((int64_t)t << 33, 1);
    const fy_lanemask b = fy_ballot(lane % 3 == 1);
    s[t] = t * 7;
    fy_syncwarp();
    const int nb = s[(t / FY_WARP) * FY_WARP + (lane + 5) % FY_WARP];
    out[6 * t + 0] = (int)f;
    out[6 * t + 1] = i;
    out[6 * t + 2] = (int)(d * 2);
    out[6 * t + 3] = (int)(q >> 33);
    out[6 * t + 4] = (int)(b == 0 ? -1 : __popcll((unsigned long long)b));
    out[6 * t + 5] = nb;
}

void st_shfl()
{
    const int n = 128;
    std::vector<int> out((size_t)(6 * n));
    int *d = nullptr;
    ST_HIP(hipMalloc(&d, out.size() * 4));
    FY_LAUNCH(st_shfl_kern, 1, n, 0, nullptr, d);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpy(out.data(), d, out.size() * 4, hipMemcpyDeviceToHost));
    int ballot_bits = 0;
    for (int l = 0; l < kWarp; l++)
        ballot_bits += l % 3 == 1;
    for (int t = 0; t < n; t++) {
        const int w0 = t / kWarp * kWarp;
        const int lane = t % kWarp;
        const int sum = (w0 + 1 + w0 + kWarp) * kWarp / 2;
        const int *o = &out[(size_t)(6 * t)];
        ST_CHECK(o[0] == sum, "thread %d: xor sum %d, want %d", t, o[0], sum);
        ST_CHECK(o[1] == 3 * (w0 + (lane + 1) % kWarp), "thread %d: rotate %d", t, o[1]);
        ST_CHECK(o[2] == w0 + 3, "thread %d: broadcast %d", t, o[2]);
        ST_CHECK(o[3] == (t ^ 1), "thread %d: int64 xor %d", t, o[3]);
        ST_CHECK(o[4] == ballot_bits, "thread %d: ballot popcount %d, want %d", t, o[4], ballot_bits);
        ST_CHECK(o[5] == 7 * (w0 + (lane + 5) % kWarp), "thread %d: syncwarp %d", t, o[5]);
    }
    ST_HIP(hipFree(d));
}

/* asynchronous copies (fy_async_* of fy_gpu_compat.h): made at the wait for their group, not
 * before; wait(1) leaves the most recent group, wait(0) every committed one, an uncommitted copy
 * waits for its commit; other threads see the bytes after a barrier; counted */
__global__ __launch_bounds__(64) void st_async_kern(uint32_t *out, const uint4 *src)
{
    __shared__ uint4 a[64], b[64], c[64];
    const int t = threadIdx.x;
    const uint4 old = make_uint4(0xdeadu, 1, 2, 3);
    a[t] = b[t] = c[t] = old;
    __syncthreads();
    fy_emu_async_copy(&a[t], &src[t], 16);
    fy_emu_async_commit();
    fy_emu_async_copy(&b[t], &src[64 + t], 16);
    fy_emu_async_commit();
    fy_emu_async_copy(&c[t], &src[128 + t], 16); /* not committed */
    uint32_t *o = out + 8 * (blockIdx.x * 64 + t);
    o[0] = a[t].x == old.x && b[t].x == old.x;
    fy_emu_async_wait(1);
    o[1] = a[t].x == src[t].x && a[t].w == src[t].w && b[t].x == old.x;
    fy_emu_async_wait(0);
    o[2] = b[t].x == src[64 + t].x && c[t].x == old.x;
    fy_emu_async_commit();
    fy_emu_async_wait(0);
    o[3] = c[t].x == src[128 + t].x;
    __syncthreads();
    o[4] = a[63 - t].y == src[63 - t].y && c[63 - t].z == src[128 + 63 - t].z;
}

void st_async()
{
    std::vector<uint32_t> hs(3 * 64 * 4), h(2 * 64 * 8, 0);
    for (size_t i = 0; i < hs.size(); i++)
        hs[i] = (uint32_t)(i * 2654435761u);
    uint4 *src = nullptr;
    uint32_t *d = nullptr;
    ST_HIP(hipMalloc(&src, hs.size() * 4));
    ST_HIP(hipMalloc(&d, h.size() * 4));
    ST_HIP(hipMemcpy(src, hs.data(), hs.size() * 4, hipMemcpyHostToDevice));
    fy_emu_stats s0, s1;
    fy_emu_stats_get(&s0);
    FY_LAUNCH(st_async_kern, 2, 64, 0, nullptr, d, (const uint4 *)src);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpy(h.data(), d, h.size() * 4, hipMemcpyDeviceToHost));
    fy_emu_stats_get(&s1);
    for (int t = 0; t < 2 * 64; t++)
        for (int i = 0; i < 5; i++)
            ST_CHECK(h[(size_t)(8 * t + i)] == 1, "thread %d: check %d", t, i);
    ST_CHECK(s1.async_copies - s0.async_copies == 3 * 128, "%llu copies",
             (unsigned long long)(s1.async_copies - s0.async_copies));
    ST_CHECK(s1.async_waits - s0.async_waits == 3 * 128, "%llu waits",
             (unsigned long long)(s1.async_waits - s0.async_waits));
    ST_HIP(hipFree(src));
    ST_HIP(hipFree(d));
}

/* dynamic shared memory: beyond 48 KiB only after hipFuncSetAttribute; a template kernel */
template <int K> __global__ __launch_bounds__(64) void st_dyn_kern(float *out, int words)
{
    FY_DYN_SMEM(float, sm);
    for (int i = threadIdx.x; i < words; i += blockDim.x)
        sm[i] = (float)(i * K + (int)blockIdx.x);
    __syncthreads();
    float s = 0;
    for (int i = threadIdx.x; i < words; i += blockDim.x)
        s += sm[words - 1 - i];
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        s += fy_shfl_xor(s, m);
    if (threadIdx.x % FY_WARP == 0)
        atomicAdd(&out[blockIdx.x], s);
}

void st_dynsmem()
{
    const int nb = 3;
    float *d = nullptr;
    ST_HIP(hipMalloc(&d, nb * 4));
    for (int words : {100, 60 * 256}) {  /* 400 bytes, 60 KiB */
        ST_HIP(hipMemset(d, 0, nb * 4));
        auto *k = &st_dyn_kern<3>;
        if (words * 4 > 48 * 1024) {
            FY_LAUNCH(k, nb, 64, (size_t)words * 4, nullptr, d, words);
            ST_CHECK(hipGetLastError() == hipErrorInvalidConfiguration, "60 KiB without attribute");
            ST_CHECK(hipGetLastError() == hipSuccess, "the error is not cleared");
            ST_HIP(hipFuncSetAttribute(k, hipFuncAttributeMaxDynamicSharedMemorySize, words * 4));
            ST_CHECK(hipFuncSetAttribute(k, hipFuncAttributeMaxDynamicSharedMemorySize, 1 << 20) ==
                         hipErrorInvalidValue, "1 MiB of shared memory accepted");
            (void)hipGetLastError();
        }
        FY_LAUNCH(k, nb, 64, (size_t)words * 4, nullptr, d, words);
        ST_HIP(hipGetLastError());
        float h[nb];
        ST_HIP(hipMemcpy(h, d, sizeof(h), hipMemcpyDeviceToHost));
        if (words * 4 > 48 * 1024)  /* back to the default for the next run */
            ST_HIP(hipFuncSetAttribute(k, hipFuncAttributeMaxDynamicSharedMemorySize, 0));
        for (int b = 0; b < nb; b++) {
            const double want = 3.0 * words * (words - 1) / 2 + (double)b * words;
            ST_CHECK(fabs(h[b] - want) <= 1e-6 * want, "words %d block %d: %g, want %g", words, b,
                     h[b], want);
        }
    }
    ST_HIP(hipFree(d));
}

/* atomics from many blocks on several OS threads */
__global__ __launch_bounds__(64) void st_atomic_kern(int *cnt, float *fsum, unsigned *mx, int *mn)
{
    const int g = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(cnt, 1);
    atomicAdd(fsum, 0.5f);
    atomicMax(mx, (unsigned)g * 7u % 1009u);
    atomicMin(mn, 5000 - g);
}

void st_atomics()
{
    const int nb = 97;
    int *d = nullptr;
    ST_HIP(hipMalloc(&d, 16));
    const int init[4] = {0, 0, 0, 1 << 30};
    ST_HIP(hipMemcpy(d, init, 16, hipMemcpyHostToDevice));
    FY_LAUNCH(st_atomic_kern, nb, 64, 0, nullptr, d, (float *)(d + 1), (unsigned *)(d + 2), d + 3);
    ST_HIP(hipGetLastError());
    int h[4];
    ST_HIP(hipMemcpy(h, d, 16, hipMemcpyDeviceToHost));
    float f;
    memcpy(&f, &h[1], 4);
    ST_CHECK(h[0] == nb * 64, "count %d", h[0]);
    ST_CHECK(f == nb * 64 * 0.5f, "float sum %g", f);
    ST_CHECK(h[2] == 1008, "max %d", h[2]);
    ST_CHECK(h[3] == 5000 - (nb * 64 - 1), "min %d", h[3]);
    ST_HIP(hipFree(d));
}

__global__ void st_fill_kern(float *y, const float *x, float add, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = x[i] + add;
}

/* lazy streams: nothing runs before a sync; pinned sources are read late, pageable ones early */
void st_lazy()
{
    const bool eager = cfg().eager;
    cfg().eager = false;
    const int n = 1000;
    float *hp = nullptr;
    std::vector<float> pageable((size_t)n, 1.0f);
    std::vector<float> out((size_t)n, -7.0f);
    float *dx = nullptr;
    float *dy = nullptr;
    hipStream_t s = nullptr;
    ST_HIP(hipStreamCreateWithFlags(&s, hipStreamNonBlocking));
    ST_HIP(hipHostMalloc(&hp, n * 4, hipHostMallocDefault));
    ST_HIP(hipMalloc(&dx, n * 4));
    ST_HIP(hipMalloc(&dy, n * 4));
    for (int i = 0; i < n; i++)
        hp[i] = (float)i;
    ST_HIP(hipMemcpyAsync(dx, hp, n * 4, hipMemcpyHostToDevice, s));
    FY_LAUNCH(st_fill_kern, (n + 255) / 256, 256, 0, s, dy, dx, 0.5f, n);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpyAsync(out.data(), dy, n * 4, hipMemcpyDeviceToHost, s));
    ST_CHECK(fy_emu_pending() >= 3, "pending %lld", (long long)fy_emu_pending());
    ST_CHECK(out[0] == -7.0f, "a D2H copy ran before any sync");
    hp[0] = 100.0f;  /* pinned: the copy has not read it yet */
    ST_HIP(hipMemcpyAsync(dx, pageable.data(), n * 4, hipMemcpyHostToDevice, s));
    pageable[1] = 200.0f;  /* pageable: staged at the call, so this is not seen */
    FY_LAUNCH(st_fill_kern, (n + 255) / 256, 256, 0, s, dy + n / 2, dx, 0.0f, n / 2);
    ST_CHECK(hipStreamQuery(s) == hipErrorNotReady, "query of pending work");
    ST_CHECK(hipStreamQuery(s) == hipSuccess, "query after the work ran");
    ST_HIP(hipMemcpyAsync(out.data(), dy, n * 4, hipMemcpyDeviceToHost, s));
    ST_HIP(hipStreamSynchronize(s));
    ST_CHECK(fy_emu_pending() == 0, "pending %lld after sync", (long long)fy_emu_pending());
    for (int i = 0; i < n; i++) {
        const float want = i < n / 2 ? (i == 0 ? 100.5f : (float)i + 0.5f) : 1.0f;
        if (out[(size_t)i] != want) {
            ST_CHECK(false, "out[%d] = %g, want %g", i, out[(size_t)i], want);
            break;
        }
    }
    ST_HIP(hipFree(dx));
    ST_HIP(hipFree(dy));
    ST_HIP(hipHostFree(hp));
    ST_HIP(hipStreamDestroy(s));
    cfg().eager = eager;
}

/* events order streams: s2 waits for s1's kernel; syncing s2 alone runs s1 up to the record */
void st_events()
{
    const bool eager = cfg().eager;
    cfg().eager = false;
    const int n = 512;
    hipStream_t s1 = nullptr;
    hipStream_t s2 = nullptr;
    hipEvent_t e = nullptr;
    hipEvent_t t0 = nullptr;
    float *dx = nullptr;
    float *dy = nullptr;
    std::vector<float> h((size_t)n, 3.0f);
    std::vector<float> out((size_t)n, 0.0f);
    ST_HIP(hipStreamCreateWithFlags(&s1, hipStreamNonBlocking));
    ST_HIP(hipStreamCreate(&s2));
    ST_HIP(hipEventCreateWithFlags(&e, hipEventDisableTiming));
    ST_HIP(hipEventCreate(&t0));
    ST_HIP(hipMalloc(&dx, n * 4));
    ST_HIP(hipMalloc(&dy, n * 4));
    ST_HIP(hipEventRecord(t0, s1));
    ST_HIP(hipMemcpyAsync(dx, h.data(), n * 4, hipMemcpyHostToDevice, s1));
    FY_LAUNCH(st_fill_kern, 2, 256, 0, s1, dx, dx, 1.0f, n);  /* dx = 4 */
    ST_HIP(hipEventRecord(e, s1));
    FY_LAUNCH(st_fill_kern, 2, 256, 0, s1, dx, dx, 100.0f, n);  /* after the event: not awaited */
    ST_HIP(hipStreamWaitEvent(s2, e, 0));
    FY_LAUNCH(st_fill_kern, 2, 256, 0, s2, dy, dx, 1.0f, n);  /* dy = 5 */
    ST_HIP(hipMemcpyAsync(out.data(), dy, n * 4, hipMemcpyDeviceToHost, s2));
    ST_HIP(hipStreamSynchronize(s2));
    ST_CHECK(out[0] == 5.0f && out[(size_t)n - 1] == 5.0f, "out %g %g, want 5", out[0],
             out[(size_t)n - 1]);
    ST_CHECK(fy_emu_pending() == 1, "s1's last kernel should still be pending: %lld",
             (long long)fy_emu_pending());
    ST_HIP(hipEventSynchronize(e));
    ST_CHECK(hipEventQuery(e) == hipSuccess, "query of a completed event");
    float ms = -1;
    ST_CHECK(hipEventElapsedTime(&ms, t0, e) == hipErrorInvalidResourceHandle, "timing disabled");
    ST_HIP(hipEventRecord(e, s1));
    ST_CHECK(hipEventQuery(e) == hipErrorNotReady, "query of a pending event");
    ST_CHECK(hipEventQuery(e) == hipSuccess, "query after it ran");
    hipEvent_t t1 = nullptr;
    ST_HIP(hipEventCreate(&t1));
    ST_HIP(hipEventRecord(t1, s1));
    ST_CHECK(hipEventElapsedTime(&ms, t0, t1) == hipErrorNotReady, "elapsed time of a pending event");
    (void)hipGetLastError();
    ST_HIP(hipEventSynchronize(t1));
    ST_HIP(hipEventElapsedTime(&ms, t0, t1));
    ST_CHECK(ms >= 0.0f, "elapsed %g ms", ms);
    ST_HIP(hipMemcpy(out.data(), dx, n * 4, hipMemcpyDeviceToHost));
    ST_CHECK(out[7] == 104.0f, "dx %g, want 104", out[7]);
    ST_HIP(hipEventDestroy(e));
    ST_HIP(hipEventDestroy(t0));
    ST_HIP(hipEventDestroy(t1));
    ST_HIP(hipStreamDestroy(s1));
    ST_HIP(hipStreamDestroy(s2));
    ST_HIP(hipFree(dx));
    ST_HIP(hipFree(dy));
    cfg().eager = eager;
}

/* happens-before: fy_emu_stats' copies_overlappable / kernels_overlappable count what a GPU may run
 * at once (a copy and a kernel on different streams that no event, stream 0 or host sync
 * orders), the same in every scheduling mode */
struct OvlRig {
    hipStream_t a = nullptr, b = nullptr;
    hipEvent_t e1 = nullptr, e2 = nullptr;
    float *d = nullptr;
    std::vector<float> h = std::vector<float>(64, 1.0f);
    uint64_t c0 = 0, k0 = 0;

    OvlRig()
    {
        ST_HIP(hipDeviceSynchronize());  /* everything before is ordered before what follows */
        ST_HIP(hipMalloc(&d, 2 * 64 * 4));
        ST_HIP(hipStreamCreateWithFlags(&a, hipStreamNonBlocking));
        ST_HIP(hipStreamCreateWithFlags(&b, hipStreamNonBlocking));
        ST_HIP(hipEventCreateWithFlags(&e1, hipEventDisableTiming));
        ST_HIP(hipEventCreateWithFlags(&e2, hipEventDisableTiming));
        fy_emu_stats st;
        fy_emu_stats_get(&st);
        c0 = st.copies_overlappable;
        k0 = st.kernels_overlappable;
    }
    void copy(hipStream_t s) { ST_HIP(hipMemcpyAsync(d, h.data(), 64 * 4, hipMemcpyHostToDevice, s)); }
    void kern(hipStream_t s)
    {
        FY_LAUNCH(st_fill_kern, 1, 64, 0, s, d + 64, d, 1.0f, 64);
        ST_HIP(hipGetLastError());
    }
    void rec(hipEvent_t e, hipStream_t s) { ST_HIP(hipEventRecord(e, s)); }
    void wait(hipStream_t s, hipEvent_t e) { ST_HIP(hipStreamWaitEvent(s, e, 0)); }
    void check(const char *what, uint64_t copies, uint64_t kernels)
    {
        fy_emu_stats st;
        fy_emu_stats_get(&st);
        ST_CHECK(st.copies_overlappable - c0 == copies && st.kernels_overlappable - k0 == kernels,
                 "%s: %llu copies and %llu kernels overlappable, want %llu and %llu", what,
                 (unsigned long long)(st.copies_overlappable - c0),
                 (unsigned long long)(st.kernels_overlappable - k0), (unsigned long long)copies,
                 (unsigned long long)kernels);
    }
    ~OvlRig()
    {
        ST_HIP(hipDeviceSynchronize());
        ST_HIP(hipEventDestroy(e1));
        ST_HIP(hipEventDestroy(e2));
        ST_HIP(hipStreamDestroy(a));
        ST_HIP(hipStreamDestroy(b));
        ST_HIP(hipFree(d));
    }
};

void st_overlap()
{
    {   /* (a) a copy on A, a kernel on B, nothing between them */
        OvlRig r;
        r.copy(r.a);
        r.kern(r.b);
        r.check("copy A, kernel B", 1, 1);
    }
    {   /* a memset is a copy too; the kernel first */
        OvlRig r;
        r.kern(r.b);
        ST_HIP(hipMemsetAsync(r.d, 0, 64, r.a));
        r.check("kernel B, memset A", 1, 1);
    }
    {   /* one stream: in order */
        OvlRig r;
        r.copy(r.a);
        r.kern(r.a);
        r.copy(r.a);
        r.check("one stream", 0, 0);
    }
    {   /* (b) B waits for an event recorded on A after the copy */
        OvlRig r;
        r.copy(r.a);
        r.rec(r.e1, r.a);
        r.wait(r.b, r.e1);
        r.kern(r.b);
        r.check("B waits for the copy", 0, 0);
    }
    {   /* (c) chunks: copy2 may run during k1, which waits only for copy1 */
        OvlRig r;
        r.copy(r.a);
        r.rec(r.e1, r.a);
        r.copy(r.a);
        r.rec(r.e2, r.a);
        r.wait(r.b, r.e1);
        r.kern(r.b);
        r.wait(r.b, r.e2);
        r.kern(r.b);
        r.check("chunked", 1, 1);
    }
    {   /* (c) issued interleaved: copy2 is enqueued after k1 */
        OvlRig r;
        r.copy(r.a);
        r.rec(r.e1, r.a);
        r.wait(r.b, r.e1);
        r.kern(r.b);
        r.copy(r.a);
        r.rec(r.e2, r.a);
        r.wait(r.b, r.e2);
        r.kern(r.b);
        r.check("chunked, interleaved", 1, 1);
    }
    {   /* (d) serialized: B waits for every chunk before its first kernel */
        OvlRig r;
        r.copy(r.a);
        r.rec(r.e1, r.a);
        r.copy(r.a);
        r.rec(r.e2, r.a);
        r.wait(r.b, r.e1);
        r.wait(r.b, r.e2);
        r.kern(r.b);
        r.kern(r.b);
        r.check("serialized", 0, 0);
    }
    {   /* the GPU device's pattern: k0 before the waits overlaps both copies, k1 overlaps copy2 */
        OvlRig r;
        r.kern(r.b);
        r.copy(r.a);
        r.rec(r.e1, r.a);
        r.copy(r.a);
        r.rec(r.e2, r.a);
        r.wait(r.b, r.e1);
        r.kern(r.b);
        r.wait(r.b, r.e2);
        r.kern(r.b);
        r.check("k0 then chunked", 2, 2);
    }
    {   /* an event recorded before the copy orders nothing after it */
        OvlRig r;
        r.rec(r.e1, r.a);
        r.copy(r.a);
        r.wait(r.b, r.e1);
        r.kern(r.b);
        r.check("event before the copy", 1, 1);
    }
    {   /* the host syncs A before B's kernel: ordered */
        OvlRig r;
        r.copy(r.a);
        ST_HIP(hipStreamSynchronize(r.a));
        r.kern(r.b);
        r.check("stream sync", 0, 0);
    }
    {   /* the host syncs an event recorded after the copy: ordered; a copy after the record is
         * not (and also overlaps the kernel enqueued before it) */
        OvlRig r;
        r.copy(r.a);
        r.rec(r.e1, r.a);
        r.copy(r.a);
        ST_HIP(hipEventSynchronize(r.e1));
        r.kern(r.b);
        r.check("event sync", 1, 1);
    }
    {   /* syncing B does not order A's copy before B's kernel; syncing A afterwards is too late */
        OvlRig r;
        r.copy(r.a);
        ST_HIP(hipStreamSynchronize(r.b));
        r.kern(r.b);
        ST_HIP(hipStreamSynchronize(r.a));
        r.check("sync of the other stream", 1, 1);
    }
    {   /* stream 0 (a synchronous memset) sits between them */
        OvlRig r;
        r.copy(r.a);
        ST_HIP(hipMemset(r.d, 0, 64));
        r.kern(r.b);
        r.check("stream 0 between", 0, 0);
    }
    {   /* a stream created later: concurrent, unless the host synchronised in between */
        OvlRig r;
        hipStream_t c = nullptr;
        r.kern(r.b);
        ST_HIP(hipStreamCreateWithFlags(&c, hipStreamNonBlocking));
        r.copy(c);
        ST_HIP(hipStreamDestroy(c));  /* its copy may still be running: B's next kernel overlaps */
        r.kern(r.b);
        r.check("new stream", 1, 2);
        ST_HIP(hipDeviceSynchronize());  /* waits for the destroyed stream's work too */
        r.kern(r.b);
        ST_HIP(hipStreamSynchronize(r.b));
        ST_HIP(hipStreamCreateWithFlags(&c, hipStreamNonBlocking));
        r.copy(c);
        ST_HIP(hipStreamDestroy(c));
        r.check("new stream after the host synced", 1, 2);
    }
    {   /* many: pipelined (copy i overlaps kernel i) and then ping-pong serialized */
        const int n = 3000;
        OvlRig r;
        hipEvent_t ev[2] = {r.e1, r.e2};
        for (int i = 0; i < n; i++) {
            r.copy(r.a);
            r.rec(ev[i % 2], r.a);
            if (i > 0)
                r.wait(r.b, ev[(i - 1) % 2]);
            r.kern(r.b);
        }
        r.check("pipelined", n, n);
        ST_HIP(hipDeviceSynchronize());
        for (int i = 0; i < n; i++) {
            r.copy(r.a);
            r.rec(r.e1, r.a);
            r.wait(r.b, r.e1);
            r.kern(r.b);
            r.rec(r.e2, r.b);
            r.wait(r.a, r.e2);
        }
        r.check("ping-pong", n, n);
    }
}

/* fy_emu_stats_reset: the overlap counters go to 0 and what was enqueued before is forgotten
 * (resets every counter: tests/test_gpu_emu.c runs it last) */
void st_overlap_reset()
{
    {
        OvlRig r;
        r.copy(r.a);
        r.kern(r.b);
        fy_emu_stats_reset();
        fy_emu_stats st;
        fy_emu_stats_get(&st);
        ST_CHECK(st.copies_overlappable == 0 && st.kernels_overlappable == 0, "after reset");
        r.c0 = r.k0 = 0;
        r.kern(r.b);
        r.check("after reset", 0, 0);
        r.copy(r.a);
        r.check("after reset, a new copy", 1, 1);
    }
}

/* errors: bad launches, memory limit, wrong copy directions, handles, host registration */
void st_errors()
{
    float *d = nullptr;
    float h[4] = {0, 0, 0, 0};
    ST_HIP(hipMalloc(&d, 16));
    FY_LAUNCH(st_fill_kern, 1, 2048, 0, nullptr, d, d, 0.0f, 4);
    ST_CHECK(hipPeekAtLastError() == hipErrorInvalidConfiguration, "2048 threads");
    ST_CHECK(hipGetLastError() == hipErrorInvalidConfiguration, "2048 threads");
    ST_CHECK(hipGetLastError() == hipSuccess, "the error stays");
    FY_LAUNCH(st_fill_kern, 0, 64, 0, nullptr, d, d, 0.0f, 4);
    ST_CHECK(hipGetLastError() == hipErrorInvalidConfiguration, "empty grid");
    FY_LAUNCH(st_fill_kern, dim3(1, 70000), 64, 0, nullptr, d, d, 0.0f, 4);
    ST_CHECK(hipGetLastError() == hipErrorInvalidConfiguration, "grid.y 70000");
    FY_LAUNCH(st_fill_kern, 1, 64, 0, nullptr, d, h, 0.0f, 4);
    ST_CHECK(hipGetLastError() == hipErrorInvalidValue, "host pointer argument");
    FY_LAUNCH(st_fill_kern, 1, 64, 0, nullptr, d + 4, nullptr, 0.0f, 0);  /* one past the end */
    ST_HIP(hipGetLastError());
    ST_CHECK(hipMemcpy(h, d, 32, hipMemcpyDeviceToHost) == hipErrorInvalidValue, "overrun");
    ST_CHECK(hipMemcpy(d, h, 16, hipMemcpyDeviceToHost) == hipErrorInvalidValue, "direction");
    ST_CHECK(hipMemcpy(h, h + 2, 8, hipMemcpyHostToDevice) == hipErrorInvalidValue, "host dst");
    ST_CHECK(hipMemsetAsync(h, 0, 16, nullptr) == hipErrorInvalidValue, "memset of host memory");
    ST_CHECK(hipFree(h) == hipErrorInvalidDevicePointer, "free of host memory");
    ST_CHECK(hipFree(d + 1) == hipErrorInvalidDevicePointer, "free inside a buffer");
    ST_CHECK(fy_emu_is_device_ptr(d, 16) && !fy_emu_is_device_ptr(d, 17) &&
                 !fy_emu_is_device_ptr(h, 4), "is_device_ptr");
    uint32_t bits = 0;
    ST_HIP(hipMemcpy(&bits, d, 4, hipMemcpyDeviceToHost));
    ST_CHECK(bits == 0xffffffffu, "fresh device memory is 0x%08x, want the 0xff poison", bits);

    size_t free0 = 0;
    size_t total = 0;
    ST_HIP(hipMemGetInfo(&free0, &total));
    const size_t limit = total;
    fy_emu_set_mem_limit(total - free0 + (1 << 20));  /* 1 MiB left */
    void *big = nullptr;
    ST_CHECK(hipMalloc(&big, 2 << 20) == hipErrorOutOfMemory && !big, "2 MiB past the limit");
    ST_CHECK(hipGetLastError() == hipErrorOutOfMemory, "last error after OOM");
    ST_HIP(hipMalloc(&big, 1000000));
    size_t free1 = 0;
    ST_HIP(hipMemGetInfo(&free1, &total));
    ST_CHECK(free1 < (1 << 20) - 1000000 + 256, "free %zu after allocating", free1);
    ST_HIP(hipFree(big));
    fy_emu_set_mem_limit(limit);

    hipStream_t s = nullptr;
    ST_HIP(hipStreamCreate(&s));
    ST_HIP(hipStreamDestroy(s));
    ST_CHECK(hipStreamSynchronize(s) == hipErrorInvalidResourceHandle, "destroyed stream");
    FY_LAUNCH(st_fill_kern, 1, 64, 0, s, d, d, 0.0f, 4);
    ST_CHECK(hipGetLastError() == hipErrorInvalidResourceHandle, "launch on a destroyed stream");

    std::vector<char> buf(8192);
    ST_HIP(hipHostRegister(buf.data(), 4096, hipHostRegisterDefault));
    ST_CHECK(hipHostRegister(buf.data() + 100, 10, hipHostRegisterDefault) ==
                 hipErrorHostMemoryAlreadyRegistered, "overlapping registration");
    ST_HIP(hipHostUnregister(buf.data()));
    ST_CHECK(hipHostUnregister(buf.data()) == hipErrorHostMemoryNotRegistered, "double unregister");
    ST_HIP(hipFree(d));
    (void)hipGetLastError();
    int n = 0;
    ST_HIP(hipGetDeviceCount(&n));
    hipDeviceProp_t p;
    ST_HIP(hipGetDeviceProperties(&p, 0));
    ST_CHECK(p.warpSize == FY_WARP && !strcmp(p.gcnArchName, "emu"), "properties");
    ST_CHECK(hipGetDeviceProperties(&p, n) == hipErrorInvalidDevice, "device %d", n);
    int sms = 0;
    ST_HIP(hipDeviceGetAttribute(&sms, hipDeviceAttributeMultiprocessorCount, 0));
    ST_CHECK(sms == p.multiProcessorCount, "sm count");
    (void)hipGetLastError();
}

/* ---- kernels that must abort ---- */

__global__ void st_abort_barrier_kern(float *x)
{
    if (threadIdx.x == 0)
        return;  /* the bug: an early return before a barrier */
    x[threadIdx.x] = 1.0f;
    __syncthreads();
}

__global__ void st_abort_shfl_kern(float *x)
{
    float v = x[threadIdx.x];
    if (threadIdx.x % FY_WARP < FY_WARP / 2)
        v = fy_shfl_xor(v, 1);  /* half a warp */
    x[threadIdx.x] = v;
}

__global__ void st_abort_mixed_kern(float *x)
{
    if (threadIdx.x % 2)
        fy_syncwarp();
    else
        (void)fy_ballot(x[threadIdx.x] > 0.0f);
}

__global__ void st_abort_partial_kern(float *x)
{
    x[threadIdx.x] = fy_shfl_xor(x[threadIdx.x], 1);  /* block of 48: the second warp is partial */
}

__global__ void st_abort_overrun_kern(float *x)
{
    x[threadIdx.x] += x[64 + threadIdx.x];  /* past the end of a 256-byte buffer: the guard page */
}

__global__ void st_abort_async_kern(float *x)
{
    __shared__ float4 sm[64];
    fy_emu_async_copy(&sm[threadIdx.x], x + 1, 16); /* a 16-byte copy from a 4-byte boundary */
    fy_emu_async_commit();
    fy_emu_async_wait(0);
}

void st_abort(void (*k)(float *), int threads)
{
    float *d = nullptr;
    ST_HIP(hipMalloc(&d, 64 * 4));
    ST_HIP(hipMemset(d, 0, 64 * 4));
    FY_LAUNCH(k, 2, threads, 0, nullptr, d);
    ST_HIP(hipDeviceSynchronize());
    fprintf(stderr, "selftest: the divergent kernel did not abort\n");
    g_st_fail = 1;
}
void st_abort_barrier() { st_abort(st_abort_barrier_kern, 64); }
void st_abort_shfl() { st_abort(st_abort_shfl_kern, 64); }
void st_abort_mixed() { st_abort(st_abort_mixed_kern, 64); }
void st_abort_partial() { st_abort(st_abort_partial_kern, 48); }
void st_abort_overrun() { st_abort(st_abort_overrun_kern, 64); }
void st_abort_async() { st_abort(st_abort_async_kern, 64); }

struct SelfTest {
    const char *name;
    void (*fn)();
};
const SelfTest kSelfTests[] = {
    {"index", st_index},
    {"barrier", st_barrier},
    {"shfl", st_shfl},
    {"dynsmem", st_dynsmem},
    {"async", st_async},
    {"atomics", st_atomics},
    {"lazy", st_lazy},
    {"events", st_events},
    {"errors", st_errors},
    {"overlap", st_overlap},
    {"overlap_reset", st_overlap_reset},
    {"abort_barrier", st_abort_barrier},
    {"abort_shfl", st_abort_shfl},
    {"abort_mixed", st_abort_mixed},
    {"abort_partial", st_abort_partial},
    {"abort_overrun", st_abort_overrun},
    {"abort_async", st_abort_async},
};

}  // namespace

extern "C" {

const char *fy_emu_selftest_name(int i)
{
    return i >= 0 && (size_t)i < sizeof(kSelfTests) / sizeof(kSelfTests[0]) ? kSelfTests[i].name
                                                                            : nullptr;
}

int fy_emu_selftest(const char *name)
{
    for (const SelfTest &t : kSelfTests) {
        if (strcmp(t.name, name))
            continue;
        g_st_fail = 0;
        t.fn();
        return g_st_fail;
    }
    return -1;
}

}  // extern "C"
