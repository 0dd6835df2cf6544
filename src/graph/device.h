/* The small interface every execution device implements: memory, copies to and from the host,
 * running a segment of graph nodes, and synchronising. The scheduler (issue 4) works only
 * through it, so a test device can stand in for a GPU in CI. */
#ifndef FY_DEVICE_H
#define FY_DEVICE_H

#include "graph.h"

#include <stdbool.h>

struct fy_device;

/* Staging buffer sets for uploaded experts: a layer uploads into one while the previous layer's
 * experts still compute from the other. */
#define FY_STAGE_SLOTS 2

/* One host -> device copy of expert bytes. The host bytes are read-only (the mapped model file)
 * and stay valid while the copy is in flight. */
struct fy_upload {
    void *dst;          /* device */
    const void *src;    /* host */
    size_t n;
};

/* How the expert weights of one MOE_FFN node reach the device while it runs. The uploads are in
 * chunks: chunk c is up[chunk_up[c] .. chunk_up[c+1]) and completes experts
 * [chunk_e[c], chunk_e[c+1]) (chunk_e[0] = 0, chunk_e[n_chunk] = n_expert; expert biases without
 * a device copy are in chunk 0). A device with a copy engine computes chunk c's experts while
 * chunk c+1 uploads. The node's weight views point into staging slot `slot`. */
struct fy_moe_stage {
    int slot;                   /* 0 .. FY_STAGE_SLOTS-1: its last reader must finish before the
                                   slot is written again */
    const struct fy_upload *up; /* [n_up] */
    int64_t n_up;
    const int64_t *chunk_up;    /* [n_chunk + 1] */
    const int64_t *chunk_e;     /* [n_chunk + 1] */
    int64_t n_chunk;
};

struct fy_device_ops {
    /* Device memory of bytes (> 0) for `what` ("blk.3.attn_q.weight", "KV cache of layer 2"),
     * named in the out-of-memory message; *out NULL on failure (FY_E_NOMEM). */
    fy_status (*alloc)(struct fy_device *d, size_t bytes, const char *what, void **out);
    void (*free)(struct fy_device *d, void *p);  /* NULL-safe; waits for work that may use p */
    /* host -> device and device -> host, ordered with run. copy_in may be reused as soon as it
     * returns (src may change); copy_out's bytes are readable by the host when it returns. */
    fy_status (*copy_in)(struct fy_device *d, void *dst, const void *src, size_t n);
    fy_status (*copy_out)(struct fy_device *d, void *dst, const void *src, size_t n);
    /* Runs nodes[0..n) in order; every pointer they touch must be this device's memory (or, for
     * a host-visible device, host memory). May return before the work is done. */
    fy_status (*run)(struct fy_device *d, const struct fy_node *nodes, int64_t n,
                     const struct fy_batch *b);
    fy_status (*sync)(struct fy_device *d);  /* waits for everything enqueued */
    void (*destroy)(struct fy_device *d);  /* frees the implementation's state */

    /* ---- optional (NULL on the host device) ---- */
    /* Pins [p, p+n) of read-only host memory that expert uploads read (the mapped model file).
     * FY_OK: pinned, counted in stats.bytes_pinned; FY_E_UNSUPPORTED: the device does not pin
     * (not logged); anything else: logged, and uploads still work from pageable memory. */
    fy_status (*pin)(struct fy_device *d, const void *p, size_t n);
    void (*unpin)(struct fy_device *d, const void *p);  /* p as given to a successful pin */
    /* Runs one MOE_FFN node after (and overlapped with) the uploads of st, counted in bytes_in
     * and n_chunks. NULL: the scheduler copies with copy_in, then calls run. */
    fy_status (*run_staged)(struct fy_device *d, const struct fy_node *node,
                            const struct fy_batch *b, const struct fy_moe_stage *st);
    /* Speculative upload of a later MoE layer's experts: enqueues st's uploads into st->slot
     * after that slot's last reader, chunk by chunk (counted in bytes_in and n_chunks), and
     * returns without computing anything. The layer later runs with run_prefetched and the
     * same stage; a run_staged or prefetch on that slot instead discards it. NULL (both): the
     * device does not prefetch. */
    fy_status (*prefetch)(struct fy_device *d, const struct fy_moe_stage *st);
    /* run_staged for the stage (same slot, uploads and chunks) that the slot's last prefetch
     * enqueued: copies nothing; computes chunk c after the prefetch's chunk c has arrived. */
    fy_status (*run_prefetched)(struct fy_device *d, const struct fy_node *node,
                                const struct fy_batch *b, const struct fy_moe_stage *st);
    /* Pinned host memory (host_free is NULL-safe) and copies that return at once, ordered with
     * run: copy_in_async's src must stay unchanged, and copy_out_async's dst is readable, only
     * after the next sync. For the one upload and one download of a decode step (issue 12
     * items 3 and 7: one host synchronisation per token). NULL: copy_in / copy_out. */
    fy_status (*host_alloc)(struct fy_device *d, size_t n, void **out);
    void (*host_free)(struct fy_device *d, void *p);
    fy_status (*copy_in_async)(struct fy_device *d, void *dst, const void *src, size_t n);
    fy_status (*copy_out_async)(struct fy_device *d, void *dst, const void *src, size_t n);
    /* Step graphs (CUDA/HIP graphs): a decode step's device work recorded once and replayed.
     * step_begin(key): *replay true when a recording for key is there, and then run and the
     * async copies enqueue nothing until step_end, which launches the recording; false: they
     * are recorded, and step_end ends the recording and launches it. Between the two the host
     * may not wait for the device (no copy_in, copy_out, sync, run_staged). FY_E_UNSUPPORTED:
     * no graphs (FY_GPU_GRAPH=0): run as usual. step_abort ends a step that failed half-way,
     * dropping its recording. NULL: no graphs. */
    fy_status (*step_begin)(struct fy_device *d, uint64_t key, bool *replay);
    fy_status (*step_end)(struct fy_device *d);
    void (*step_abort)(struct fy_device *d);
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
    uint64_t n_chunks;     /* upload chunks of run_staged */
    uint64_t bytes_pinned; /* host memory pinned now */
    uint64_t steps_recorded; /* step graphs recorded (step_begin without a recording) */
    uint64_t steps_replayed; /* step graphs replayed */
};

struct fy_device {
    const char *name;       /* "CPU", "GPU0", "TEST0" */
    int id;                 /* enum fy_device_id of src/placement/placement.h */
    bool host_visible;      /* its memory is host memory that CPU code may read in place */
    const struct fy_device_ops *ops;
    const struct fy_backend *backend;  /* which ops fy_device_run_backend runs; NULL for a
                                          device with its own dispatch (the GPU) */
    struct fy_device_stats stats;
    void *ctx;              /* the implementation's state */
};

/* The host: memory is malloc, copies are memcpy, nodes run on fy_backend_cpu. */
fy_status fy_device_cpu_new(struct fy_device **out);
/* A stand-in for a GPU, for tests: memory is separate host allocations that the device tracks;
 * run refuses (FY_E_INVAL, naming the node) any node whose inputs, output or weights are not
 * inside its allocations, so a scheduler that forgets a copy or an upload fails loudly; every
 * byte copied is counted. Nodes run with the CPU kernels. pin and run_staged are synchronous
 * and checked: pinned ranges may not overlap; once something is pinned, uploads must read
 * pinned memory; every expert a token selected must be uploaded by its chunk or an earlier one
 * (a prefetched stage must be the one prefetched into that slot; its uploads count as arrived). */
fy_status fy_device_test_new(int id, struct fy_device **out);
void fy_device_free(struct fy_device *d);  /* NULL-safe; frees what is still allocated */

/* A test device refuses allocations once bytes_live would exceed limit bytes (0: no limit),
 * with the out-of-memory message of a GPU: for tests of the scheduler's clean-up. */
void fy_device_test_set_limit(struct fy_device *d, uint64_t limit);

/* For implementations: runs nodes in order with d->backend, refusing what it does not
 * support, and counts them. */
fy_status fy_device_run_backend(struct fy_device *d, const struct fy_node *nodes, int64_t n,
                                const struct fy_batch *b);

/* True if [p, p+n) lies inside one live allocation of the test device d (false for others). */
bool fy_device_test_owns(const struct fy_device *d, const void *p, size_t n);

#endif
