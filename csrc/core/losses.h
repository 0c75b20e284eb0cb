// Losses with their gradients, computed together in one pass when both are wanted.
//
// The first argument is seen as (rows, per) C-contiguous: rows = batch (samples) and
// per = values per sample. Sample weights w (nullptr: all 1) weight each row.
//   mean: sum_i w_i * L_i / (sum_i w_i * per)      (MSE, BCE: L_i sums the row)
//   mean: sum_i w_i * L_i / sum_i w_i              (cross-entropy: per = classes)
//   sum:  sum_i w_i * L_i
//   none: per-element (MSE, BCE) or per-row (cross-entropy) losses times w_i; the
//         gradient is that of their sum.
// Sums are taken over fixed blocks in index order: the same bits for any thread count.
//
// Elementwise, with d = pred - target (PyTorch's l1_loss and huber_loss):
//   l1:    |d|,                                   gradient sign(d) (0 at d = 0)
//   huber: 0.5 d^2 if |d| < delta, else delta * (|d| - 0.5 delta);
//          gradient d if |d| < delta, else delta * sign(d)
#pragma once

#include "core/enums.h"
#include "core/views.h"

namespace nncore {

template <class T>
struct LossOutput {
    T* loss_none = nullptr;  // per-element/per-row losses for Reduction::none, or nullptr
    T* grad = nullptr;       // gradient (shape of the first argument), or nullptr
};

// Returns the reduced loss (0 for Reduction::none). Throws std::invalid_argument for a
// mean over zero elements or zero total weight.
template <class T>
T mse_loss(const T* pred, const T* target, const T* w, index_t rows, index_t per,
           Reduction red, LossOutput<T> out, int nthreads);

template <class T>
T bce_with_logits(const T* logits, const T* target, const T* w, index_t rows, index_t per,
                  Reduction red, LossOutput<T> out, int nthreads);

// labels: (rows,) in [0, classes) (checked here, before any work, naming
// target[i]); or probs: (rows, classes). Exactly one of labels / probs is non-null.
template <class T>
T cross_entropy(const T* logits, const std::int64_t* labels, const T* probs, const T* w,
                index_t rows, index_t classes, Reduction red, LossOutput<T> out, int nthreads);

// L1 and Huber, as above; huber also throws for delta <= 0 or not finite.
template <class T>
T l1_loss(const T* pred, const T* target, const T* w, index_t rows, index_t per,
          Reduction red, LossOutput<T> out, int nthreads);

template <class T>
T huber_loss(const T* pred, const T* target, const T* w, index_t rows, index_t per,
             Reduction red, T delta, LossOutput<T> out, int nthreads);

}  // namespace nncore
