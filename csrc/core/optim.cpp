#include "core/optim.h"

#include <cmath>

#include "core/elementwise.h"

namespace nncore {

template <class T>
void sgd_step(T* param, const T* grad, T* velocity, index_t n, const SgdOptions& o,
              int nthreads) {
    const T lr = static_cast<T>(o.lr), mu = static_cast<T>(o.momentum);
    const T wd = static_cast<T>(o.weight_decay);
    const T keep = static_cast<T>(1.0 - double(o.dampening));
    const bool nesterov = o.nesterov;
    for_chunks(n, nthreads, 2.0, [&](index_t b, index_t e) {
        if (mu == T(0)) {
            for (index_t i = b; i < e; ++i) param[i] -= lr * (grad[i] + wd * param[i]);
            return;
        }
        for (index_t i = b; i < e; ++i) {
            const T g = grad[i] + wd * param[i];
            const T v = mu * velocity[i] + keep * g;
            velocity[i] = v;
            param[i] -= lr * (nesterov ? g + mu * v : v);
        }
    });
}

template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, index_t n, const AdamOptions& o,
               int nthreads) {
    // Constants in double, then rounded once: (1 - beta) in float32 arithmetic would
    // carry the rounding error of beta itself into every update.
    const double b1d = double(o.beta1), b2d = double(o.beta2), t = double(o.step);
    const T b1 = static_cast<T>(b1d), b2 = static_cast<T>(b2d);
    const T eps = static_cast<T>(o.eps), wd = static_cast<T>(o.weight_decay);
    const T one_b1 = static_cast<T>(1.0 - b1d), one_b2 = static_cast<T>(1.0 - b2d);
    const T step_size = static_cast<T>(double(o.lr) / (1.0 - std::pow(b1d, t)));
    const T root_bc2 = static_cast<T>(std::sqrt(1.0 - std::pow(b2d, t)));
    for_chunks(n, nthreads, 4.0, [&](index_t b, index_t e) {
        for (index_t i = b; i < e; ++i) {
            const T g = grad[i] + wd * param[i];
            const T mi = b1 * m[i] + one_b1 * g;
            const T vi = b2 * v[i] + one_b2 * g * g;
            m[i] = mi;
            v[i] = vi;
            param[i] -= step_size * mi / (std::sqrt(vi) / root_bc2 + eps);
        }
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
