// NaN and infinities in a float array: the input check fit and predict make on their data
// (python/nncore/_inputs.py check_finite), read once at memory speed on the threads.
#pragma once

#include "core/views.h"

namespace nncore {

// The index of the first of n values that is NaN or infinite, or -1 when every one is
// finite. The same index at any thread count. T is float or double.
template <class T>
index_t first_nonfinite(const T* values, index_t n, int nthreads);

}  // namespace nncore
