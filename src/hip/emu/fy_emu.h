/* The CPU emulator of the GPU dialect (fy_gpu_compat.h with FY_GPU_EMU; g++ -x c++ -std=c++17).
 *
 * Device side: a kernel is a plain C++ function and every GPU thread of a block a fiber; a block
 * runs on one OS thread, so `__shared__` (static thread_local) is per block, and blocks run in
 * parallel on a pool of OS threads. Lanes run one at a time, in order, each until it reaches a
 * synchronisation point, which must be reached by all the threads it names:
 *   __syncthreads(), __syncthreads_count/and/or   every thread of the block
 *   fy_shfl, fy_shfl_xor, fy_ballot, fy_syncwarp  every lane of the warp, the same operation
 * Anything else (an early return before a barrier, a shuffle in half a warp, a shuffle in a
 * partial warp) aborts with the kernel, the block and what each thread was doing. Since lanes
 * run until they block, a missing barrier shows up as stale data, as on a GPU; FY_EMU_ORDER=
 * reverse runs lanes and warps last to first, to shake out more of them.
 * FY_WARP is 32; build with -DFY_EMU_WARP=64 (emulator and kernels alike) to check wave64 code.
 *
 * Host side: the hip* runtime names ferry uses (fy_gpu_compat.h maps the same set onto CUDA).
 *   memory   hipMalloc returns host memory tracked as device memory, filled with 0xff (NaN),
 *            ending right before a PROT_NONE page (an overrun of the 256-byte-rounded size
 *            faults; FY_EMU_GUARD=0 turns that off), within an emulated capacity (FY_EMU_MEM_MB).
 *            Copies check direction and bounds against the allocations; kernel pointer arguments
 *            must be device memory (or one past a buffer), pinned host memory or null.
 *   streams  lazy: nothing runs until something waits for it (stream, event or device sync, a
 *            synchronous copy, hipFree), then each stream runs its work in order, and
 *            hipStreamWaitEvent orders streams. A D2H result read before the sync is the old
 *            contents. Pageable sources of H2D copies are staged at the call (the caller may
 *            reuse them, as with CUDA); pinned ones are read when the copy runs. Stream 0 is
 *            synchronous. A query of pending work says hipErrorNotReady and runs it. FY_EMU_EAGER=1
 *            runs everything at once instead.
 *   launch   FY_LAUNCH converts and copies the arguments at the call, checks the configuration
 *            (1..1024 threads, grid limits, dynamic shared memory <= 48 KiB unless raised by
 *            hipFuncSetAttribute, at most 64 KiB) and reports failures through hipGetLastError,
 *            with a message on stderr.
 * Knobs, counters and self-tests for C tests: fy_emu_ctl.h. Other environment: FY_EMU_WORKERS
 * (OS threads), FY_EMU_TRACE=1 (each kernel launch on stderr), FY_EMU_DEVICES (0: no device), FY_EMU_SMS (multiprocessors reported, 4),
 * FY_EMU_STACK_KB (per GPU thread, 128). */
#ifndef FY_EMU_H
#define FY_EMU_H

#if !defined(__cplusplus)
#error "fy_emu.h: the emulator dialect is C++ (g++ -x c++ -DFY_GPU_EMU)"
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <tuple>
#include <type_traits>

/* ------------------------------------------------------------------ qualifiers */
#define __global__
#define __device__
#define __host__
#define __constant__
#define __shared__ static thread_local __attribute__((tls_model("initial-exec")))
#define __forceinline__ inline __attribute__((always_inline))
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __grid_constant__

#ifndef FY_EMU_WARP
#define FY_EMU_WARP 32
#endif
#define FY_WARP FY_EMU_WARP
#if FY_EMU_WARP == 64
typedef uint64_t fy_lanemask;
#elif FY_EMU_WARP == 32
typedef uint32_t fy_lanemask;
#else
#error "FY_EMU_WARP must be 32 or 64"
#endif

/* ------------------------------------------------------------------ vector types */
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1)
        : x(x_), y(y_), z(z_) {}
};
struct uint3 {
    unsigned int x, y, z;
};

#define FY_EMU_VEC2(T, N, A)                                                                       \
    struct __attribute__((aligned(A))) N##2 { T x, y; };                                           \
    static inline N##2 make_##N##2(T x, T y) { return N##2{x, y}; }
#define FY_EMU_VEC4(T, N, A)                                                                       \
    struct __attribute__((aligned(A))) N##4 { T x, y, z, w; };                                     \
    static inline N##4 make_##N##4(T x, T y, T z, T w) { return N##4{x, y, z, w}; }
FY_EMU_VEC2(float, float, 8)
FY_EMU_VEC4(float, float, 16)
FY_EMU_VEC2(int, int, 8)
FY_EMU_VEC4(int, int, 16)
FY_EMU_VEC2(unsigned int, uint, 8)
FY_EMU_VEC4(unsigned int, uint, 16)
FY_EMU_VEC2(unsigned short, ushort, 4)
FY_EMU_VEC4(unsigned short, ushort, 8)
FY_EMU_VEC4(unsigned char, uchar, 4)
FY_EMU_VEC4(signed char, char, 4)
FY_EMU_VEC2(double, double, 16)
#undef FY_EMU_VEC2
#undef FY_EMU_VEC4
struct float3 {
    float x, y, z;
};

/* ------------------------------------------------------------------ the current thread */
struct fy_emu_block_ctx {
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
    void *dyn_smem;
};
struct fy_emu_fiber_pub {
    uint3 thread_idx; /* must stay the first member (fy_emu_fiber in sched.cc extends it) */
};
extern __thread fy_emu_fiber_pub *fy_emu_cur_fiber_ __attribute__((tls_model("initial-exec")));
extern __thread fy_emu_block_ctx *fy_emu_cur_block_ __attribute__((tls_model("initial-exec")));

#define threadIdx (fy_emu_cur_fiber_->thread_idx)
#define blockIdx (fy_emu_cur_block_->block_idx)
#define blockDim (fy_emu_cur_block_->block_dim)
#define gridDim (fy_emu_cur_block_->grid_dim)
#define FY_DYN_SMEM(type, name) type *name = (type *)fy_emu_cur_block_->dyn_smem

/* ------------------------------------------------------------------ synchronisation */
enum fy_emu_warp_op { FY_EMU_SHFL = 1, FY_EMU_SHFL_XOR, FY_EMU_BALLOT, FY_EMU_SYNCWARP };
enum fy_emu_bar_op { FY_EMU_BAR = 0, FY_EMU_BAR_COUNT, FY_EMU_BAR_AND, FY_EMU_BAR_OR };

/* out of line on purpose: the compiler must assume they read and write all memory */
uint64_t fy_emu_warp_op(int op, uint64_t v, int arg);
int fy_emu_barrier(int op, int pred);

static inline void __syncthreads(void) { fy_emu_barrier(FY_EMU_BAR, 0); }
static inline int __syncthreads_count(int p) { return fy_emu_barrier(FY_EMU_BAR_COUNT, p != 0); }
static inline int __syncthreads_and(int p) { return fy_emu_barrier(FY_EMU_BAR_AND, p != 0); }
static inline int __syncthreads_or(int p) { return fy_emu_barrier(FY_EMU_BAR_OR, p != 0); }
static inline void __threadfence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

template <class T> static inline uint64_t fy_emu_to_bits(T v)
{
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                  "fy_shfl: 1 to 8 byte scalars only");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof(T));
    return u;
}
template <class T> static inline T fy_emu_from_bits(uint64_t u)
{
    T v;
    memcpy(&v, &u, sizeof(T));
    return v;
}
template <class T> static inline T fy_emu_shfl_xor(T v, int m)
{
    return fy_emu_from_bits<T>(fy_emu_warp_op(FY_EMU_SHFL_XOR, fy_emu_to_bits(v), m));
}
template <class T> static inline T fy_emu_shfl(T v, int lane)
{
    return fy_emu_from_bits<T>(fy_emu_warp_op(FY_EMU_SHFL, fy_emu_to_bits(v), lane));
}
#define fy_shfl_xor(v, m) fy_emu_shfl_xor((v), (m))
#define fy_shfl(v, l) fy_emu_shfl((v), (l))
#define fy_ballot(p) ((fy_lanemask)fy_emu_warp_op(FY_EMU_BALLOT, (p) ? 1u : 0u, 0))
#define fy_syncwarp() ((void)fy_emu_warp_op(FY_EMU_SYNCWARP, 0, 0))

/* ------------------------------------------------------------------ asynchronous copies
 * (fy_gpu_compat.h's fy_async_*, CUDA's cp.async): a copy is recorded when it is started and
 * made when its thread waits for its group (fy_emu_async_wait: every committed group but the
 * `pending` most recent) or exits, so shared memory read before the wait still holds the old
 * bytes, as it may on a GPU. Copies must be aligned to their size. */
void fy_emu_async_copy(void *dst, const void *src, size_t n);
void fy_emu_async_commit(void);
void fy_emu_async_wait(int pending);

static inline float __uint_as_float(uint32_t u);
static inline uint32_t __float_as_uint(float f);
/* ------------------------------------------------------------------ atomics (device memory is
 * shared by blocks running on several OS threads: real atomics) */
static inline float atomicAdd(float *p, float v)
{
    uint32_t *u = (uint32_t *)p;
    uint32_t old = __atomic_load_n(u, __ATOMIC_RELAXED);
    for (;;) {
        float f;
        memcpy(&f, &old, 4);
        f += v;
        uint32_t nw;
        memcpy(&nw, &f, 4);
        if (__atomic_compare_exchange_n(u, &old, nw, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
            memcpy(&f, &old, 4);
            return f;
        }
    }
}
static inline double atomicAdd(double *p, double v)
{
    uint64_t *u = (uint64_t *)p;
    uint64_t old = __atomic_load_n(u, __ATOMIC_RELAXED);
    for (;;) {
        double f;
        memcpy(&f, &old, 8);
        f += v;
        uint64_t nw;
        memcpy(&nw, &f, 8);
        if (__atomic_compare_exchange_n(u, &old, nw, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
            memcpy(&f, &old, 8);
            return f;
        }
    }
}
#define FY_EMU_INT_ATOMICS(T)                                                                      \
    static inline T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }    \
    static inline T atomicSub(T *p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }    \
    static inline T atomicAnd(T *p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }    \
    static inline T atomicOr(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }      \
    static inline T atomicXor(T *p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }    \
    static inline T atomicExch(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }  \
    static inline T atomicCAS(T *p, T cmp, T v)                                                    \
    {                                                                                              \
        __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);        \
        return cmp;                                                                                \
    }                                                                                              \
    static inline T atomicMax(T *p, T v)                                                           \
    {                                                                                              \
        T old = __atomic_load_n(p, __ATOMIC_RELAXED);                                              \
        while (old < v &&                                                                          \
               !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) \
        {                                                                                          \
        }                                                                                          \
        return old;                                                                                \
    }                                                                                              \
    static inline T atomicMin(T *p, T v)                                                           \
    {                                                                                              \
        T old = __atomic_load_n(p, __ATOMIC_RELAXED);                                              \
        while (old > v &&                                                                          \
               !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) \
        {                                                                                          \
        }                                                                                          \
        return old;                                                                                \
    }
FY_EMU_INT_ATOMICS(int)
FY_EMU_INT_ATOMICS(unsigned int)
FY_EMU_INT_ATOMICS(unsigned long long)
FY_EMU_INT_ATOMICS(long long)
#undef FY_EMU_INT_ATOMICS
static inline float atomicExch(float *p, float v)
{
    return __uint_as_float(atomicExch((unsigned int *)p, __float_as_uint(v)));
}

/* ------------------------------------------------------------------ intrinsics (glibc declares
 * __expf, __logf, __sinf, __cosf, __powf, __sincosf, ... itself: the precise functions) */
static inline float __uint_as_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t __float_as_uint(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float __int_as_float(int32_t i) { return __uint_as_float((uint32_t)i); }
static inline int32_t __float_as_int(float f) { return (int32_t)__float_as_uint(f); }
static inline double __longlong_as_double(long long i)
{
    double d;
    memcpy(&d, &i, 8);
    return d;
}
static inline long long __double_as_longlong(double d)
{
    long long i;
    memcpy(&i, &d, 8);
    return i;
}
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fsqrt_rn(float x) { return sqrtf(x); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
static inline int __float2int_rz(float x) { return (int)x; }
static inline int __popc(unsigned int x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
template <class T> static inline T __ldg(const T *p) { return *p; }

#define FY_EMU_MINMAX(T)                                                                           \
    static inline T min(T a, T b) { return a < b ? a : b; }                                        \
    static inline T max(T a, T b) { return a > b ? a : b; }
FY_EMU_MINMAX(int)
FY_EMU_MINMAX(unsigned int)
FY_EMU_MINMAX(long)
FY_EMU_MINMAX(unsigned long)
FY_EMU_MINMAX(long long)
FY_EMU_MINMAX(unsigned long long)
#undef FY_EMU_MINMAX
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

/* f16 <-> f32, the CPU's conversions bit for bit (src/quant.c) */
static inline float fy_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t em = h & 0x7fffu;
    const uint32_t exp = em & 0x7c00u;
    uint32_t nb = (em << 13) + 0x38000000u;
    if (exp == 0x7c00u)
        nb += 0x38000000u;
    const uint32_t r = exp == 0 ? __float_as_uint((float)(em & 0x3ffu) * 0x1p-24f) : nb;
    return __uint_as_float(r | sign);
}
static inline uint16_t fy_f32_to_f16(float f)
{
    const uint32_t x = __float_as_uint(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x38800000u) {
        if (a >= 0x47800000u)
            return (uint16_t)(sign | 0x7c00);
        uint32_t h = (a >> 13) - (112u << 10);
        const uint32_t rem = a & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
            h++;
        if (h >= 0x7c00)
            h = 0x7c00;
        return (uint16_t)(sign | h);
    }
    if (a <= 0x33000000u)
        return sign;
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - e;
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

/* ------------------------------------------------------------------ host runtime */
enum hipError_t {
    hipSuccess = 0,
    hipErrorInvalidValue = 1,
    hipErrorOutOfMemory = 2,
    hipErrorMemoryAllocation = 2,
    hipErrorNotInitialized = 3,
    hipErrorInvalidConfiguration = 9,
    hipErrorInsufficientDriver = 35,
    hipErrorInvalidDevicePointer = 17,
    hipErrorInvalidMemcpyDirection = 21,
    hipErrorNoDevice = 100,
    hipErrorInvalidDevice = 101,
    hipErrorInvalidResourceHandle = 400,
    hipErrorInvalidHandle = 400,
    hipErrorNotReady = 600,
    hipErrorStreamCaptureUnsupported = 900,
    hipErrorStreamCaptureInvalidated = 901,
    hipErrorCapturedEvent = 907,
    hipErrorHostMemoryAlreadyRegistered = 712,
    hipErrorHostMemoryNotRegistered = 713,
    hipErrorLaunchFailure = 719,
};
enum hipMemcpyKind {
    hipMemcpyHostToHost = 0,
    hipMemcpyHostToDevice = 1,
    hipMemcpyDeviceToHost = 2,
    hipMemcpyDeviceToDevice = 3,
    hipMemcpyDefault = 4,
};
enum hipFuncAttribute {
    hipFuncAttributeMaxDynamicSharedMemorySize = 8,
    hipFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum hipDeviceAttribute_t {
    hipDeviceAttributeMaxThreadsPerBlock = 1,
    hipDeviceAttributeWarpSize = 10,
    hipDeviceAttributeMaxSharedMemoryPerBlock = 8,
    hipDeviceAttributeMultiprocessorCount = 16,
    hipDeviceAttributeComputeCapabilityMajor = 75,
    hipDeviceAttributeComputeCapabilityMinor = 76,
    hipDeviceAttributeSharedMemPerBlockOptin = 97,
    hipDeviceAttributeL2CacheSize = 38,
};
#define hipStreamDefault 0x0u
#define hipStreamNonBlocking 0x1u
#define hipEventDefault 0x0u
#define hipEventBlockingSync 0x1u
#define hipEventDisableTiming 0x2u
#define hipHostMallocDefault 0x0u
#define hipHostMallocPortable 0x1u
#define hipHostRegisterDefault 0x0u
#define hipHostRegisterPortable 0x1u
#define hipHostRegisterMapped 0x2u
#define hipHostRegisterReadOnly 0x8u

typedef struct fy_emu_stream *hipStream_t;
typedef struct fy_emu_event *hipEvent_t;
typedef struct fy_emu_graph *hipGraph_t;
typedef struct fy_emu_graph *hipGraphExec_t; /* an instantiated graph: a copy of the recording */
enum hipStreamCaptureMode {
    hipStreamCaptureModeGlobal = 0,
    hipStreamCaptureModeThreadLocal = 1,
    hipStreamCaptureModeRelaxed = 2,
};

struct hipDeviceProp_t {
    char name[256];
    char gcnArchName[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
    size_t sharedMemPerMultiprocessor;
    size_t maxSharedMemoryPerMultiProcessor;
    size_t totalConstMem;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int maxThreadsPerMultiProcessor;
    int clockRate;
    int memoryClockRate;
    int memoryBusWidth;
    int major;
    int minor;
    int multiProcessorCount;
    int l2CacheSize;
    int integrated;
    int canMapHostMemory;
    int concurrentKernels;
    int asyncEngineCount;
    int pciBusID;
    int pciDeviceID;
    int pciDomainID;
};

const char *hipGetErrorString(hipError_t e);
const char *hipGetErrorName(hipError_t e);
hipError_t hipGetLastError(void);
hipError_t hipPeekAtLastError(void);
hipError_t hipGetDeviceCount(int *n);
hipError_t hipSetDevice(int dev);
hipError_t hipGetDevice(int *dev);
hipError_t hipGetDeviceProperties(hipDeviceProp_t *p, int dev);
hipError_t hipDeviceGetAttribute(int *v, hipDeviceAttribute_t a, int dev);
hipError_t hipDeviceSynchronize(void);
hipError_t hipMemGetInfo(size_t *free_bytes, size_t *total_bytes);
hipError_t hipMalloc(void **p, size_t n);
template <class T> static inline hipError_t hipMalloc(T **p, size_t n)
{
    return hipMalloc((void **)p, n);
}
hipError_t hipFree(void *p);
hipError_t hipHostMalloc(void **p, size_t n, unsigned int flags = 0);
template <class T> static inline hipError_t hipHostMalloc(T **p, size_t n, unsigned int flags = 0)
{
    return hipHostMalloc((void **)p, n, flags);
}
hipError_t hipHostFree(void *p);
hipError_t hipHostRegister(void *p, size_t n, unsigned int flags);
hipError_t hipHostUnregister(void *p);
hipError_t hipMemcpy(void *dst, const void *src, size_t n, hipMemcpyKind kind);
hipError_t hipMemcpyAsync(void *dst, const void *src, size_t n, hipMemcpyKind kind,
                          hipStream_t s = nullptr);
hipError_t hipMemset(void *dst, int v, size_t n);
hipError_t hipMemsetAsync(void *dst, int v, size_t n, hipStream_t s = nullptr);
hipError_t hipStreamCreate(hipStream_t *s);
hipError_t hipStreamCreateWithFlags(hipStream_t *s, unsigned int flags);
hipError_t hipStreamDestroy(hipStream_t s);
hipError_t hipStreamSynchronize(hipStream_t s);
hipError_t hipStreamQuery(hipStream_t s);
hipError_t hipStreamWaitEvent(hipStream_t s, hipEvent_t e, unsigned int flags = 0);
hipError_t hipEventCreate(hipEvent_t *e);
hipError_t hipEventCreateWithFlags(hipEvent_t *e, unsigned int flags);
hipError_t hipEventDestroy(hipEvent_t e);
hipError_t hipEventRecord(hipEvent_t e, hipStream_t s = nullptr);
hipError_t hipEventSynchronize(hipEvent_t e);
hipError_t hipEventQuery(hipEvent_t e);
hipError_t hipEventElapsedTime(float *ms, hipEvent_t start, hipEvent_t stop);
/* Stream capture (graphs): between hipStreamBeginCapture and hipStreamEndCapture, what is
 * enqueued on the stream is recorded, not run; hipGraphLaunch enqueues the recording again
 * (kernels with the arguments they were launched with, copies between the same addresses).
 * Refused while capturing, as CUDA does: synchronising the stream, and copies from pageable
 * host memory (their bytes would be the capture's, not the launch's). */
hipError_t hipStreamBeginCapture(hipStream_t s, hipStreamCaptureMode mode);
hipError_t hipStreamEndCapture(hipStream_t s, hipGraph_t *g);
hipError_t hipGraphInstantiate(hipGraphExec_t *e, hipGraph_t g, void *err_node, char *log,
                               size_t log_size);
hipError_t hipGraphLaunch(hipGraphExec_t e, hipStream_t s);
hipError_t hipGraphExecDestroy(hipGraphExec_t e);
hipError_t hipGraphDestroy(hipGraph_t g);

hipError_t fy_emu_func_set_attribute(const void *f, const char *name, hipFuncAttribute a, int v);
template <class F> static inline hipError_t hipFuncSetAttribute(F f, hipFuncAttribute a, int v)
{
    return fy_emu_func_set_attribute((const void *)f, nullptr, a, v);
}

/* ------------------------------------------------------------------ kernel launch */
struct fy_emu_task {
    virtual ~fy_emu_task() {}
    virtual void run() = 0; /* one GPU thread */
};
template <class... P> struct fy_emu_kernel_task final : fy_emu_task {
    void (*k)(P...);
    std::tuple<std::decay_t<P>...> args; /* evaluated and copied at launch, as on a GPU */
    fy_emu_kernel_task(void (*k_)(P...), std::tuple<std::decay_t<P>...> &&a)
        : k(k_), args(std::move(a)) {}
    void run() override { std::apply(k, args); }
};
/* fy_emu_args_of(k)(args...) converts the arguments exactly as a call of k would */
template <class... P> struct fy_emu_argpack {
    std::tuple<std::decay_t<P>...> operator()(P... p) const
    {
        return std::tuple<std::decay_t<P>...>(p...);
    }
};
template <class... P> static inline fy_emu_argpack<P...> fy_emu_args_of(void (*)(P...))
{
    return {};
}
/* the pointer arguments of a launch: each must be null, device memory (or one past a buffer's
 * end) or pinned host memory, else the launch fails (a host pointer only works here) */
struct fy_emu_ptr_arg {
    int index;
    const void *p;
};
template <class T> static inline void fy_emu_ptr_collect(fy_emu_ptr_arg *out, int &n, int i, const T &v)
{
    if constexpr (std::is_pointer<T>::value && !std::is_function<std::remove_pointer_t<T>>::value) {
        out[n].index = i;
        out[n].p = (const void *)v;
        n++;
    }
}
template <class Tuple, size_t... I>
static inline int fy_emu_ptr_args(const Tuple &t, fy_emu_ptr_arg *out, std::index_sequence<I...>)
{
    int n = 0;
    (fy_emu_ptr_collect(out, n, (int)I, std::get<I>(t)), ...);
    return n;
}
/* takes ownership of t; errors go to hipGetLastError */
void fy_emu_enqueue_launch(fy_emu_task *t, const void *fn, const char *name, dim3 grid, dim3 block,
                           size_t smem, hipStream_t s, const fy_emu_ptr_arg *ptrs, int nptrs);
template <class... P>
static inline void fy_emu_launch(void (*k)(P...), const char *name, dim3 grid, dim3 block,
                                 size_t smem, hipStream_t s, std::tuple<std::decay_t<P>...> &&a)
{
    fy_emu_ptr_arg ptrs[sizeof...(P) + 1];
    const int nptrs = fy_emu_ptr_args(a, ptrs, std::index_sequence_for<P...>{});
    fy_emu_enqueue_launch(new fy_emu_kernel_task<P...>(k, std::move(a)), (const void *)k, name,
                          grid, block, smem, s, ptrs, nptrs);
}
#define FY_EMU_STR_(x) #x
#define FY_EMU_STR(x) FY_EMU_STR_(x)
#define FY_LAUNCH(k, grid, block, smem, stream, ...)                                               \
    fy_emu_launch((k), #k " (" __FILE__ ":" FY_EMU_STR(__LINE__) ")", (grid), (block),            \
                  (size_t)(smem), (stream), fy_emu_args_of(k)(__VA_ARGS__))

#endif
