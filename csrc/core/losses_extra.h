// L1 (mean absolute error) and Huber losses with their gradients, in one pass.
//
// As the losses in losses.h: the first argument is (rows, per) C-contiguous, w (nullptr:
// all 1) weights each row, and
//   mean: sum_i w_i * L_i / (sum_i w_i * per),  sum: sum_i w_i * L_i,
//   none: per-element losses times w_i (the gradient is that of their sum),
// where L_i sums row i's elementwise losses. Sums are taken per fixed block of whole rows
// in index order: the same bits for any thread count.
//
// Elementwise, with d = pred - target (PyTorch's l1_loss and huber_loss):
//   l1:    |d|,                                   gradient sign(d) (0 at d = 0)
//   huber: 0.5 d^2 if |d| < delta, else delta * (|d| - 0.5 delta);
//          gradient d if |d| < delta, else delta * sign(d)
#pragma once

#include "core/losses.h"

namespace nncore {

// Returns the reduced loss (0 for Reduction::none). Throws std::invalid_argument for a
// mean over zero elements or zero total weight, and (huber) for delta <= 0 or not finite.
template <class T>
T l1_loss(const T* pred, const T* target, const T* w, index_t rows, index_t per,
          Reduction red, LossOutput<T> out, int nthreads);

template <class T>
T huber_loss(const T* pred, const T* target, const T* w, index_t rows, index_t per,
             Reduction red, T delta, LossOutput<T> out, int nthreads);

}  // namespace nncore
