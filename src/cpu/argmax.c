/* Arg-max of each row: the greedy sampler's pick (fy_gen_sample without a sampler), as a graph
 * op so that a GPU can return one id instead of a row of logits. */
#include "ops.h"

void fy_cpu_argmax(int32_t *ids, const float *x, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++)
            if (xr[i] == xr[i] && (best < 0 || xr[i] > xr[best]))
                best = i;
        ids[r] = (int32_t)(best < 0 ? 0 : best);
    }
}
