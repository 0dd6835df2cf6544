/* The CPU emulator: fibers (one per GPU thread, switched on barriers and warp operations), the
 * block scheduler that runs a block's fibers warp by warp and resolves their synchronisation,
 * and the worker pool of OS threads that share a launch's blocks. */
#include "emu_priv.h"

#include <stdlib.h>
#include <sys/mman.h>

#include <algorithm>
#include <condition_variable>
#include <thread>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

using namespace fy_emu_priv;

namespace {

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

}  // namespace

/* an asynchronous copy started and not yet made (fy_emu_async_copy) */
struct fy_emu_async_rec {
    void *dst;
    const void *src;
    uint32_t n;
    uint32_t group; /* the fiber's commit count when it started: its group */
};

struct fy_emu_fiber : fy_emu_fiber_pub {
    std::vector<fy_emu_async_rec> async; /* started, not yet made, oldest first */
    uint32_t async_groups;               /* groups committed (fy_emu_async_commit) */
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
/* make f's asynchronous copies of the groups before `upto` (all of them with UINT32_MAX) */
void async_complete(fy_emu_fiber *f, uint32_t upto)
{
    size_t keep = 0;
    for (const fy_emu_async_rec &c : f->async) {
        if (c.group < upto)
            memcpy(c.dst, c.src, c.n);
        else
            f->async[keep++] = c;
    }
    f->async.resize(keep);
}

void fiber_main()
{
    Worker *w = t_worker;
    fy_emu_fiber *f = w->cur;
    for (;;) {
        w->launch->task->run();
        async_complete(f, UINT32_MAX); /* they land, waited for or not */
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
        f.async.clear();
        f.async_groups = 0;
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

}  // namespace

void fy_emu_priv::run_launch(Launch *L)
{
    if (cfg().trace)
        fprintf(stderr, "fy_emu: launch %s grid (%u, %u, %u) block %u\n", L->name, L->grid.x,
                L->grid.y, L->grid.z, L->block.x * L->block.y * L->block.z);
    L->next = 0; /* a graph runs its launches again */
    g_pool->run(L, cfg().workers);
    g_stats.launches.fetch_add(1, std::memory_order_relaxed);
}

/* ================================================================== kernel side */

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

void fy_emu_async_copy(void *dst, const void *src, size_t n)
{
    Worker *w = t_worker;
    fy_emu_fiber *f = w ? w->cur : nullptr;
    if (!f)
        die("fy_async_copy outside a kernel");
    if (n == 0 || (n & (n - 1)) || ((uintptr_t)dst | (uintptr_t)src) % n)
        die("kernel %s: asynchronous copy of %zu bytes from %p to %p: the addresses must be "
            "aligned to the size (a power of two)", w->launch->name, n, src, dst);
    f->async.push_back(fy_emu_async_rec{dst, src, (uint32_t)n, f->async_groups});
    g_stats.async_copies.fetch_add(1, std::memory_order_relaxed);
}

void fy_emu_async_commit(void)
{
    Worker *w = t_worker;
    fy_emu_fiber *f = w ? w->cur : nullptr;
    if (!f)
        die("fy_async_commit outside a kernel");
    f->async_groups++;
}

void fy_emu_async_wait(int pending)
{
    Worker *w = t_worker;
    fy_emu_fiber *f = w ? w->cur : nullptr;
    if (!f)
        die("fy_async_wait outside a kernel");
    if (pending < 0 || (uint32_t)pending >= f->async_groups)
        return; /* nothing committed before the `pending` most recent groups */
    const size_t before = f->async.size();
    async_complete(f, f->async_groups - (uint32_t)pending);
    if (f->async.size() < before)
        g_stats.async_waits.fetch_add(1, std::memory_order_relaxed);
}
