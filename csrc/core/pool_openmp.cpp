// The OpenMP build of the parallel layer (CMake option NNCORE_OPENMP=ON; core/pool.cpp is
// the default build). Same contract as the pool (core/parallel.h): the same tasks taken
// the same way (core/schedule.h: one range per team member, then stealing) by every
// member of an OpenMP team, the caller being member 0, so the bits are the pool's. One
// job at a time: a call that finds a job running (another Python thread's, or a nested
// call from inside a task) runs its items alone on its own thread, as with the pool. Between calls the team's threads
// wait as the OpenMP runtime says (OMP_WAIT_POLICY, GOMP_SPINCOUNT for libgomp, read when
// the process starts), not as set_spin_us says.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>

#include "core/schedule.h"

#if defined(__linux__)
#include <pthread.h>
#endif

namespace nncore {
namespace detail {
namespace {

thread_local int tl_slot = 0;
thread_local int tl_hot = 0;  // HotPool guards the thread holds
std::atomic<int> g_hot{0};
std::atomic<std::int64_t> g_hot_guards{0};
std::atomic<int> g_debug{0};
std::atomic<bool> g_busy{false};
std::atomic<int> g_workers{0};  // the largest team seen, less its caller
std::atomic<std::int64_t> g_jobs{0}, g_serial{0};
// In a child after fork(): libgomp's threads of the parent's team are gone but its team
// is not (a parallel region would wait for them forever), so the child runs alone.
std::atomic<bool> g_forked{false};

struct Job {
    TaskFn fn = nullptr;
    const void* ctx = nullptr;
    index_t items = 0, tasks = 0;
    int mode = 0;
    std::uint64_t seed = 0;
    std::uint32_t gen = 0;
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
};

// The ranges of the one job that runs at a time (g_busy), and its generation.
TaskRanges g_ranges;
std::uint32_t g_gen = 0;

// Takes tasks of `job` until none is left; never throws (an exception leaving an OpenMP
// region ends the process): the first one is kept for the caller.
void take_tasks(Job& job, int slot) noexcept {
    if (job.mode == 2 && slot > 0) return;  // caller only
    for (;;) {
        index_t t = g_ranges.take(job.gen, slot);
        if (t < 0) return;
        if (job.failed.load(std::memory_order_relaxed)) continue;
        try {
            t = debug_task(t, job.tasks, job.mode, job.seed, slot);
            job.fn(job.ctx, task_begin(t, job.tasks, job.items),
                   task_begin(t + 1, job.tasks, job.items));
        } catch (...) {
            std::lock_guard<std::mutex> lock(job.error_mutex);
            if (!job.failed.load()) job.error = std::current_exception();
            job.failed.store(true);
        }
    }
}

void run_alone(index_t n, TaskFn fn, const void* ctx) { run_as_caller(n, fn, ctx, tl_slot); }

#if defined(__linux__)
[[maybe_unused]] const int g_atfork = pthread_atfork(nullptr, nullptr, [] {
    if (g_workers.load() > 0) g_forked.store(true);
});
#endif

}  // namespace

void run_tasks(index_t n, int nthreads, TaskFn fn, const void* ctx) {
    if (n <= 0) return;
    if (nthreads <= 1 || n <= 1) return run_alone(n, fn, ctx);
    bool expected = false;
    if (g_forked.load(std::memory_order_relaxed) || omp_in_parallel() ||
        !g_busy.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
        g_serial.fetch_add(1, std::memory_order_relaxed);
        return run_alone(n, fn, ctx);
    }
    struct Release {
        ~Release() { g_busy.store(false, std::memory_order_release); }
    } release;

    Job job;
    job.fn = fn;
    job.ctx = ctx;
    job.items = n;
    job.tasks = task_count(n, nthreads);
    job.mode = g_debug.load(std::memory_order_relaxed);
    if (job.mode == 1) job.seed = next_debug_seed();
    g_jobs.fetch_add(1, std::memory_order_relaxed);
    const int team = static_cast<int>(std::min<index_t>(nthreads, job.tasks));
    job.gen = ++g_gen;
    g_ranges.reset(job.gen, job.tasks, team);
#pragma omp parallel num_threads(team)
    {
        const int slot = omp_get_thread_num();
        if (slot == 0) {
            const int helpers = omp_get_num_threads() - 1;
            if (helpers > g_workers.load(std::memory_order_relaxed)) g_workers.store(helpers);
        }
        const int prev = tl_slot;
        tl_slot = slot;
        take_tasks(job, slot);
        tl_slot = prev;
    }
    if (job.failed.load()) std::rethrow_exception(job.error);
}

}  // namespace detail

bool openmp_enabled() noexcept { return true; }

int thread_id() noexcept { return detail::tl_slot; }

// The team's threads already spin between parallel regions as the OpenMP runtime says
// (core/parallel.h): the guard only tells threads_for, and is counted for pool_stats.
HotPool::HotPool(int nthreads) noexcept : on_(nthreads > 1) {
    if (!on_) return;
    ++detail::tl_hot;
    detail::g_hot.fetch_add(1);
    detail::g_hot_guards.fetch_add(1, std::memory_order_relaxed);
}

HotPool::~HotPool() {
    if (!on_) return;
    --detail::tl_hot;
    detail::g_hot.fetch_sub(1);
}

bool pool_hot() noexcept { return detail::tl_hot > 0; }

PoolStats pool_stats() noexcept {
    PoolStats s;
    s.workers = detail::g_workers.load();
    s.sleeping = -1;  // not known: the OpenMP runtime's threads wait as it says
    s.jobs = detail::g_jobs.load();
    s.serial = detail::g_serial.load();
    s.wakeups = -1;
    s.spin_us = -1;
    s.hot = detail::g_hot.load();
    s.hot_guards = detail::g_hot_guards.load();
    s.moves = -1;  // the runtime places its threads
    return s;
}

bool set_spin_us(double) noexcept { return false; }
bool set_move_workers(bool) noexcept { return false; }

void set_debug_schedule(int mode) noexcept {
    detail::g_debug.store(mode < 0 || mode > 4 ? 0 : mode);
}
int debug_schedule() noexcept { return detail::g_debug.load(); }

}  // namespace nncore
