#include "core/optim.h"

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
    const kernels::AdamHyper<T> h = adam_hyper<T>(o);
    const auto& k = kernel_set<T>();
    for_chunks(n, nthreads, 4.0, [&](index_t b, index_t e) {
        k.adam(param + b, grad + b, m + b, v + b, max_v ? max_v + b : nullptr, e - b, h);
    });
}

template <class T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* buf, T* grad_avg, index_t n,
                  const RmspropOptions& o, int nthreads) {
    const kernels::RmspropHyper<T> h = rmsprop_hyper<T>(o);
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
