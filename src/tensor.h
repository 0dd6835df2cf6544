/* Views of weights as the kernels see them. */
#ifndef FY_TENSOR_H
#define FY_TENSOR_H

#include "ferry.h"

/* A weight matrix, or a stack of E expert matrices: n_out rows of n_in elements of `type`.
 * Row o of expert e starts at data + e*mat_bytes + o*row_bytes (ggml nb2, nb1). */
struct fy_mat {
    enum fy_dtype type;
    int64_t n_in;        /* ne0 */
    int64_t n_out;       /* ne1 */
    int64_t n_mat;       /* ne2: experts (1 for dense) */
    size_t row_bytes;    /* nb1 */
    size_t mat_bytes;    /* nb2 */
    const void *data;
};

/* Per-expert F32 bias vectors: expert e's vector starts at data + e*stride (floats). */
struct fy_bias {
    const float *data;
    int64_t stride;
};

#endif
