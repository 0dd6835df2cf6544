/* The CPU emulator of the GPU dialect: fibers, block scheduler, worker pool, device memory,
 * lazy streams and events, errors (see fy_emu.h for the model), and its self-tests. */
#include "fy_emu.h"
#include "fy_emu_ctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace {

/* ================================================================== configuration */

constexpr int kWarp = FY_EMU_WARP;
constexpr int kMaxThreads = 1024;
constexpr size_t kSmemDefault = 48 * 1024;  /* dynamic smem without hipFuncSetAttribute */
constexpr size_t kSmemOptin = 64 * 1024;    /* the most any kernel may ask for (AMD's LDS) */

long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end = nullptr;
    long x = strtol(v, &end, 10);
    return end && *end == 0 ? x : def;
}

[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fy_emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

struct Config {
    int workers;
    bool eager;
    bool reverse;
    size_t stack_bytes;
    int devices;
    int sms;
    bool guard;
};
Config &cfg()
{
    static Config c = [] {
        Config k;
        unsigned hc = std::thread::hardware_concurrency();
        k.workers = (int)env_long("FY_EMU_WORKERS", hc ? (long)std::min(hc, 64u) : 1);
        if (k.workers < 1)
            k.workers = 1;
        k.eager = env_long("FY_EMU_EAGER", 0) != 0;
        const char *o = getenv("FY_EMU_ORDER");
        k.reverse = o && !strcmp(o, "reverse");
        k.stack_bytes = (size_t)env_long("FY_EMU_STACK_KB", 128) * 1024;
        if (k.stack_bytes < 16 * 1024)
            k.stack_bytes = 16 * 1024;
        k.devices = (int)env_long("FY_EMU_DEVICES", 1);
        k.sms = (int)env_long("FY_EMU_SMS", 4);
        k.guard = env_long("FY_EMU_GUARD", 1) != 0;
        if (k.sms < 1)
            k.sms = 1;
        return k;
    }();
    return c;
}

struct Stats {
    std::atomic<uint64_t> launches{0}, blocks{0}, threads{0}, barriers{0}, warp_ops{0}, copies{0},
        copy_bytes{0};
};
Stats g_stats;

/* ================================================================== fibers */

#if defined(__x86_64__)
extern "C" void fy_emu_ctx_switch(void **save_sp, void *to_sp);
asm(".text\n"
    ".p2align 4\n"
    ".type fy_emu_ctx_switch,@function\n"
    "fy_emu_ctx_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size fy_emu_ctx_switch,.-fy_emu_ctx_switch\n");
#endif

enum FiberState { F_NEW, F_READY, F_WARP, F_BAR, F_DONE };  /* F_NEW, F_READY: runnable */

struct Launch;

}  // namespace

struct fy_emu_fiber : fy_emu_fiber_pub {
    int state;
    int op;
    uint64_t val;
    int arg;
    uint64_t out;
    int stack;  /* index in Worker::stacks while started and not done */
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t uc;
#endif
};

__thread fy_emu_fiber_pub *fy_emu_cur_fiber_ __attribute__((tls_model("initial-exec"))) = nullptr;
__thread fy_emu_block_ctx *fy_emu_cur_block_ __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

struct Launch {
    std::unique_ptr<fy_emu_task> task;
    const char *name;
    dim3 grid, block;
    size_t smem;
    int nthreads;
    uint64_t nblocks;
    std::atomic<uint64_t> next{0};
};

/* One OS thread's block runner: its fibers, their stacks, its shared memory. */
struct Worker {
    std::vector<fy_emu_fiber> fibers;
    /* Stacks are taken when a fiber starts and given back when it ends, most recent first:
     * threads that never synchronise all run on one hot stack. */
    std::vector<char *> stacks;  /* lowest usable byte of each */
    std::vector<int> free_stacks;
    size_t stack_bytes = cfg().stack_bytes;
    fy_emu_fiber *cur = nullptr;
    Launch *launch = nullptr;
    /* the scheduler's walk over the lanes of one warp: position pos of lanes, from fiber base */
    int base = 0;
    int lanes = 0;
    int pos = 0;
    bool rev = false;
    fy_emu_block_ctx blk{};
    unsigned char *smem = nullptr;
    size_t smem_cap = 0;
#if defined(__x86_64__)
    void *sched_sp = nullptr;
#else
    ucontext_t sched_uc;
#endif
    Worker() : fibers(kMaxThreads) {}
};

__thread Worker *t_worker = nullptr;

Worker *this_worker()
{
    if (!t_worker)
        t_worker = new Worker();  /* one per OS thread, kept for its life */
    return t_worker;
}

inline fy_emu_fiber *lane_fiber(Worker *w, int pos)
{
    return &w->fibers[(size_t)(w->base + (w->rev ? w->lanes - 1 - pos : pos))];
}

/* Runs GPU threads on one stack. A thread that ends hands the stack to the next lane of the walk
 * if that one has not started, without a switch: threads that never synchronise cost a call. */
void fiber_main()
{
    Worker *w = t_worker;
    fy_emu_fiber *f = w->cur;
    for (;;) {
        w->launch->task->run();
        f->state = F_DONE;
        if (w->pos + 1 >= w->lanes || lane_fiber(w, w->pos + 1)->state != F_NEW)
            break;
        fy_emu_fiber *next = lane_fiber(w, ++w->pos);
        next->stack = f->stack;
        next->state = F_READY;
        f = next;
        w->cur = f;
        fy_emu_cur_fiber_ = f;
    }
#if defined(__x86_64__)
    fy_emu_ctx_switch(&f->sp, w->sched_sp);
#else
    swapcontext(&f->uc, &w->sched_uc);
#endif
    die("a finished fiber was resumed");
}

int take_stack(Worker *w)
{
    if (!w->free_stacks.empty()) {
        const int i = w->free_stacks.back();
        w->free_stacks.pop_back();
        return i;
    }
    void *m = mmap(nullptr, w->stack_bytes + 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        die("cannot map a %zu KiB fiber stack", w->stack_bytes / 1024);
    mprotect(m, 4096, PROT_NONE);  /* guard page: a stack overflow faults */
    w->stacks.push_back((char *)m + 4096);
    return (int)w->stacks.size() - 1;
}

void fiber_init(Worker *w, fy_emu_fiber *f)
{
    f->stack = take_stack(w);
    char *lo = w->stacks[(size_t)f->stack];
#if defined(__x86_64__)
    /* stagger the tops (stacks sit 132 KiB apart: the same cache sets otherwise) */
    uintptr_t top = ((uintptr_t)lo + w->stack_bytes - (size_t)(f->stack % 61) * 64) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;               /* fake return address of fiber_main: rsp = 8 mod 16 at entry */
    *--sp = (void *)&fiber_main;   /* popped by ret */
    for (int i = 0; i < 6; i++)    /* rbp rbx r12 r13 r14 r15 */
        *--sp = nullptr;
    f->sp = sp;
#else
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = lo;
    f->uc.uc_stack.ss_size = w->stack_bytes;
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, fiber_main, 0);
#endif
}

inline void resume(Worker *w, fy_emu_fiber *f)
{
    if (f->state == F_NEW)
        fiber_init(w, f);
    w->cur = f;
    fy_emu_cur_fiber_ = f;
#if defined(__x86_64__)
    fy_emu_ctx_switch(&w->sched_sp, f->sp);
#else
    swapcontext(&w->sched_uc, &f->uc);
#endif
    fy_emu_fiber *last = w->cur;  /* f, or the last lane it handed its stack to */
    fy_emu_cur_fiber_ = nullptr;
    w->cur = nullptr;
    if (last->state == F_DONE)
        w->free_stacks.push_back(last->stack);
}

inline void yield(Worker *w, fy_emu_fiber *f)
{
#if defined(__x86_64__)
    fy_emu_ctx_switch(&f->sp, w->sched_sp);
#else
    swapcontext(&f->uc, &w->sched_uc);
#endif
    fy_emu_cur_fiber_ = f;
}

const char *op_name(int state, int op)
{
    if (state == F_DONE)
        return "exited";
    if (state == F_BAR)
        return op == FY_EMU_BAR ? "__syncthreads" : "__syncthreads_count/and/or";
    if (state <= F_READY)
        return "running";
    switch (op) {
    case FY_EMU_SHFL: return "fy_shfl";
    case FY_EMU_SHFL_XOR: return "fy_shfl_xor";
    case FY_EMU_BALLOT: return "fy_ballot";
    default: return "fy_syncwarp";
    }
}

[[noreturn]] void divergence(Worker *w, const char *what, int first, int count)
{
    const Launch *L = w->launch;
    const fy_emu_block_ctx &b = w->blk;
    fprintf(stderr, "fy_emu: kernel %s, block (%u,%u,%u) of (%u,%u,%u), %d threads: %s\n", L->name,
            b.block_idx.x, b.block_idx.y, b.block_idx.z, L->grid.x, L->grid.y, L->grid.z,
            L->nthreads, what);
    int lines = 0;
    for (int i = first; i < first + count; i++) {
        const fy_emu_fiber &f = w->fibers[(size_t)i];
        if (++lines > 8) {
            fprintf(stderr, "fy_emu:   ...\n");
            break;
        }
        int j = i + 1;
        while (j < first + count && w->fibers[(size_t)j].state == f.state &&
               ((f.state != F_WARP && f.state != F_BAR) || w->fibers[(size_t)j].op == f.op))
            j++;
        fprintf(stderr, "fy_emu:   threads %d..%d (warp %d): %s\n", i, j - 1, i / kWarp,
                op_name(f.state, f.op));
        i = j - 1;
    }
    die("divergent synchronisation (every thread must reach every __syncthreads, every lane of a "
        "warp every fy_shfl/fy_ballot/fy_syncwarp)");
}

/* all lanes of warp [b, b + kWarp) wait at the same warp operation: compute the results */
void resolve_warp(Worker *w, int b)
{
    fy_emu_fiber *f = &w->fibers[(size_t)b];
    const int op = f[0].op;
    for (int l = 1; l < kWarp; l++)
        if (f[l].op != op)
            divergence(w, "lanes of one warp wait at different warp operations", b, kWarp);
    switch (op) {
    case FY_EMU_SHFL:
        for (int l = 0; l < kWarp; l++)
            f[l].out = f[(unsigned)f[l].arg & (kWarp - 1)].val;
        break;
    case FY_EMU_SHFL_XOR:
        for (int l = 0; l < kWarp; l++) {
            const unsigned src = (unsigned)l ^ (unsigned)f[l].arg;
            f[l].out = src < (unsigned)kWarp ? f[src].val : f[l].val;
        }
        break;
    case FY_EMU_BALLOT: {
        uint64_t m = 0;
        for (int l = 0; l < kWarp; l++)
            m |= (uint64_t)(f[l].val != 0) << l;
        for (int l = 0; l < kWarp; l++)
            f[l].out = m;
        break;
    }
    default:
        for (int l = 0; l < kWarp; l++)
            f[l].out = 0;
        break;
    }
    for (int l = 0; l < kWarp; l++)
        f[l].state = F_READY;
    g_stats.warp_ops.fetch_add(1, std::memory_order_relaxed);
}

void run_block(Worker *w, Launch *L, uint64_t bid)
{
    const int n = L->nthreads;
    const dim3 bd = L->block;
    w->blk.block_idx.x = (unsigned)(bid % L->grid.x);
    w->blk.block_idx.y = (unsigned)(bid / L->grid.x % L->grid.y);
    w->blk.block_idx.z = (unsigned)(bid / ((uint64_t)L->grid.x * L->grid.y));
    if (L->smem) {
        memset(w->smem, 0xff, L->smem);  /* shared memory starts as garbage (NaN) */
    }
    uint3 t = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        fy_emu_fiber &f = w->fibers[(size_t)i];
        f.thread_idx = t;
        f.state = F_NEW;
        if (++t.x == bd.x) {
            t.x = 0;
            if (++t.y == bd.y) {
                t.y = 0;
                t.z++;
            }
        }
    }
    const int nwarps = (n + kWarp - 1) / kWarp;
    const bool rev = cfg().reverse;
    for (;;) {
        for (int wi0 = 0; wi0 < nwarps; wi0++) {
            const int wi = rev ? nwarps - 1 - wi0 : wi0;
            const int b = wi * kWarp;
            const int lanes = std::min(kWarp, n - b);
            w->base = b;
            w->lanes = lanes;
            w->rev = rev;
            for (;;) {
                for (w->pos = 0; w->pos < lanes; w->pos++) {
                    fy_emu_fiber *f = lane_fiber(w, w->pos);
                    if (f->state <= F_READY)
                        resume(w, f);
                }
                int at_warp = 0;
                for (int l = 0; l < lanes; l++)
                    at_warp += w->fibers[(size_t)(b + l)].state == F_WARP;
                if (at_warp == 0)
                    break;
                if (lanes < kWarp)
                    divergence(w, "warp operation in a partial warp (block size not a multiple of "
                                  "FY_WARP)", b, lanes);
                if (at_warp < lanes)
                    divergence(w, "some lanes of a warp wait at a warp operation, others do not",
                               b, lanes);
                resolve_warp(w, b);
            }
        }
        /* every thread now waits at __syncthreads or has exited */
        int done = 0;
        for (int i = 0; i < n; i++)
            done += w->fibers[(size_t)i].state == F_DONE;
        if (done == n)
            break;
        if (done > 0)
            divergence(w, "threads exited while others wait at __syncthreads", 0, n);
        const int op = w->fibers[0].op;
        int count = 0;
        int all = 1;
        for (int i = 0; i < n; i++) {
            const fy_emu_fiber &f = w->fibers[(size_t)i];
            if (f.op != op)
                divergence(w, "threads wait at different kinds of __syncthreads", 0, n);
            count += f.val != 0;
            all &= f.val != 0;
        }
        uint64_t r = 0;
        if (op == FY_EMU_BAR_COUNT)
            r = (uint64_t)count;
        else if (op == FY_EMU_BAR_AND)
            r = (uint64_t)all;
        else if (op == FY_EMU_BAR_OR)
            r = count > 0;
        for (int i = 0; i < n; i++) {
            w->fibers[(size_t)i].out = r;
            w->fibers[(size_t)i].state = F_READY;
        }
        g_stats.barriers.fetch_add(1, std::memory_order_relaxed);
    }
    g_stats.blocks.fetch_add(1, std::memory_order_relaxed);
    g_stats.threads.fetch_add((uint64_t)n, std::memory_order_relaxed);
}

/* run this thread's share of the blocks of L */
void run_blocks(Launch *L)
{
    Worker *w = this_worker();
    if (L->smem > w->smem_cap) {
        free(w->smem);
        w->smem = (unsigned char *)aligned_alloc(64, (L->smem + 63) & ~(size_t)63);
        if (!w->smem)
            die("out of host memory for %zu bytes of shared memory", L->smem);
        w->smem_cap = L->smem;
    }
    w->launch = L;
    w->blk.block_dim = L->block;
    w->blk.grid_dim = L->grid;
    w->blk.dyn_smem = L->smem ? w->smem : nullptr;
    fy_emu_block_ctx *saved = fy_emu_cur_block_;
    fy_emu_cur_block_ = &w->blk;
    for (uint64_t b; (b = L->next.fetch_add(1, std::memory_order_relaxed)) < L->nblocks;)
        run_block(w, L, b);
    fy_emu_cur_block_ = saved;
    w->launch = nullptr;
}

/* ================================================================== worker pool */

struct Pool {
    std::mutex m;
    std::condition_variable cv;
    std::condition_variable cv_done;
    Launch *job = nullptr;
    uint64_t gen = 0;
    int busy = 0;
    int started = 0;  /* OS threads beside the caller */

    void loop()
    {
        uint64_t seen = 0;
        std::unique_lock<std::mutex> lk(m);
        for (;;) {
            cv.wait(lk, [&] { return gen != seen; });
            seen = gen;
            Launch *L = job;
            lk.unlock();
            run_blocks(L);
            lk.lock();
            if (--busy == 0)
                cv_done.notify_all();
        }
    }
    void run(Launch *L, int workers)
    {
        const int helpers = (int)std::min<uint64_t>((uint64_t)workers - 1, L->nblocks - 1);
        if (helpers <= 0) {
            run_blocks(L);
            return;
        }
        std::unique_lock<std::mutex> lk(m);
        while (started < helpers) {
            std::thread(&Pool::loop, this).detach();
            started++;
        }
        job = L;
        busy = started;
        gen++;
        cv.notify_all();
        lk.unlock();
        run_blocks(L);
        lk.lock();
        cv_done.wait(lk, [&] { return busy == 0; });
        job = nullptr;
    }
};
Pool *g_pool = new Pool();  /* never destroyed: its threads sleep until the process exits */

void run_launch(Launch *L)
{
    g_pool->run(L, cfg().workers);
    g_stats.launches.fetch_add(1, std::memory_order_relaxed);
}

/* ================================================================== runtime state */

struct Op {
    uint64_t seq;
    std::function<void()> fn;
};

struct EventRec {
    fy_emu_stream *s = nullptr;  /* valid while !done (destroying a stream drains it) */
    uint64_t seq = 0;
    bool done = false;
    double t_ms = 0;
};

}  // namespace

struct fy_emu_stream {
    std::deque<Op> q;
    uint64_t enq = 0;
    uint64_t done = 0;
    unsigned flags = 0;
};

struct fy_emu_event {
    std::shared_ptr<EventRec> rec;  /* the last record; null before the first */
    unsigned flags = 0;
    int queried = 0;
};

namespace {

std::recursive_mutex g_mu;
fy_emu_stream g_null_stream;  /* stream 0: synchronous (runs at once, after all others) */
std::unordered_set<fy_emu_stream *> g_streams;
std::unordered_set<fy_emu_event *> g_events;
std::unordered_set<fy_emu_stream *> g_queried;
struct DevAlloc {
    size_t n;        /* bytes asked for */
    void *map;       /* guarded: the mapping (buffer, then a PROT_NONE page); else null */
    size_t map_len;
};
std::map<uintptr_t, DevAlloc> g_dev;  /* device allocations by base */
std::map<uintptr_t, std::pair<size_t, bool>> g_pinned;  /* host ranges: base -> (bytes, owned) */
std::unordered_map<const void *, int> g_func_smem;  /* hipFuncAttributeMaxDynamicSharedMemorySize */
size_t g_mem_used = 0;
size_t g_mem_peak = 0;
size_t g_mem_limit = 0;
int g_cur_dev = 0;
thread_local hipError_t t_last_error = hipSuccess;

typedef std::lock_guard<std::recursive_mutex> Guard;

double now_ms()
{
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

size_t default_mem_limit()
{
    long mb = env_long("FY_EMU_MEM_MB", 0);
    if (mb > 0)
        return (size_t)mb << 20;
    long pages = sysconf(_SC_PHYS_PAGES);
    long psz = sysconf(_SC_PAGESIZE);
    size_t half = pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz / 2 : (size_t)4 << 30;
    return std::min(half, (size_t)16 << 30);
}

size_t mem_limit()
{
    if (!g_mem_limit)
        g_mem_limit = default_mem_limit();
    return g_mem_limit;
}

hipError_t fail(hipError_t e)
{
    t_last_error = e;
    return e;
}

hipError_t fail_msg(hipError_t e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
hipError_t fail_msg(hipError_t e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fy_emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return fail(e);
}

/* the allocation holding [p, p + n), or g_dev.end() */
std::map<uintptr_t, DevAlloc>::iterator dev_find(const void *p, size_t n)
{
    const uintptr_t a = (uintptr_t)p;
    auto it = g_dev.upper_bound(a);
    if (it == g_dev.begin())
        return g_dev.end();
    --it;
    const size_t sz = it->second.n;
    if (a - it->first > sz || n > sz - (a - it->first))
        return g_dev.end();
    if (n == 0 && a - it->first == sz)
        return g_dev.end();
    return it;
}
bool is_dev(const void *p, size_t n) { return dev_find(p, n) != g_dev.end(); }
bool is_pinned(const void *p, size_t n)
{
    const uintptr_t a = (uintptr_t)p;
    auto it = g_pinned.upper_bound(a);
    if (it == g_pinned.begin())
        return false;
    --it;
    return a - it->first < it->second.first && n <= it->second.first - (a - it->first);
}

bool stream_ok(fy_emu_stream *s) { return !s || g_streams.count(s); }
fy_emu_stream *real(fy_emu_stream *s) { return s ? s : &g_null_stream; }

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

void count_copy(size_t n)
{
    g_stats.copies.fetch_add(1, std::memory_order_relaxed);
    g_stats.copy_bytes.fetch_add(n, std::memory_order_relaxed);
}

hipError_t check_copy(void *dst, const void *src, size_t n, hipMemcpyKind kind)
{
    const bool dd = is_dev(dst, n);
    const bool sd = is_dev(src, n);
    const bool dh = !dd && !is_dev(dst, 1);  /* neither: starts inside a device buffer, overruns it */
    const bool sh = !sd && !is_dev(src, 1);
    bool ok = false;
    switch (kind) {
    case hipMemcpyHostToDevice: ok = dd && sh; break;
    case hipMemcpyDeviceToHost: ok = sd && dh; break;
    case hipMemcpyDeviceToDevice: ok = dd && sd; break;
    case hipMemcpyHostToHost: ok = dh && sh; break;
    case hipMemcpyDefault: ok = (dd || dh) && (sd || sh); break;
    }
    if (!ok)
        return fail_msg(hipErrorInvalidValue,
                        "memcpy of %zu bytes, kind %d: dst %p is %s, src %p is %s", n, (int)kind,
                        dst, dd ? "device memory" : dh ? "host memory" : "out of a device buffer",
                        src, sd ? "device memory" : sh ? "host memory" : "out of a device buffer");
    return hipSuccess;
}

hipError_t memcpy_async(void *dst, const void *src, size_t n, hipMemcpyKind kind,
                        fy_emu_stream *s)
{
    if (!stream_ok(s))
        return fail(hipErrorInvalidResourceHandle);
    if (n == 0)
        return hipSuccess;
    if (!dst || !src)
        return fail(hipErrorInvalidValue);
    hipError_t e = check_copy(dst, src, n, kind);
    if (e != hipSuccess)
        return e;
    if (!is_dev(src, n) && !is_pinned(src, n)) {
        /* pageable source: the runtime stages it before returning, so the caller may reuse it */
        auto stage = std::make_shared<std::vector<unsigned char>>((const unsigned char *)src,
                                                                  (const unsigned char *)src + n);
        enqueue(s, [dst, stage, n] {
            memcpy(dst, stage->data(), n);
            count_copy(n);
        });
    } else {
        enqueue(s, [dst, src, n] {
            memmove(dst, src, n);
            count_copy(n);
        });
    }
    return hipSuccess;
}

}  // namespace

/* ================================================================== hip* runtime */

const char *hipGetErrorName(hipError_t e)
{
    switch (e) {
    case hipSuccess: return "hipSuccess";
    case hipErrorInvalidValue: return "hipErrorInvalidValue";
    case hipErrorOutOfMemory: return "hipErrorOutOfMemory";
    case hipErrorNotInitialized: return "hipErrorNotInitialized";
    case hipErrorInvalidConfiguration: return "hipErrorInvalidConfiguration";
    case hipErrorInvalidDevicePointer: return "hipErrorInvalidDevicePointer";
    case hipErrorInvalidMemcpyDirection: return "hipErrorInvalidMemcpyDirection";
    case hipErrorNoDevice: return "hipErrorNoDevice";
    case hipErrorInvalidDevice: return "hipErrorInvalidDevice";
    case hipErrorInvalidResourceHandle: return "hipErrorInvalidResourceHandle";
    case hipErrorNotReady: return "hipErrorNotReady";
    case hipErrorHostMemoryAlreadyRegistered: return "hipErrorHostMemoryAlreadyRegistered";
    case hipErrorHostMemoryNotRegistered: return "hipErrorHostMemoryNotRegistered";
    case hipErrorLaunchFailure: return "hipErrorLaunchFailure";
    }
    return "hipErrorUnknown";
}

const char *hipGetErrorString(hipError_t e)
{
    switch (e) {
    case hipSuccess: return "no error";
    case hipErrorInvalidValue: return "invalid argument";
    case hipErrorOutOfMemory: return "out of memory";
    case hipErrorNotInitialized: return "initialization error";
    case hipErrorInvalidConfiguration: return "invalid configuration argument";
    case hipErrorInvalidDevicePointer: return "invalid device pointer";
    case hipErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case hipErrorNoDevice: return "no GPU device is detected (FY_EMU_DEVICES=0)";
    case hipErrorInvalidDevice: return "invalid device ordinal";
    case hipErrorInvalidResourceHandle: return "invalid resource handle";
    case hipErrorNotReady: return "device not ready";
    case hipErrorHostMemoryAlreadyRegistered: return "part or all of the requested memory range is already mapped";
    case hipErrorHostMemoryNotRegistered: return "pointer does not correspond to a registered memory region";
    case hipErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

hipError_t hipGetLastError(void)
{
    hipError_t e = t_last_error;
    t_last_error = hipSuccess;
    return e;
}

hipError_t hipPeekAtLastError(void) { return t_last_error; }

hipError_t hipGetDeviceCount(int *n)
{
    if (!n)
        return fail(hipErrorInvalidValue);
    *n = std::max(cfg().devices, 0);
    return *n ? hipSuccess : fail(hipErrorNoDevice);
}

hipError_t hipSetDevice(int dev)
{
    if (dev < 0 || dev >= cfg().devices)
        return fail(hipErrorInvalidDevice);
    g_cur_dev = dev;
    return hipSuccess;
}

hipError_t hipGetDevice(int *dev)
{
    if (!dev)
        return fail(hipErrorInvalidValue);
    if (cfg().devices <= 0)
        return fail(hipErrorNoDevice);
    *dev = g_cur_dev;
    return hipSuccess;
}

hipError_t hipGetDeviceProperties(hipDeviceProp_t *p, int dev)
{
    if (!p)
        return fail(hipErrorInvalidValue);
    if (dev < 0 || dev >= cfg().devices)
        return fail(hipErrorInvalidDevice);
    Guard g(g_mu);
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "ferry CPU emulator (warp %d, %d workers)", kWarp,
             cfg().workers);
    snprintf(p->gcnArchName, sizeof(p->gcnArchName), "emu");
    p->totalGlobalMem = mem_limit();
    p->sharedMemPerBlock = kSmemDefault;
    p->sharedMemPerBlockOptin = kSmemOptin;
    p->sharedMemPerMultiprocessor = kSmemOptin;
    p->maxSharedMemoryPerMultiProcessor = kSmemOptin;
    p->totalConstMem = 64 * 1024;
    p->regsPerBlock = 65536;
    p->warpSize = kWarp;
    p->maxThreadsPerBlock = kMaxThreads;
    p->maxThreadsDim[0] = kMaxThreads;
    p->maxThreadsDim[1] = kMaxThreads;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = 65535;
    p->maxGridSize[2] = 65535;
    p->maxThreadsPerMultiProcessor = 2048;
    p->clockRate = 1000000;
    p->memoryClockRate = 1000000;
    p->memoryBusWidth = 64;
    p->major = 0;
    p->minor = 0;
    p->multiProcessorCount = cfg().sms;
    p->l2CacheSize = 4 << 20;
    p->integrated = 1;
    p->canMapHostMemory = 0;
    p->concurrentKernels = 0;
    p->asyncEngineCount = 0;
    return hipSuccess;
}

hipError_t hipDeviceGetAttribute(int *v, hipDeviceAttribute_t a, int dev)
{
    hipDeviceProp_t p;
    if (!v)
        return fail(hipErrorInvalidValue);
    hipError_t e = hipGetDeviceProperties(&p, dev);
    if (e != hipSuccess)
        return e;
    switch (a) {
    case hipDeviceAttributeMaxThreadsPerBlock: *v = p.maxThreadsPerBlock; break;
    case hipDeviceAttributeWarpSize: *v = p.warpSize; break;
    case hipDeviceAttributeMaxSharedMemoryPerBlock: *v = (int)p.sharedMemPerBlock; break;
    case hipDeviceAttributeMultiprocessorCount: *v = p.multiProcessorCount; break;
    case hipDeviceAttributeComputeCapabilityMajor: *v = p.major; break;
    case hipDeviceAttributeComputeCapabilityMinor: *v = p.minor; break;
    case hipDeviceAttributeSharedMemPerBlockOptin: *v = (int)p.sharedMemPerBlockOptin; break;
    case hipDeviceAttributeL2CacheSize: *v = p.l2CacheSize; break;
    default: return fail(hipErrorInvalidValue);
    }
    return hipSuccess;
}

hipError_t hipDeviceSynchronize(void)
{
    Guard g(g_mu);
    drain_all();
    return hipSuccess;
}

hipError_t hipMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    Guard g(g_mu);
    const size_t lim = mem_limit();
    if (free_bytes)
        *free_bytes = lim > g_mem_used ? lim - g_mem_used : 0;
    if (total_bytes)
        *total_bytes = lim;
    return hipSuccess;
}

hipError_t hipMalloc(void **p, size_t n)
{
    if (!p)
        return fail(hipErrorInvalidValue);
    *p = nullptr;
    if (n == 0)
        return hipSuccess;
    Guard g(g_mu);
    const size_t sz = (n + 255) & ~(size_t)255;
    if (sz < n || sz > mem_limit() || g_mem_used > mem_limit() - sz)
        return fail(hipErrorOutOfMemory);
    DevAlloc a = {n, nullptr, 0};
    void *m = nullptr;
    if (cfg().guard && g_dev.size() < 8192) {
        /* the buffer ends (256-byte aligned) right before a PROT_NONE page: an overrun faults */
        const size_t page = 4096;
        a.map_len = ((sz + page - 1) & ~(page - 1)) + page;
        a.map = mmap(nullptr, a.map_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (a.map == MAP_FAILED)
            return fail(hipErrorOutOfMemory);
        char *guard = (char *)a.map + a.map_len - page;
        mprotect(guard, page, PROT_NONE);
        m = guard - sz;
    } else {
        m = aligned_alloc(256, sz);
        if (!m)
            return fail(hipErrorOutOfMemory);
    }
    memset(m, 0xff, sz);  /* fresh device memory is garbage, here NaN everywhere */
    g_dev[(uintptr_t)m] = a;
    g_mem_used += sz;
    g_mem_peak = std::max(g_mem_peak, g_mem_used);
    *p = m;
    return hipSuccess;
}

hipError_t hipFree(void *p)
{
    if (!p)
        return hipSuccess;
    Guard g(g_mu);
    drain_all();  /* like cudaFree: waits for the device */
    auto it = g_dev.find((uintptr_t)p);
    if (it == g_dev.end())
        return fail_msg(hipErrorInvalidDevicePointer, "hipFree(%p): not a device allocation", p);
    g_mem_used -= (it->second.n + 255) & ~(size_t)255;
    if (it->second.map)
        munmap(it->second.map, it->second.map_len);
    else
        free(p);
    g_dev.erase(it);
    return hipSuccess;
}

hipError_t hipHostMalloc(void **p, size_t n, unsigned int flags)
{
    (void)flags;
    if (!p)
        return fail(hipErrorInvalidValue);
    *p = nullptr;
    if (n == 0)
        return hipSuccess;
    Guard g(g_mu);
    void *m = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
    if (!m)
        return fail(hipErrorOutOfMemory);
    g_pinned[(uintptr_t)m] = {n, true};
    *p = m;
    return hipSuccess;
}

hipError_t hipHostFree(void *p)
{
    if (!p)
        return hipSuccess;
    Guard g(g_mu);
    drain_all();
    auto it = g_pinned.find((uintptr_t)p);
    if (it == g_pinned.end() || !it->second.second)
        return fail_msg(hipErrorInvalidValue, "hipHostFree(%p): not from hipHostMalloc", p);
    g_pinned.erase(it);
    free(p);
    return hipSuccess;
}

hipError_t hipHostRegister(void *p, size_t n, unsigned int flags)
{
    (void)flags;
    if (!p || n == 0)
        return fail(hipErrorInvalidValue);
    Guard g(g_mu);
    const uintptr_t a = (uintptr_t)p;
    auto it = g_pinned.lower_bound(a);
    if (it != g_pinned.end() && it->first < a + n)
        return fail(hipErrorHostMemoryAlreadyRegistered);
    if (it != g_pinned.begin()) {
        --it;
        if (it->first + it->second.first > a)
            return fail(hipErrorHostMemoryAlreadyRegistered);
    }
    if (is_dev(p, 1))
        return fail(hipErrorInvalidValue);
    g_pinned[a] = {n, false};
    return hipSuccess;
}

hipError_t hipHostUnregister(void *p)
{
    Guard g(g_mu);
    auto it = g_pinned.find((uintptr_t)p);
    if (it == g_pinned.end() || it->second.second)
        return fail(hipErrorHostMemoryNotRegistered);
    drain_all();  /* pending copies may still read it */
    g_pinned.erase(it);
    return hipSuccess;
}

hipError_t hipMemcpyAsync(void *dst, const void *src, size_t n, hipMemcpyKind kind, hipStream_t s)
{
    Guard g(g_mu);
    return memcpy_async(dst, src, n, kind, s);
}

hipError_t hipMemcpy(void *dst, const void *src, size_t n, hipMemcpyKind kind)
{
    Guard g(g_mu);
    return memcpy_async(dst, src, n, kind, nullptr);  /* stream 0 runs at once, after the rest */
}

hipError_t hipMemsetAsync(void *dst, int v, size_t n, hipStream_t s)
{
    Guard g(g_mu);
    if (!stream_ok(s))
        return fail(hipErrorInvalidResourceHandle);
    if (n == 0)
        return hipSuccess;
    if (!is_dev(dst, n))
        return fail_msg(hipErrorInvalidValue, "memset of %zu bytes at %p: not device memory", n,
                        dst);
    enqueue(s, [dst, v, n] {
        memset(dst, v, n);
        count_copy(n);
    });
    return hipSuccess;
}

hipError_t hipMemset(void *dst, int v, size_t n) { return hipMemsetAsync(dst, v, n, nullptr); }

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

uint64_t fy_emu_warp_op(int op, uint64_t v, int arg)
{
    Worker *w = t_worker;
    fy_emu_fiber *f = w ? w->cur : nullptr;
    if (!f)
        die("warp operation (fy_shfl/fy_ballot/fy_syncwarp) outside a kernel");
    f->state = F_WARP;
    f->op = op;
    f->val = v;
    f->arg = arg;
    yield(w, f);
    return f->out;
}

int fy_emu_barrier(int op, int pred)
{
    Worker *w = t_worker;
    fy_emu_fiber *f = w ? w->cur : nullptr;
    if (!f)
        die("__syncthreads outside a kernel");
    f->state = F_BAR;
    f->op = op;
    f->val = (uint64_t)(pred != 0);
    yield(w, f);
    return (int)f->out;
}

/* ================================================================== fy_emu_ctl.h */

extern "C" {

void fy_emu_stats_get(struct fy_emu_stats *st)
{
    Guard g(g_mu);
    st->launches = g_stats.launches.load();
    st->blocks = g_stats.blocks.load();
    st->threads = g_stats.threads.load();
    st->barriers = g_stats.barriers.load();
    st->warp_ops = g_stats.warp_ops.load();
    st->copies = g_stats.copies.load();
    st->copy_bytes = g_stats.copy_bytes.load();
    st->mem_used = g_mem_used;
    st->mem_peak = g_mem_peak;
    st->mem_limit = mem_limit();
    st->pending = 0;
    for (fy_emu_stream *s : g_streams)
        st->pending += (int64_t)s->q.size();
}

void fy_emu_stats_reset(void)
{
    Guard g(g_mu);
    g_stats.launches = 0;
    g_stats.blocks = 0;
    g_stats.threads = 0;
    g_stats.barriers = 0;
    g_stats.warp_ops = 0;
    g_stats.copies = 0;
    g_stats.copy_bytes = 0;
    g_mem_peak = g_mem_used;
}

void fy_emu_set_mem_limit(size_t bytes)
{
    Guard g(g_mu);
    g_mem_limit = bytes ? std::max(bytes, g_mem_used) : std::max(default_mem_limit(), g_mem_used);
}

void fy_emu_set_workers(int n)
{
    Guard g(g_mu);
    if (n <= 0) {
        unsigned hc = std::thread::hardware_concurrency();
        n = (int)env_long("FY_EMU_WORKERS", hc ? (long)std::min(hc, 64u) : 1);
    }
    cfg().workers = std::max(n, 1);
}

void fy_emu_set_eager(int on)
{
    Guard g(g_mu);
    cfg().eager = on != 0;
}

void fy_emu_set_reverse(int on)
{
    Guard g(g_mu);
    cfg().reverse = on != 0;
}

int64_t fy_emu_pending(void)
{
    struct fy_emu_stats st;
    fy_emu_stats_get(&st);
    return st.pending;
}

int fy_emu_is_device_ptr(const void *p, size_t n)
{
    Guard g(g_mu);
    return is_dev(p, n);
}

float fy_emu_f16_to_f32(uint16_t h) { return fy_f16_to_f32(h); }
uint16_t fy_emu_f32_to_f16(float f) { return fy_f32_to_f16(f); }

}  // extern "C"

/* ================================================================== self-tests
 * Kernels in the dialect, run through the public runtime like any .hip file; driven by
 * tests/test_gpu_emu.c through fy_emu_selftest(). */

namespace {

int g_st_fail = 0;

#define ST_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "selftest: %s:%d: check failed: %s: ", __func__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            g_st_fail = 1;                                                                         \
        }                                                                                          \
    } while (0)
#define ST_HIP(call) ST_CHECK((call) == hipSuccess, "%s", #call)

/* geometry: every thread writes its coordinates; 3-D grid and block, odd sizes */
__global__ void st_index_kern(uint32_t *out)
{
    const uint64_t b = blockIdx.x + (uint64_t)gridDim.x * (blockIdx.y + (uint64_t)gridDim.y * blockIdx.z);
    const uint32_t t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const uint64_t g = b * blockDim.x * blockDim.y * blockDim.z + t;
    out[4 * g + 0] = threadIdx.x | threadIdx.y << 10 | threadIdx.z << 20;
    out[4 * g + 1] = blockIdx.x | blockIdx.y << 10 | blockIdx.z << 20;
    out[4 * g + 2] = blockDim.x | blockDim.y << 10 | blockDim.z << 20;
    out[4 * g + 3] = gridDim.x | gridDim.y << 10 | gridDim.z << 20;
}

void st_index()
{
    const dim3 grid(5, 3, 2);
    const dim3 block(7, 3, 2);
    const size_t nt = 5 * 3 * 2 * 7 * 3 * 2;
    std::vector<uint32_t> h(4 * nt, 0);
    uint32_t *d = nullptr;
    ST_HIP(hipMalloc(&d, h.size() * 4));
    FY_LAUNCH(st_index_kern, grid, block, 0, nullptr, d);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpy(h.data(), d, h.size() * 4, hipMemcpyDeviceToHost));
    for (size_t g = 0; g < nt; g++) {
        const size_t t = g % (7 * 3 * 2);
        const size_t b = g / (7 * 3 * 2);
        const uint32_t tid = (uint32_t)(t % 7 | t / 7 % 3 << 10 | t / 21 << 20);
        const uint32_t bid = (uint32_t)(b % 5 | b / 5 % 3 << 10 | b / 15 << 20);
        const uint32_t *o = &h[4 * g];
        if (o[0] != tid || o[1] != bid || o[2] != (7 | 3 << 10 | 2 << 20) ||
            o[3] != (5 | 3 << 10 | 2 << 20)) {
            ST_CHECK(false, "thread %zu: %x %x %x %x", g, o[0], o[1], o[2], o[3]);
            break;
        }
    }
    ST_HIP(hipFree(d));
}

/* block reduction through shared memory; a barrier between writing and reading a mirror */
__global__ __launch_bounds__(256) void st_barrier_kern(float *out, const float *x, int n)
{
    __shared__ float s[256];
    const int t = threadIdx.x;
    s[t] = x[blockIdx.x * n + t];
    __syncthreads();
    const float mirror = s[n - 1 - t];
    __syncthreads();
    for (int h = n / 2; h > 0; h >>= 1) {
        if (t < h)
            s[t] += s[t + h];
        __syncthreads();
    }
    out[blockIdx.x * (n + 1) + t] = mirror;
    if (t == 0)
        out[blockIdx.x * (n + 1) + n] = s[0];
    const int cnt = __syncthreads_count(t % 3 == 0);
    const int any = __syncthreads_or(t == n - 1);
    const int all = __syncthreads_and(t < n - 1);
    if (t == 5 && (cnt != (n + 2) / 3 || !any || all))
        out[blockIdx.x * (n + 1) + n] = -1.0f;
}

void st_barrier()
{
    const int n = 256;
    const int nb = 9;
    std::vector<float> x((size_t)(n * nb));
    std::vector<float> out((size_t)((n + 1) * nb));
    for (size_t i = 0; i < x.size(); i++)
        x[i] = (float)((i * 37) % 101);
    float *dx = nullptr;
    float *dout = nullptr;
    ST_HIP(hipMalloc(&dx, x.size() * 4));
    ST_HIP(hipMalloc(&dout, out.size() * 4));
    ST_HIP(hipMemcpy(dx, x.data(), x.size() * 4, hipMemcpyHostToDevice));
    FY_LAUNCH(st_barrier_kern, nb, n, 0, nullptr, dout, dx, n);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpy(out.data(), dout, out.size() * 4, hipMemcpyDeviceToHost));
    for (int b = 0; b < nb; b++) {
        float sum = 0;
        for (int t = 0; t < n; t++) {
            sum += x[(size_t)(b * n + t)];
            ST_CHECK(out[(size_t)(b * (n + 1) + t)] == x[(size_t)(b * n + n - 1 - t)],
                     "block %d thread %d", b, t);
        }
        ST_CHECK(out[(size_t)(b * (n + 1) + n)] == sum, "block %d: sum %g, want %g", b,
                 out[(size_t)(b * (n + 1) + n)], sum);
    }
    ST_HIP(hipFree(dx));
    ST_HIP(hipFree(dout));
}

/* shuffles of float, int, double; broadcast, rotation, ballot, syncwarp through shared memory */
__global__ __launch_bounds__(128) void st_shfl_kern(int *out)
{
    __shared__ int s[128];
    const int t = threadIdx.x;
    const int lane = t % FY_WARP;
    float f = (float)(t + 1);
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        f += fy_shfl_xor(f, m);
    int i = t * 3;
    i = fy_shfl(i, (lane + 1) % FY_WARP);
    const double d = fy_shfl((double)t * 0.5, 3);
    const int64_t q = fy_shfl_xor((int64_t)t << 33, 1);
    const fy_lanemask b = fy_ballot(lane % 3 == 1);
    s[t] = t * 7;
    fy_syncwarp();
    const int nb = s[(t / FY_WARP) * FY_WARP + (lane + 5) % FY_WARP];
    out[6 * t + 0] = (int)f;
    out[6 * t + 1] = i;
    out[6 * t + 2] = (int)(d * 2);
    out[6 * t + 3] = (int)(q >> 33);
    out[6 * t + 4] = (int)(b == 0 ? -1 : __popcll((unsigned long long)b));
    out[6 * t + 5] = nb;
}

void st_shfl()
{
    const int n = 128;
    std::vector<int> out((size_t)(6 * n));
    int *d = nullptr;
    ST_HIP(hipMalloc(&d, out.size() * 4));
    FY_LAUNCH(st_shfl_kern, 1, n, 0, nullptr, d);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpy(out.data(), d, out.size() * 4, hipMemcpyDeviceToHost));
    int ballot_bits = 0;
    for (int l = 0; l < kWarp; l++)
        ballot_bits += l % 3 == 1;
    for (int t = 0; t < n; t++) {
        const int w0 = t / kWarp * kWarp;
        const int lane = t % kWarp;
        const int sum = (w0 + 1 + w0 + kWarp) * kWarp / 2;
        const int *o = &out[(size_t)(6 * t)];
        ST_CHECK(o[0] == sum, "thread %d: xor sum %d, want %d", t, o[0], sum);
        ST_CHECK(o[1] == 3 * (w0 + (lane + 1) % kWarp), "thread %d: rotate %d", t, o[1]);
        ST_CHECK(o[2] == w0 + 3, "thread %d: broadcast %d", t, o[2]);
        ST_CHECK(o[3] == (t ^ 1), "thread %d: int64 xor %d", t, o[3]);
        ST_CHECK(o[4] == ballot_bits, "thread %d: ballot popcount %d, want %d", t, o[4], ballot_bits);
        ST_CHECK(o[5] == 7 * (w0 + (lane + 5) % kWarp), "thread %d: syncwarp %d", t, o[5]);
    }
    ST_HIP(hipFree(d));
}

/* dynamic shared memory: beyond 48 KiB only after hipFuncSetAttribute; a template kernel */
template <int K> __global__ __launch_bounds__(64) void st_dyn_kern(float *out, int words)
{
    FY_DYN_SMEM(float, sm);
    for (int i = threadIdx.x; i < words; i += blockDim.x)
        sm[i] = (float)(i * K + (int)blockIdx.x);
    __syncthreads();
    float s = 0;
    for (int i = threadIdx.x; i < words; i += blockDim.x)
        s += sm[words - 1 - i];
    for (int m = FY_WARP / 2; m > 0; m >>= 1)
        s += fy_shfl_xor(s, m);
    if (threadIdx.x % FY_WARP == 0)
        atomicAdd(&out[blockIdx.x], s);
}

void st_dynsmem()
{
    const int nb = 3;
    float *d = nullptr;
    ST_HIP(hipMalloc(&d, nb * 4));
    for (int words : {100, 60 * 256}) {  /* 400 bytes, 60 KiB */
        ST_HIP(hipMemset(d, 0, nb * 4));
        auto *k = &st_dyn_kern<3>;
        if (words * 4 > 48 * 1024) {
            FY_LAUNCH(k, nb, 64, (size_t)words * 4, nullptr, d, words);
            ST_CHECK(hipGetLastError() == hipErrorInvalidConfiguration, "60 KiB without attribute");
            ST_CHECK(hipGetLastError() == hipSuccess, "the error is not cleared");
            ST_HIP(hipFuncSetAttribute(k, hipFuncAttributeMaxDynamicSharedMemorySize, words * 4));
            ST_CHECK(hipFuncSetAttribute(k, hipFuncAttributeMaxDynamicSharedMemorySize, 1 << 20) ==
                         hipErrorInvalidValue, "1 MiB of shared memory accepted");
            (void)hipGetLastError();
        }
        FY_LAUNCH(k, nb, 64, (size_t)words * 4, nullptr, d, words);
        ST_HIP(hipGetLastError());
        float h[nb];
        ST_HIP(hipMemcpy(h, d, sizeof(h), hipMemcpyDeviceToHost));
        if (words * 4 > 48 * 1024)  /* back to the default for the next run */
            ST_HIP(hipFuncSetAttribute(k, hipFuncAttributeMaxDynamicSharedMemorySize, 0));
        for (int b = 0; b < nb; b++) {
            const double want = 3.0 * words * (words - 1) / 2 + (double)b * words;
            ST_CHECK(fabs(h[b] - want) <= 1e-6 * want, "words %d block %d: %g, want %g", words, b,
                     h[b], want);
        }
    }
    ST_HIP(hipFree(d));
}

/* atomics from many blocks on several OS threads */
__global__ __launch_bounds__(64) void st_atomic_kern(int *cnt, float *fsum, unsigned *mx, int *mn)
{
    const int g = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(cnt, 1);
    atomicAdd(fsum, 0.5f);
    atomicMax(mx, (unsigned)g * 7u % 1009u);
    atomicMin(mn, 5000 - g);
}

void st_atomics()
{
    const int nb = 97;
    int *d = nullptr;
    ST_HIP(hipMalloc(&d, 16));
    const int init[4] = {0, 0, 0, 1 << 30};
    ST_HIP(hipMemcpy(d, init, 16, hipMemcpyHostToDevice));
    FY_LAUNCH(st_atomic_kern, nb, 64, 0, nullptr, d, (float *)(d + 1), (unsigned *)(d + 2), d + 3);
    ST_HIP(hipGetLastError());
    int h[4];
    ST_HIP(hipMemcpy(h, d, 16, hipMemcpyDeviceToHost));
    float f;
    memcpy(&f, &h[1], 4);
    ST_CHECK(h[0] == nb * 64, "count %d", h[0]);
    ST_CHECK(f == nb * 64 * 0.5f, "float sum %g", f);
    ST_CHECK(h[2] == 1008, "max %d", h[2]);
    ST_CHECK(h[3] == 5000 - (nb * 64 - 1), "min %d", h[3]);
    ST_HIP(hipFree(d));
}

__global__ void st_fill_kern(float *y, const float *x, float add, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = x[i] + add;
}

/* lazy streams: nothing runs before a sync; pinned sources are read late, pageable ones early */
void st_lazy()
{
    const bool eager = cfg().eager;
    cfg().eager = false;
    const int n = 1000;
    float *hp = nullptr;
    std::vector<float> pageable((size_t)n, 1.0f);
    std::vector<float> out((size_t)n, -7.0f);
    float *dx = nullptr;
    float *dy = nullptr;
    hipStream_t s = nullptr;
    ST_HIP(hipStreamCreateWithFlags(&s, hipStreamNonBlocking));
    ST_HIP(hipHostMalloc(&hp, n * 4, hipHostMallocDefault));
    ST_HIP(hipMalloc(&dx, n * 4));
    ST_HIP(hipMalloc(&dy, n * 4));
    for (int i = 0; i < n; i++)
        hp[i] = (float)i;
    ST_HIP(hipMemcpyAsync(dx, hp, n * 4, hipMemcpyHostToDevice, s));
    FY_LAUNCH(st_fill_kern, (n + 255) / 256, 256, 0, s, dy, dx, 0.5f, n);
    ST_HIP(hipGetLastError());
    ST_HIP(hipMemcpyAsync(out.data(), dy, n * 4, hipMemcpyDeviceToHost, s));
    ST_CHECK(fy_emu_pending() >= 3, "pending %lld", (long long)fy_emu_pending());
    ST_CHECK(out[0] == -7.0f, "a D2H copy ran before any sync");
    hp[0] = 100.0f;  /* pinned: the copy has not read it yet */
    ST_HIP(hipMemcpyAsync(dx, pageable.data(), n * 4, hipMemcpyHostToDevice, s));
    pageable[1] = 200.0f;  /* pageable: staged at the call, so this is not seen */
    FY_LAUNCH(st_fill_kern, (n + 255) / 256, 256, 0, s, dy + n / 2, dx, 0.0f, n / 2);
    ST_CHECK(hipStreamQuery(s) == hipErrorNotReady, "query of pending work");
    ST_CHECK(hipStreamQuery(s) == hipSuccess, "query after the work ran");
    ST_HIP(hipMemcpyAsync(out.data(), dy, n * 4, hipMemcpyDeviceToHost, s));
    ST_HIP(hipStreamSynchronize(s));
    ST_CHECK(fy_emu_pending() == 0, "pending %lld after sync", (long long)fy_emu_pending());
    for (int i = 0; i < n; i++) {
        const float want = i < n / 2 ? (i == 0 ? 100.5f : (float)i + 0.5f) : 1.0f;
        if (out[(size_t)i] != want) {
            ST_CHECK(false, "out[%d] = %g, want %g", i, out[(size_t)i], want);
            break;
        }
    }
    ST_HIP(hipFree(dx));
    ST_HIP(hipFree(dy));
    ST_HIP(hipHostFree(hp));
    ST_HIP(hipStreamDestroy(s));
    cfg().eager = eager;
}

/* events order streams: s2 waits for s1's kernel; syncing s2 alone runs s1 up to the record */
void st_events()
{
    const bool eager = cfg().eager;
    cfg().eager = false;
    const int n = 512;
    hipStream_t s1 = nullptr;
    hipStream_t s2 = nullptr;
    hipEvent_t e = nullptr;
    hipEvent_t t0 = nullptr;
    float *dx = nullptr;
    float *dy = nullptr;
    std::vector<float> h((size_t)n, 3.0f);
    std::vector<float> out((size_t)n, 0.0f);
    ST_HIP(hipStreamCreateWithFlags(&s1, hipStreamNonBlocking));
    ST_HIP(hipStreamCreate(&s2));
    ST_HIP(hipEventCreateWithFlags(&e, hipEventDisableTiming));
    ST_HIP(hipEventCreate(&t0));
    ST_HIP(hipMalloc(&dx, n * 4));
    ST_HIP(hipMalloc(&dy, n * 4));
    ST_HIP(hipEventRecord(t0, s1));
    ST_HIP(hipMemcpyAsync(dx, h.data(), n * 4, hipMemcpyHostToDevice, s1));
    FY_LAUNCH(st_fill_kern, 2, 256, 0, s1, dx, dx, 1.0f, n);  /* dx = 4 */
    ST_HIP(hipEventRecord(e, s1));
    FY_LAUNCH(st_fill_kern, 2, 256, 0, s1, dx, dx, 100.0f, n);  /* after the event: not awaited */
    ST_HIP(hipStreamWaitEvent(s2, e, 0));
    FY_LAUNCH(st_fill_kern, 2, 256, 0, s2, dy, dx, 1.0f, n);  /* dy = 5 */
    ST_HIP(hipMemcpyAsync(out.data(), dy, n * 4, hipMemcpyDeviceToHost, s2));
    ST_HIP(hipStreamSynchronize(s2));
    ST_CHECK(out[0] == 5.0f && out[(size_t)n - 1] == 5.0f, "out %g %g, want 5", out[0],
             out[(size_t)n - 1]);
    ST_CHECK(fy_emu_pending() == 1, "s1's last kernel should still be pending: %lld",
             (long long)fy_emu_pending());
    ST_HIP(hipEventSynchronize(e));
    ST_CHECK(hipEventQuery(e) == hipSuccess, "query of a completed event");
    float ms = -1;
    ST_CHECK(hipEventElapsedTime(&ms, t0, e) == hipErrorInvalidResourceHandle, "timing disabled");
    ST_HIP(hipEventRecord(e, s1));
    ST_CHECK(hipEventQuery(e) == hipErrorNotReady, "query of a pending event");
    ST_CHECK(hipEventQuery(e) == hipSuccess, "query after it ran");
    hipEvent_t t1 = nullptr;
    ST_HIP(hipEventCreate(&t1));
    ST_HIP(hipEventRecord(t1, s1));
    ST_CHECK(hipEventElapsedTime(&ms, t0, t1) == hipErrorNotReady, "elapsed time of a pending event");
    (void)hipGetLastError();
    ST_HIP(hipEventSynchronize(t1));
    ST_HIP(hipEventElapsedTime(&ms, t0, t1));
    ST_CHECK(ms >= 0.0f, "elapsed %g ms", ms);
    ST_HIP(hipMemcpy(out.data(), dx, n * 4, hipMemcpyDeviceToHost));
    ST_CHECK(out[7] == 104.0f, "dx %g, want 104", out[7]);
    ST_HIP(hipEventDestroy(e));
    ST_HIP(hipEventDestroy(t0));
    ST_HIP(hipEventDestroy(t1));
    ST_HIP(hipStreamDestroy(s1));
    ST_HIP(hipStreamDestroy(s2));
    ST_HIP(hipFree(dx));
    ST_HIP(hipFree(dy));
    cfg().eager = eager;
}

/* errors: bad launches, memory limit, wrong copy directions, handles, host registration */
void st_errors()
{
    float *d = nullptr;
    float h[4] = {0, 0, 0, 0};
    ST_HIP(hipMalloc(&d, 16));
    FY_LAUNCH(st_fill_kern, 1, 2048, 0, nullptr, d, d, 0.0f, 4);
    ST_CHECK(hipPeekAtLastError() == hipErrorInvalidConfiguration, "2048 threads");
    ST_CHECK(hipGetLastError() == hipErrorInvalidConfiguration, "2048 threads");
    ST_CHECK(hipGetLastError() == hipSuccess, "the error stays");
    FY_LAUNCH(st_fill_kern, 0, 64, 0, nullptr, d, d, 0.0f, 4);
    ST_CHECK(hipGetLastError() == hipErrorInvalidConfiguration, "empty grid");
    FY_LAUNCH(st_fill_kern, dim3(1, 70000), 64, 0, nullptr, d, d, 0.0f, 4);
    ST_CHECK(hipGetLastError() == hipErrorInvalidConfiguration, "grid.y 70000");
    FY_LAUNCH(st_fill_kern, 1, 64, 0, nullptr, d, h, 0.0f, 4);
    ST_CHECK(hipGetLastError() == hipErrorInvalidValue, "host pointer argument");
    FY_LAUNCH(st_fill_kern, 1, 64, 0, nullptr, d + 4, nullptr, 0.0f, 0);  /* one past the end */
    ST_HIP(hipGetLastError());
    ST_CHECK(hipMemcpy(h, d, 32, hipMemcpyDeviceToHost) == hipErrorInvalidValue, "overrun");
    ST_CHECK(hipMemcpy(d, h, 16, hipMemcpyDeviceToHost) == hipErrorInvalidValue, "direction");
    ST_CHECK(hipMemcpy(h, h + 2, 8, hipMemcpyHostToDevice) == hipErrorInvalidValue, "host dst");
    ST_CHECK(hipMemsetAsync(h, 0, 16, nullptr) == hipErrorInvalidValue, "memset of host memory");
    ST_CHECK(hipFree(h) == hipErrorInvalidDevicePointer, "free of host memory");
    ST_CHECK(hipFree(d + 1) == hipErrorInvalidDevicePointer, "free inside a buffer");
    ST_CHECK(fy_emu_is_device_ptr(d, 16) && !fy_emu_is_device_ptr(d, 17) &&
                 !fy_emu_is_device_ptr(h, 4), "is_device_ptr");
    uint32_t bits = 0;
    ST_HIP(hipMemcpy(&bits, d, 4, hipMemcpyDeviceToHost));
    ST_CHECK(bits == 0xffffffffu, "fresh device memory is 0x%08x, want the 0xff poison", bits);

    size_t free0 = 0;
    size_t total = 0;
    ST_HIP(hipMemGetInfo(&free0, &total));
    const size_t limit = total;
    fy_emu_set_mem_limit(total - free0 + (1 << 20));  /* 1 MiB left */
    void *big = nullptr;
    ST_CHECK(hipMalloc(&big, 2 << 20) == hipErrorOutOfMemory && !big, "2 MiB past the limit");
    ST_CHECK(hipGetLastError() == hipErrorOutOfMemory, "last error after OOM");
    ST_HIP(hipMalloc(&big, 1000000));
    size_t free1 = 0;
    ST_HIP(hipMemGetInfo(&free1, &total));
    ST_CHECK(free1 < (1 << 20) - 1000000 + 256, "free %zu after allocating", free1);
    ST_HIP(hipFree(big));
    fy_emu_set_mem_limit(limit);

    hipStream_t s = nullptr;
    ST_HIP(hipStreamCreate(&s));
    ST_HIP(hipStreamDestroy(s));
    ST_CHECK(hipStreamSynchronize(s) == hipErrorInvalidResourceHandle, "destroyed stream");
    FY_LAUNCH(st_fill_kern, 1, 64, 0, s, d, d, 0.0f, 4);
    ST_CHECK(hipGetLastError() == hipErrorInvalidResourceHandle, "launch on a destroyed stream");

    std::vector<char> buf(8192);
    ST_HIP(hipHostRegister(buf.data(), 4096, hipHostRegisterDefault));
    ST_CHECK(hipHostRegister(buf.data() + 100, 10, hipHostRegisterDefault) ==
                 hipErrorHostMemoryAlreadyRegistered, "overlapping registration");
    ST_HIP(hipHostUnregister(buf.data()));
    ST_CHECK(hipHostUnregister(buf.data()) == hipErrorHostMemoryNotRegistered, "double unregister");
    ST_HIP(hipFree(d));
    (void)hipGetLastError();
    int n = 0;
    ST_HIP(hipGetDeviceCount(&n));
    hipDeviceProp_t p;
    ST_HIP(hipGetDeviceProperties(&p, 0));
    ST_CHECK(p.warpSize == FY_WARP && !strcmp(p.gcnArchName, "emu"), "properties");
    ST_CHECK(hipGetDeviceProperties(&p, n) == hipErrorInvalidDevice, "device %d", n);
    int sms = 0;
    ST_HIP(hipDeviceGetAttribute(&sms, hipDeviceAttributeMultiprocessorCount, 0));
    ST_CHECK(sms == p.multiProcessorCount, "sm count");
    (void)hipGetLastError();
}

/* ---- kernels that must abort ---- */

__global__ void st_abort_barrier_kern(float *x)
{
    if (threadIdx.x == 0)
        return;  /* the bug: an early return before a barrier */
    x[threadIdx.x] = 1.0f;
    __syncthreads();
}

__global__ void st_abort_shfl_kern(float *x)
{
    float v = x[threadIdx.x];
    if (threadIdx.x % FY_WARP < FY_WARP / 2)
        v = fy_shfl_xor(v, 1);  /* half a warp */
    x[threadIdx.x] = v;
}

__global__ void st_abort_mixed_kern(float *x)
{
    if (threadIdx.x % 2)
        fy_syncwarp();
    else
        (void)fy_ballot(x[threadIdx.x] > 0.0f);
}

__global__ void st_abort_partial_kern(float *x)
{
    x[threadIdx.x] = fy_shfl_xor(x[threadIdx.x], 1);  /* block of 48: the second warp is partial */
}

__global__ void st_abort_overrun_kern(float *x)
{
    x[threadIdx.x] += x[64 + threadIdx.x];  /* past the end of a 256-byte buffer: the guard page */
}

void st_abort(void (*k)(float *), int threads)
{
    float *d = nullptr;
    ST_HIP(hipMalloc(&d, 64 * 4));
    ST_HIP(hipMemset(d, 0, 64 * 4));
    FY_LAUNCH(k, 2, threads, 0, nullptr, d);
    ST_HIP(hipDeviceSynchronize());
    fprintf(stderr, "selftest: the divergent kernel did not abort\n");
    g_st_fail = 1;
}
void st_abort_barrier() { st_abort(st_abort_barrier_kern, 64); }
void st_abort_shfl() { st_abort(st_abort_shfl_kern, 64); }
void st_abort_mixed() { st_abort(st_abort_mixed_kern, 64); }
void st_abort_partial() { st_abort(st_abort_partial_kern, 48); }
void st_abort_overrun() { st_abort(st_abort_overrun_kern, 64); }

struct SelfTest {
    const char *name;
    void (*fn)();
};
const SelfTest kSelfTests[] = {
    {"index", st_index},
    {"barrier", st_barrier},
    {"shfl", st_shfl},
    {"dynsmem", st_dynsmem},
    {"atomics", st_atomics},
    {"lazy", st_lazy},
    {"events", st_events},
    {"errors", st_errors},
    {"abort_barrier", st_abort_barrier},
    {"abort_shfl", st_abort_shfl},
    {"abort_mixed", st_abort_mixed},
    {"abort_partial", st_abort_partial},
    {"abort_overrun", st_abort_overrun},
};

}  // namespace

extern "C" {

const char *fy_emu_selftest_name(int i)
{
    return i >= 0 && (size_t)i < sizeof(kSelfTests) / sizeof(kSelfTests[0]) ? kSelfTests[i].name
                                                                            : nullptr;
}

int fy_emu_selftest(const char *name)
{
    for (const SelfTest &t : kSelfTests) {
        if (strcmp(t.name, name))
            continue;
        g_st_fail = 0;
        t.fn();
        return g_st_fail;
    }
    return -1;
}

}  // extern "C"
