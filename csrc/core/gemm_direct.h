// Tiny products without packing (as OpenBLAS's "direct" path and LIBXSMM): for the
// XOR-sized layers of the seeds, packing and blocking cost more than the product.
#pragma once

#include "core/gemm.h"

namespace nncore {

// Products at most this many multiply-adds (m * n * k) take gemm_direct.
constexpr double kDirectGemmWork = 1024;

// c = act(a @ b + bias) with plain loops: each c(i, j) sums a(i, p) * b(p, j) in p order
// from zero, then adds the bias (copied to ep.z when given) and applies the activation
// (the kernel set's). One
// thread; the same shapes always take this path, so results stay reproducible.
template <class T>
void gemm_direct(MatView<const T> a, MatView<const T> b, MatView<T> c, const GemmEpilogue<T>& ep);

}  // namespace nncore
