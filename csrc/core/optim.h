// Optimiser updates, in place over contiguous buffers of n values.
#pragma once

#include <cmath>

#include "core/views.h"
#include "kernels/kernel_table.h"

namespace nncore {

// Hyper-parameters stay in double; each kernel rounds what it derives from them once.
struct SgdOptions {
    double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
    bool nesterov = false;
    bool first = false;  // the optimiser's first step: velocity holds no history yet
};

// As torch.optim.SGD: g = grad + weight_decay * param; v = g on the first step (torch
// starts its momentum buffer as the gradient, undamped), else
// v = momentum * v + (1 - dampening) * g; step = nesterov ? g + momentum * v : v (g itself
// when momentum == 0); param -= lr * step. velocity may be nullptr when momentum == 0.
// The arithmetic is the kernel set's sgd entry (kernel_table.h).
template <class T>
void sgd_step(T* param, const T* grad, T* velocity, index_t n, const SgdOptions& o,
              int nthreads);

// The kernel's hyper-parameters for `o`, each rounded to T once (sgd_step's, and the
// native trainer's per-group update, which calls the kernel itself).
template <class T>
kernels::SgdHyper<T> sgd_hyper(const SgdOptions& o) {
    kernels::SgdHyper<T> h;
    h.lr = static_cast<T>(o.lr);
    h.momentum = static_cast<T>(o.momentum);
    h.weight_decay = static_cast<T>(o.weight_decay);
    h.keep = static_cast<T>(1.0 - double(o.dampening));
    h.nesterov = o.nesterov;
    h.first = o.first;
    return h;
}

struct AdamOptions {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
    std::int64_t step = 1;  // 1 on the first update
    bool decoupled = false;  // AdamW: param *= 1 - lr * weight_decay instead of the L2 term
};

// As torch.optim.Adam: g = grad + weight_decay * param; m = b1 m + (1-b1) g;
// v = b2 v + (1-b2) g^2; param -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// With max_v (amsgrad) max_v = max(max_v, v) takes v's place in the denominator; with
// o.decoupled (torch.optim.AdamW) the parameter is first scaled by 1 - lr * weight_decay
// and g is the gradient alone. The arithmetic is the kernel set's adam entry.
template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, index_t n, const AdamOptions& o,
               int nthreads, T* max_v = nullptr);

// The kernel's hyper-parameters for `o` (adam_step's): constants in double, then rounded
// once (1 - beta in float32 arithmetic would carry the rounding error of beta itself into
// every update).
template <class T>
kernels::AdamHyper<T> adam_hyper(const AdamOptions& o) {
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
    return h;
}

struct RmspropOptions {
    double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
    bool centered = false;
};

// As torch.optim.RMSprop (the kernel set's rmsprop entry): square_avg always; buf when
// momentum > 0 and grad_avg when centered (else nullptr).
template <class T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* buf, T* grad_avg, index_t n,
                  const RmspropOptions& o, int nthreads);

// The kernel's hyper-parameters for `o` (rmsprop_step's), each rounded to T once.
template <class T>
kernels::RmspropHyper<T> rmsprop_hyper(const RmspropOptions& o) {
    const double alpha = double(o.alpha);
    kernels::RmspropHyper<T> h;
    h.lr = static_cast<T>(o.lr);
    h.alpha = static_cast<T>(alpha);
    h.one_alpha = static_cast<T>(1.0 - alpha);
    h.eps = static_cast<T>(o.eps);
    h.weight_decay = static_cast<T>(o.weight_decay);
    h.momentum = static_cast<T>(o.momentum);
    h.centered = o.centered;
    return h;
}

}  // namespace nncore
