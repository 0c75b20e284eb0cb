// Activations and their gradients over contiguous buffers.
#pragma once

#include <algorithm>

#include "core/parallel.h"
#include "core/views.h"
#include "kernels/kernel_table.h"

namespace nncore {

// y[i] = act(x[i]) for i < n; x may equal y.
template <class T>
void activation(kernels::Act act, const T* x, T* y, index_t n, T slope, int nthreads);

// gx[i] = gy[i] * act'(v[i]), v the output y, or the pre-activation x for the
// activations of kernels::act_from_input (gelu, gelu_tanh, silu, softplus); any may alias.
template <class T>
void activation_backward(kernels::Act act, const T* v, const T* gy, T* gx, index_t n, T slope,
                         int nthreads);

// For the activations of kernels::act_from_input: y[i] = act(z[i]) and d[i] = act'(z[i])
// in one pass (kernels' activation_pair): y is activation's, and gy[i] * d[i]
// activation_backward's gx[i], bit for bit. d may be z; y may not alias z or d.
template <class T>
void activation_pair(kernels::Act act, const T* z, T* y, T* d, index_t n, T slope,
                     int nthreads);

// Elementwise work in fixed chunks: f(begin, end) over [0, n), in parallel when large.
template <class F>
void for_chunks(index_t n, int nthreads, double cost_per_element, const F& f);

template <class F>
void for_chunks(index_t n, int nthreads, double cost_per_element, const F& f) {
    constexpr index_t kChunk = 16384;
    const index_t chunks = (n + kChunk - 1) / kChunk;
    const int nt = std::min<int>(nthreads, threads_for(double(n) * cost_per_element));
    parallel_for(chunks, nt, [&](index_t c) {
        const index_t begin = c * kChunk;
        const index_t end = begin + kChunk < n ? begin + kChunk : n;
        f(begin, end);
    });
}

}  // namespace nncore
