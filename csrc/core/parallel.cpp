#include "core/parallel.h"

#include <atomic>

#include "core/check.h"

namespace nncore {
namespace {

int initial_threads() noexcept {
#ifdef NNCORE_OPENMP
    const int n = omp_get_max_threads();
    return n >= 1 ? n : 1;
#else
    return 1;
#endif
}

std::atomic<int>& thread_setting() noexcept {
    static std::atomic<int> n{initial_threads()};
    return n;
}

}  // namespace

int get_num_threads() noexcept { return thread_setting().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
    NNCORE_CHECK(n >= 1, "set_num_threads: n must be >= 1; got ", n);
    thread_setting().store(n, std::memory_order_relaxed);
}

bool openmp_enabled() noexcept {
#ifdef NNCORE_OPENMP
    return true;
#else
    return false;
#endif
}

int max_threads() noexcept {
#ifdef NNCORE_OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

int threads_for(double work) noexcept {
    // About 10 us of single-thread work per extra thread before a team pays off
    // (measured: a 64^3 float32 product, 0.5 Mflop, was slower on 2 threads than on 1).
    constexpr double kWorkPerThread = 1.0e6;
    const int n = get_num_threads();
    if (n <= 1 || work < 2 * kWorkPerThread) return 1;
    const double useful = work / kWorkPerThread;
    return useful < n ? static_cast<int>(useful) : n;
}

}  // namespace nncore
