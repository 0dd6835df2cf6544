/* Block geometry of the ggml types ferry implements. */
#include "ferry.h"

int fy_dtype_known(uint32_t id)
{
    return id == FY_F32 || id == FY_F16 || id == FY_Q8_0 || id == FY_BF16 || id == FY_MXFP4;
}

const char *fy_dtype_name(enum fy_dtype t)
{
    switch (t) {
    case FY_F32: return "F32";
    case FY_F16: return "F16";
    case FY_Q8_0: return "Q8_0";
    case FY_BF16: return "BF16";
    case FY_MXFP4: return "MXFP4";
    }
    return "?";
}

int64_t fy_dtype_block_elems(enum fy_dtype t)
{
    return (t == FY_Q8_0 || t == FY_MXFP4) ? 32 : 1;
}

size_t fy_dtype_block_bytes(enum fy_dtype t)
{
    switch (t) {
    case FY_F32: return 4;
    case FY_F16: return 2;
    case FY_BF16: return 2;
    case FY_Q8_0: return 34;
    case FY_MXFP4: return 17;
    }
    return 0;
}

size_t fy_dtype_row_bytes(enum fy_dtype t, int64_t ne0)
{
    return (size_t)(ne0 / fy_dtype_block_elems(t)) * fy_dtype_block_bytes(t);
}
