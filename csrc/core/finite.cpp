#include "core/finite.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"

namespace nncore {
namespace {

// Values per block, tested as a whole before any is looked at alone, and per task (1 MiB
// of float32: a training set of 188 MB is 180 tasks).
constexpr index_t kBlock = index_t(1) << 12;
constexpr index_t kTask = index_t(1) << 18;

// any_nonfinite: the kernel set's test of a block (generic: the exponent bits, at the
// baseline instruction set; SIMD: x - x over whole vectors). MNIST's 47M floats, one
// core: np.add.reduce's pairwise sum, which check_finite used, 8.0 ms; np.max 5.3.
template <class T>
index_t first_in(const T* v, index_t n,
                 bool (*any_nonfinite)(const T*, index_t) noexcept) noexcept {
    for (index_t b = 0; b < n; b += kBlock) {
        const index_t len = std::min(kBlock, n - b);
        if (!any_nonfinite(v + b, len)) continue;
        for (index_t i = b; i < b + len; ++i) {
            T x;  // by memcpy: an array's data need not be aligned to T
            std::memcpy(&x, v + i, sizeof x);
            if (!std::isfinite(x)) return i;
        }
    }
    return -1;
}

}  // namespace

template <class T>
index_t first_nonfinite(const T* values, index_t n, int nthreads) {
    const index_t tasks = (n + kTask - 1) / kTask;
    const int nt = static_cast<int>(std::min<index_t>(
        tasks, std::min(nthreads, threads_for(double(n)))));
    const auto any_nonfinite = kernel_set<T>().any_nonfinite;
    if (nt <= 1) return first_in(values, n, any_nonfinite);
    // Every task scans its own range; the first range with a hit holds the answer.
    std::vector<index_t> found(static_cast<std::size_t>(tasks), -1);
    parallel_for(tasks, nt, [&](index_t t) {
        const index_t begin = t * kTask;
        const index_t i = first_in(values + begin, std::min(kTask, n - begin), any_nonfinite);
        found[static_cast<std::size_t>(t)] = i < 0 ? -1 : begin + i;
    });
    for (const index_t i : found) {
        if (i >= 0) return i;
    }
    return -1;
}

template index_t first_nonfinite<float>(const float*, index_t, int);
template index_t first_nonfinite<double>(const double*, index_t, int);

}  // namespace nncore
