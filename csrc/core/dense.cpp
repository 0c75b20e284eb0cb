#include "core/dense.h"

#include <algorithm>

#include "core/dispatch.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/workspace.h"

namespace nncore {

template <class T>
void dense_forward(MatView<const T> x, MatView<const T> w, const T* b, MatView<T> y,
                   kernels::Act act, T slope, int nthreads, MatView<T>* z) {
    GemmEpilogue<T> ep;
    ep.bias = b;
    ep.act = act;
    ep.slope = slope;
    if (z) {
        ep.z = z->data;
        ep.ldz = z->rs;
    }
    gemm(x, w, y, ep, nthreads);
}

template <class T>
void column_sums(MatView<const T> m, T* out, int nthreads) {
    const auto& k = kernel_set<T>();
    // Threads own column ranges; each column is summed over rows in index order.
    constexpr index_t kCols = 256;
    const index_t chunks = (m.cols + kCols - 1) / kCols;
    const int nt = std::min(nthreads, threads_for(double(m.rows) * double(m.cols)));
    parallel_for(chunks, nt, [&](index_t c) {
        const index_t j0 = c * kCols;
        const index_t n = std::min(kCols, m.cols - j0);
        T* acc = out + j0;
        std::fill(acc, acc + n, T(0));
        for (index_t i = 0; i < m.rows; ++i) k.add_inplace(acc, m.data + i * m.rs + j0, n);
    });
}

namespace {

// grad_w = x^T @ gz and grad_x = gz @ w^T: with a hook on grad_w's blocks, grad_x first
// (w is read before the hook may change it). The two are not run at once on two threads
// when each would run on one: the worker's product then reads w and leaves grad_x in the
// other core's cache, and at the 2 MFLOP products where that could pay, the crossing
// costs more than half the product (measured: 128-16-16-256-128-1 b32 1.22x, 256-32-256-
// 256-64-1 b16 1.16-1.23x slower at 2 threads than 1; MNIST-shaped and wide 1.5% faster).
template <class T>
void weight_and_input_grads(MatView<const T> x, MatView<const T> w, MatView<const T> gz,
                            MatView<T>* grad_x, MatView<T> grad_w, int nthreads,
                            void (*grad_w_done)(void*, index_t, index_t, index_t, index_t),
                            void* ctx) {
    GemmEpilogue<T> ep;
    ep.block_done = grad_w_done;
    ep.block_ctx = ctx;
    if (grad_w_done && grad_x) gemm(gz, w.t(), *grad_x, GemmEpilogue<T>{}, nthreads);
    gemm(x.t(), gz, grad_w, ep, nthreads);
    if (!grad_w_done && grad_x) gemm(gz, w.t(), *grad_x, GemmEpilogue<T>{}, nthreads);
}

// out[j] = sum over i of m[i * cols + j], each from +0 in row order (add_inplace's adds,
// row by row: the same bits), 16 columns at a time kept in registers over the rows.
template <class T>
void column_sums_small(const T* m, index_t rows, index_t cols, T* out) noexcept {
    constexpr index_t kBlock = 16;
    index_t j0 = 0;
    for (; j0 + kBlock <= cols; j0 += kBlock) {
        T acc[kBlock] = {};
        for (index_t i = 0; i < rows; ++i) {
            const T* r = m + i * cols + j0;
            for (index_t j = 0; j < kBlock; ++j) acc[j] += r[j];
        }
        std::copy(acc, acc + kBlock, out + j0);
    }
    for (index_t j = j0; j < cols; ++j) {
        T acc = T(0);
        for (index_t i = 0; i < rows; ++i) acc += m[i * cols + j];
        out[j] = acc;
    }
}

}  // namespace

template <class T>
void dense_backward(MatView<const T> x, MatView<const T> w, MatView<const T> v,
                    MatView<const T> grad_y, kernels::Act act, T slope, MatView<T>* grad_x,
                    MatView<T> grad_w, T* grad_b, int nthreads,
                    void (*grad_w_done)(void*, index_t, index_t, index_t, index_t), void* ctx) {
    const index_t batch = v.rows, out = v.cols;
    MatView<const T> gz = grad_y;
    if (act != kernels::Act::identity) {
        // One pass: grad_z = grad_y * act'(v), row by row within column chunks, with the
        // bias gradient summed from the chunk while it is still in L1 (rows in order).
        T* buf = Workspace::local().get<T>(Slot::grad_z, static_cast<std::size_t>(batch * out));
        const auto& k = kernel_set<T>();
        constexpr index_t kCols = 256;
        const index_t chunks = (out + kCols - 1) / kCols;
        const double cost = kernels::act_from_input(act) ? 40.0 : 4.0;
        // Also on the threads when the weight-gradient product that reads grad_z runs on
        // them: its tasks pack grad_z's column panels in about the same shares (gemm.cpp's
        // step 1), so each core mostly packs the columns it wrote (wide 1024 at 256 rows:
        // a 1 MiB pass ran on one core while the other waited); from 64 Ki elements.
        constexpr index_t kSplitElements = index_t(1) << 16;
        const int with_product =
            batch * out >= kSplitElements
                ? std::min(int(chunks), gemm_threads(x.cols, out, batch, nthreads))
                : 1;
        const int nt = std::min(
            nthreads, std::max(threads_for(cost * double(batch) * double(out)), with_product));
        if (chunks == 1 && v.rs == out && grad_y.rs == out) {
            // one chunk of whole rows (a small layer): the same elementwise products in one
            // call over the batch, then the bias sums row by row (the same order)
            k.activation_backward(act, v.data, grad_y.data, buf, batch * out, slope, false);
            if (grad_b) column_sums_small(buf, batch, out, grad_b);
            gz = row_major<const T>(buf, batch, out);
            weight_and_input_grads(x, w, gz, grad_x, grad_w, nthreads, grad_w_done, ctx);
            return;
        }
        parallel_for(chunks, nt, [&](index_t c) {
            const index_t j0 = c * kCols, n = std::min(kCols, out - j0);
            if (grad_b) std::fill(grad_b + j0, grad_b + j0 + n, T(0));
            for (index_t i = 0; i < batch; ++i) {
                T* gzi = buf + i * out + j0;
                k.activation_backward(act, v.data + i * v.rs + j0, grad_y.data + i * grad_y.rs + j0,
                                      gzi, n, slope, false);
                if (grad_b) k.add_inplace(grad_b + j0, gzi, n);
            }
        });
        gz = row_major<const T>(buf, batch, out);
    } else if (grad_b) {
        column_sums(gz, grad_b, nthreads);
    }
    weight_and_input_grads(x, w, gz, grad_x, grad_w, nthreads, grad_w_done, ctx);
}

template void dense_forward<float>(MatView<const float>, MatView<const float>, const float*,
                                   MatView<float>, kernels::Act, float, int, MatView<float>*);
template void dense_forward<double>(MatView<const double>, MatView<const double>, const double*,
                                    MatView<double>, kernels::Act, double, int,
                                    MatView<double>*);
template void dense_backward<float>(MatView<const float>, MatView<const float>,
                                    MatView<const float>, MatView<const float>, kernels::Act,
                                    float, MatView<float>*, MatView<float>, float*, int,
                                    void (*)(void*, index_t, index_t, index_t, index_t), void*);
template void dense_backward<double>(MatView<const double>, MatView<const double>,
                                     MatView<const double>, MatView<const double>, kernels::Act,
                                     double, MatView<double>*, MatView<double>, double*, int,
                                     void (*)(void*, index_t, index_t, index_t, index_t),
                                     void*);
template void column_sums<float>(MatView<const float>, float*, int);
template void column_sums<double>(MatView<const double>, double*, int);

}  // namespace nncore
