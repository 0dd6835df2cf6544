/* The GPU device of a build without GPU support (-Dgpu=none, or neither nvcc nor hipcc found). */
#include "device_gpu.h"

#include <string.h>

void fy_device_gpu_opts_default(struct fy_device_gpu_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->pin = true;
}

const char *fy_device_gpu_platform(void) { return "none"; }

int fy_device_gpu_count(void) { return 0; }

fy_status fy_device_gpu_mem(int index, uint64_t *free_bytes, uint64_t *total_bytes)
{
    (void)index;
    *free_bytes = *total_bytes = 0;
    return FY_E_UNSUPPORTED;
}

fy_status fy_device_gpu_new(int id, const struct fy_device_gpu_opts *o, struct fy_device **out)
{
    (void)id;
    (void)o;
    *out = NULL;
    fy_log(FY_LOG_ERR, "this ferry was built without GPU support: rebuild with -Dgpu=cuda "
           "(nvcc) or -Dgpu=hip (hipcc), or run on the CPU (--test-gpu for a test device)");
    return FY_E_UNSUPPORTED;
}
