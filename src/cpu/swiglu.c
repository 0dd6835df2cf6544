/* gpt-oss SwiGLU (gpt-oss.md section 6): a = g' * sigmoid(alpha g') * (u' + 1) with
 * g' = min(g, limit) (upper clamp only) and u' = clamp(u, -limit, limit). */
#include "ops.h"

#include <math.h>

static inline void swiglu_at(float *a, const float *g, const float *u, int64_t i, float alpha,
                             float limit)
{
    float gc = g[i] > limit ? limit : g[i];
    float uc = u[i] > limit ? limit : (u[i] < -limit ? -limit : u[i]);
    /* g / (1 + exp(-alpha g)): for very negative g the exp overflows to inf and the
     * result is -0, never NaN */
    float s = gc / (1.0f + expf(-alpha * gc));
    a[i] = s * (uc + 1.0f);
}

void fy_cpu_swiglu_oai(float *a, const float *g, const float *u, int64_t n, float alpha,
                       float limit)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        swiglu_at(a, g, u, i, alpha, limit);
}

void fy_cpu_swiglu_oai_serial(float *a, const float *g, const float *u, int64_t n, float alpha,
                              float limit)
{
    for (int64_t i = 0; i < n; i++)
        swiglu_at(a, g, u, i, alpha, limit);
}
