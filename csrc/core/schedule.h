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
    return std::min<index_t>(items, index_t(8) * std::min(nthreads, 4096));
}
// ... and task t covers items [task_begin(t), task_begin(t + 1)).
inline index_t task_begin(index_t t, index_t tasks, index_t items) noexcept {
    return items * t / tasks;
}

// Who takes which task of a job. Each participant (0 the caller, 1.. the workers) owns a
// contiguous range of the tasks, cut by task_begin's rule over `parts` participants, and
// takes them from its front; when its range is empty it steals from the back of the
// others' (the next participants' first). So while every thread runs, a job's split is
// fixed by its shapes and the thread count: the same participant computes the same rows
// or columns step after step, product after product, and finds them in its own core's
// cache (a split that changed with the schedule moved about a third of an MNIST-sized
// step's data from core to core, and each thread's GEMM ran 1.4x, its SGD update 2x,
// slower). A participant the OS has descheduled loses its range to the others, task by
// task, so the job never waits for more than the one task it holds. Each range is one
// 64-bit word (the job's generation, the range's end and its begin) on its own cache
// line, changed by compare-and-swap: a participant late for job `gen` can take nothing
// from a later job, and the owner of a range takes its tasks without contention.
class TaskRanges {
public:
    static constexpr int kMaxParts = 256;

    // Job `gen`: `tasks` tasks over `parts` participants (at most kMaxParts).
    void reset(std::uint32_t gen, index_t tasks, int parts) noexcept {
        parts = std::max(1, std::min(parts, kMaxParts));
        parts_.store(parts, std::memory_order_relaxed);
        for (int p = 0; p < parts; ++p) {
            const index_t b = task_begin(p, parts, tasks), e = task_begin(p + 1, parts, tasks);
            ranges_[p].w.store(pack(gen, e, b), std::memory_order_relaxed);
        }
    }

    // The next task of job `gen` for participant `slot`, or -1 when every range is empty.
    index_t take(std::uint32_t gen, int slot) noexcept {
        const int parts = parts_.load(std::memory_order_relaxed);
        if (slot < parts) {
            std::atomic<std::uint64_t>& own = ranges_[slot].w;
            std::uint64_t w = own.load(std::memory_order_acquire);
            while (gen_of(w) == gen && begin_of(w) < end_of(w)) {
                if (own.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
                    return index_t(begin_of(w));
                }
            }
        }
        for (int i = 1; i <= parts; ++i) {
            const int v = (slot + i) % parts;
            if (v == slot) continue;
            std::atomic<std::uint64_t>& other = ranges_[v].w;
            std::uint64_t w = other.load(std::memory_order_acquire);
            while (gen_of(w) == gen && begin_of(w) < end_of(w)) {
                const std::uint64_t e = end_of(w) - 1;
                if (other.compare_exchange_weak(w, pack(gen, index_t(e), index_t(begin_of(w))),
                                                std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
                    return index_t(e);
                }
            }
        }
        return -1;
    }

private:
    // tasks < 2^16: task_count gives at most 8 per thread, and threads are at most 4096.
    static std::uint64_t pack(std::uint32_t gen, index_t end, index_t begin) noexcept {
        return (std::uint64_t(gen) << 32) | (std::uint64_t(end) << 16) | std::uint64_t(begin);
    }
    static std::uint32_t gen_of(std::uint64_t w) noexcept { return std::uint32_t(w >> 32); }
    static std::uint64_t end_of(std::uint64_t w) noexcept { return (w >> 16) & 0xFFFF; }
    static std::uint64_t begin_of(std::uint64_t w) noexcept { return w & 0xFFFF; }

    struct alignas(64) Range {
        std::atomic<std::uint64_t> w{0};
    };
    std::atomic<int> parts_{1};
    Range ranges_[kMaxParts];
};

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
