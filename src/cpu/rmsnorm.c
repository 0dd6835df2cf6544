/* RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, as ggml computes it (gpt-oss.md section 6):
 * the sum of squares is accumulated in double, the scale and the products are f32. */
#include <math.h>

#include "ops.h"

static void rmsnorm_row(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i] * (double)x[i];
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];   /* element i is read before it is written: y may alias x */
}

void fy_cpu_rmsnorm(float *y, const float *x, const float *w, int64_t rows, int64_t n, float eps)
{
    if (rows <= 0 || n <= 0)
        return;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows > 1)
#endif
    for (int64_t r = 0; r < rows; r++)
        rmsnorm_row(y + r * n, x + r * n, w, n, eps);
}
