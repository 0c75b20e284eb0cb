// Plain loops at baseline flags, the readable specification (not yet in the SIMD kernel
// sets, nor fused into the dense GEMM's store: Dense applies them after the product).
#include "core/activations_extra.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace nncore {
namespace {

constexpr index_t kBlock = 8192;

template <class T>
T sigmoid(T x) noexcept {
    return x >= T(0) ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

template <class T>
T forward(ExtraAct act, T x) noexcept {
    switch (act) {
        case ExtraAct::gelu:
            return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
        case ExtraAct::gelu_tanh: {
            const T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
            return T(0.5) * x * (T(1) + std::tanh(inner));
        }
        case ExtraAct::silu:
            return x * sigmoid(x);
        case ExtraAct::softplus:
            return x > T(20) ? x : std::log1p(std::exp(x));
    }
    return x;
}

template <class T>
T derivative(ExtraAct act, T x) noexcept {
    switch (act) {
        case ExtraAct::gelu: {
            const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
            const T pdf = T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
            return cdf + x * pdf;
        }
        case ExtraAct::gelu_tanh: {
            const T k = T(0.79788456080286535588), c = T(0.044715);
            const T t = std::tanh(k * (x + c * x * x * x));
            return T(0.5) * (T(1) + t) +
                   T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * c * x * x);
        }
        case ExtraAct::silu: {
            const T s = sigmoid(x);
            return s * (T(1) + x * (T(1) - s));
        }
        case ExtraAct::softplus:
            return x > T(20) ? T(1) : sigmoid(x);
    }
    return T(1);
}

}  // namespace

template <class T>
void extra_activation(ExtraAct act, const T* x, T* y, index_t n, int nthreads) {
    const index_t blocks = (n + kBlock - 1) / kBlock;
    const int nt = std::min(nthreads, threads_for(double(n) * 30.0));
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t b = bi * kBlock, e = std::min(n, b + kBlock);
        for (index_t i = b; i < e; ++i) y[i] = forward(act, x[i]);
    });
}

template <class T>
void extra_activation_backward(ExtraAct act, const T* x, const T* grad_y, T* grad_x,
                               index_t n, int nthreads) {
    const index_t blocks = (n + kBlock - 1) / kBlock;
    const int nt = std::min(nthreads, threads_for(double(n) * 30.0));
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t b = bi * kBlock, e = std::min(n, b + kBlock);
        for (index_t i = b; i < e; ++i) grad_x[i] = grad_y[i] * derivative(act, x[i]);
    });
}

template void extra_activation<float>(ExtraAct, const float*, float*, index_t, int);
template void extra_activation<double>(ExtraAct, const double*, double*, index_t, int);
template void extra_activation_backward<float>(ExtraAct, const float*, const float*, float*,
                                               index_t, int);
template void extra_activation_backward<double>(ExtraAct, const double*, const double*,
                                                double*, index_t, int);

}  // namespace nncore
