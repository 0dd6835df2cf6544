/* The host device, and what every device shares. */
#include "device.h"

#include <stdlib.h>
#include <string.h>

fy_status fy_device_run_backend(struct fy_device *d, const struct fy_node *nodes, int64_t n,
                                const struct fy_batch *b)
{
    for (int64_t i = 0; i < n; i++) {
        const struct fy_node *nd = &nodes[i];
        if (!d->backend->run[nd->op] || !d->backend->supports(nd)) {
            fy_log(FY_LOG_ERR, "%s: cannot run %s (%s, layer %d)", d->name, fy_op_name(nd->op),
                   nd->name, nd->layer);
            return FY_E_UNSUPPORTED;
        }
        FY_TRY(d->backend->run[nd->op](nd, b));
        d->stats.n_nodes++;
    }
    return FY_OK;
}

void fy_device_free(struct fy_device *d)
{
    if (!d)
        return;
    if (d->ops->destroy)
        d->ops->destroy(d);
    free(d);
}

static fy_status cpu_alloc(struct fy_device *d, size_t bytes, const char *what, void **out)
{
    *out = bytes ? malloc(bytes) : NULL;
    if (!*out) {
        fy_log(FY_LOG_ERR, "%s: cannot allocate %zu bytes for %s", d->name, bytes,
               what ? what : "a buffer");
        return FY_E_NOMEM;
    }
    return FY_OK;
}

static void cpu_free(struct fy_device *d, void *p)
{
    (void)d;
    free(p);
}

static fy_status cpu_copy(struct fy_device *d, void *dst, const void *src, size_t n)
{
    (void)d;
    memcpy(dst, src, n);
    return FY_OK;
}

static fy_status cpu_sync(struct fy_device *d)
{
    (void)d;
    return FY_OK;
}

static const struct fy_device_ops cpu_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy_in = cpu_copy,
    .copy_out = cpu_copy,
    .run = fy_device_run_backend,
    .sync = cpu_sync,
    .destroy = NULL,
};

fy_status fy_device_cpu_new(struct fy_device **out)
{
    FY_CHECK_ARG(out);
    struct fy_device *d = calloc(1, sizeof(*d));
    *out = d;
    if (!d)
        return FY_E_NOMEM;
    d->name = "CPU";
    d->id = 0;
    d->host_visible = true;
    d->ops = &cpu_ops;
    d->backend = &fy_backend_cpu;
    return FY_OK;
}
