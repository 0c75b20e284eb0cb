// Thread count and the one way the core runs loops in parallel.
//
// Threads own whole pieces of the output; a reduction is never split across threads
// in a schedule-dependent order, so results are bitwise identical for any count.
#pragma once

#include <cstdint>

#ifdef NNCORE_OPENMP
#include <omp.h>
#endif

namespace nncore {

using index_t = std::int64_t;

// Threads the next calls may use (>= 1). Starts at OpenMP's default, which respects
// OMP_NUM_THREADS; 1 without OpenMP.
int get_num_threads() noexcept;
// n >= 1; throws std::invalid_argument otherwise.
void set_num_threads(int n);
bool openmp_enabled() noexcept;
// The machine's processor count as OpenMP sees it (1 without OpenMP).
int max_threads() noexcept;

// Threads worth using for `work` units of roughly one flop each: small jobs stay on
// one thread, where starting a team would cost more than it saves.
int threads_for(double work) noexcept;

inline int thread_id() noexcept {
#ifdef NNCORE_OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// f(i) for i in [0, n), split statically over `nthreads` threads. f must not throw.
template <class F>
void parallel_for(index_t n, int nthreads, const F& f) {
    if (nthreads <= 1 || n <= 1) {
        for (index_t i = 0; i < n; ++i) f(i);
        return;
    }
#ifdef NNCORE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
    for (index_t i = 0; i < n; ++i) f(i);
#else
    for (index_t i = 0; i < n; ++i) f(i);
#endif
}

}  // namespace nncore
