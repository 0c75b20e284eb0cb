// Plain loops at baseline flags (memory-bound; the generator is integer arithmetic).
#include "core/dropout.h"

#include <algorithm>

#include "core/parallel.h"

namespace nncore {
namespace {
constexpr index_t kBlock = 16384;
}

template <class T>
void dropout_forward(const T* x, T* y, T* mask, index_t n, double p, std::uint64_t seed,
                     int nthreads) {
    const T scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    const index_t blocks = (n + kBlock - 1) / kBlock;
    const int nt = std::min(nthreads, threads_for(double(n) * 10.0));
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t b = bi * kBlock, e = std::min(n, b + kBlock);
        for (index_t i = b; i < e; ++i) {
            const T m = dropout_uniform(seed, static_cast<std::uint64_t>(i)) >= p ? scale : T(0);
            mask[i] = m;
            y[i] = x[i] * m;
        }
    });
}

template <class T>
void dropout_backward(const T* mask, const T* grad_y, T* grad_x, index_t n, int nthreads) {
    const index_t blocks = (n + kBlock - 1) / kBlock;
    const int nt = std::min(nthreads, threads_for(double(n)));
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t b = bi * kBlock, e = std::min(n, b + kBlock);
        for (index_t i = b; i < e; ++i) grad_x[i] = grad_y[i] * mask[i];
    });
}

template void dropout_forward<float>(const float*, float*, float*, index_t, double,
                                     std::uint64_t, int);
template void dropout_forward<double>(const double*, double*, double*, index_t, double,
                                      std::uint64_t, int);
template void dropout_backward<float>(const float*, const float*, float*, index_t, int);
template void dropout_backward<double>(const double*, const double*, double*, index_t, int);

}  // namespace nncore
