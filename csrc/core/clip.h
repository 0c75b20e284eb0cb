// Gradient clipping over all parameters of a model, as torch.nn.utils.clip_grad_*_.
#pragma once

#include "core/views.h"

namespace nncore {

// Every element of every gradient into [-clip_value, clip_value] (NaN stays NaN).
template <class T>
void clip_grad_value(T* const* grads, const index_t* sizes, index_t count, double clip_value);

// The global L2 norm of all gradients: the square root of the sum, in array order, of
// each array's sum of squares (the kernel set's dot, in its fixed order). When it is
// above max_norm, every element is multiplied by T(max_norm / (norm + 1e-6)). Returns
// the norm before clipping.
template <class T>
double clip_grad_norm(T* const* grads, const index_t* sizes, index_t count, double max_norm);

// The global norm alone (no clipping).
template <class T>
double grad_norm(const T* const* grads, const index_t* sizes, index_t count);

}  // namespace nncore
