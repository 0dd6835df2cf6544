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
    struct region *r;      /* live allocations */
    int64_t n;
    int64_t cap;
    struct region *pin;    /* pinned host ranges */
    int64_t n_pin;
    uint64_t limit;        /* 0: none */
    /* per staging slot, the uploads of a prefetch not yet consumed by run_staged (a copy) */
    struct fy_upload *pre[FY_STAGE_SLOTS];
    int64_t n_pre[FY_STAGE_SLOTS];          /* -1: none pending */
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

void fy_device_test_set_limit(struct fy_device *d, uint64_t limit)
{
    if (d && d->ops == &test_ops)
        ctx_of(d)->limit = limit;
}

static fy_status test_alloc(struct fy_device *d, size_t bytes, const char *what, void **out)
{
    struct testdev *t = ctx_of(d);
    *out = NULL;
    if (t->limit && d->stats.bytes_live + bytes > t->limit) {
        fy_log(FY_LOG_ERR, "%s out of memory: %s needs %zu bytes, %llu free of %llu",
               d->name, what ? what : "an allocation", bytes,
               (unsigned long long)(t->limit - d->stats.bytes_live),
               (unsigned long long)t->limit);
        return FY_E_NOMEM;
    }
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
        fy_log(FY_LOG_ERR, "%s: cannot allocate %zu bytes for %s", d->name, bytes,
               what ? what : "an allocation");
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
        const size_t bytes = fy_kvcache_row_bytes(b->kv);
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

/* ---- pinning and staged uploads, synchronous ---- */

static bool in_regions(const struct region *r, int64_t n, const void *p, size_t len)
{
    const uint8_t *q = p;
    for (int64_t i = 0; i < n; i++)
        if (q >= r[i].p && len <= r[i].n && (size_t)(q - r[i].p) <= r[i].n - len)
            return true;
    return false;
}

/* Pins must not overlap (as cudaHostRegister refuses memory already registered). */
static fy_status test_pin(struct fy_device *d, const void *p, size_t n)
{
    struct testdev *t = ctx_of(d);
    const uint8_t *q = p;
    for (int64_t i = 0; i < t->n_pin; i++) {
        if (q < t->pin[i].p + t->pin[i].n && t->pin[i].p < q + n) {
            fy_log(FY_LOG_ERR, "%s: host range of %zu bytes pinned twice", d->name, n);
            return FY_E_INVAL;
        }
    }
    struct region *r = realloc(t->pin, (size_t)(t->n_pin + 1) * sizeof(*r));
    if (!r)
        return FY_E_NOMEM;
    t->pin = r;
    t->pin[t->n_pin++] = (struct region){q, n};
    d->stats.bytes_pinned += n;
    return FY_OK;
}

static void test_unpin(struct fy_device *d, const void *p)
{
    struct testdev *t = ctx_of(d);
    for (int64_t i = 0; i < t->n_pin; i++) {
        if (t->pin[i].p == p) {
            d->stats.bytes_pinned -= t->pin[i].n;
            t->pin[i] = t->pin[--t->n_pin];
            return;
        }
    }
}

/* Bytes [p, p+len) are covered by the uploads of chunks 0..c. */
static bool covered(const struct fy_moe_stage *st, int64_t c, const uint8_t *p, size_t len)
{
    while (len > 0) {
        size_t step = 0;
        for (int64_t i = 0; i < st->chunk_up[c + 1] && !step; i++) {
            const uint8_t *q = st->up[i].dst;
            if (p >= q && p < q + st->up[i].n)
                step = (size_t)(q + st->up[i].n - p);
        }
        if (!step)
            return false;
        if (step >= len)
            return true;
        p += step;
        len -= step;
    }
    return true;
}

/* Checks the stage's shape (E: the experts its chunks must cover, -1: unchecked), that uploads
 * write device memory and read pinned host memory. */
static const char *bad_uploads(const struct fy_device *d, const struct fy_moe_stage *st,
                               int64_t E)
{
    const struct testdev *t = ctx_of(d);
    if (st->slot < 0 || st->slot >= FY_STAGE_SLOTS || st->n_chunk < 1 ||
        st->chunk_e[0] != 0 || (E >= 0 && st->chunk_e[st->n_chunk] != E) ||
        st->chunk_up[0] != 0 || st->chunk_up[st->n_chunk] != st->n_up)
        return "bad chunk bounds";
    for (int64_t c = 0; c < st->n_chunk; c++)
        if (st->chunk_e[c + 1] < st->chunk_e[c] || st->chunk_up[c + 1] < st->chunk_up[c])
            return "chunks out of order";
    for (int64_t i = 0; i < st->n_up; i++) {
        if (!fy_device_test_owns(d, st->up[i].dst, st->up[i].n))
            return "an upload into memory it did not allocate";
        if (t->n_pin && !in_regions(t->pin, t->n_pin, st->up[i].src, st->up[i].n))
            return "an upload from host memory that is not pinned";
    }
    return NULL;
}

/* That, and every expert a token selected has each staged weight in the uploads of its chunk or
 * an earlier one (so a device that computes chunk by chunk reads only what has arrived); for a
 * prefetched stage, those uploads are the slot's pending prefetch, done already. */
static const char *bad_stage(const struct fy_device *d, const struct fy_node *n,
                             const struct fy_moe_stage *st, bool prefetched)
{
    const struct testdev *t = ctx_of(d);
    const struct fy_moe_layer *L = n->params;
    const int64_t E = L->gate.n_mat;
    const char *why = bad_uploads(d, st, E);
    if (why)
        return why;
    if (prefetched) { /* exactly what the slot's pending prefetch uploaded */
        const int64_t np = t->n_pre[st->slot];
        if (np != st->n_up ||
            (np && memcmp(t->pre[st->slot], st->up, (size_t)np * sizeof(*st->up))))
            return "a prefetched stage that is not the slot's pending prefetch";
    }
    const struct fy_mat *m[3] = {&L->gate, &L->up, &L->down};
    const struct fy_act *ids = n->src[1];
    for (int q = 0; q < 3; q++) {
        const uint8_t *base = m[q]->data;
        const size_t span = (size_t)E * m[q]->mat_bytes;
        bool staged = false;
        for (int64_t i = 0; i < st->n_up && !staged; i++) {
            const uint8_t *u = st->up[i].dst;
            staged = u < base + span && base < u + st->up[i].n;
        }
        for (int64_t r = 0; staged && r < ids->ne0 * ids->ne1; r++) {
            const int32_t e = ((const int32_t *)ids->data)[r];
            int64_t c = 0;
            while (c < st->n_chunk - 1 && e >= st->chunk_e[c + 1])
                c++;
            if (!covered(st, c, base + (size_t)e * m[q]->mat_bytes,
                         (size_t)m[q]->n_out * m[q]->row_bytes))
                return "a selected expert not uploaded by its chunk";
        }
    }
    return NULL;
}

static fy_status run_moe_staged(struct fy_device *d, const struct fy_node *n,
                                const struct fy_batch *b, const struct fy_moe_stage *st,
                                bool prefetched)
{
    struct testdev *t = ctx_of(d);
    const char *why = n->op == FY_OP_MOE_FFN ? bad_stage(d, n, st, prefetched)
                                             : "not a MoE node";
    if (why) {
        fy_log(FY_LOG_ERR, "%s: staged node %s (layer %d): %s", d->name, n->name, n->layer, why);
        return FY_E_INVAL;
    }
    t->n_pre[st->slot] = -1; /* consumed, or overwritten by the uploads below */
    if (!prefetched) {
        for (int64_t i = 0; i < st->n_up; i++)
            FY_TRY(test_copy_in(d, st->up[i].dst, st->up[i].src, st->up[i].n));
        d->stats.n_chunks += (uint64_t)st->n_chunk;
    }
    return test_run(d, n, 1, b);
}

static fy_status test_run_staged(struct fy_device *d, const struct fy_node *n,
                                 const struct fy_batch *b, const struct fy_moe_stage *st)
{
    return run_moe_staged(d, n, b, st, false);
}

static fy_status test_run_prefetched(struct fy_device *d, const struct fy_node *n,
                                     const struct fy_batch *b, const struct fy_moe_stage *st)
{
    return run_moe_staged(d, n, b, st, true);
}

/* Copies at once (the device is synchronous, so the slot's last reader is done) and remembers
 * the uploads, which the prefetched run_staged of the slot must repeat exactly. */
static fy_status test_prefetch(struct fy_device *d, const struct fy_moe_stage *st)
{
    struct testdev *t = ctx_of(d);
    const char *why = bad_uploads(d, st, -1);
    if (why) {
        fy_log(FY_LOG_ERR, "%s: expert prefetch: %s", d->name, why);
        return FY_E_INVAL;
    }
    const int k = st->slot;
    t->n_pre[k] = -1;
    struct fy_upload *u = realloc(t->pre[k], (size_t)(st->n_up + 1) * sizeof(*u));
    if (!u)
        return FY_E_NOMEM;
    t->pre[k] = u;
    for (int64_t i = 0; i < st->n_up; i++)
        FY_TRY(test_copy_in(d, st->up[i].dst, st->up[i].src, st->up[i].n));
    if (st->n_up)
        memcpy(u, st->up, (size_t)st->n_up * sizeof(*u));
    t->n_pre[k] = st->n_up;
    d->stats.n_chunks += (uint64_t)st->n_chunk;
    return FY_OK;
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
    free(t->pin);
    for (int k = 0; k < FY_STAGE_SLOTS; k++)
        free(t->pre[k]);
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
    .pin = test_pin,
    .unpin = test_unpin,
    .run_staged = test_run_staged,
    .prefetch = test_prefetch,
    .run_prefetched = test_run_prefetched,
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
    for (int k = 0; k < FY_STAGE_SLOTS; k++)
        t->n_pre[k] = -1;
    d->name = t->name;
    d->id = id;
    d->host_visible = false;
    d->ops = &test_ops;
    d->backend = &fy_backend_cpu;
    d->ctx = t;
    *out = d;
    return FY_OK;
}
