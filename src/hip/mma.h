/* Warp-level matrix-unit tiles for the GEMMs (matmul.hip): one warp computes
 *     C (16x16, f32) += A (16x16) * B^T (16x16)
 * where A is [m][k] and B is [n][k], both bf16 (raw uint16_t) in shared memory, each with a
 * leading dimension `ld` in elements (even; rows 8-byte aligned). The API:
 *     fy_mma_acc c; fy_mma_zero(c);
 *     fy_mma_a a; fy_mma_load_a(a, &A[0][k0], lda);
 *     fy_mma_b b; fy_mma_load_b(b, &B[0][k0], ldb);
 *     fy_mma(c, a, b);                          // k0 .. k0+15
 *     c.v[i] is C[fy_mma_row(i)][fy_mma_col(i)] for i < FY_MMA_NACC (this lane's share)
 * Implementations (FY_MMA_KIND):
 *   1  nvcc, sm_80+: two mma.sync.m16n8k16 bf16 (tensor cores), fragments loaded from smem
 *   2  hipcc, CDNA2/3 (gfx90a, gfx94x; wave64): __builtin_amdgcn_mfma_f32_16x16x16bf16_1k
 *   0  everything else, the emulator included: each lane computes its FY_MMA_NACC elements of C
 *      from the shared-memory operands (f32 FMAs on the bf16 values), so the tiling logic of the
 *      tensor-core kernel runs, and is tested, everywhere. The fragments are then just pointers
 *      into shared memory; fy_syncwarp() stands where the real units exchange data.
 * All three give f32 sums of exact bf16 x bf16 products; only the summation order differs. */
#ifndef FY_HIP_MMA_H
#define FY_HIP_MMA_H

#include "fy_gpu_compat.h"

#if defined(FY_GPU_EMU)
#define FY_MMA_KIND 0
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define FY_MMA_KIND 1
#elif defined(__HIP_DEVICE_COMPILE__) &&                                                           \
    (defined(__gfx90a__) || defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__))
#define FY_MMA_KIND 2
#else
#define FY_MMA_KIND 0
#endif

#define FY_MMA_NACC (256 / FY_WARP) /* accumulator elements per lane */

struct fy_mma_acc {
    float v[FY_MMA_NACC];
};

static __device__ __forceinline__ int fy_mma_lane(void) { return (int)threadIdx.x % FY_WARP; }

static __device__ __forceinline__ void fy_mma_zero(fy_mma_acc &c)
{
#pragma unroll
    for (int i = 0; i < FY_MMA_NACC; i++)
        c.v[i] = 0.0f;
}

#if FY_MMA_KIND == 1
/* ------------------------------------------------------------------ NVIDIA tensor cores
 * PTX m16n8k16 fragments, g = lane / 4, t = lane % 4, two bf16 per 32-bit register (lower k
 * in the low half): A a0 (g, 2t), a1 (g+8, 2t), a2 (g, 2t+8), a3 (g+8, 2t+8); B (per n8 half)
 * b0 (k 2t, n g), b1 (k 2t+8, n g); C c0,c1 (g, 2t..2t+1), c2,c3 (g+8, 2t..2t+1). */
struct fy_mma_a {
    uint32_t r[4];
};
struct fy_mma_b {
    uint32_t r[4]; /* n 0..7: r[0], r[1]; n 8..15: r[2], r[3] */
};

static __device__ __forceinline__ uint32_t fy_mma_ld32(const uint16_t *p)
{
    return *(const uint32_t *)p;
}

static __device__ __forceinline__ void fy_mma_load_a(fy_mma_a &f, const uint16_t *s, int ld)
{
    const int g = fy_mma_lane() >> 2, t = fy_mma_lane() & 3;
    f.r[0] = fy_mma_ld32(s + g * ld + 2 * t);
    f.r[1] = fy_mma_ld32(s + (g + 8) * ld + 2 * t);
    f.r[2] = fy_mma_ld32(s + g * ld + 2 * t + 8);
    f.r[3] = fy_mma_ld32(s + (g + 8) * ld + 2 * t + 8);
}

static __device__ __forceinline__ void fy_mma_load_b(fy_mma_b &f, const uint16_t *s, int ld)
{
    const int g = fy_mma_lane() >> 2, t = fy_mma_lane() & 3;
    f.r[0] = fy_mma_ld32(s + g * ld + 2 * t);
    f.r[1] = fy_mma_ld32(s + g * ld + 2 * t + 8);
    f.r[2] = fy_mma_ld32(s + (g + 8) * ld + 2 * t);
    f.r[3] = fy_mma_ld32(s + (g + 8) * ld + 2 * t + 8);
}

static __device__ __forceinline__ void fy_mma(fy_mma_acc &c, const fy_mma_a &a, const fy_mma_b &b)
{
#pragma unroll
    for (int h = 0; h < 2; h++)
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
            "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
            : "+f"(c.v[4 * h]), "+f"(c.v[4 * h + 1]), "+f"(c.v[4 * h + 2]), "+f"(c.v[4 * h + 3])
            : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b.r[2 * h]),
              "r"(b.r[2 * h + 1]));
}

static __device__ __forceinline__ int fy_mma_row(int i)
{
    return (fy_mma_lane() >> 2) + 8 * ((i >> 1) & 1);
}
static __device__ __forceinline__ int fy_mma_col(int i)
{
    return 8 * (i >> 2) + 2 * (fy_mma_lane() & 3) + (i & 1);
}

#elif FY_MMA_KIND == 2
/* ------------------------------------------------------------------ AMD CDNA matrix cores
 * v_mfma_f32_16x16x16bf16_1k, wave64, l = lane: A[l%16][4(l/16) + j] and B[k = 4(l/16) + j][l%16]
 * are item j of the lane's 4-element operand; D[4(l/16) + i][l%16] is item i of its result. */
typedef short fy_mma_v4s __attribute__((ext_vector_type(4)));
typedef float fy_mma_v4f __attribute__((ext_vector_type(4)));
static_assert(FY_WARP == 64, "MFMA tiles need wave64");

struct fy_mma_a {
    fy_mma_v4s r;
};
struct fy_mma_b {
    fy_mma_v4s r;
};

static __device__ __forceinline__ void fy_mma_load_a(fy_mma_a &f, const uint16_t *s, int ld)
{
    const int l = fy_mma_lane();
    f.r = *(const fy_mma_v4s *)(s + (l & 15) * ld + 4 * (l >> 4));
}
static __device__ __forceinline__ void fy_mma_load_b(fy_mma_b &f, const uint16_t *s, int ld)
{
    const int l = fy_mma_lane();
    f.r = *(const fy_mma_v4s *)(s + (l & 15) * ld + 4 * (l >> 4));
}
static __device__ __forceinline__ void fy_mma(fy_mma_acc &c, const fy_mma_a &a, const fy_mma_b &b)
{
    fy_mma_v4f d = {c.v[0], c.v[1], c.v[2], c.v[3]};
    d = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a.r, b.r, d, 0, 0, 0);
    c.v[0] = d[0];
    c.v[1] = d[1];
    c.v[2] = d[2];
    c.v[3] = d[3];
}
static __device__ __forceinline__ int fy_mma_row(int i) { return 4 * (fy_mma_lane() >> 4) + i; }
static __device__ __forceinline__ int fy_mma_col(int i)
{
    (void)i;
    return fy_mma_lane() & 15;
}

#else
/* ------------------------------------------------------------------ portable / emulator
 * Lane l owns C elements e = l + FY_WARP * i (row e / 16, column e % 16). */
struct fy_mma_a {
    const uint16_t *p;
    int ld;
};
struct fy_mma_b {
    const uint16_t *p;
    int ld;
};

static __device__ __forceinline__ void fy_mma_load_a(fy_mma_a &f, const uint16_t *s, int ld)
{
    f.p = s;
    f.ld = ld;
}
static __device__ __forceinline__ void fy_mma_load_b(fy_mma_b &f, const uint16_t *s, int ld)
{
    f.p = s;
    f.ld = ld;
}
static __device__ __forceinline__ void fy_mma(fy_mma_acc &c, const fy_mma_a &a, const fy_mma_b &b)
{
    fy_syncwarp(); /* the whole warp takes part, as in mma.sync / v_mfma */
#pragma unroll
    for (int i = 0; i < FY_MMA_NACC; i++) {
        const int e = fy_mma_lane() + FY_WARP * i;
        const uint16_t *ar = a.p + (e >> 4) * a.ld;
        const uint16_t *br = b.p + (e & 15) * b.ld;
        float s = c.v[i];
#pragma unroll
        for (int k = 0; k < 16; k++)
            s = fmaf(fy_bf16_to_f32(ar[k]), fy_bf16_to_f32(br[k]), s);
        c.v[i] = s;
    }
}
static __device__ __forceinline__ int fy_mma_row(int i) { return (fy_mma_lane() + FY_WARP * i) >> 4; }
static __device__ __forceinline__ int fy_mma_col(int i) { return (fy_mma_lane() + FY_WARP * i) & 15; }
#endif

#endif
