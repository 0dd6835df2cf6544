/* KV cache store: row t of k and v goes to slot pos[t] (ring > 0: pos[t] % ring) of caches laid
 * out [slot][width]. A Q8_0 row is width/32 blocks, each quantized by fy_quant_row_q8_0
 * (gpt-oss.md section 5: d = max|x|/127 stored as f16, q = round(x/d) half away from zero). */
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
    } else if (kv_type == FY_Q8_0) {
        const size_t row = fy_dtype_row_bytes(FY_Q8_0, width);
        fy_quant_row_q8_0(src, (uint8_t *)cache + (size_t)slot * row, width);
    } else {
        memcpy((float *)cache + slot * width, src, (size_t)width * sizeof(float));
    }
}

void fy_cpu_kv_store(void *kc, void *vc, enum fy_dtype kv_type, const float *k, const float *v,
                     int64_t n_tok, int64_t width, const int32_t *pos, int64_t ring)
{
    if (kv_type != FY_F32 && kv_type != FY_F16 && kv_type != FY_Q8_0) {
        fy_log(FY_LOG_ERR, "fy_cpu_kv_store: unsupported cache type %s", fy_dtype_name(kv_type));
        return;
    }
    if (width % fy_dtype_block_elems(kv_type) != 0) {
        fy_log(FY_LOG_ERR, "fy_cpu_kv_store: width %lld is not a multiple of %s's block",
               (long long)width, fy_dtype_name(kv_type));
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n_tok > 1 && kv_type != FY_F32)
#endif
    for (int64_t t = 0; t < n_tok; t++) {
        const int64_t slot = ring > 0 ? pos[t] % ring : pos[t];
        store_row(kc, kv_type, slot, k + t * width, width);
        store_row(vc, kv_type, slot, v + t * width, width);
    }
}
