// A dense layer, y = act(x @ w + b), and its gradients.
#pragma once

#include "core/views.h"
#include "kernels/kernel_table.h"

namespace nncore {

// y = act(x @ w + b). x: (batch, in), w: (in, out), b: nullptr or (out,), y: (batch, out)
// row-major. When z is given (row-major, (batch, out), overlapping nothing else) it
// receives the pre-activation x @ w + b, written by the GEMM's store next to y: what
// dense_backward needs for the activations of kernels::act_from_input (gelu, gelu_tanh,
// silu, softplus). Shapes are checked by the caller.
template <class T>
void dense_forward(MatView<const T> x, MatView<const T> w, const T* b, MatView<T> y,
                   kernels::Act act, T slope, int nthreads, MatView<T>* z = nullptr);

// From the gradient grad_y on the layer's output and `v` (both (batch, out)): v is the
// layer's output y, or its pre-activation z (dense_forward's z) for the activations of
// kernels::act_from_input. grad_z = grad_y * act'(v); grad_w = x^T @ grad_z (in, out);
// grad_b = column sums of grad_z (out,), summed in row order; grad_x = grad_z @ w^T
// (batch, in) when non-null. Outputs are row-major and must not overlap the inputs.
// grad_w_done, when given, is the grad_w product's GemmEpilogue::block_done (with
// ctx): called on each block of grad_w once it is final (e.g. to update the weights
// while the block is hot); grad_x is then computed first, so it reads w before any
// block is done (the order of the two products changes no bit).
template <class T>
void dense_backward(MatView<const T> x, MatView<const T> w, MatView<const T> v,
                    MatView<const T> grad_y, kernels::Act act, T slope, MatView<T>* grad_x,
                    MatView<T> grad_w, T* grad_b, int nthreads,
                    void (*grad_w_done)(void*, index_t, index_t, index_t, index_t) = nullptr,
                    void* ctx = nullptr);

// out[j] = sum over i of m(i, j), adding rows in index order (m row-major).
template <class T>
void column_sums(MatView<const T> m, T* out, int nthreads);

}  // namespace nncore
