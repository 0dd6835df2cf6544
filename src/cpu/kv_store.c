/* KV cache store: row t of k and v goes to slot pos[t] (ring > 0: pos[t] % ring) of caches laid
 * out [slot][width]. */
#include <string.h>

#include "quant.h"
#include "ops.h"

static void store_row(void *cache, enum fy_dtype kv_type, int64_t slot, const float *src,
                      int64_t width)
{
    if (kv_type == FY_F16) {
        uint16_t *dst = (uint16_t *)cache + slot * width;
        for (int64_t i = 0; i < width; i++)
            dst[i] = fy_f32_to_fp16(src[i]);
    } else {
        memcpy((float *)cache + slot * width, src, (size_t)width * sizeof(float));
    }
}

void fy_cpu_kv_store(void *kc, void *vc, enum fy_dtype kv_type, const float *k, const float *v,
                     int64_t n_tok, int64_t width, const int32_t *pos, int64_t ring)
{
    if (kv_type != FY_F32 && kv_type != FY_F16) {
        fy_log(FY_LOG_ERR, "fy_cpu_kv_store: unsupported cache type %s", fy_dtype_name(kv_type));
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n_tok > 1 && kv_type == FY_F16)
#endif
    for (int64_t t = 0; t < n_tok; t++) {
        const int64_t slot = ring > 0 ? pos[t] % ring : pos[t];
        store_row(kc, kv_type, slot, k + t * width, width);
        store_row(vc, kv_type, slot, v + t * width, width);
    }
}
