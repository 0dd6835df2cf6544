/* A device for tests: separate host allocations standing in for GPU memory. It tracks what it
 * allocated, refuses nodes that touch anything else, and counts every byte copied, so the
 * hybrid flow can run in CI with the CPU kernels and be checked byte for byte. */
#include "device.h"
#include "kvcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct region {
    const uint8_t *p;
    size_t n;
};

struct testdev {
    struct region *r;
    int64_t n;
    int64_t cap;
    char name[16];
};

static struct testdev *ctx_of(const struct fy_device *d) { return d->ctx; }

static const struct fy_device_ops test_ops;

bool fy_device_test_owns(const struct fy_device *d, const void *p, size_t n)
{
    const struct testdev *t = d && d->ops == &test_ops ? ctx_of(d) : NULL;
    const uint8_t *q = p;
    if (!t || !p)
        return false;
    for (int64_t i = 0; i < t->n; i++)
        if (q >= t->r[i].p && n <= t->r[i].n && (size_t)(q - t->r[i].p) <= t->r[i].n - n)
            return true;
    return false;
}

static fy_status test_alloc(struct fy_device *d, size_t bytes, void **out)
{
    struct testdev *t = ctx_of(d);
    *out = NULL;
    if (t->n == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 64;
        struct region *r = realloc(t->r, (size_t)cap * sizeof(*r));
        if (!r)
            return FY_E_NOMEM;
        t->r = r;
        t->cap = cap;
    }
    void *p = bytes ? malloc(bytes) : NULL;
    if (!p) {
        fy_log(FY_LOG_ERR, "%s: cannot allocate %zu bytes", d->name, bytes);
        return FY_E_NOMEM;
    }
    t->r[t->n++] = (struct region){p, bytes};
    d->stats.bytes_live += bytes;
    if (d->stats.bytes_live > d->stats.bytes_peak)
        d->stats.bytes_peak = d->stats.bytes_live;
    *out = p;
    return FY_OK;
}

static void test_free(struct fy_device *d, void *p)
{
    struct testdev *t = ctx_of(d);
    for (int64_t i = 0; p && i < t->n; i++) {
        if (t->r[i].p == p) {
            d->stats.bytes_live -= t->r[i].n;
            free(p);
            t->r[i] = t->r[--t->n];
            return;
        }
    }
}

static fy_status test_copy_in(struct fy_device *d, void *dst, const void *src, size_t n)
{
    if (!fy_device_test_owns(d, dst, n)) {
        fy_log(FY_LOG_ERR, "%s: copy of %zu bytes into memory it did not allocate", d->name, n);
        return FY_E_INVAL;
    }
    memcpy(dst, src, n);
    d->stats.bytes_in += n;
    d->stats.n_copy_in++;
    return FY_OK;
}

static fy_status test_copy_out(struct fy_device *d, void *dst, const void *src, size_t n)
{
    if (!fy_device_test_owns(d, src, n)) {
        fy_log(FY_LOG_ERR, "%s: copy of %zu bytes out of memory it did not allocate", d->name, n);
        return FY_E_INVAL;
    }
    memcpy(dst, src, n);
    d->stats.bytes_out += n;
    d->stats.n_copy_out++;
    return FY_OK;
}

static size_t mat_span(const struct fy_mat *w)
{
    return w->n_mat > 1 ? (size_t)w->n_mat * w->mat_bytes : (size_t)w->n_out * w->row_bytes;
}

/* Names the first pointer of node n that is not the device's memory, or NULL. */
static const char *foreign(const struct fy_device *d, const struct fy_node *n,
                           const struct fy_batch *b)
{
    for (int i = 0; i < 3; i++)
        if (n->src[i] && !fy_device_test_owns(d, n->src[i]->data, (size_t)n->src[i]->ne0 * 4))
            return "an input";
    if (n->dst && !fy_device_test_owns(d, n->dst->data, (size_t)n->dst->ne0 * 4))
        return "the output";
    if (n->dst2 && !fy_device_test_owns(d, n->dst2->data, (size_t)n->dst2->ne0 * 4))
        return "the second output";
    if (n->w && !fy_device_test_owns(d, n->w->data, mat_span(n->w)))
        return "the weight";
    if (n->vec && !fy_device_test_owns(d, n->vec, sizeof(float)))
        return "a bias, norm or sink vector";
    if (n->op == FY_OP_MOE_FFN) {
        const struct fy_moe_layer *L = n->params;
        const struct fy_mat *m[3] = {&L->gate, &L->up, &L->down};
        const float *v[3] = {L->gate_b.data, L->up_b.data, L->down_b.data};
        for (int i = 0; i < 3; i++) {
            if (!fy_device_test_owns(d, m[i]->data, m[i]->row_bytes))
                return "an expert weight";
            if (!fy_device_test_owns(d, v[i], sizeof(float)))
                return "an expert bias";
        }
    }
    if (n->op == FY_OP_GET_ROWS && !fy_device_test_owns(d, b->tokens, sizeof(int32_t)))
        return "the token ids";
    if ((n->op == FY_OP_ROPE || n->op == FY_OP_KV_STORE || n->op == FY_OP_ATTENTION) &&
        !fy_device_test_owns(d, b->pos, sizeof(int32_t)))
        return "the positions";
    if (n->op == FY_OP_KV_STORE || n->op == FY_OP_ATTENTION) {
        const size_t bytes = (size_t)b->kv->width * fy_dtype_block_bytes(b->kv->type);
        if (!fy_device_test_owns(d, b->kv->k[n->layer], bytes) ||
            !fy_device_test_owns(d, b->kv->v[n->layer], bytes))
            return "the KV cache";
    }
    return NULL;
}

static fy_status test_run(struct fy_device *d, const struct fy_node *nodes, int64_t n,
                          const struct fy_batch *b)
{
    for (int64_t i = 0; i < n; i++) {
        const char *what = foreign(d, &nodes[i], b);
        if (what) {
            fy_log(FY_LOG_ERR, "%s: node %s (%s, layer %d) reads %s outside the device's memory",
                   d->name, nodes[i].name, fy_op_name(nodes[i].op), nodes[i].layer, what);
            return FY_E_INVAL;
        }
    }
    return fy_device_run_backend(d, nodes, n, b);
}

static fy_status test_sync(struct fy_device *d)
{
    (void)d;
    return FY_OK;
}

static void test_destroy(struct fy_device *d)
{
    struct testdev *t = ctx_of(d);
    if (!t)
        return;
    for (int64_t i = 0; i < t->n; i++)
        free((void *)t->r[i].p);
    free(t->r);
    free(t);
    d->ctx = NULL;
}

static const struct fy_device_ops test_ops = {
    .alloc = test_alloc,
    .free = test_free,
    .copy_in = test_copy_in,
    .copy_out = test_copy_out,
    .run = test_run,
    .sync = test_sync,
    .destroy = test_destroy,
};

fy_status fy_device_test_new(int id, struct fy_device **out)
{
    FY_CHECK_ARG(out);
    struct fy_device *d = calloc(1, sizeof(*d));
    struct testdev *t = calloc(1, sizeof(*t));
    *out = NULL;
    if (!d || !t) {
        free(d);
        free(t);
        return FY_E_NOMEM;
    }
    snprintf(t->name, sizeof(t->name), "TEST%d", id > 0 ? id - 1 : 0);
    d->name = t->name;
    d->id = id;
    d->host_visible = false;
    d->ops = &test_ops;
    d->backend = &fy_backend_cpu;
    d->ctx = t;
    *out = d;
    return FY_OK;
}
