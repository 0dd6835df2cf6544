/* Embedding lookup: y[t] = dequant(row tok[t] of emb). The caller guarantees 0 <= tok < n_out. */
#include "ops.h"
#include "quant.h"

void fy_cpu_get_rows(float *y, const struct fy_mat *emb, const int32_t *tok, int64_t n_tok)
{
    const uint8_t *base = emb->data;
#pragma omp parallel for schedule(static) if (n_tok > 16)
    for (int64_t t = 0; t < n_tok; t++)
        fy_dequant_row(emb->type, base + (size_t)tok[t] * emb->row_bytes, y + t * emb->n_in,
                       emb->n_in);
}
