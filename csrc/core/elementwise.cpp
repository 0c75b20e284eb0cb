#include "core/elementwise.h"

#include <algorithm>

#include "core/dispatch.h"

namespace nncore {
namespace {

// Work units per element for threads_for (about a flop of time each): memory-bound
// loops still gain from a second thread on large arrays.
double activation_cost(kernels::Act act) noexcept {
    if (kernels::act_from_input(act)) return 60.0;
    return (act == kernels::Act::sigmoid || act == kernels::Act::tanh) ? 40.0 : 4.0;
}

// Outputs at least as large as the last-level cache are written with non-temporal
// stores: they would not stay cached anyway, and the stores then skip reading each
// line first (a third memory stream: relu on 256 MB ran at 64% of memcpy's speed).
template <class T>
bool stream_output(index_t n) noexcept {
    const long l3 = dispatch().l3;
    const double limit = l3 > 0 ? double(l3) : 32.0 * 1024 * 1024;
    return double(n) * double(sizeof(T)) >= limit;
}

}  // namespace

template <class T>
void activation(kernels::Act act, const T* x, T* y, index_t n, T slope, int nthreads) {
    const auto& k = kernel_set<T>();
    const bool stream = stream_output<T>(n);
    for_chunks(n, nthreads, activation_cost(act), [&](index_t b, index_t e) {
        k.activation(act, x + b, y + b, e - b, slope, stream);
    });
}

template <class T>
void activation_backward(kernels::Act act, const T* v, const T* gy, T* gx, index_t n, T slope,
                         int nthreads) {
    const auto& k = kernel_set<T>();
    const bool stream = stream_output<T>(n);
    // from the output: one multiply (memory-bound); from the input: the whole formula
    const double cost = kernels::act_from_input(act) ? activation_cost(act) : 4.0;
    for_chunks(n, nthreads, cost, [&](index_t b, index_t e) {
        k.activation_backward(act, v + b, gy + b, gx + b, e - b, slope, stream);
    });
}

template <class T>
void activation_pair(kernels::Act act, const T* z, T* y, T* d, index_t n, T slope,
                     int nthreads) {
    const auto& k = kernel_set<T>();
    for_chunks(n, nthreads, activation_cost(act), [&](index_t b, index_t e) {
        k.activation_pair(act, z + b, y + b, d + b, e - b, slope);
    });
}

template void activation<float>(kernels::Act, const float*, float*, index_t, float, int);
template void activation<double>(kernels::Act, const double*, double*, index_t, double, int);
template void activation_backward<float>(kernels::Act, const float*, const float*, float*,
                                         index_t, float, int);
template void activation_backward<double>(kernels::Act, const double*, const double*, double*,
                                          index_t, double, int);
template void activation_pair<float>(kernels::Act, const float*, float*, float*, index_t, float,
                                     int);
template void activation_pair<double>(kernels::Act, const double*, double*, double*, index_t,
                                      double, int);

}  // namespace nncore
