// Gradient health of one Dense layer after a training step (fit(..., health=True)): the
// numbers nncore.GradientHealth records, computed by one core function for both engines
// so that they agree bit for bit.
#pragma once

#include "core/views.h"
#include "kernels/kernel_table.h"

namespace nncore {

struct LayerHealth {
    double grad_norm = 0;     // |grad_w|
    double weight_norm = 0;   // |w| after the step
    double update_ratio = 0;  // |w - prev| / (|prev| + 1e-12)
    double saturated = 0;     // sigmoid: share of y < 0.01 or y > 0.99; tanh: |y| > 0.99
    double dead = 0;          // relu: share of columns that are <= 0 in every row
};

// w, prev, grad_w: n values each (prev holds the weights before the step and is set to w).
// y: the layer's output, rows x cols row-major (may be null when rows == 0), activated by
// act. Each norm is the square root of a sum of squares in double added in fixed blocks in
// index order, so the result is the same for any thread count.
template <class T>
LayerHealth layer_health(const T* w, T* prev, const T* grad_w, index_t n, const T* y,
                         index_t rows, index_t cols, kernels::Act act, int nthreads);

}  // namespace nncore
