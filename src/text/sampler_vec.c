/* The sampler's vectorised whole-vocabulary passes (sampler_priv.h): max, arg-max, and the
 * exponential and mask passes that fill prob and its block sums. They work on blocks of
 * FY_SAMP_BLOCK elements with fixed-length inner loops, which GCC vectorises at -O2. */
#include "sampler_priv.h"

#include <math.h>

/* Sum of one block of FY_SAMP_BLOCK probabilities, in a fixed order (16 float lanes, then
 * double), so both passes that sum blocks agree to the bit. */
static inline double block_sum(const float *pb)
{
    float lane[16];
    for (int j = 0; j < 16; j++)
        lane[j] = (pb[j] + pb[j + 16]) + (pb[j + 32] + pb[j + 48]);
    double sb = 0.0;
    for (int j = 0; j < 16; j++)
        sb += lane[j];
    return sb;
}

static float block_max(const float *restrict v)
{
    float lane[16];
    for (int j = 0; j < 16; j++) {
        const float a = v[j] > v[j + 16] ? v[j] : v[j + 16];
        const float b = v[j + 32] > v[j + 48] ? v[j + 32] : v[j + 48];
        lane[j] = a > b ? a : b;
    }
    float m = lane[0];
    for (int j = 1; j < 16; j++)
        m = lane[j] > m ? lane[j] : m;
    return m;
}

/* largest of v[0..n), ignoring NaN; -inf if there is none */
float fy_samp_vec_max(const float *restrict v, int64_t n)
{
    float acc[FY_SAMP_BLOCK];
    for (int j = 0; j < FY_SAMP_BLOCK; j++)
        acc[j] = -INFINITY;
    int64_t i = 0;
    for (; i + FY_SAMP_BLOCK <= n; i += FY_SAMP_BLOCK)
        for (int j = 0; j < FY_SAMP_BLOCK; j++)
            acc[j] = v[i + j] > acc[j] ? v[i + j] : acc[j];
    float mx = -INFINITY;
    for (int j = 0; j < FY_SAMP_BLOCK; j++)
        mx = acc[j] > mx ? acc[j] : mx;
    for (; i < n; i++)
        mx = v[i] > mx ? v[i] : mx;
    return mx;
}

/* lowest index of the largest value (NaN ignored); with no value above -inf, the first -inf
 * (or 0) */
int64_t fy_samp_argmax(const float *restrict v, int64_t n)
{
    float best = -INFINITY;
    int64_t from = 0; /* the first occurrence of best is at or after this */
    int64_t i = 0;
    for (; i + FY_SAMP_BLOCK <= n; i += FY_SAMP_BLOCK) {
        const float bm = block_max(v + i);
        if (bm > best) {
            best = bm;
            from = i;
        }
    }
    for (; i < n; i++) {
        if (v[i] > best) {
            best = v[i];
            from = i;
        }
    }
    for (i = from; i < n; i++)
        if (v[i] == best)
            return i;
    return 0;
}

/* prob[i] = exp((v[i] - vmax) * inv_t) for the tokens t keeps, 0 for the others; bsum[b] = the
 * sum over block b. A block with nothing kept gets bsum 0 and its prob is left unwritten.
 * Returns the total. */
double fy_samp_exp_pass(float *restrict prob, double *restrict bsum, const float *restrict v,
                        int64_t n, float vmax, float inv_t, struct fy_thr t)
{
    const int64_t nb = n / FY_SAMP_BLOCK;
    const int check = t.v > -INFINITY;
    double z = 0.0;
    for (int64_t b = 0; b < nb; b++) {
        const float *restrict vb = v + b * FY_SAMP_BLOCK;
        float *restrict pb = prob + b * FY_SAMP_BLOCK;
        const int32_t i0 = (int32_t)(b * FY_SAMP_BLOCK);
        if (check && !fy_samp_block_any_ge(vb, t.v)) {
            bsum[b] = 0.0;
            continue;
        }
        for (int j = 0; j < FY_SAMP_BLOCK; j++) {
            const float e = fy_samp_exp((vb[j] - vmax) * inv_t);
            pb[j] = fy_samp_keep_or_zero(e, fy_samp_thr_keep(vb[j], i0 + j, t));
        }
        const double sb = block_sum(pb);
        bsum[b] = sb;
        z += sb;
    }
    if (nb * FY_SAMP_BLOCK < n) {
        double sb = 0.0;
        for (int64_t i = nb * FY_SAMP_BLOCK; i < n; i++) {
            const float e = fy_samp_exp((v[i] - vmax) * inv_t);
            prob[i] = fy_samp_keep_or_zero(e, fy_samp_thr_keep(v[i], (int32_t)i, t));
            sb += prob[i];
        }
        bsum[nb] = sb;
        z += sb;
    }
    return z;
}

/* After fy_samp_exp_pass at this temperature with a looser threshold: zeroes prob outside t and
 * recomputes bsum, without recomputing the exponentials. Returns the total. */
double fy_samp_mask_pass(float *restrict prob, double *restrict bsum, const float *restrict v,
                         int64_t n, struct fy_thr t)
{
    const int64_t nb = (n + FY_SAMP_BLOCK - 1) / FY_SAMP_BLOCK;
    double z = 0.0;
    for (int64_t b = 0; b < nb; b++) {
        if (bsum[b] == 0.0)
            continue;
        const int64_t i0 = b * FY_SAMP_BLOCK;
        if (i0 + FY_SAMP_BLOCK > n) { /* the tail */
            double sb = 0.0;
            for (int64_t i = i0; i < n; i++) {
                prob[i] = fy_samp_keep_or_zero(prob[i], fy_samp_thr_keep(v[i], (int32_t)i, t));
                sb += prob[i];
            }
            bsum[b] = sb;
            z += sb;
            continue;
        }
        const float *restrict vb = v + i0;
        float *restrict pb = prob + i0;
        if (!fy_samp_block_any_ge(vb, t.v)) {
            bsum[b] = 0.0;
            continue;
        }
        for (int j = 0; j < FY_SAMP_BLOCK; j++)
            pb[j] = fy_samp_keep_or_zero(pb[j], fy_samp_thr_keep(vb[j], (int32_t)i0 + j, t));
        const double sb = block_sum(pb);
        bsum[b] = sb;
        z += sb;
    }
    return z;
}
