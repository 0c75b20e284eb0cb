// Training metrics computed where the outputs are, not by a NumPy pass per step.
#pragma once

#include <cstdint>

#include "core/views.h"

namespace nncore {

// Correct predictions among `rows` rows of `cols` outputs (row-major):
// cols > 1: the row's argmax (the first maximum; a NaN counts as the maximum, as
// numpy.argmax) equals labels[r], or, with targets instead of labels, the argmax of the
// target row; cols == 1: (out > 0) == (target > 0.5). Exactly one of labels / targets
// is non-null.
template <class T>
std::int64_t count_correct(const T* out, index_t rows, index_t cols,
                           const std::int64_t* labels, const T* targets);

}  // namespace nncore
