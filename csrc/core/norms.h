// Layer and batch normalisation, forward and backward, with PyTorch's semantics.
//
// Arrays are C-contiguous: x, y, grad_y, grad_x are rows x n (row stride n); per-row
// statistics (LayerNorm) have `rows` values, per-feature ones (BatchNorm) n. w and b (the
// affine weight and bias) may be nullptr: then 1 and 0. Arguments are checked by the
// caller (the bindings, the trainer): n >= 1, and rows >= 2 for BatchNorm in training.
//
// Threads: LayerNorm runs row tasks (each row computed by one kernel call) and column
// tasks (its parameter gradients, each column summed over rows in index order);
// BatchNorm runs tasks of kNormCols features, each feature's sums over rows in index
// order. No sum is ever split across tasks, so results are bitwise identical for any
// thread count and schedule.
#pragma once

#include "core/views.h"

namespace nncore {

// y = (x - mean) * rstd * w + b per row, with mean and var (biased) of the row and
// rstd = 1 / sqrt(var + eps); mean and rstd (rows values each) are stored.
template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T eps, T* y, T* mean, T* rstd,
                        index_t rows, index_t n, int nthreads);

// grad_x from grad_y through the row normalisation (the forward's mean and rstd), and
// when grad_w / grad_b are not nullptr: grad_w[j] = sum_i grad_y(i, j) * xhat(i, j),
// grad_b[j] = sum_i grad_y(i, j). grad_x may be nullptr (not wanted).
template <class T>
void layer_norm_backward(const T* x, const T* mean, const T* rstd, const T* w,
                         const T* grad_y, T* grad_x, T* grad_w, T* grad_b, index_t rows,
                         index_t n, int nthreads);

// What a BatchNorm forward does besides normalising.
struct BatchNormMode {
    bool training = true;  // batch statistics (and the running update) or the running ones
    double momentum = 0.1; // running = (1 - momentum) * running + momentum * batch value
};

// Training: mean[j] and var[j] (biased) over the rows, rstd[j] = 1 / sqrt(var[j] + eps),
// and, when running_mean / running_var are not nullptr, running_mean[j] = momentum *
// mean[j] + (1 - momentum) * running_mean[j] and running_var[j] the same with the
// unbiased variance m2[j] / (rows - 1) (torch.nn.BatchNorm1d's update, in that order).
// Eval: mean[j] = running_mean[j], rstd[j] = 1 / sqrt(running_var[j] + eps) (both running
// buffers required). Then y(i, j) = (x(i, j) - mean[j]) * (rstd[j] * w[j]) + b[j].
template <class T>
void batch_norm_forward(const T* x, const T* w, const T* b, T* running_mean, T* running_var,
                        BatchNormMode mode, T eps, T* y, T* mean, T* rstd, index_t rows,
                        index_t n, int nthreads);

// grad_w[j] = sum_i grad_y(i, j) * xhat(i, j), grad_b[j] = sum_i grad_y(i, j) (each may
// be nullptr), and grad_x: in training through the batch statistics,
// w rstd / rows * (rows gy - grad_b - xhat grad_w); in eval (the statistics are
// constants) w rstd gy. grad_x may be nullptr (not wanted).
template <class T>
void batch_norm_backward(const T* x, const T* mean, const T* rstd, const T* w,
                         const T* grad_y, bool training, T* grad_x, T* grad_w, T* grad_b,
                         index_t rows, index_t n, int nthreads);

}  // namespace nncore
