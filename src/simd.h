/* GCC/Clang vector-extension types shared by the CPU kernels. */
#ifndef FY_CPU_SIMD_H
#define FY_CPU_SIMD_H

/* vectors are passed only between static inline functions, never across an ABI boundary */
#if defined(__clang__)
#if __has_warning("-Wpsabi")
#pragma clang diagnostic ignored "-Wpsabi"
#endif
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float fy_v8f __attribute__((vector_size(32)));

#endif
