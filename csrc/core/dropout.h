// Inverted dropout with masks from a counter-based generator: element i of a call with
// seed s is kept when u(s, i) >= p, where u(s, i) = (splitmix64(s + (i + 1) * golden) >> 11)
// * 2^-53 is uniform in [0, 1). Each element depends only on (s, i), so the mask is the
// same for any thread count and schedule, and nncore.reference.dropout computes it in NumPy.
// The kernel sets compute it in integers, a vector of counters at a time
// (kernels/dropout_mix.h: u >= p is splitmix64(...) >> 11 >= ceil(p * 2^53)).
#pragma once

#include <cstdint>

#include "core/views.h"

namespace nncore {

// The seed of a Dropout layer's k-th mask: splitmix64(seed + (k + 1) * golden), as
// python/nncore/dropout.py's _mix (the layer's seed and its call count).
inline std::uint64_t dropout_call_seed(std::uint64_t seed, std::int64_t k) noexcept {
    std::uint64_t z = seed + (static_cast<std::uint64_t>(k) + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// mask[i] = u(seed, i) >= p ? 1 / (1 - p) : 0 (all 0 when p = 1); y[i] = x[i] * mask[i],
// for i < n. p in [0, 1] (checked by the caller). y may be x.
template <class T>
void dropout_forward(const T* x, T* y, T* mask, index_t n, double p, std::uint64_t seed,
                     int nthreads);

// grad_x[i] = grad_y[i] * mask[i]; grad_x may be grad_y.
template <class T>
void dropout_backward(const T* mask, const T* grad_y, T* grad_x, index_t n, int nthreads);

}  // namespace nncore
