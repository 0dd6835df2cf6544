/* The GPU device: the fy_device of device.h on a real GPU (src/hip/, CUDA or HIP) or on the CPU
 * emulator of src/hip/emu/ (tests). Without a GPU build, fy_device_gpu_count is 0 and
 * fy_device_gpu_new fails with a message saying how to build one. */
#ifndef FY_DEVICE_GPU_H
#define FY_DEVICE_GPU_H

#include "device.h"

struct fy_device_gpu_opts {
    int index;          /* GPU ordinal (0) */
    bool pin;           /* pin the host ranges experts are uploaded from (default true) */
};
void fy_device_gpu_opts_default(struct fy_device_gpu_opts *o);

const char *fy_device_gpu_platform(void);  /* "cuda", "hip", "emu" or "none" */
int fy_device_gpu_count(void);
/* Free and total memory of GPU `index` (selects it); FY_E_UNSUPPORTED without a GPU build. */
fy_status fy_device_gpu_mem(int index, uint64_t *free_bytes, uint64_t *total_bytes);
/* GPU0 for the scheduler (id = FY_DEV_GPU0). Logs the device's name and free memory. */
fy_status fy_device_gpu_new(int id, const struct fy_device_gpu_opts *o, struct fy_device **out);

#endif
