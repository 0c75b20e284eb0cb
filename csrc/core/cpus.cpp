// How many threads nncore uses: the CPUs this process may run on (affinity mask, cgroup
// quota) and the thread-count setting (NNCORE_NUM_THREADS / OMP_NUM_THREADS, then
// set_num_threads), with threads_for's rule for small jobs. The pool is core/pool.cpp (or, built with
// NNCORE_OPENMP, core/pool_openmp.cpp).
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/check.h"

#if defined(__linux__)
#include <sched.h>
#endif

namespace nncore {
namespace {

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

}  // namespace

int get_num_threads() noexcept { return thread_setting().load(std::memory_order_relaxed); }

bool set_num_threads(int n) {
    NNCORE_CHECK(n >= 1, "set_num_threads: n must be >= 1; got ", n);
    thread_setting().store(n, std::memory_order_relaxed);
    return n > usable_cpus();
}

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

}  // namespace nncore
