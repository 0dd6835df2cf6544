/* The CPU emulator: lazy streams (operations queue until something waits on them; stream 0 runs
 * them at once, after all others), events, and kernel launches, checked and queued. */
#include "emu_priv.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

using namespace fy_emu_priv;

namespace {

fy_emu_stream g_null_stream;  /* stream 0: synchronous (runs at once, after all others) */
std::unordered_set<fy_emu_event *> g_events;
std::unordered_set<fy_emu_stream *> g_queried;
std::unordered_map<const void *, int> g_func_smem;  /* hipFuncAttributeMaxDynamicSharedMemorySize */

double now_ms()
{
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

fy_emu_stream *real(fy_emu_stream *s) { return s ? s : &g_null_stream; }

}  // namespace

namespace fy_emu_priv {

std::unordered_set<fy_emu_stream *> g_streams;

bool stream_ok(fy_emu_stream *s) { return !s || g_streams.count(s); }

void drain(fy_emu_stream *s, uint64_t upto)
{
    while (s->done < upto && !s->q.empty()) {
        Op op = std::move(s->q.front());
        s->q.pop_front();
        op.fn();
        s->done = op.seq;
    }
}

void drain_all()
{
    for (fy_emu_stream *s : g_streams)
        drain(s, s->enq);
}

/* queue fn on s; stream 0 and eager mode run it at once */
void enqueue(fy_emu_stream *s, std::function<void()> fn)
{
    if (!s) {
        s = &g_null_stream;
        drain_all();
        s->enq++;
        fn();
        s->done = s->enq;
        return;
    }
    s->q.push_back(Op{++s->enq, std::move(fn)});
    if (cfg().eager)
        drain(s, s->enq);
}

}  // namespace fy_emu_priv

/* ================================================================== hip* runtime: streams, events */

hipError_t hipDeviceSynchronize(void)
{
    Guard g(g_mu);
    drain_all();
    return hipSuccess;
}

hipError_t hipStreamCreateWithFlags(hipStream_t *s, unsigned int flags)
{
    if (!s)
        return fail(hipErrorInvalidValue);
    Guard g(g_mu);
    fy_emu_stream *st = new fy_emu_stream();
    st->flags = flags;
    g_streams.insert(st);
    *s = st;
    return hipSuccess;
}

hipError_t hipStreamCreate(hipStream_t *s) { return hipStreamCreateWithFlags(s, 0); }

hipError_t hipStreamDestroy(hipStream_t s)
{
    Guard g(g_mu);
    if (!s || !g_streams.count(s))
        return fail(hipErrorInvalidResourceHandle);
    drain(s, s->enq);  /* its work still completes, as on a GPU */
    g_streams.erase(s);
    g_queried.erase(s);
    delete s;
    return hipSuccess;
}

hipError_t hipStreamSynchronize(hipStream_t s)
{
    Guard g(g_mu);
    if (!stream_ok(s))
        return fail(hipErrorInvalidResourceHandle);
    if (!s)
        drain_all();
    else
        drain(s, s->enq);
    return hipSuccess;
}

/* Work still pending: hipErrorNotReady, and the work runs (so that a polling loop ends). */
hipError_t hipStreamQuery(hipStream_t s)
{
    Guard g(g_mu);
    if (!stream_ok(s))
        return fail(hipErrorInvalidResourceHandle);
    fy_emu_stream *r = real(s);
    if (r->done == r->enq)
        return hipSuccess;
    drain(r, r->enq);
    return hipErrorNotReady;
}

hipError_t hipEventCreateWithFlags(hipEvent_t *e, unsigned int flags)
{
    if (!e)
        return fail(hipErrorInvalidValue);
    Guard g(g_mu);
    fy_emu_event *ev = new fy_emu_event();
    ev->flags = flags;
    g_events.insert(ev);
    *e = ev;
    return hipSuccess;
}

hipError_t hipEventCreate(hipEvent_t *e) { return hipEventCreateWithFlags(e, 0); }

hipError_t hipEventDestroy(hipEvent_t e)
{
    Guard g(g_mu);
    if (!e || !g_events.count(e))
        return fail(hipErrorInvalidResourceHandle);
    g_events.erase(e);
    delete e;  /* a pending record keeps its EventRec alive */
    return hipSuccess;
}

hipError_t hipEventRecord(hipEvent_t e, hipStream_t s)
{
    Guard g(g_mu);
    if (!e || !g_events.count(e) || !stream_ok(s))
        return fail(hipErrorInvalidResourceHandle);
    auto rec = std::make_shared<EventRec>();
    rec->s = real(s);
    rec->seq = real(s)->enq + 1;
    e->rec = rec;
    e->queried = 0;
    enqueue(s, [rec] {
        rec->t_ms = now_ms();
        rec->done = true;
    });
    return hipSuccess;
}

hipError_t hipEventSynchronize(hipEvent_t e)
{
    Guard g(g_mu);
    if (!e || !g_events.count(e))
        return fail(hipErrorInvalidResourceHandle);
    if (e->rec && !e->rec->done)
        drain(e->rec->s, e->rec->seq);
    return hipSuccess;
}

hipError_t hipEventQuery(hipEvent_t e)
{
    Guard g(g_mu);
    if (!e || !g_events.count(e))
        return fail(hipErrorInvalidResourceHandle);
    if (!e->rec || e->rec->done)
        return hipSuccess;
    drain(e->rec->s, e->rec->seq);
    return hipErrorNotReady;
}

hipError_t hipEventElapsedTime(float *ms, hipEvent_t a, hipEvent_t b)
{
    Guard g(g_mu);
    if (!ms || !a || !b || !g_events.count(a) || !g_events.count(b))
        return fail(hipErrorInvalidResourceHandle);
    if ((a->flags | b->flags) & hipEventDisableTiming)
        return fail(hipErrorInvalidResourceHandle);
    if (!a->rec || !b->rec)
        return fail(hipErrorInvalidResourceHandle);
    if (!a->rec->done || !b->rec->done)
        return fail(hipErrorNotReady);
    *ms = (float)(b->rec->t_ms - a->rec->t_ms);
    return hipSuccess;
}

hipError_t hipStreamWaitEvent(hipStream_t s, hipEvent_t e, unsigned int flags)
{
    (void)flags;
    Guard g(g_mu);
    if (!e || !g_events.count(e) || !stream_ok(s))
        return fail(hipErrorInvalidResourceHandle);
    if (!e->rec || e->rec->done)
        return hipSuccess;
    std::shared_ptr<EventRec> rec = e->rec;
    enqueue(s, [rec] {
        if (!rec->done)
            drain(rec->s, rec->seq);
    });
    return hipSuccess;
}

/* ================================================================== hip* runtime: launches */

hipError_t fy_emu_func_set_attribute(const void *f, const char *name, hipFuncAttribute a, int v)
{
    (void)name;
    Guard g(g_mu);
    if (!f)
        return fail(hipErrorInvalidValue);
    if (a == hipFuncAttributePreferredSharedMemoryCarveout)
        return hipSuccess;
    if (a != hipFuncAttributeMaxDynamicSharedMemorySize || v < 0 || (size_t)v > kSmemOptin)
        return fail(hipErrorInvalidValue);
    g_func_smem[f] = v;
    return hipSuccess;
}

void fy_emu_enqueue_launch(fy_emu_task *t, const void *fn, const char *name, dim3 grid, dim3 block,
                           size_t smem, hipStream_t s, const fy_emu_ptr_arg *ptrs, int nptrs)
{
    auto L = std::make_shared<Launch>();
    L->task.reset(t);
    Guard g(g_mu);
    L->name = name;
    L->grid = grid;
    L->block = block;
    L->smem = smem;
    const uint64_t nt = (uint64_t)block.x * block.y * block.z;
    L->nthreads = (int)std::min<uint64_t>(nt, 1u << 30);
    L->nblocks = (uint64_t)grid.x * grid.y * grid.z;
    if (nt == 0 || nt > kMaxThreads || block.z > 64) {
        fail_msg(hipErrorInvalidConfiguration, "launch of %s: block (%u,%u,%u) is not 1..%d threads",
                 name, block.x, block.y, block.z, kMaxThreads);
        return;
    }
    if (L->nblocks == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
        fail_msg(hipErrorInvalidConfiguration, "launch of %s: bad grid (%u,%u,%u)", name, grid.x,
                 grid.y, grid.z);
        return;
    }
    auto it = g_func_smem.find(fn);
    const size_t smax = it != g_func_smem.end() ? std::max((size_t)it->second, kSmemDefault)
                                                : kSmemDefault;
    if (smem > smax) {
        fail_msg(hipErrorInvalidConfiguration,
                 "launch of %s: %zu bytes of dynamic shared memory > %zu (raise it with "
                 "hipFuncSetAttribute(MaxDynamicSharedMemorySize), at most %zu)",
                 name, smem, smax, kSmemOptin);
        return;
    }
    if (!stream_ok(s)) {
        fail_msg(hipErrorInvalidResourceHandle, "launch of %s: bad stream %p", name, (void *)s);
        return;
    }
    for (int i = 0; i < nptrs; i++) {
        const void *p = ptrs[i].p;
        if (p && !is_dev(p, 0) && !is_dev((const char *)p - 1, 1) && !is_pinned(p, 1)) {
            fail_msg(hipErrorInvalidValue,
                     "launch of %s: argument %d (%p) is neither device memory nor pinned host "
                     "memory", name, ptrs[i].index, p);
            return;
        }
    }
    enqueue(s, [L] { run_launch(L.get()); });
}
