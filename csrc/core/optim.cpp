#include "core/optim.h"

#include <cmath>

#include "core/dispatch.h"
#include "core/elementwise.h"

namespace nncore {

template <class T>
void sgd_step(T* param, const T* grad, T* velocity, index_t n, const SgdOptions& o,
              int nthreads) {
    const kernels::SgdHyper<T> h = sgd_hyper<T>(o);
    const auto& k = kernel_set<T>();
    for_chunks(n, nthreads, 2.0, [&](index_t b, index_t e) {
        k.sgd(param + b, grad + b, velocity ? velocity + b : nullptr, e - b, h);
    });
}

template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, index_t n, const AdamOptions& o,
               int nthreads, T* max_v) {
    // Constants in double, then rounded once: (1 - beta) in float32 arithmetic would
    // carry the rounding error of beta itself into every update.
    const double b1d = double(o.beta1), b2d = double(o.beta2), t = double(o.step);
    kernels::AdamHyper<T> h;
    h.beta1 = static_cast<T>(b1d);
    h.beta2 = static_cast<T>(b2d);
    h.eps = static_cast<T>(o.eps);
    h.weight_decay = static_cast<T>(o.decoupled ? 0.0 : o.weight_decay);
    h.decoupled = o.decoupled && o.weight_decay != 0;
    h.decay_scale = static_cast<T>(1.0 - double(o.lr) * double(o.weight_decay));
    h.one_b1 = static_cast<T>(1.0 - b1d);
    h.one_b2 = static_cast<T>(1.0 - b2d);
    h.step_size = static_cast<T>(double(o.lr) / (1.0 - std::pow(b1d, t)));
    h.root_bc2 = static_cast<T>(std::sqrt(1.0 - std::pow(b2d, t)));
    const auto& k = kernel_set<T>();
    for_chunks(n, nthreads, 4.0, [&](index_t b, index_t e) {
        k.adam(param + b, grad + b, m + b, v + b, max_v ? max_v + b : nullptr, e - b, h);
    });
}

template <class T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* buf, T* grad_avg, index_t n,
                  const RmspropOptions& o, int nthreads) {
    const double alpha = double(o.alpha);
    kernels::RmspropHyper<T> h;
    h.lr = static_cast<T>(o.lr);
    h.alpha = static_cast<T>(alpha);
    h.one_alpha = static_cast<T>(1.0 - alpha);
    h.eps = static_cast<T>(o.eps);
    h.weight_decay = static_cast<T>(o.weight_decay);
    h.momentum = static_cast<T>(o.momentum);
    h.centered = o.centered;
    const auto& k = kernel_set<T>();
    for_chunks(n, nthreads, 4.0, [&](index_t b, index_t e) {
        k.rmsprop(param + b, grad + b, square_avg + b, buf ? buf + b : nullptr,
                  grad_avg ? grad_avg + b : nullptr, e - b, h);
    });
}

template void sgd_step<float>(float*, const float*, float*, index_t, const SgdOptions&,
                              int);
template void sgd_step<double>(double*, const double*, double*, index_t,
                               const SgdOptions&, int);
template void adam_step<float>(float*, const float*, float*, float*, index_t,
                               const AdamOptions&, int, float*);
template void adam_step<double>(double*, const double*, double*, double*, index_t,
                                const AdamOptions&, int, double*);
template void rmsprop_step<float>(float*, const float*, float*, float*, float*, index_t,
                                  const RmspropOptions&, int);
template void rmsprop_step<double>(double*, const double*, double*, double*, double*, index_t,
                                   const RmspropOptions&, int);

}  // namespace nncore
