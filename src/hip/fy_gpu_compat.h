/* The project's GPU dialect: kernels are written once in HIP and compiled three ways.
 *   hipcc (AMD, ROCm)      -> <hip/hip_runtime.h> as is
 *   nvcc -x cu (NVIDIA)    -> <cuda_runtime.h>, with the hip* names ferry uses mapped one by one
 *   g++ -DFY_GPU_EMU (CPU) -> emu/fy_emu.h: a CPU emulator (fibers for threads, real barriers and
 *                             shuffles, lazily ordered streams) so every kernel runs in CI
 * Device-side differences go behind neutral fy_ names (see style.md section 6):
 *   FY_WARP                 warp width (32 CUDA and emulator; 64 on CDNA, 32 on RDNA)
 *   fy_shfl_xor(v, m)       butterfly shuffle over the whole warp (float or int)
 *   fy_shfl(v, lane)        read lane's v
 *   fy_syncwarp()           warp barrier (CUDA does not run warps in lock-step)
 *   FY_LAUNCH(k, grid, block, smem, stream, args...)  kernel launch; for a template kernel take
 *                           a pointer first: `auto *k = &kern<T, 4>; FY_LAUNCH(k, ...)`
 *   FY_DYN_SMEM(type, name) dynamic shared memory as `type *name`
 *   fy_f16_to_f32 / fy_f32_to_f16 / fy_bf16_to_f32 / fy_f32_to_bf16 on raw uint16_t
 *   fy_async_copy16 / fy_async_commit / fy_async_wait<N>  global -> shared copies that land
 *                           later (cp.async on CUDA sm_80+; see below)
 * Host-side runtime calls are the HIP names (hipMalloc, hipMemcpyAsync, ...); under nvcc each is
 * one #define onto CUDA below. Add a line here when a new one is needed, never in kernels. */
#ifndef FY_GPU_COMPAT_H
#define FY_GPU_COMPAT_H

#include <stdint.h>

#if defined(FY_GPU_EMU)
/* ------------------------------------------------------------------ CPU emulator */
#include "hip/emu/fy_emu.h"
#define FY_GPU_PLATFORM "emu"

#elif defined(__HIP__) || defined(__HIPCC__)
/* ------------------------------------------------------------------ AMD, hipcc */
#include <hip/hip_runtime.h>
#include <hip/hip_fp16.h>
#define FY_GPU_PLATFORM "hip"
#define FY_GPU_HIP 1
#if defined(__HIP_DEVICE_COMPILE__) && defined(__AMDGCN_WAVEFRONT_SIZE)
#define FY_WARP __AMDGCN_WAVEFRONT_SIZE
#else
#define FY_WARP 64
#endif
typedef uint64_t fy_lanemask;
#define fy_shfl_xor(v, m) __shfl_xor((v), (m), FY_WARP)
#define fy_shfl(v, l) __shfl((v), (l), FY_WARP)
#define fy_ballot(p) ((fy_lanemask)__ballot(p))
#define fy_syncwarp() __builtin_amdgcn_wave_barrier()
#define FY_LAUNCH(k, grid, block, smem, stream, ...) k<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define FY_DYN_SMEM(type, name)                                                                    \
    extern __shared__ __attribute__((aligned(16))) unsigned char fy_dyn_smem_[];                   \
    type *name = (type *)fy_dyn_smem_

#elif defined(__CUDACC__)
/* ------------------------------------------------------------------ NVIDIA, nvcc -x cu */
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#define FY_GPU_PLATFORM "cuda"
#define FY_GPU_CUDA 1
#define FY_WARP 32
typedef uint32_t fy_lanemask;
#define fy_shfl_xor(v, m) __shfl_xor_sync(0xffffffffu, (v), (m), 32)
#define fy_shfl(v, l) __shfl_sync(0xffffffffu, (v), (l), 32)
#define fy_ballot(p) __ballot_sync(0xffffffffu, (p))
#define fy_syncwarp() __syncwarp()
#define FY_LAUNCH(k, grid, block, smem, stream, ...) k<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define FY_DYN_SMEM(type, name)                                                                    \
    extern __shared__ __align__(16) unsigned char fy_dyn_smem_[];                                  \
    type *name = (type *)fy_dyn_smem_

/* the HIP runtime names ferry uses, one line each */
#define hipError_t cudaError_t
#define hipSuccess cudaSuccess
#define hipErrorMemoryAllocation cudaErrorMemoryAllocation
#define hipErrorOutOfMemory cudaErrorMemoryAllocation
#define hipErrorNoDevice cudaErrorNoDevice
#define hipErrorInsufficientDriver cudaErrorInsufficientDriver
#define hipErrorHostMemoryAlreadyRegistered cudaErrorHostMemoryAlreadyRegistered
#define hipGetErrorString cudaGetErrorString
#define hipGetErrorName cudaGetErrorName
#define hipGetLastError cudaGetLastError
#define hipPeekAtLastError cudaPeekAtLastError
#define hipGetDeviceCount cudaGetDeviceCount
#define hipSetDevice cudaSetDevice
#define hipGetDevice cudaGetDevice
#define hipDeviceProp_t cudaDeviceProp
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipDeviceGetAttribute cudaDeviceGetAttribute
#define hipDeviceSynchronize cudaDeviceSynchronize
#define hipMemGetInfo cudaMemGetInfo
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipHostMalloc(p, n, f) cudaHostAlloc((p), (n), (f))
#define hipHostMallocDefault cudaHostAllocDefault
#define hipHostFree cudaFreeHost
#define hipHostRegister cudaHostRegister
#define hipHostUnregister cudaHostUnregister
#define hipHostRegisterDefault cudaHostRegisterDefault
#define hipHostRegisterReadOnly cudaHostRegisterReadOnly
#define hipMemcpy cudaMemcpy
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemsetAsync cudaMemsetAsync
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define hipStream_t cudaStream_t
#define hipStreamCreateWithFlags cudaStreamCreateWithFlags
#define hipStreamNonBlocking cudaStreamNonBlocking
#define hipStreamDestroy cudaStreamDestroy
#define hipStreamSynchronize cudaStreamSynchronize
#define hipStreamWaitEvent cudaStreamWaitEvent
#define hipEvent_t cudaEvent_t
#define hipEventCreateWithFlags cudaEventCreateWithFlags
#define hipEventDisableTiming cudaEventDisableTiming
#define hipEventDefault cudaEventDefault
#define hipEventCreate cudaEventCreate
#define hipEventDestroy cudaEventDestroy
#define hipEventRecord cudaEventRecord
#define hipEventSynchronize cudaEventSynchronize
#define hipEventQuery cudaEventQuery
#define hipEventElapsedTime cudaEventElapsedTime
#define hipErrorNotReady cudaErrorNotReady
#define hipFuncSetAttribute(f, a, v) cudaFuncSetAttribute((f), (a), (v))
#define hipFuncAttributeMaxDynamicSharedMemorySize cudaFuncAttributeMaxDynamicSharedMemorySize
#define hipDeviceAttributeMultiprocessorCount cudaDevAttrMultiProcessorCount
#define hipGraph_t cudaGraph_t
#define hipGraphExec_t cudaGraphExec_t
#define hipStreamBeginCapture cudaStreamBeginCapture
#define hipStreamCaptureModeRelaxed cudaStreamCaptureModeRelaxed
#define hipStreamEndCapture cudaStreamEndCapture
#define hipGraphLaunch cudaGraphLaunch
#define hipGraphExecDestroy cudaGraphExecDestroy
#define hipGraphDestroy cudaGraphDestroy

#else
#error "fy_gpu_compat.h: compile with hipcc, nvcc -x cu, or g++ -DFY_GPU_EMU"
#endif

/* ------------------------------------------------------------------ shared by all three */
#if !defined(FY_GPU_EMU)
static __device__ __forceinline__ float fy_f16_to_f32(uint16_t h)
{
    return __half2float(__ushort_as_half(h));
}
static __device__ __forceinline__ uint16_t fy_f32_to_f16(float f)
{
    return __half_as_ushort(__float2half_rn(f));
}
#endif
static __device__ __forceinline__ float fy_bf16_to_f32(uint16_t b)
{
    return __uint_as_float((uint32_t)b << 16);
}
/* round to nearest even; NaN stays NaN (the CPU's fy_f32_to_bf16) */
static __device__ __forceinline__ uint16_t fy_f32_to_bf16(float f)
{
    uint32_t x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

static __device__ __forceinline__ int fy_ceil_div(int a, int b) { return (a + b - 1) / b; }

/* Asynchronous copies from global to shared memory, 16 bytes each, both addresses 16-byte
 * aligned:
 *   fy_async_copy16(dst, src)  starts a copy; dst must not be read or written until it landed
 *   fy_async_commit()          closes the group of copies this thread started since the last one
 *   fy_async_wait<N>()         waits until all but the N most recent committed groups of this
 *                              thread landed (other threads see the bytes after a barrier)
 * CUDA sm_80+: cp.async.cg (to shared memory through L2 only, no registers) and
 * cp.async.commit_group / wait_group. The emulator records each copy and makes it at the wait,
 * so reading early sees stale bytes, as it may on a GPU. Elsewhere (AMD, older NVIDIA) a plain
 * load and store at the call, which waits for the load: callers choose to stage through
 * registers there instead (fy_gpu_async_copy() says which the device has). */
#if defined(FY_GPU_EMU)
static inline void fy_async_copy16(void *dst, const void *src) { fy_emu_async_copy(dst, src, 16); }
static inline void fy_async_commit(void) { fy_emu_async_commit(); }
template <int N> static inline void fy_async_wait(void) { fy_emu_async_wait(N); }
#elif defined(FY_GPU_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
static __device__ __forceinline__ void fy_async_copy16(void *dst, const void *src)
{
    const uint32_t d = (uint32_t)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src) : "memory");
}
static __device__ __forceinline__ void fy_async_commit(void)
{
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N> static __device__ __forceinline__ void fy_async_wait(void)
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
#else
static __device__ __forceinline__ void fy_async_copy16(void *dst, const void *src)
{
    *(uint4 *)dst = *(const uint4 *)src;
}
static __device__ __forceinline__ void fy_async_commit(void) {}
template <int N> static __device__ __forceinline__ void fy_async_wait(void) {}
#endif

/* c + the sum of the four products of the signed bytes of a and b */
static __device__ __forceinline__ int fy_dp4a(int a, int b, int c)
{
#if defined(FY_GPU_CUDA)
    return __dp4a(a, b, c);
#elif defined(__gfx906__) || defined(__gfx908__) || defined(__gfx90a__) ||                     \
    defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__)
    return __builtin_amdgcn_sdot4(a, b, c, false); /* v_dot4_i32_i8 (CDNA) */
#else
    for (int j = 0; j < 32; j += 8)
        c += (int)(int8_t)(a >> j) * (int)(int8_t)(b >> j);
    return c;
#endif
}

#endif
