// Packing operands of the GEMM into the panel layouts the tile kernels read.
#pragma once

#include "core/views.h"

namespace nncore {

// A[0:m, 0:kc] (m <= mr) -> dst[p*mr + i], rows m..mr-1 zero.
template <class T>
void pack_a_panel(MatView<const T> a, index_t m, index_t kc, int mr, T* dst) noexcept;

// B[0:kc, 0:n] (n <= nr) -> dst[p*nr + j], columns n..nr-1 zero.
template <class T>
void pack_b_panel(MatView<const T> b, index_t kc, index_t n, int nr, T* dst) noexcept;

}  // namespace nncore
