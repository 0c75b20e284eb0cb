#include "core/optim.h"

#include <cmath>

#include "core/dispatch.h"
#include "core/elementwise.h"

namespace nncore {

template <class T>
void sgd_step(T* param, const T* grad, T* velocity, index_t n, const SgdOptions& o,
              int nthreads) {
    kernels::SgdHyper<T> h;
    h.lr = static_cast<T>(o.lr);
    h.momentum = static_cast<T>(o.momentum);
    h.weight_decay = static_cast<T>(o.weight_decay);
    h.keep = static_cast<T>(1.0 - double(o.dampening));
    h.nesterov = o.nesterov;
    h.first = o.first;
    const auto& k = kernel_set<T>();
    for_chunks(n, nthreads, 2.0, [&](index_t b, index_t e) {
        k.sgd(param + b, grad + b, velocity ? velocity + b : nullptr, e - b, h);
    });
}

template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, index_t n, const AdamOptions& o,
               int nthreads) {
    // Constants in double, then rounded once: (1 - beta) in float32 arithmetic would
    // carry the rounding error of beta itself into every update.
    const double b1d = double(o.beta1), b2d = double(o.beta2), t = double(o.step);
    kernels::AdamHyper<T> h;
    h.beta1 = static_cast<T>(b1d);
    h.beta2 = static_cast<T>(b2d);
    h.eps = static_cast<T>(o.eps);
    h.weight_decay = static_cast<T>(o.weight_decay);
    h.one_b1 = static_cast<T>(1.0 - b1d);
    h.one_b2 = static_cast<T>(1.0 - b2d);
    h.step_size = static_cast<T>(double(o.lr) / (1.0 - std::pow(b1d, t)));
    h.root_bc2 = static_cast<T>(std::sqrt(1.0 - std::pow(b2d, t)));
    const auto& k = kernel_set<T>();
    for_chunks(n, nthreads, 4.0, [&](index_t b, index_t e) {
        k.adam(param + b, grad + b, m + b, v + b, e - b, h);
    });
}

template void sgd_step<float>(float*, const float*, float*, index_t, const SgdOptions&,
                              int);
template void sgd_step<double>(double*, const double*, double*, index_t,
                               const SgdOptions&, int);
template void adam_step<float>(float*, const float*, float*, float*, index_t,
                               const AdamOptions&, int);
template void adam_step<double>(double*, const double*, double*, double*, index_t,
                                const AdamOptions&, int);

}  // namespace nncore
