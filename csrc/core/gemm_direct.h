// Tiny products without packing (as OpenBLAS's "direct" path and LIBXSMM): for the
// XOR-sized layers of the seeds, packing and blocking cost more than the product.
#pragma once

#include "core/gemm.h"

namespace nncore {

// Products at most this many multiply-adds (m * n * k) take gemm_direct.
constexpr double kDirectGemmWork = 1024;

// Whether gemm() computes an (m, n) x k product with gemm_direct (its rule, in one place).
inline bool direct_product(index_t m, index_t n, index_t k) noexcept {
    return m > 0 && n > 0 && k > 0 && double(m) * double(n) * double(k) <= kDirectGemmWork;
}

// The direct product's arithmetic, shared by gemm_direct and the native trainer's layers
// (core/train.cpp), so both give the same bits: c(i, j) = sum over p, in p order from
// zero, of a(i, p) * b(p, j) (each product rounded, then added), then + bias[j] when
// bias is given. a(i, p) = a[i * ars + p * acs], b(p, j) = b[p * brs + j * bcs], c(i, j) =
// c[i * ldc + j]; c overlaps neither a, b nor bias. Only the loop order changes with the
// strides (rows of b contiguous: c's row is accumulated across p; else dot products),
// never an element's operations.
template <class T>
void direct_mul(const T* a, index_t ars, index_t acs, const T* b, index_t brs, index_t bcs,
                T* c, index_t ldc, index_t M, index_t N, index_t K, const T* bias) noexcept;

// c = act(a @ b + bias) with plain loops (direct_mul), then the pre-activation copied to
// ep.z when given and the activation applied (the kernel set's), then ep.block_done
// once over the whole of c. One
// thread; the same shapes always take this path, so results stay reproducible.
template <class T>
void gemm_direct(MatView<const T> a, MatView<const T> b, MatView<T> c, const GemmEpilogue<T>& ep);

}  // namespace nncore
