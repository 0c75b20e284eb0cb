#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "core/check.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace nncore {
namespace {

using clock_type = std::chrono::steady_clock;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// ---------------------------------------------------------------- CPUs and settings

int affinity_cpus() noexcept {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n >= 1) return n;
    }
#endif
    const unsigned h = std::thread::hardware_concurrency();
    return h >= 1 ? static_cast<int>(h) : 1;
}

// The cgroup v2 quota (cpu.max: "quota period" or "max period"), rounded up; 0 if none.
int cgroup_cpus() noexcept {
#if defined(__linux__)
    std::FILE* f = std::fopen("/sys/fs/cgroup/cpu.max", "r");
    if (!f) return 0;
    char quota[32] = {0};
    long long period = 0;
    const int got = std::fscanf(f, "%31s %lld", quota, &period);
    std::fclose(f);
    if (got != 2 || std::strcmp(quota, "max") == 0 || period <= 0) return 0;
    const long long q = std::atoll(quota);
    if (q <= 0) return 0;
    return static_cast<int>(std::max<long long>(1, (q + period - 1) / period));
#else
    return 0;
#endif
}

int compute_usable_cpus() noexcept {
    int n = affinity_cpus();
    const int cg = cgroup_cpus();
    if (cg > 0 && cg < n) n = cg;
    return std::max(n, 1);
}

// A positive integer from the environment (the first of a comma list, as OpenMP
// allows "4,2"); 0 if unset or malformed.
int env_threads(const char* name) noexcept {
    const char* v = std::getenv(name);
    if (!v || !*v) return 0;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (end == v || (*end != '\0' && *end != ',') || n < 1) return 0;
    return static_cast<int>(std::min<long>(n, 4096));
}

int initial_threads() noexcept {
    if (const int n = env_threads("NNCORE_NUM_THREADS")) return n;
    if (const int n = env_threads("OMP_NUM_THREADS")) return n;
    return usable_cpus();
}

std::atomic<int>& thread_setting() noexcept {
    static std::atomic<int> n{initial_threads()};
    return n;
}

thread_local int tl_slot = 0;

std::atomic<int> g_debug{0};

// ---------------------------------------------------------------------- the pool

constexpr std::uint64_t kClosed = 0xFFFFFFFFull;  // task index of a finished job
constexpr int kMaxWorkers = 255;

inline std::uint32_t gen_of(std::uint64_t t) noexcept { return std::uint32_t(t >> 32); }
inline std::uint64_t idx_of(std::uint64_t t) noexcept { return t & 0xFFFFFFFFull; }

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
        return s;
    }
    void count_serial() noexcept { serial_.fetch_add(1, std::memory_order_relaxed); }
    void set_spin_ns(std::int64_t ns) noexcept { spin_ns_.store(ns); }

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
    }

private:
    void ensure_workers(int want);
    void worker_main(int k);
    void work(std::uint32_t gen, int slot);
    void run_task(index_t t, int slot);

    // Job fields: written by the owner before it publishes the ticket, read by whoever
    // wins a task of that generation (atomics so a late reader is never a data race).
    std::atomic<detail::TaskFn> fn_{nullptr};
    std::atomic<const void*> ctx_{nullptr};
    std::atomic<index_t> items_{0};
    std::atomic<index_t> tasks_{0};
    std::atomic<int> helpers_{0};
    std::atomic<std::uint64_t> seed_{0};
    std::atomic<int> mode_{0};
    alignas(64) std::atomic<std::uint64_t> ticket_{kClosed};  // generation << 32 | next task
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
    std::mutex grow_;
    std::vector<std::thread> threads_;
};

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

// Task t covers items [items*t/tasks, items*(t+1)/tasks).
void Pool::run_task(index_t t, int slot) {
    const index_t tasks = tasks_.load(std::memory_order_relaxed);
    const index_t items = items_.load(std::memory_order_relaxed);
    const int mode = mode_.load(std::memory_order_relaxed);
    if (mode == 1) {
        // A fixed random permutation of the task order for this job (an affine map
        // modulo `tasks` with a multiplier coprime to it).
        const std::uint64_t s = seed_.load(std::memory_order_relaxed);
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
    const int prev = tl_slot;
    tl_slot = slot;
    if (!failed_.load(std::memory_order_relaxed)) {
        try {
            fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed),
                                                items * t / tasks, items * (t + 1) / tasks);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex_);
            if (!failed_.load()) error_ = std::current_exception();
            failed_.store(true);
        }
    }
    tl_slot = prev;
}

// Takes tasks of generation `gen` until none is left (or the job is gone).
void Pool::work(std::uint32_t gen, int slot) {
    std::uint64_t t = ticket_.load(std::memory_order_acquire);
    for (;;) {
        if (gen_of(t) != gen) return;
        const std::uint64_t i = idx_of(t);
        // A task index below `tasks` in a ticket still carrying `gen` means the job is
        // not finished (its owner closes the ticket before the fields are reused), so
        // the CAS below can only win a task of this job.
        if (i >= std::uint64_t(tasks_.load(std::memory_order_relaxed))) return;
        if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
            run_task(index_t(i), slot);
            done_.fetch_add(1, std::memory_order_acq_rel);
            t = ticket_.load(std::memory_order_acquire);
        }
    }
}

void Pool::worker_main(int k) {
    std::uint32_t seen = gen_of(ticket_.load(std::memory_order_acquire));
    bool recent = false;  // took part in the last job: spin before sleeping
    for (;;) {
        std::uint64_t t = ticket_.load(std::memory_order_acquire);
        if (gen_of(t) == seen && recent) {
            const auto deadline =
                clock_type::now() + std::chrono::nanoseconds(spin_ns_.load(std::memory_order_relaxed));
            int n = 0;
            while (gen_of(t = ticket_.load(std::memory_order_acquire)) == seen) {
                cpu_relax();
                if ((++n & 63) == 0 && clock_type::now() >= deadline) break;
            }
        }
        if (gen_of(t) == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            sleepers_.fetch_add(1);
            cv_.wait(lock, [&] { return gen_of(t = ticket_.load()) != seen; });
            sleepers_.fetch_sub(1);
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

bool Pool::run(index_t n, int nthreads, detail::TaskFn fn, const void* ctx) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return false;
    struct Release {
        std::atomic<bool>& b;
        ~Release() { b.store(false, std::memory_order_release); }
    } release{busy_};

    const int helpers = std::min<int>(nthreads - 1, kMaxWorkers);
    ensure_workers(helpers);
    const index_t tasks = std::min<index_t>(n, index_t(8) * nthreads);
    const std::uint32_t gen = gen_of(ticket_.load()) + 1;
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    items_.store(n, std::memory_order_relaxed);
    tasks_.store(tasks, std::memory_order_relaxed);
    helpers_.store(helpers, std::memory_order_relaxed);
    const int mode = g_debug.load(std::memory_order_relaxed);
    mode_.store(mode, std::memory_order_relaxed);
    if (mode == 1) {
        static std::atomic<std::uint64_t> counter{0x9E3779B97F4A7C15ull};
        std::uint64_t z = counter.fetch_add(0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        seed_.store(z ^ (z >> 31), std::memory_order_relaxed);
    }
    done_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    jobs_.fetch_add(1, std::memory_order_relaxed);
    serial_at_job_.store(serial_.load(std::memory_order_relaxed), std::memory_order_relaxed);
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
    ticket_.store((std::uint64_t(gen) << 32) | kClosed, std::memory_order_seq_cst);
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

}  // namespace

int get_num_threads() noexcept { return thread_setting().load(std::memory_order_relaxed); }

bool set_num_threads(int n) {
    NNCORE_CHECK(n >= 1, "set_num_threads: n must be >= 1; got ", n);
    thread_setting().store(n, std::memory_order_relaxed);
    return n > usable_cpus();
}

bool openmp_enabled() noexcept { return false; }

int usable_cpus() noexcept {
    static const int n = compute_usable_cpus();
    return n;
}

int max_threads() noexcept { return usable_cpus(); }

int threads_for(double work) noexcept {
    // About 10 us of single-thread work per extra thread before a worker pays off.
    constexpr double kWorkPerThread = 1.0e6;
    const int n = get_num_threads();
    if (n <= 1 || work < 2 * kWorkPerThread) return 1;
    const double useful = work / kWorkPerThread;
    return useful < n ? static_cast<int>(useful) : n;
}

int thread_id() noexcept { return tl_slot; }

PoolStats pool_stats() noexcept { return pool().stats(); }

void set_spin_us(double us) noexcept {
    pool().set_spin_ns(static_cast<std::int64_t>(std::max(0.0, std::min(us, 1e6)) * 1000.0));
}

void set_debug_schedule(int mode) noexcept { g_debug.store(mode < 0 || mode > 3 ? 0 : mode); }
int debug_schedule() noexcept { return g_debug.load(); }

namespace detail {

void run_tasks(index_t n, int nthreads, TaskFn fn, const void* ctx) {
    if (n <= 0) return;
    Pool& p = pool();
    if (nthreads > 1 && n > 1 && p.run(n, nthreads, fn, ctx)) return;
    // Busy pool (another thread's call, or a call from inside a task): alone, here.
    if (nthreads > 1 && n > 1) p.count_serial();
    const int prev = tl_slot;
    tl_slot = 0;
    struct Restore {
        int v;
        ~Restore() { tl_slot = v; }
    } restore{prev};
    fn(ctx, 0, n);
}

}  // namespace detail
}  // namespace nncore
