#include "core/optim.h"

#include <cmath>

#include "core/elementwise.h"

namespace nncore {

template <class T>
void sgd_step(T* param, const T* grad, T* velocity, index_t n, const SgdOptions<T>& o,
              int nthreads) {
    const T lr = o.lr, mu = o.momentum, wd = o.weight_decay, keep = T(1) - o.dampening;
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
void adam_step(T* param, const T* grad, T* m, T* v, index_t n, const AdamOptions<T>& o,
               int nthreads) {
    const T b1 = o.beta1, b2 = o.beta2, eps = o.eps, wd = o.weight_decay;
    const T t = static_cast<T>(o.step);
    const T step_size = o.lr / (T(1) - std::pow(b1, t));
    const T root_bc2 = std::sqrt(T(1) - std::pow(b2, t));
    for_chunks(n, nthreads, 4.0, [&](index_t b, index_t e) {
        for (index_t i = b; i < e; ++i) {
            const T g = grad[i] + wd * param[i];
            const T mi = b1 * m[i] + (T(1) - b1) * g;
            const T vi = b2 * v[i] + (T(1) - b2) * g * g;
            m[i] = mi;
            v[i] = vi;
            param[i] -= step_size * mi / (std::sqrt(vi) / root_bc2 + eps);
        }
    });
}

template void sgd_step<float>(float*, const float*, float*, index_t, const SgdOptions<float>&,
                              int);
template void sgd_step<double>(double*, const double*, double*, index_t,
                               const SgdOptions<double>&, int);
template void adam_step<float>(float*, const float*, float*, float*, index_t,
                               const AdamOptions<float>&, int);
template void adam_step<double>(double*, const double*, double*, double*, index_t,
                                const AdamOptions<double>&, int);

}  // namespace nncore
