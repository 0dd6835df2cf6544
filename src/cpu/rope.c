/* YaRN RoPE with ggml semantics (gpt-oss.md section 7), NEOX pairs (i, i + n_rot/2).
 *
 * For pair i (0 <= i < n_rot/2) of a token at position p:
 *   theta_i  = p * base^(-2i/n_rot), computed iteratively in f32 like ggml:
 *              theta_0 = (float)p, theta_{i+1} = theta_i * powf(base, -2/n_rot)
 *   ramp_i   = 1 - clamp((i - lo) / max(0.001, hi - lo), 0, 1)      (1: original frequency)
 *   mix_i    = ramp_i * ext_factor
 *   theta'_i = freq_scale*theta_i * (1 - mix_i) + theta_i * mix_i
 *   c, s     = cos(theta'_i) * mscale, sin(theta'_i) * mscale
 *   mscale   = attn_factor * (ext_factor != 0 ? 1 + 0.1 ln(1/freq_scale) : 1)
 * with the correction range d(beta) = n_rot ln(n_ctx_orig / (2 pi beta)) / (2 ln base),
 * lo = max(0, floor(d(beta_fast))), hi = min(n_rot - 1, ceil(d(beta_slow))), or the unrounded
 * d values when r->unrounded is set (OpenAI/HF behaviour, test-only). Dims >= n_rot of each
 * head pass through unchanged. */
#include <math.h>

#include "ops.h"

/* cos/sin are tabulated for this many pairs at a time, shared by all heads of a token. */
#define FY_ROPE_CHUNK 64

struct rope_consts {
    float theta_scale;   /* base^(-2/n_rot) */
    float lo, hi;        /* correction range in pair units */
    float mscale;
};

static float rope_corr_dim(int n_rot, int n_ctx_orig, float beta, float base)
{
    return (float)n_rot * logf((float)n_ctx_orig / (beta * 2.0f * (float)M_PI)) /
           (2.0f * logf(base));
}

static struct rope_consts rope_setup(const struct fy_rope *r)
{
    struct rope_consts k;
    k.theta_scale = powf(r->freq_base, -2.0f / (float)r->n_rot);
    float lo = rope_corr_dim(r->n_rot, r->n_ctx_orig, r->beta_fast, r->freq_base);
    float hi = rope_corr_dim(r->n_rot, r->n_ctx_orig, r->beta_slow, r->freq_base);
    if (!r->unrounded) {
        lo = fmaxf(0.0f, floorf(lo));
        hi = fminf((float)(r->n_rot - 1), ceilf(hi));
    }
    k.lo = lo;
    k.hi = hi;
    k.mscale = r->attn_factor;
    if (r->ext_factor != 0.0f)
        k.mscale *= 1.0f + 0.1f * logf(1.0f / r->freq_scale);
    return k;
}

/* Fills cs[2*j] = cos, cs[2*j+1] = sin for pairs i0 .. i0+n-1; *theta carries the iterated angle. */
static void rope_table(float *cs, int i0, int n, float *theta, const struct fy_rope *r,
                       const struct rope_consts *k)
{
    for (int j = 0; j < n; j++) {
        const float extrap = *theta;
        const float interp = r->freq_scale * extrap;
        float th = interp;
        if (r->ext_factor != 0.0f) {
            const float y = ((float)(i0 + j) - k->lo) / fmaxf(0.001f, k->hi - k->lo);
            const float ramp = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
            const float mix = ramp * r->ext_factor;
            th = interp * (1.0f - mix) + extrap * mix;
        }
        cs[2 * j] = cosf(th) * k->mscale;
        cs[2 * j + 1] = sinf(th) * k->mscale;
        *theta = extrap * k->theta_scale;
    }
}

void fy_cpu_rope_yarn(float *x, int64_t n_tok, int64_t n_heads, int64_t head_dim,
                      const int32_t *pos, const struct fy_rope *r)
{
    if (n_tok <= 0 || n_heads <= 0 || r->n_rot <= 0)
        return;
    const struct rope_consts k = rope_setup(r);
    const int half = r->n_rot / 2;

#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n_tok > 1)
#endif
    for (int64_t t = 0; t < n_tok; t++) {
        float cs[2 * FY_ROPE_CHUNK];
        float theta = (float)pos[t];
        float *xt = x + t * n_heads * head_dim;
        for (int i0 = 0; i0 < half; i0 += FY_ROPE_CHUNK) {
            const int n = half - i0 < FY_ROPE_CHUNK ? half - i0 : FY_ROPE_CHUNK;
            rope_table(cs, i0, n, &theta, r, &k);
            for (int64_t h = 0; h < n_heads; h++) {
                float *a = xt + h * head_dim + i0;
                float *b = a + half;
                for (int j = 0; j < n; j++) {
                    const float c = cs[2 * j];
                    const float s = cs[2 * j + 1];
                    const float x0 = a[j];
                    const float x1 = b[j];
                    a[j] = x0 * c - x1 * s;
                    b[j] = x0 * s + x1 * c;
                }
            }
        }
    }
}
