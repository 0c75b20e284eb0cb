// The masks come from the active kernel set (kernel_table.h's dropout: the generator in
// integers, a vector of counters at a time); blocks of fixed size, so any thread count
// gives the same bits. The backward is the set's dropout_backward, block by block.
#include "core/dropout.h"

#include <algorithm>
#include <cmath>

#include "core/dispatch.h"
#include "core/parallel.h"

namespace nncore {
namespace {
constexpr index_t kBlock = 16384;

// The smallest k = dropout_bits with u = k * 2^-53 >= p: ceil(p * 2^53) (exact: p * 2^53
// is a double in [0, 2^53], and so is its ceiling).
std::uint64_t keep_from(double p) noexcept {
    return static_cast<std::uint64_t>(std::ceil(std::ldexp(p, 53)));
}
}  // namespace

template <class T>
void dropout_forward(const T* x, T* y, T* mask, index_t n, double p, std::uint64_t seed,
                     int nthreads) {
    const T scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    const std::uint64_t kf = keep_from(p);
    const auto& k = kernel_set<T>();
    const index_t blocks = (n + kBlock - 1) / kBlock;
    const int nt = std::min(nthreads, threads_for(double(n) * 10.0));
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t b = bi * kBlock, e = std::min(n, b + kBlock);
        k.dropout(x + b, y + b, mask + b, e - b, seed, static_cast<std::uint64_t>(b), kf,
                  scale);
    });
}

template <class T>
void dropout_backward(const T* mask, const T* grad_y, T* grad_x, index_t n, int nthreads) {
    const auto& k = kernel_set<T>();
    const index_t blocks = (n + kBlock - 1) / kBlock;
    const int nt = std::min(nthreads, threads_for(double(n)));
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t b = bi * kBlock, e = std::min(n, b + kBlock);
        k.dropout_backward(mask + b, grad_y + b, grad_x + b, e - b);
    });
}

template void dropout_forward<float>(const float*, float*, float*, index_t, double,
                                     std::uint64_t, int);
template void dropout_forward<double>(const double*, double*, double*, index_t, double,
                                      std::uint64_t, int);
template void dropout_backward<float>(const float*, const float*, float*, index_t, int);
template void dropout_backward<double>(const double*, const double*, double*, index_t, int);

}  // namespace nncore
