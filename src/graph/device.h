/* The small interface every execution device implements: memory, copies to and from the host,
 * running a segment of graph nodes, and synchronising. The scheduler (issue 4) works only
 * through it, so a test device can stand in for a GPU in CI. */
#ifndef FY_DEVICE_H
#define FY_DEVICE_H

#include "graph.h"

#include <stdbool.h>

struct fy_device;

struct fy_device_ops {
    /* Device memory of bytes (> 0); *out NULL on failure. */
    fy_status (*alloc)(struct fy_device *d, size_t bytes, void **out);
    void (*free)(struct fy_device *d, void *p);  /* NULL-safe */
    /* host -> device and device -> host; ordered with run on the device's one stream */
    fy_status (*copy_in)(struct fy_device *d, void *dst, const void *src, size_t n);
    fy_status (*copy_out)(struct fy_device *d, void *dst, const void *src, size_t n);
    /* Runs nodes[0..n) in order; every pointer they touch must be this device's memory (or, for
     * a host-visible device, host memory). */
    fy_status (*run)(struct fy_device *d, const struct fy_node *nodes, int64_t n,
                     const struct fy_batch *b);
    fy_status (*sync)(struct fy_device *d);
    void (*destroy)(struct fy_device *d);  /* frees the implementation's state */
};

/* What crossed the device boundary; the scheduler's tests check these against the plan. */
struct fy_device_stats {
    uint64_t bytes_in;     /* host -> device */
    uint64_t bytes_out;    /* device -> host */
    uint64_t n_copy_in;
    uint64_t n_copy_out;
    uint64_t bytes_live;   /* allocated now */
    uint64_t bytes_peak;
    uint64_t n_nodes;      /* nodes run */
};

struct fy_device {
    const char *name;       /* "CPU", "GPU0", "TEST0" */
    int id;                 /* enum fy_device_id of src/placement/placement.h */
    bool host_visible;      /* its memory is host memory that CPU code may read in place */
    const struct fy_device_ops *ops;
    const struct fy_backend *backend;  /* which ops it runs (supports/run) */
    struct fy_device_stats stats;
    void *ctx;              /* the implementation's state */
};

/* The host: memory is malloc, copies are memcpy, nodes run on fy_backend_cpu. */
fy_status fy_device_cpu_new(struct fy_device **out);
/* A stand-in for a GPU, for tests: memory is separate host allocations that the device tracks;
 * run refuses (FY_E_INVAL, naming the node) any node whose inputs, output or weights are not
 * inside its allocations, so a scheduler that forgets a copy or an upload fails loudly; every
 * byte copied is counted. Nodes run with the CPU kernels. */
fy_status fy_device_test_new(int id, struct fy_device **out);
void fy_device_free(struct fy_device *d);  /* NULL-safe; frees what is still allocated */

/* For implementations: runs nodes in order with d->backend, refusing what it does not
 * support, and counts them. */
fy_status fy_device_run_backend(struct fy_device *d, const struct fy_node *nodes, int64_t n,
                                const struct fy_batch *b);

/* True if [p, p+n) lies inside one live allocation of the test device d (false for others). */
bool fy_device_test_owns(const struct fy_device *d, const void *p, size_t n);

#endif
