// The one GEMM interface every caller uses: C = act(op(A) @ op(B) + bias).
//
// Transposes are views with swapped strides (MatView::t()), so the operands may have
// any positive strides; packing copies them into contiguous panels. The engine behind
// this interface (blocking, packing, threading, micro-kernels) can change without
// touching a caller.
#pragma once

#include "core/views.h"
#include "kernels/kernel_table.h"

namespace nncore {

template <class T>
struct GemmEpilogue {
    const T* bias = nullptr;  // nullptr or bias[0:n], added to every row of C
    kernels::Act act = kernels::Act::identity;
    T slope = T(0);           // leaky_relu slope
    // nullptr, or the pre-activation's buffer (the shape of c, row stride ldz, not
    // overlapping anything else): receives a @ b + bias as the activation is applied,
    // for activations whose backward needs it (kernels::act_from_input).
    T* z = nullptr;
    index_t ldz = 0;
    // nullptr, or called as block_done(block_ctx, r0, r1, c0, c1) once rows [r0, r1) x
    // columns [c0, c1) of c are final (their last k-block stored, the activation
    // applied), from the thread that computed them, while they are still in its cache:
    // the blocks cover every element of c exactly once (none when c is empty), in no
    // set order, possibly on several threads at once. Blocks are as large as the
    // driver's loops allow (a row panel of MR rows over all columns, a task's tiles, the
    // whole of c for a direct product). The callback may read and write c's block and
    // anything the product does not read; it must not touch the rest of c.
    void (*block_done)(void* ctx, index_t r0, index_t r1, index_t c0, index_t c1) = nullptr;
    void* block_ctx = nullptr;
};

// c = act(a @ b + bias) with a: (m, k), b: (k, n), c: (m, n); also ep.z = a @ b + bias
// when ep.z is given. c must be row-major
// (cs == 1) and must not overlap a or b. k == 0 gives act(bias) (or act(0)).
// Uses up to `nthreads` threads over rows and columns of c; k is never split, so the
// result is bitwise identical for any thread count (and with or without ep.block_done).
template <class T>
void gemm(MatView<const T> a, MatView<const T> b, MatView<T> c, const GemmEpilogue<T>& ep,
          int nthreads);

// The threads gemm() runs an m x n x k product on when given `nthreads` (1: it runs on
// the calling thread alone, whatever the pool does), for callers that would rather run
// such a product next to another one.
int gemm_threads(index_t m, index_t n, index_t k, int nthreads) noexcept;

}  // namespace nncore
