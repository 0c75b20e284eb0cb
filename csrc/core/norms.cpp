// Layer and batch normalisation on the kernel table (kernels/*/norms.h): the core splits
// the work into tasks fixed by the shapes and computes the per-feature scalars.
#include "core/norms.h"

#include <algorithm>
#include <cmath>

#include "core/dispatch.h"
#include "core/parallel.h"

namespace nncore {
namespace {

// Features per BatchNorm task and columns per LayerNorm parameter-gradient task: a
// multiple of every set's vector block (4 vectors of 16 floats), small enough that a
// task's per-feature scalars live on the stack. Work per task never shapes a sum.
constexpr index_t kNormCols = 64;
// Rows per LayerNorm row task (each row is one kernel call, whoever runs it).
constexpr index_t kNormRows = 16;

index_t blocks(index_t n, index_t size) { return (n + size - 1) / size; }

}  // namespace

template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T eps, T* y, T* mean, T* rstd,
                        index_t rows, index_t n, int nthreads) {
    const auto& k = kernel_set<T>();
    const int nt = std::min(nthreads, threads_for(6.0 * double(rows) * double(n)));
    parallel_for(blocks(rows, kNormRows), nt, [&](index_t t) {
        const index_t end = std::min(rows, (t + 1) * kNormRows);
        for (index_t i = t * kNormRows; i < end; ++i) {
            k.layer_norm_row(x + i * n, w, b, eps, y + i * n, mean + i, rstd + i, n);
        }
    });
}

template <class T>
void layer_norm_backward(const T* x, const T* mean, const T* rstd, const T* w,
                         const T* grad_y, T* grad_x, T* grad_w, T* grad_b, index_t rows,
                         index_t n, int nthreads) {
    const auto& k = kernel_set<T>();
    // Row tasks (grad_x) first, then column tasks (the parameter gradients): disjoint
    // outputs, each computed one fixed way.
    const index_t row_tasks = grad_x ? blocks(rows, kNormRows) : 0;
    const index_t col_tasks = (grad_w || grad_b) ? blocks(n, kNormCols) : 0;
    const int nt = std::min(nthreads, threads_for(10.0 * double(rows) * double(n)));
    parallel_for(row_tasks + col_tasks, nt, [&](index_t t) {
        if (t < row_tasks) {
            const index_t end = std::min(rows, (t + 1) * kNormRows);
            for (index_t i = t * kNormRows; i < end; ++i) {
                k.layer_norm_row_backward(x + i * n, mean[i], rstd[i], w, grad_y + i * n,
                                          grad_x + i * n, n);
            }
            return;
        }
        const index_t j0 = (t - row_tasks) * kNormCols, nc = std::min(kNormCols, n - j0);
        T scratch_w[kNormCols], scratch_b[kNormCols];
        k.layer_norm_param_grads(x + j0, grad_y + j0, n, rows, nc, mean, rstd,
                                 grad_w ? grad_w + j0 : scratch_w,
                                 grad_b ? grad_b + j0 : scratch_b);
    });
}

template <class T>
void batch_norm_forward(const T* x, const T* w, const T* b, T* running_mean, T* running_var,
                        BatchNormMode mode, T eps, T* y, T* mean, T* rstd, index_t rows,
                        index_t n, int nthreads) {
    const auto& k = kernel_set<T>();
    const double mom = mode.momentum, keep = 1.0 - mode.momentum;
    const int nt = std::min(nthreads, threads_for(8.0 * double(rows) * double(n)));
    parallel_for(blocks(n, kNormCols), nt, [&](index_t t) {
        const index_t j0 = t * kNormCols, nc = std::min(kNormCols, n - j0);
        T m2[kNormCols], s[kNormCols], c[kNormCols];
        T* mu = mean + j0;
        T* rs = rstd + j0;
        if (mode.training) {
            k.batch_norm_stats(x + j0, n, rows, nc, mu, m2);
            for (index_t j = 0; j < nc; ++j) {
                rs[j] = T(1) / std::sqrt(m2[j] / T(rows) + eps);
                // torch's update: momentum * batch + (1 - momentum) * running, in double
                if (running_mean) {
                    T& r = running_mean[j0 + j];
                    r = static_cast<T>(mom * double(mu[j]) + keep * double(r));
                }
                if (running_var) {
                    T& r = running_var[j0 + j];
                    const double unbiased = double(m2[j]) / double(rows - 1);
                    r = static_cast<T>(mom * unbiased + keep * double(r));
                }
            }
        } else {
            for (index_t j = 0; j < nc; ++j) {
                mu[j] = running_mean[j0 + j];
                rs[j] = T(1) / std::sqrt(running_var[j0 + j] + eps);
            }
        }
        for (index_t j = 0; j < nc; ++j) {
            s[j] = w ? rs[j] * w[j0 + j] : rs[j];
            c[j] = b ? b[j0 + j] : T(0);
        }
        k.batch_norm_apply(x + j0, y + j0, n, rows, nc, mu, s, c);
    });
}

template <class T>
void batch_norm_backward(const T* x, const T* mean, const T* rstd, const T* w,
                         const T* grad_y, bool training, T* grad_x, T* grad_w, T* grad_b,
                         index_t rows, index_t n, int nthreads) {
    const auto& k = kernel_set<T>();
    const int nt = std::min(nthreads, threads_for(10.0 * double(rows) * double(n)));
    parallel_for(blocks(n, kNormCols), nt, [&](index_t t) {
        const index_t j0 = t * kNormCols, nc = std::min(kNormCols, n - j0);
        T sg[kNormCols], sgd[kNormCols], kk[kNormCols], a[kNormCols], bb[kNormCols];
        const T* mu = mean + j0;
        const T* rs = rstd + j0;
        k.batch_norm_grad_sums(x + j0, grad_y + j0, n, rows, nc, mu, sg, sgd);
        for (index_t j = 0; j < nc; ++j) {
            const T gw = sgd[j] * rs[j];  // sum of grad_y * xhat
            if (grad_w) grad_w[j0 + j] = gw;
            if (grad_b) grad_b[j0 + j] = sg[j];
            kk[j] = w ? w[j0 + j] * rs[j] : rs[j];
            a[j] = training ? sg[j] / T(rows) : T(0);
            bb[j] = training ? rs[j] * gw / T(rows) : T(0);
        }
        if (grad_x) {
            k.batch_norm_backward_apply(x + j0, grad_y + j0, grad_x + j0, n, rows, nc, mu, kk,
                                        a, bb);
        }
    });
}

#define NNCORE_NORMS(T)                                                                    \
    template void layer_norm_forward<T>(const T*, const T*, const T*, T, T*, T*, T*,       \
                                        index_t, index_t, int);                            \
    template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, \
                                         T*, T*, T*, index_t, index_t, int);               \
    template void batch_norm_forward<T>(const T*, const T*, const T*, T*, T*,              \
                                        BatchNormMode, T, T*, T*, T*, index_t, index_t,    \
                                        int);                                              \
    template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, \
                                         bool, T*, T*, T*, index_t, index_t, int);
NNCORE_NORMS(float)
NNCORE_NORMS(double)
#undef NNCORE_NORMS

}  // namespace nncore
