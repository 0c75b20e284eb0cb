// The pool: workers that spin briefly then sleep, tasks handed out through one atomic
// ticket, the caller taking part (core/parallel.h says why results never depend on it).
// The default build of the parallel layer; core/pool_openmp.cpp is the OpenMP build
// (CMake option NNCORE_OPENMP), and CMakeLists.txt compiles one of the two.
#include "core/pool.h"

#include <algorithm>
#include <chrono>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace nncore {
namespace detail {
namespace {

using clock_type = std::chrono::steady_clock;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

thread_local int tl_slot = 0;
thread_local int tl_hot = 0;  // HotPool guards the thread holds

std::atomic<int> g_debug{0};

constexpr int kMaxWorkers = 255;

inline std::uint32_t gen_of(std::uint64_t t) noexcept { return std::uint32_t(t >> 32); }

}  // namespace

Pool& pool() {
    // Never destroyed: workers may still be asleep in it when the process exits.
    static Pool* p = [] {
        Pool* q = new Pool();
#if defined(__linux__)
        pthread_atfork(nullptr, nullptr, [] { pool().after_fork_child(); });
#endif
        return q;
    }();
    return *p;
}

void Pool::ensure_workers(int want) {
    if (started_.load(std::memory_order_acquire) >= want) return;
    std::lock_guard<std::mutex> lock(grow_);
    while (started_.load() < want) {
        const int k = started_.load();
        try {
            threads_.emplace_back([this, k] { worker_main(k); });
        } catch (...) {
            return;  // no more threads: the job runs on those there are
        }
        started_.store(k + 1, std::memory_order_release);
    }
}

void Pool::run_task(index_t t, int slot) {
    const index_t tasks = tasks_.load(std::memory_order_relaxed);
    const index_t items = items_.load(std::memory_order_relaxed);
    t = debug_task(t, tasks, mode_.load(std::memory_order_relaxed),
                   seed_.load(std::memory_order_relaxed), slot);
    const int prev = tl_slot;
    tl_slot = slot;
    if (!failed_.load(std::memory_order_relaxed)) {
        try {
            fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed),
                                                task_begin(t, tasks, items),
                                                task_begin(t + 1, tasks, items));
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex_);
            if (!failed_.load()) error_ = std::current_exception();
            failed_.store(true);
        }
    }
    tl_slot = prev;
}

// Takes tasks of generation `gen` until none is left (or the job is gone), then counts
// them done at once (one write to the shared counter per participant, not per task).
void Pool::work(std::uint32_t gen, int slot) {
    index_t taken = 0;
    for (index_t t; (t = ranges_.take(gen, slot)) >= 0; ++taken) run_task(t, slot);
    if (taken > 0) done_.fetch_add(taken, std::memory_order_acq_rel);
}

// A worker just woken from its sleep on the CPU its caller runs on moves to another of
// the CPUs it may use, and keeps the affinity it had. Linux wakes it there when no CPU is
// idle: the caller holds one, and another library's threads (OpenBLAS's and OpenMP's spin
// for a while after their calls) or another process hold the others. Left there, it
// preempted the caller and the two took turns on one CPU (on the loaded 2-vCPU guest of
// issue 21, traced: in some runs nearly every wake-up, in others a few percent; a 256^3
// matmul then took 1.45x what the caller alone takes). Moved, it competes with whatever
// holds the other CPU while the caller runs alone at full speed and takes the tasks the
// worker has not started. A thread limited to the caller's CPU stays. `always` (debug
// schedule 4) moves it wherever it was woken. Off unless set_move_workers(true): on a
// quiet machine it did not speed nncore up right after NumPy or PyTorch and slowed the
// next library's call after nncore's (NumPy 1.05-1.11x -> 1.32-1.33x; bench/RESULTS.md).
void Pool::leave_caller_cpu(bool always) {
#if defined(__linux__)
    if (!always && !move_.load(std::memory_order_relaxed)) return;
    const int caller = caller_cpu_.load(std::memory_order_relaxed);
    if (caller < 0 || caller >= CPU_SETSIZE) return;
    if (!always && sched_getcpu() != caller) return;
    cpu_set_t mask, others;
    CPU_ZERO(&mask);
    if (pthread_getaffinity_np(pthread_self(), sizeof(mask), &mask) != 0) return;
    others = mask;
    CPU_CLR(caller, &others);
    if (CPU_COUNT(&others) == 0) return;  // nowhere else to go
    if (pthread_setaffinity_np(pthread_self(), sizeof(others), &others) != 0) return;
    moves_.fetch_add(1, std::memory_order_relaxed);
    pthread_setaffinity_np(pthread_self(), sizeof(mask), &mask);  // stays where it now is
#else
    (void)always;
#endif
}

void Pool::worker_main(int k) {
    std::uint32_t seen = gen_of(ticket_.load(std::memory_order_acquire));
    // Took part in the last job: spin before sleeping, for the grace period, or for
    // hot_ns_ while a HotPool lives, counted from now (the end of its last task). The
    // limit is read again as it spins: a guard's end brings the grace period back within
    // a few microseconds.
    bool recent = false;
    for (;;) {
        std::uint64_t t = ticket_.load(std::memory_order_acquire);
        if (gen_of(t) == seen && recent) {
            const auto since = clock_type::now();
            int n = 0;
            while (gen_of(t = ticket_.load(std::memory_order_acquire)) == seen) {
                cpu_relax();
                if ((++n & 63) == 0) {
                    const std::int64_t limit = hot_.load(std::memory_order_relaxed) > 0
                                                   ? hot_ns_.load(std::memory_order_relaxed)
                                                   : spin_ns_.load(std::memory_order_relaxed);
                    if (clock_type::now() - since >= std::chrono::nanoseconds(limit)) break;
                }
            }
        }
        if (gen_of(t) == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            sleepers_.fetch_add(1);
            cv_.wait(lock, [&] { return gen_of(t = ticket_.load()) != seen; });
            sleepers_.fetch_sub(1);
            lock.unlock();
            if (k < helpers_.load(std::memory_order_relaxed)) {
                leave_caller_cpu(mode_.load(std::memory_order_relaxed) == 4);
            }
        }
        seen = gen_of(t);
        recent = k < helpers_.load(std::memory_order_relaxed) && mode_.load() != 2;
        if (recent) {
            work(seen, k + 1);
            // Other Python threads ran nncore calls alone meanwhile: they need the cores
            // this worker would spin on, so it sleeps at once.
            if (serial_.load(std::memory_order_relaxed) != serial_at_job_.load(std::memory_order_relaxed)) {
                recent = false;
            }
        }
    }
}

void Pool::hot_begin() noexcept {
    hot_.fetch_add(1, std::memory_order_relaxed);
    hot_guards_.fetch_add(1, std::memory_order_relaxed);
}

void Pool::hot_end(std::int64_t incarnation) noexcept {
    if (incarnation == forks_.load()) hot_.fetch_sub(1, std::memory_order_relaxed);
}

bool Pool::run(index_t n, int nthreads, detail::TaskFn fn, const void* ctx) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return false;
    struct Release {
        std::atomic<bool>& b;
        ~Release() { b.store(false, std::memory_order_release); }
    } release{busy_};

    const int helpers = std::min<int>(nthreads - 1, kMaxWorkers);
    ensure_workers(helpers);
    const index_t tasks = task_count(n, nthreads);
    const std::uint32_t gen = gen_of(ticket_.load()) + 1;
    ranges_.reset(gen, tasks, std::min<int>(helpers + 1, int(tasks)));
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    items_.store(n, std::memory_order_relaxed);
    tasks_.store(tasks, std::memory_order_relaxed);
    helpers_.store(helpers, std::memory_order_relaxed);
    const int mode = g_debug.load(std::memory_order_relaxed);
    mode_.store(mode, std::memory_order_relaxed);
    if (mode == 1) seed_.store(next_debug_seed(), std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    jobs_.fetch_add(1, std::memory_order_relaxed);
    serial_at_job_.store(serial_.load(std::memory_order_relaxed), std::memory_order_relaxed);
#if defined(__linux__)
    caller_cpu_.store(sched_getcpu(), std::memory_order_relaxed);
#endif
    ticket_.store(std::uint64_t(gen) << 32, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
        { std::lock_guard<std::mutex> lock(mutex_); }
        cv_.notify_all();
        wakeups_.fetch_add(1, std::memory_order_relaxed);
    }

    work(gen, 0);
    // Every task is taken; wait for those still running on workers.
    // Spin ~20 us, then yield: a descheduled worker may need this core to finish.
    if (done_.load(std::memory_order_acquire) < tasks) {
        const auto until = clock_type::now() + std::chrono::microseconds(20);
        int spins = 0;
        bool yielding = false;
        while (done_.load(std::memory_order_acquire) < tasks) {
            if (yielding) {
                std::this_thread::yield();
            } else {
                cpu_relax();
                if ((++spins & 63) == 0) yielding = clock_type::now() >= until;
            }
        }
    }
    if (failed_.load()) {
        std::exception_ptr e;
        {
            std::lock_guard<std::mutex> lock(error_mutex_);
            e = error_;
            error_ = nullptr;
        }
        std::rethrow_exception(e);
    }
    return true;
}

void run_tasks(index_t n, int nthreads, TaskFn fn, const void* ctx) {
    if (n <= 0) return;
    Pool& p = pool();
    if (nthreads > 1 && n > 1 && p.run(n, nthreads, fn, ctx)) return;
    // Busy pool (another thread's call, or a call from inside a task): alone, here.
    if (nthreads > 1 && n > 1) p.count_serial();
    run_as_caller(n, fn, ctx, tl_slot);
}

}  // namespace detail

int thread_id() noexcept { return detail::tl_slot; }

HotPool::HotPool(int nthreads) noexcept : on_(nthreads > 1) {
    if (!on_) return;
    ++detail::tl_hot;
    detail::Pool& p = detail::pool();
    incarnation_ = p.incarnation();
    p.hot_begin();
}

HotPool::~HotPool() {
    if (!on_) return;
    --detail::tl_hot;
    detail::pool().hot_end(incarnation_);
}

bool pool_hot() noexcept { return detail::tl_hot > 0; }

PoolStats pool_stats() noexcept { return detail::pool().stats(); }

bool set_spin_us(double us) noexcept {
    const double clamped = std::max(0.0, std::min(us, 1e6));
    detail::pool().set_spin_ns(static_cast<std::int64_t>(clamped * 1000.0));
    return true;
}

bool set_move_workers(bool on) noexcept {
    detail::pool().set_move(on);
    return true;
}

bool openmp_enabled() noexcept { return false; }

void set_debug_schedule(int mode) noexcept {
    detail::g_debug.store(mode < 0 || mode > 4 ? 0 : mode);
}
int debug_schedule() noexcept { return detail::g_debug.load(); }

}  // namespace nncore
