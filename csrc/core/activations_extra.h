// GELU, SiLU and softplus, forward and backward. Their derivatives are not functions of
// the output, so the backward passes take the pre-activation x (as PyTorch's do):
//   gelu(x)      = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))           (approximate = none)
//                = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))     (approximate = tanh)
//   silu(x)      = x * sigmoid(x)
//   softplus(x)  = log1p(exp(x)), and x itself for x > 20 (PyTorch's threshold, beta = 1)
// Elementwise over n values; y (or grad_x) may be the same buffer as an input.
#pragma once

#include "core/views.h"

namespace nncore {

enum class ExtraAct : int { gelu = 0, gelu_tanh = 1, silu = 2, softplus = 3 };

template <class T>
void extra_activation(ExtraAct act, const T* x, T* y, index_t n, int nthreads);

// grad_x[i] = grad_y[i] * act'(x[i])
template <class T>
void extra_activation_backward(ExtraAct act, const T* x, const T* grad_y, T* grad_x,
                               index_t n, int nthreads);

}  // namespace nncore
