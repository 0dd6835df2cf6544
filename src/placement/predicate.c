/* THE expert predicate (hybrid.md §4) and the offload cost model.
 *
 * Cost model. For a layer whose expert weights live on the CPU, a micro-batch of n tokens can
 *  - run the experts on the CPU: n * k * 3 * d * ff multiply-adds (gate, up, down for each of the
 *    k selected experts), i.e. t_cpu(n) = 2 * n * k * 3 * d * ff / (cpu_gflops * 1e9) seconds;
 *  - or upload the experts the batch selects and run them on the GPU: with uniform routing
 *    E * (1 - (1 - k/E)^n) distinct experts (hybrid.md §3), t_up(n) = (that * expert_bytes +
 *    biases without a GPU copy) / (link_gbps * 1e9). GPU compute time is left out: ~1 ms for a
 *    whole 4096-token 120b layer on an H100 (hybrid.md §5), small against either term.
 * The threshold is the smallest n with t_up(n) < t_cpu(n), but at least FY_PLACE_MIN_OFFLOAD (32):
 * every offloaded layer-step also pays fixed costs the model does not see (a host sync to read
 * the router's choices before the copies can start, one copy per run of consecutive experts, the
 * activations' trip to the GPU and back), tens of microseconds each per layer; below 32 tokens they
 * eat any gain, and 32 is mainline's measured default too (GGML_OP_OFFLOAD_MIN_BATCH, PR #18535).
 * t_cpu - t_up is convex in n and <= 0 at n = 0, so once it is positive it stays positive:
 * the threshold is found by bisection.
 *
 * Defaults: link 25 GB/s (PCIe 4 x16 effective, hybrid.md §8); CPU 400 GFLOPS, a middle figure
 * for a 16-core AVX-512 desktop running MXFP4 expert GEMMs (about 56 t/s of expert work on 120b).
 * Measure yours from a CPU-only prompt run: GFLOPS ~ t/s * n_layer * k * 3 * d * ff * 2 / 1e9.
 * With these, one expert of gpt-oss (3 x 4,406,400 B) gives thresholds of 34 tokens (20b, E 32)
 * and 135 (120b, E 128); test_placement checks them. */
#include "placement.h"

#include <math.h>

double fy_place_active_experts(int64_t n_expert, int64_t k, int64_t n_tokens)
{
    if (n_expert <= 0 || k <= 0 || n_tokens <= 0)
        return 0;
    if (k >= n_expert)
        return (double)n_expert;
    const double e = (double)n_expert;
    return e * -expm1((double)n_tokens * log1p(-(double)k / e));
}

/* t_cpu(n) - t_up(n), seconds */
static double gain(const struct fy_place_dims *d, double expert_bytes, double fixed_bytes,
                   double link_bps, double cpu_flops, int64_t n)
{
    double flops = 2.0 * (double)n * (double)d->n_expert_used * 3.0 * (double)d->d_model *
                   (double)d->n_ff;
    double bytes = fy_place_active_experts(d->n_expert, d->n_expert_used, n) * expert_bytes +
                   fixed_bytes;
    return flops / cpu_flops - bytes / link_bps;
}

int64_t fy_place_cost_threshold(const struct fy_place_dims *dims, size_t expert_bytes,
                                size_t fixed_bytes, double link_gbps, double cpu_gflops)
{
    const int64_t lo0 = FY_PLACE_MIN_OFFLOAD, hi_max = (int64_t)1 << 24;
    if (!dims || !(link_gbps > 0) || !(cpu_gflops > 0))
        return INT64_MAX;
    const double eb = (double)expert_bytes, fb = (double)fixed_bytes;
    const double link = link_gbps * 1e9, cpu = cpu_gflops * 1e9;
    if (gain(dims, eb, fb, link, cpu, lo0) > 0)
        return lo0;
    if (!(gain(dims, eb, fb, link, cpu, hi_max) > 0))
        return INT64_MAX;
    int64_t lo = lo0, hi = hi_max; /* gain(lo) <= 0 < gain(hi) */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (gain(dims, eb, fb, link, cpu, mid) > 0)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

fy_status fy_place_experts(const struct fy_placement *p, int layer, int64_t n_tokens,
                           struct fy_expert_path *out)
{
    if (!p || !out || layer < 0 || layer >= p->dims.n_layer || n_tokens < 1)
        return FY_E_INVAL;
    const struct fy_place_layer *L = &p->layers[layer];
    if (L->n_weights == 0)
        return FY_E_INVAL;
    *out = (struct fy_expert_path){.dev = FY_DEV_CPU, .threshold = L->threshold};
    if (L->n_weights_gpu == L->n_weights) {
        out->dev = FY_DEV_GPU0;
        out->resident = true;
    } else if (L->n_weights_gpu > 0 || (!p->no_offload && n_tokens >= L->threshold)) {
        out->dev = FY_DEV_GPU0;
        out->upload = true;
    } else {
        out->resident = true;
    }
    out->bias_dev = out->dev; /* both copies exist where needed: placement.c, layer_facts */
    if (out->upload) {
        const int64_t E = p->dims.n_expert, k = p->dims.n_expert_used;
        const int64_t most = n_tokens >= E || n_tokens * k >= E ? E : n_tokens * k;
        out->experts = fy_place_active_experts(E, k, n_tokens);
        out->bias_upload_bytes = L->bias_upload_bytes;
        out->upload_bytes = (uint64_t)llround(out->experts * (double)L->cpu_expert_bytes) +
                            L->bias_upload_bytes;
        out->upload_bytes_max = (uint64_t)most * L->cpu_expert_bytes + L->bias_upload_bytes;
    }
    return FY_OK;
}
