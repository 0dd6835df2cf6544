/* The CPU emulator: lazy streams (operations queue until something waits on them; stream 0 runs
 * them at once, after all others), events, and kernel launches, checked and queued. */
#include "emu_priv.h"

#include <algorithm>
#include <chrono>
#include <map>
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

/* ------------------------------------------------------------------ happens-before (emu_priv.h) */

uint32_t g_next_id = 1;  /* stream ids; 0 is stream 0 */
VClock g_host_clock;     /* what the host has waited for: later work is ordered after it */
VClock g_dead_clock;     /* the clocks of destroyed streams (their work still counts) */

void join(VClock &a, const VClock &b)
{
    if (a.size() < b.size())
        a.resize(b.size(), 0);
    for (size_t i = 0; i < b.size(); i++)
        a[i] = std::max(a[i], b[i]);
}

uint64_t at(const VClock &c, uint32_t i) { return i < c.size() ? c[i] : 0; }

/* One stream's kernels (or copies) since the last fy_emu_stats_reset, for the *_overlappable
 * counters. Only the later op's clock is needed to tell whether two ops are concurrent (the
 * earlier one cannot know about the later one), so an entry is just its seq; `counted` holds the
 * seqs already counted as overlappable, as disjoint ranges. An entry is dropped once the host
 * has waited for it (every op enqueued from then on, on any stream old or new, happens after it),
 * and past kHistCap entries per stream and kind (work never synchronised with the host: older
 * ops than that are no longer compared, which can only undercount). */
constexpr size_t kHistCap = 1 << 16;

struct KindHist {
    std::deque<uint64_t> seq;                         /* ascending */
    std::deque<std::pair<uint64_t, uint64_t>> counted; /* [first, last] seqs, ascending */

    /* entries with lo <= seq <= hi */
    uint64_t count(uint64_t lo, uint64_t hi) const
    {
        if (lo > hi)
            return 0;
        return (uint64_t)(std::upper_bound(seq.begin(), seq.end(), hi) -
                          std::lower_bound(seq.begin(), seq.end(), lo));
    }
    /* count every entry with seq >= lo (there is one); returns how many were not counted yet */
    uint64_t count_from(uint64_t lo)
    {
        const uint64_t hi = seq.back();
        uint64_t fresh = count(lo, hi);
        uint64_t first = lo;
        while (!counted.empty() && counted.back().second + 1 >= lo) {
            const std::pair<uint64_t, uint64_t> r = counted.back();
            fresh -= count(std::max(r.first, lo), r.second);
            first = std::min(first, r.first);
            counted.pop_back();
        }
        counted.emplace_back(first, hi);
        return fresh;
    }
    /* drop the entries with seq <= upto */
    void drop(uint64_t upto)
    {
        while (!seq.empty() && seq.front() <= upto)
            seq.pop_front();
        const uint64_t keep = seq.empty() ? UINT64_MAX : seq.front();
        while (!counted.empty() && counted.front().second < keep)
            counted.pop_front();
    }
};

struct StreamHist {
    KindHist k[2];  /* 0: kernels, 1: copies */
};
std::map<uint32_t, StreamHist> g_hist;  /* by stream id; streams with nothing recorded are absent */

std::atomic<uint64_t> &overlap_counter(int k)
{
    return k == 0 ? g_stats.kernels_overlappable : g_stats.copies_overlappable;
}

/* s's op number s->enq (of this kind) was just enqueued: advance s's clock to it, and count it
 * and the ops of the other kind on other streams that it does not know about as overlappable */
void hb_enqueue(fy_emu_stream *s, OpKind kind)
{
    if (s->clock.size() <= s->id)
        s->clock.resize(s->id + 1, 0);
    s->clock[s->id] = s->enq;
    if (kind == OpKind::other)
        return;
    const int k = kind == OpKind::kernel ? 0 : 1;
    const VClock &v = s->clock;
    bool concurrent = false;
    for (auto &h : g_hist) {
        if (h.first == s->id)
            continue;
        KindHist &o = h.second.k[1 - k];
        const uint64_t known = at(v, h.first);  /* o's ops up to this one happen before */
        if (o.seq.empty() || o.seq.back() <= known)
            continue;
        concurrent = true;
        overlap_counter(1 - k) += o.count_from(known + 1);
    }
    KindHist &mine = g_hist[s->id].k[k];
    mine.seq.push_back(s->enq);
    if (concurrent) {
        overlap_counter(k)++;
        mine.count_from(s->enq);
    }
    if (mine.seq.size() > kHistCap)
        mine.drop(mine.seq.front());
}

/* the host waited for the ops c covers: every stream's later ops, and every later stream's,
 * happen after them */
void host_waited(const VClock &c)
{
    g_stats.host_syncs.fetch_add(1, std::memory_order_relaxed);
    if (cfg().trace)
        fprintf(stderr, "fy_emu: the host waits\n");
    join(g_host_clock, c);
    join(g_null_stream.clock, g_host_clock);
    for (fy_emu_stream *s : g_streams)
        join(s->clock, g_host_clock);
    for (auto it = g_hist.begin(); it != g_hist.end();) {
        const uint64_t upto = at(g_host_clock, it->first);
        it->second.k[0].drop(upto);
        it->second.k[1].drop(upto);
        if (it->second.k[0].seq.empty() && it->second.k[1].seq.empty())
            it = g_hist.erase(it);
        else
            ++it;
    }
}

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

void device_synchronize()
{
    drain_all();
    VClock c = g_null_stream.clock;
    join(c, g_dead_clock);
    for (fy_emu_stream *s : g_streams)
        join(c, s->clock);
    host_waited(c);
}

void overlap_reset()
{
    g_hist.clear();
    g_stats.copies_overlappable = 0;
    g_stats.kernels_overlappable = 0;
}

/* queue fn on s; stream 0 and eager mode run it at once */
void enqueue(fy_emu_stream *s, OpKind kind, std::function<void()> fn)
{
    if (s && s->capture) { /* recorded for hipGraphLaunch, not run */
        s->capture->ops.emplace_back(kind, std::move(fn));
        return;
    }
    if (!s) {
        /* stream 0: after everything enqueued so far, before everything enqueued later (the
         * host waits for it: it runs here), so concurrent with nothing */
        s = &g_null_stream;
        drain_all();
        s->enq++;
        join(s->clock, g_host_clock);
        join(s->clock, g_dead_clock);
        for (fy_emu_stream *o : g_streams)
            join(s->clock, o->clock);
        hb_enqueue(s, OpKind::other);
        host_waited(s->clock);
        fn();
        s->done = s->enq;
        return;
    }
    s->q.push_back(Op{++s->enq, kind, std::move(fn)});
    hb_enqueue(s, kind);
    if (cfg().eager)
        drain(s, s->enq);
}

}  // namespace fy_emu_priv

/* ================================================================== hip* runtime: streams, events */

hipError_t hipDeviceSynchronize(void)
{
    Guard g(g_mu);
    device_synchronize();
    return hipSuccess;
}

hipError_t hipStreamCreateWithFlags(hipStream_t *s, unsigned int flags)
{
    if (!s)
        return fail(hipErrorInvalidValue);
    Guard g(g_mu);
    fy_emu_stream *st = new fy_emu_stream();
    st->flags = flags;
    st->id = g_next_id++;
    st->clock = g_host_clock;  /* ordered after what the host has waited for */
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
    join(g_dead_clock, s->clock);  /* without ordering anything (the host does not wait) */
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
    if (s && s->capture)
        return fail_msg(hipErrorStreamCaptureUnsupported,
                        "hipStreamSynchronize of a stream that is capturing a graph");
    if (!s) {
        device_synchronize();
    } else {
        drain(s, s->enq);
        host_waited(s->clock);
    }
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
    enqueue(s, OpKind::other, [rec] {
        rec->t_ms = now_ms();
        rec->done = true;
    });
    rec->clock = real(s)->clock;
    return hipSuccess;
}

hipError_t hipEventSynchronize(hipEvent_t e)
{
    Guard g(g_mu);
    if (!e || !g_events.count(e))
        return fail(hipErrorInvalidResourceHandle);
    if (e->rec && !e->rec->done)
        drain(e->rec->s, e->rec->seq);
    if (e->rec)
        host_waited(e->rec->clock);
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
    if (!e->rec)
        return hipSuccess;
    /* ordering holds even when the emulator has already run the record (eager mode) */
    join(real(s)->clock, e->rec->clock);
    if (e->rec->done)
        return hipSuccess;
    std::shared_ptr<EventRec> rec = e->rec;
    enqueue(s, OpKind::other, [rec] {
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
    g_stats.launch_calls.fetch_add(1, std::memory_order_relaxed);
    enqueue(s, OpKind::kernel, [L] { run_launch(L.get()); });
}

/* ================================================================== graphs (stream capture) */

hipError_t hipStreamBeginCapture(hipStream_t s, hipStreamCaptureMode mode)
{
    (void)mode;
    Guard g(g_mu);
    if (!s || !g_streams.count(s))
        return fail_msg(hipErrorInvalidResourceHandle, "hipStreamBeginCapture: bad stream %p",
                        (void *)s);
    if (s->capture)
        return fail_msg(hipErrorStreamCaptureUnsupported, "hipStreamBeginCapture: already capturing");
    s->capture = new fy_emu_graph();
    return hipSuccess;
}

hipError_t hipStreamEndCapture(hipStream_t s, hipGraph_t *out)
{
    Guard g(g_mu);
    if (!s || !g_streams.count(s) || !s->capture || !out)
        return fail_msg(hipErrorInvalidValue, "hipStreamEndCapture: the stream is not capturing");
    *out = s->capture;
    s->capture = nullptr;
    return hipSuccess;
}

hipError_t hipGraphInstantiate(hipGraphExec_t *e, hipGraph_t gr, void *err_node, char *log,
                               size_t log_size)
{
    (void)err_node;
    (void)log;
    (void)log_size;
    if (!e || !gr)
        return fail(hipErrorInvalidValue);
    *e = new fy_emu_graph(*gr);
    return hipSuccess;
}

hipError_t hipGraphLaunch(hipGraphExec_t e, hipStream_t s)
{
    Guard g(g_mu);
    if (!e || !stream_ok(s))
        return fail(hipErrorInvalidValue);
    if (s && s->capture)
        return fail_msg(hipErrorStreamCaptureUnsupported, "hipGraphLaunch into a capture");
    g_stats.graph_launches.fetch_add(1, std::memory_order_relaxed);
    for (const auto &op : e->ops)
        enqueue(s, op.first, op.second);
    return hipSuccess;
}

hipError_t hipGraphExecDestroy(hipGraphExec_t e)
{
    delete e;
    return hipSuccess;
}

hipError_t hipGraphDestroy(hipGraph_t gr)
{
    delete gr;
    return hipSuccess;
}
