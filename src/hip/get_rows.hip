/* Embedding lookup on the GPU: y[t] = dequant(row tok[t] of emb) (fy_cpu_get_rows,
 * src/cpu/get_rows.c), for every weight type of dequant.h. One thread per output element,
 * block (t, column chunk); decoded values are exact products, so the result equals the CPU's
 * bit for bit. tok is device int32; a token outside [0, n_out) (a caller bug; the CPU reads out
 * of bounds) yields a row of NaN here instead of a fault. */
#include "fy_gpu_compat.h"
#include "fy_gpu.h"
#include "dequant.h"

#include <limits.h>

#define FY_GET_ROWS_THREADS 256
#define FY_GET_ROWS_MAX_Y 65535   /* grid.y limit; columns beyond it are strided */

template <int T>
static __global__ __launch_bounds__(FY_GET_ROWS_THREADS) void fy_gpu_get_rows_kernel(
    float *y, const uint8_t *emb, size_t row_bytes, int64_t n_out, int n_in, const int32_t *tok)
{
    const int64_t t = blockIdx.x;
    const int32_t id = tok[t];
    float *yt = y + t * n_in;
    const int stride = gridDim.y * blockDim.x;
    if (id < 0 || id >= n_out) {
        for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < n_in; i += stride)
            yt[i] = __uint_as_float(0x7fc00000u);
    } else {
        const uint8_t *row = emb + (size_t)id * row_bytes;
        for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < n_in; i += stride)
            yt[i] = fy_dq_elem(T, row, i);
    }
}

extern "C" fy_status fy_gpu_get_rows(float *y, const struct fy_mat *emb, const int32_t *tok,
                                     int64_t n_tok, fy_gpu_stream s)
{
    FY_CHECK_ARG(emb && n_tok >= 0);
    if (n_tok == 0 || emb->n_in == 0)
        return FY_OK;
    FY_CHECK_ARG(y && tok && emb->data);
    FY_CHECK_ARG(emb->n_in > 0 && emb->n_in <= INT_MAX && n_tok <= INT_MAX && emb->n_out > 0);
    const int64_t blk = fy_dtype_block_elems(emb->type);
    FY_CHECK_ARG(emb->n_in % blk == 0);
    FY_CHECK_ARG(emb->row_bytes >= fy_dtype_row_bytes(emb->type, emb->n_in));

    int64_t cy = (emb->n_in + FY_GET_ROWS_THREADS - 1) / FY_GET_ROWS_THREADS;
    if (cy > FY_GET_ROWS_MAX_Y)
        cy = FY_GET_ROWS_MAX_Y;
    const dim3 grid((unsigned)n_tok, (unsigned)cy);
    const dim3 block(FY_GET_ROWS_THREADS);
    hipStream_t st = (hipStream_t)s;
    const uint8_t *data = (const uint8_t *)emb->data;
    const int n_in = (int)emb->n_in;
    switch (emb->type) {
    case FY_F32: {
        auto *k = &fy_gpu_get_rows_kernel<FY_F32>;
        FY_LAUNCH(k, grid, block, 0, st, y, data, emb->row_bytes, emb->n_out, n_in, tok);
        break;
    }
    case FY_F16: {
        auto *k = &fy_gpu_get_rows_kernel<FY_F16>;
        FY_LAUNCH(k, grid, block, 0, st, y, data, emb->row_bytes, emb->n_out, n_in, tok);
        break;
    }
    case FY_BF16: {
        auto *k = &fy_gpu_get_rows_kernel<FY_BF16>;
        FY_LAUNCH(k, grid, block, 0, st, y, data, emb->row_bytes, emb->n_out, n_in, tok);
        break;
    }
    case FY_Q8_0: {
        auto *k = &fy_gpu_get_rows_kernel<FY_Q8_0>;
        FY_LAUNCH(k, grid, block, 0, st, y, data, emb->row_bytes, emb->n_out, n_in, tok);
        break;
    }
    case FY_MXFP4: {
        auto *k = &fy_gpu_get_rows_kernel<FY_MXFP4>;
        FY_LAUNCH(k, grid, block, 0, st, y, data, emb->row_bytes, emb->n_out, n_in, tok);
        break;
    }
    default:
        fy_log(FY_LOG_ERR, "fy_gpu_get_rows: unsupported weight type %d", (int)emb->type);
        return FY_E_INVAL;
    }
    const hipError_t err = hipGetLastError();
    if (err != hipSuccess) {
        fy_log(FY_LOG_ERR, "fy_gpu_get_rows_kernel: %s", hipGetErrorString(err));
        return FY_E_GPU;
    }
    return FY_OK;
}
