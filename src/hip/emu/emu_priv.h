/* Internals of the CPU emulator shared by its files (not for kernels or C callers):
 *   emu.cc      configuration, errors, device queries, fy_emu_ctl.h
 *   sched.cc    fibers, block scheduler, worker pool
 *   memory.cc   device and pinned host memory, copies, memsets
 *   stream.cc   streams, events, kernel launches
 *   selftest.cc self-test kernels (fy_emu_selftest) */
#ifndef FY_EMU_PRIV_H
#define FY_EMU_PRIV_H

#include "fy_emu.h"

#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

namespace fy_emu_priv {

/* ================================================================== configuration (emu.cc) */

constexpr int kWarp = FY_EMU_WARP;
constexpr int kMaxThreads = 1024;
constexpr size_t kSmemDefault = 48 * 1024;  /* dynamic smem without hipFuncSetAttribute */
constexpr size_t kSmemOptin = 64 * 1024;    /* the most any kernel may ask for (AMD's LDS) */

long env_long(const char *name, long def);
[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct Config {
    int workers;
    bool eager;
    bool reverse;
    size_t stack_bytes;
    int devices;
    int sms;
    bool trace; /* FY_EMU_TRACE=1: each launch's kernel and grid on stderr as it runs */
    bool guard;
};
Config &cfg();

struct Stats {
    std::atomic<uint64_t> launches{0}, blocks{0}, threads{0}, barriers{0}, warp_ops{0}, copies{0},
        copy_bytes{0};
    /* happens-before analysis (stream.cc): ops concurrent with one of the other kind */
    std::atomic<uint64_t> copies_overlappable{0}, kernels_overlappable{0};
    /* hipHostRegister of private file mappings (memory.cc: what a real pin would copy) */
    std::atomic<uint64_t> pin_cow_bytes{0};
    /* times the host waited for the device (stream.cc's host_waited) */
    std::atomic<uint64_t> host_syncs{0};
    /* kernel launches the host made (a graph's replayed kernels are not among them), graphs
     * launched */
    std::atomic<uint64_t> launch_calls{0}, graph_launches{0};
    /* kernels' asynchronous copies started, and waits that completed some (sched.cc) */
    std::atomic<uint64_t> async_copies{0}, async_waits{0};
};
extern Stats g_stats;

/* ================================================================== runtime state */

extern std::recursive_mutex g_mu;  /* guards everything below and the hip* calls */
typedef std::lock_guard<std::recursive_mutex> Guard;

/* set the calling thread's last error (hipGetLastError); fail_msg prints the reason first */
hipError_t fail(hipError_t e);
hipError_t fail_msg(hipError_t e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ================================================================== kernel launches (sched.cc) */

struct Launch {
    std::unique_ptr<fy_emu_task> task;
    const char *name;
    dim3 grid, block;
    size_t smem;
    int nthreads;
    uint64_t nblocks;
    std::atomic<uint64_t> next{0};
};

/* run all blocks of L on the worker pool; returns when they are done */
void run_launch(Launch *L);

/* ================================================================== memory (memory.cc) */

extern size_t g_mem_used;
extern size_t g_mem_peak;
extern size_t g_mem_limit;  /* 0: not set yet (mem_limit() picks the default) */
size_t default_mem_limit();
size_t mem_limit();
bool is_dev(const void *p, size_t n);     /* [p, p + n) inside one device allocation */
bool is_pinned(const void *p, size_t n);  /* [p, p + n) inside one pinned host range */

/* ================================================================== streams (stream.cc) */

/* Happens-before between stream operations, for fy_emu_stats' *_overlappable (what a GPU could
 * run concurrently, whatever order the emulator runs it in). Each stream has an id (stream 0: 0;
 * the others 1, 2, ... never reused) and a vector clock indexed by id: an op enqueued on S takes
 * seq = ++clock_S[S] and the op's clock is clock_S at that point. hipEventRecord stores the
 * recording stream's clock in the event, hipStreamWaitEvent joins it into the waiting stream's
 * clock; stream 0 joins every clock both ways; a host synchronisation joins what the host waited
 * for into every stream's clock (and into the clock new streams start from). Op A (stream i, seq
 * a) happens before op B iff B's clock[i] >= a; ops of different streams that are not ordered
 * either way are concurrent. */
enum class OpKind : uint8_t { other, kernel, copy };  /* copy: device copies and memsets */
typedef std::vector<uint64_t> VClock;  /* missing entries are 0 */

struct Op {
    uint64_t seq;
    OpKind kind;
    std::function<void()> fn;
};

struct EventRec {
    fy_emu_stream *s = nullptr;  /* valid while !done (destroying a stream drains it) */
    uint64_t seq = 0;
    bool done = false;
    double t_ms = 0;
    VClock clock;  /* the recording stream's clock, the record included */
};

}  // namespace fy_emu_priv

struct fy_emu_graph {
    std::vector<std::pair<fy_emu_priv::OpKind, std::function<void()>>> ops;
};

struct fy_emu_stream {
    std::deque<fy_emu_priv::Op> q;
    fy_emu_graph *capture = nullptr; /* recording: enqueue appends here instead */
    uint64_t enq = 0;
    uint64_t done = 0;
    unsigned flags = 0;
    uint32_t id = 0;               /* index in vector clocks; 0 is stream 0 */
    fy_emu_priv::VClock clock;     /* clock[id] == enq */
};

struct fy_emu_event {
    std::shared_ptr<fy_emu_priv::EventRec> rec;  /* the last record; null before the first */
    unsigned flags = 0;
    int queried = 0;
};

namespace fy_emu_priv {

extern std::unordered_set<fy_emu_stream *> g_streams;  /* all but stream 0 */

bool stream_ok(fy_emu_stream *s);
void drain(fy_emu_stream *s, uint64_t upto);  /* run s's operations up to sequence number upto */
void drain_all();
/* queue fn on s; stream 0 and eager mode run it at once */
void enqueue(fy_emu_stream *s, OpKind kind, std::function<void()> fn);
/* the host waits for the whole device (drain_all, then orders later work after everything) */
void device_synchronize();
/* forget the ops enqueued so far for the *_overlappable counters, which go to 0 */
void overlap_reset();

}  // namespace fy_emu_priv

#endif
