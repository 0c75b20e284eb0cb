// Thread count and the one way the core runs loops in parallel: nncore's own pool
// (core/pool.cpp), or, built with the CMake option NNCORE_OPENMP=ON, an OpenMP team
// (core/pool_openmp.cpp) that takes the same tasks the same way (core/schedule.h), so
// both builds give the same bits. What follows describes the pool; the OpenMP build
// differs only in how its threads wait between calls (as OMP_WAIT_POLICY says).
//
// parallel_for cuts its items into tasks and gives each participant (the calling thread
// too) a contiguous range of them; a participant whose range is empty takes tasks from the
// others' (core/schedule.h), so the same thread computes the same part of a job call
// after call while all run, a worker that the OS has descheduled delays only the task it
// holds, never the others, and a call whose workers never wake still finishes on the
// caller. Each item writes its own part of the output and is
// computed the same way whoever runs it, so results are bitwise identical for any thread
// count and any schedule; a reduction is never split across threads in a
// schedule-dependent order.
//
// After a call the workers spin for a short grace period (spin_us(), 50 us by default)
// for the next call, then sleep on a condition variable, so a NumPy/OpenBLAS or PyTorch
// call that follows has the cores to itself (and sleep at once when, during the call,
// other threads ran nncore calls alone: they need those cores). A worker woken on the
// caller's own CPU (Linux puts it there when every CPU is busy, e.g. with the threads
// OpenBLAS and PyTorch's OpenMP keep spinning after their calls) moves off it at once:
// two threads of one job sharing a CPU ran slower than the caller alone (core/pool.cpp). A caller that finds the
// pool busy (another Python thread is using it, or a nested call) runs its items alone on
// its own thread: the machine is never oversubscribed by nncore and no caller waits for
// another.
#pragma once

#include <cstdint>
#include <exception>

namespace nncore {

using index_t = std::int64_t;

// Threads the next calls may use (>= 1). Starts at NNCORE_NUM_THREADS, else
// OMP_NUM_THREADS, else usable_cpus().
int get_num_threads() noexcept;
// n >= 1; throws std::invalid_argument otherwise. Returns true when n is above
// usable_cpus() (the bindings warn once about it).
bool set_num_threads(int n);
// Whether this build runs parallel_for on OpenMP (NNCORE_OPENMP=ON) instead of the pool.
bool openmp_enabled() noexcept;
// CPUs this process may run on: the affinity mask, capped by the cgroup's cpu.max quota.
int usable_cpus() noexcept;
// Same as usable_cpus() (config()["max_threads"]).
int max_threads() noexcept;

// Threads worth using for `work` units of roughly one flop each: small jobs stay on
// one thread, where waking a worker would cost more than it saves. The same under a
// HotPool, whose workers need no waking: what a second thread costs then is the data it
// moves between cores. On the 2-core KVM guest of bench/RESULTS.md a core reads lines
// another core just wrote at about 10 GB/s, against about 120 GB/s from its own cache,
// so splitting a memory-bound pass (a relu backward of 256 x 512) whose output the next,
// one-thread product reads made a 512-32-512-1 epoch 1.10x slower; splitting an SGD
// update whose weights the next product reads on both threads anyway (784 x 256, MNIST)
// made that epoch 1.11x faster. Only the caller knows which case it is.
int threads_for(double work) noexcept;

// The calling participant's slot in the current parallel_for: 0 for the caller (and
// outside any parallel_for), 1..nthreads-1 for the workers. Per-thread scratch indexed
// by it needs nthreads entries.
int thread_id() noexcept;

// Pool facts for tests and benchmarks. The OpenMP build counts workers (the largest team
// less its caller), jobs and serial; it cannot see sleeping, wakeups or spin_us (-1).
struct PoolStats {
    int workers = 0;           // worker threads started
    int sleeping = 0;          // of those, asleep on the condition variable now
    std::int64_t jobs = 0;     // parallel calls run through the pool
    std::int64_t serial = 0;   // calls that found the pool busy and ran alone
    std::int64_t wakeups = 0;  // times a caller had to wake sleeping workers
    double spin_us = 0;        // grace period before a worker sleeps
    int hot = 0;               // HotPool guards alive (all threads)
    std::int64_t hot_guards = 0;  // HotPool guards started for more than one thread
    std::int64_t moves = 0;    // woken workers that left the caller's CPU (-1: OpenMP)
    bool move = false;         // whether they do (set_move_workers; false: OpenMP)
};
PoolStats pool_stats() noexcept;
// The pool's grace period; false (nothing changed) in the OpenMP build.
bool set_spin_us(double us) noexcept;
// Whether a worker woken on its caller's CPU moves off it (Linux; on by default); false
// (nothing changed) in the OpenMP build. For benchmarks: bench/interference.py --no-moves.
bool set_move_workers(bool on) noexcept;

// Keeps the workers on the job across the parallel calls of one stretch of native work (a
// chunk of the trainer's epoch): while a HotPool lives, a worker that took part in a call
// waits for the next one spinning for up to 1 ms instead of the grace period, so a step's
// products and passes cost a barrier each, not a wake-up each (a worker woken from its
// sleep takes tens of microseconds to start). The first parallel call under the guard
// still wakes them, so a guard whose calls all run on one thread costs nothing and keeps
// no core spinning. When the last HotPool ends the ordinary grace period holds again,
// counted from the end of the worker's last task, so the pool sleeps within spin_us() of
// the guarded call's return, whatever happened in it (an exception, a stop on a
// non-finite loss). pool_hot() tells a caller it holds one. Guards nest and may live on
// several Python threads at once; results never depend on them (the split of every job
// is fixed by its shapes and the thread count). In the OpenMP build the guard is counted
// and pool_hot() answers, nothing more: its team's threads already spin between parallel
// regions as OMP_WAIT_POLICY and GOMP_SPINCOUNT say (libgomp's default: 300,000 spins).
class HotPool {
public:
    explicit HotPool(int nthreads) noexcept;
    ~HotPool();
    HotPool(const HotPool&) = delete;
    HotPool& operator=(const HotPool&) = delete;

private:
    bool on_ = false;
    std::int64_t incarnation_ = 0;  // the pool's fork count when the guard started
};
// Whether the calling thread holds a HotPool (for more than one thread).
bool pool_hot() noexcept;

// Debug schedules (tests; both builds): 0 normal; 1 shuffled (tasks handed out in a random order,
// workers pause at random); 2 caller only (workers take no task, as if never
// scheduled); 3 slow worker (the first worker sleeps 1 ms in each task it takes); 4
// always move (a pool worker leaves the caller's CPU after every wake-up, as if the OS had
// woken it there; the OpenMP build runs as normal).
void set_debug_schedule(int mode) noexcept;
int debug_schedule() noexcept;

namespace detail {
using TaskFn = void (*)(const void* ctx, index_t begin, index_t end);
// Runs fn over [0, n) split into tasks; rethrows the first exception a task threw.
void run_tasks(index_t n, int nthreads, TaskFn fn, const void* ctx);
}  // namespace detail

// f(i) for i in [0, n) on up to `nthreads` threads. If f throws, the remaining items
// may be skipped and the first exception is rethrown in the caller.
template <class F>
void parallel_for(index_t n, int nthreads, const F& f) {
    if (nthreads <= 1 || n <= 1) {
        for (index_t i = 0; i < n; ++i) f(i);
        return;
    }
    detail::run_tasks(n, nthreads,
                      [](const void* ctx, index_t begin, index_t end) {
                          const F& g = *static_cast<const F*>(ctx);
                          for (index_t i = begin; i < end; ++i) g(i);
                      },
                      &f);
}

}  // namespace nncore
