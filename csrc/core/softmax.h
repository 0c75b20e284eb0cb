// Softmax and log-softmax along one axis of a C-contiguous array seen as
// (outer, len, inner): element (o, l, i) at o*len*inner + l*inner + i.
#pragma once

#include "core/views.h"

namespace nncore {

struct AxisShape {
    index_t outer = 1, len = 1, inner = 1;
};

// y = softmax(x) (or log_softmax when `log`), max-shifted. x may equal y.
template <class T>
void softmax(const T* x, T* y, AxisShape s, bool log, int nthreads);

// softmax: gx = y * (gy - sum(gy * y)); log_softmax: gx = gy - exp(y) * sum(gy),
// sums along the axis. Any of y, gy, gx may alias.
template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, AxisShape s, bool log, int nthreads);

}  // namespace nncore
