// The worker pool behind parallel_for (core/parallel.h is its public face; this header
// is core/pool.cpp's own). One job at a time: its owner cuts the tasks into one range per
// participant (core/schedule.h's TaskRanges) and publishes the job's generation in a
// ticket; every participant, the owner too, takes tasks from its range, then the others'.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "core/parallel.h"
#include "core/schedule.h"

namespace nncore::detail {

class Pool {
public:
    // Runs the job; false if the pool was busy (the caller then runs it alone).
    bool run(index_t n, int nthreads, detail::TaskFn fn, const void* ctx);

    PoolStats stats() noexcept {
        PoolStats s;
        s.workers = started_.load();
        s.sleeping = sleepers_.load();
        s.jobs = jobs_.load();
        s.serial = serial_.load();
        s.wakeups = wakeups_.load();
        s.spin_us = spin_ns_.load() / 1000.0;
        s.hot = hot_.load();
        s.hot_guards = hot_guards_.load();
        s.moves = moves_.load();
        s.move = move_.load();
        return s;
    }
    void count_serial() noexcept { serial_.fetch_add(1, std::memory_order_relaxed); }
    void set_spin_ns(std::int64_t ns) noexcept { spin_ns_.store(ns); }
    void set_move(bool on) noexcept { move_.store(on); }

    // A HotPool starts or ends; hot_end ignores a guard that started before a fork (its
    // pool is gone).
    void hot_begin() noexcept;
    void hot_end(std::int64_t incarnation) noexcept;
    std::int64_t incarnation() const noexcept { return forks_.load(std::memory_order_relaxed); }

    // In a child after fork(): the workers are gone; forget them (their std::thread
    // objects are leaked, as they cannot be joined) and start afresh.
    void after_fork_child() noexcept {
        new (&mutex_) std::mutex();
        new (&cv_) std::condition_variable();
        new (&grow_) std::mutex();
        new (&error_mutex_) std::mutex();
        new (&threads_) std::vector<std::thread>();  // the old vector is leaked
        started_.store(0);
        sleepers_.store(0);
        busy_.store(false);
        hot_.store(0);
        forks_.fetch_add(1);
    }

private:
    void ensure_workers(int want);
    void worker_main(int k);
    void work(std::uint32_t gen, int slot);
    void run_task(index_t t, int slot);
    void leave_caller_cpu(bool always);

    // Job fields: written by the owner before it publishes the ticket, read by whoever
    // wins a task of that generation (atomics so a late reader is never a data race).
    std::atomic<detail::TaskFn> fn_{nullptr};
    std::atomic<const void*> ctx_{nullptr};
    std::atomic<index_t> items_{0};
    std::atomic<index_t> tasks_{0};
    std::atomic<int> helpers_{0};
    std::atomic<std::uint64_t> seed_{0};
    std::atomic<int> mode_{0};
    alignas(64) std::atomic<std::uint64_t> ticket_{0};  // the current job's generation << 32
    TaskRanges ranges_;
    alignas(64) std::atomic<index_t> done_{0};
    alignas(64) std::atomic<bool> busy_{false};
    std::atomic<bool> failed_{false};
    std::exception_ptr error_;
    std::mutex error_mutex_;

    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<int> sleepers_{0};
    std::atomic<int> started_{0};
    std::atomic<std::int64_t> spin_ns_{50000};
    std::atomic<std::int64_t> jobs_{0}, serial_{0}, wakeups_{0};
    std::atomic<std::int64_t> serial_at_job_{0};  // serial_ when the current job started
    std::atomic<int> caller_cpu_{-1};  // the CPU the current job's caller published it on
    std::atomic<std::int64_t> moves_{0};
    std::atomic<bool> move_{false};  // set_move_workers (off: pool.cpp leave_caller_cpu says why)
    // HotPool guards alive; read by spinning workers, written twice per guard (own line).
    alignas(64) std::atomic<int> hot_{0};
    std::atomic<std::int64_t> hot_ns_{1000000};  // a worker's spin while hot_ > 0
    std::atomic<std::int64_t> forks_{0};
    std::atomic<std::int64_t> hot_guards_{0};
    std::mutex grow_;
    std::vector<std::thread> threads_;
};

// The process's pool, started on first use.
Pool& pool();

}  // namespace nncore::detail
