/* Router: top-k of each row of logits, then softmax over the k selected (gpt-oss.md section 6:
 * selection on the raw biased logits, no softmax over all experts, no renormalisation). */
#include "ops.h"

#include <math.h>

void fy_cpu_router_topk(int32_t *ids, float *w, const float *logits, int64_t n_tok,
                        int64_t n_exp, int k)
{
    for (int64_t t = 0; t < n_tok; t++) {
        const float *l = logits + t * n_exp;
        int32_t *id = ids + t * k;
        float *wt = w + t * k;
        int n = 0;
        /* insertion into a descending list; an equal value never passes an earlier one,
         * so ties go to the lower expert index */
        for (int64_t i = 0; i < n_exp; i++) {
            float v = l[i];
            if (n == k && !(v > l[id[k - 1]]))
                continue;
            int p = n < k ? n : k - 1;
            while (p > 0 && v > l[id[p - 1]]) {
                id[p] = id[p - 1];
                p--;
            }
            id[p] = (int32_t)i;
            if (n < k)
                n++;
        }
        /* softmax over the k selected, max-subtracted, in double (k is small: the
         * exponentials are simply computed twice) */
        double m = l[id[0]];
        double z = 0.0;
        for (int j = 0; j < k; j++)
            z += exp((double)l[id[j]] - m);
        for (int j = 0; j < k; j++)
            wt[j] = (float)(exp((double)l[id[j]] - m) / z);
    }
}
