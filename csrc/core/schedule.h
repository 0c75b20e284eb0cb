// What both builds of the parallel layer share (core/pool.cpp, nncore's pool;
// core/pool_openmp.cpp, OpenMP): how a job's items are cut into tasks, and the debug
// schedules. The cut depends only on the item count and the thread count, and each item
// is computed the same way whichever thread runs it, so the two builds give the same bits.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "core/parallel.h"

namespace nncore::detail {

// A job of `items` items on `nthreads` threads is cut into this many tasks ...
inline index_t task_count(index_t items, int nthreads) noexcept {
    return std::min<index_t>(items, index_t(8) * nthreads);
}
// ... and task t covers items [task_begin(t), task_begin(t + 1)).
inline index_t task_begin(index_t t, index_t tasks, index_t items) noexcept {
    return items * t / tasks;
}

// fn over [0, n) on the calling thread as participant 0; `slot` (the build's thread-local
// participant number) is restored afterwards, also when fn throws. A call that runs
// alone: one thread asked for, or the parallel layer busy.
inline void run_as_caller(index_t n, TaskFn fn, const void* ctx, int& slot) {
    struct Restore {
        int& slot;
        int v;
        ~Restore() { slot = v; }
    } restore{slot, slot};
    slot = 0;
    fn(ctx, 0, n);
}

// Debug schedule 1 (shuffle): a fresh seed per job.
inline std::uint64_t next_debug_seed() noexcept {
    static std::atomic<std::uint64_t> counter{0x9E3779B97F4A7C15ull};
    std::uint64_t z = counter.fetch_add(0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// The t-th task taken in a job run under debug schedule `mode` (seed `s`): under mode 1 a
// fixed random permutation of the task order (an affine map modulo `tasks` with a
// multiplier coprime to it), and the participant in `slot` pauses as the schedule says
// (mode 1: workers at random; mode 3: the first worker 1 ms in every task).
inline index_t debug_task(index_t t, index_t tasks, int mode, std::uint64_t s, int slot) {
    if (mode == 1) {
        std::uint64_t mul = (s >> 17) % std::uint64_t(tasks) | 1;
        while (std::uint64_t(tasks) % mul == 0 && mul > 1) mul += 2;
        auto gcd = [](std::uint64_t a, std::uint64_t b) {
            while (b) { const std::uint64_t r = a % b; a = b; b = r; }
            return a;
        };
        while (gcd(mul, std::uint64_t(tasks)) != 1) mul += 1;
        t = index_t((mul * std::uint64_t(t) + s) % std::uint64_t(tasks));
        if (slot > 0 && ((s >> (t % 32)) & 1)) {
            std::this_thread::sleep_for(std::chrono::microseconds(20 + (s >> 40) % 200));
        }
    }
    if (mode == 3 && slot == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return t;
}

}  // namespace nncore::detail
