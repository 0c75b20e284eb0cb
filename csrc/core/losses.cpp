#include "core/losses.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/dispatch.h"
#include "core/labels.h"
#include "core/parallel.h"
#include "core/reduction.h"

namespace nncore {
namespace {

// Fixed blocks of whole rows (at least kBlock elements each, unless rows are longer).
constexpr index_t kBlock = 8192;

// n zeroed values: on the stack up to N (a small batch allocates nothing), else on the heap.
template <class V, std::size_t N>
class Scratch {
public:
    explicit Scratch(index_t n) : many_(static_cast<std::size_t>(n > index_t(N) ? n : 0)) {
        if (n <= index_t(N)) std::fill(few_, few_ + n, V(0));
    }
    V* data() noexcept { return many_.empty() ? few_ : many_.data(); }

private:
    V few_[N];
    std::vector<V> many_;
};

// Elementwise losses (MSE, BCE): kernel(x, t, l, g, n, gscale) -> sum of losses.
template <class T, class Kernel>
T elementwise_loss(const char* fn, Kernel kernel, const T* x, const T* t, const T* w,
                   index_t rows, index_t per, Reduction red, LossOutput<T> out, int nthreads) {
    const T denom = mean_denominator(fn, w, rows, per, red);
    const index_t total = rows * per;
    if (total == 0) return T(0);
    const auto& k = kernel_set<T>();
    if (!w) {
        const T gscale = T(1) / denom;
        const index_t blocks = (total + kBlock - 1) / kBlock;
        if (blocks == 1) {  // a small batch: one kernel call, no threads to decide (same sum)
            double s = 0.0;
            s += kernel(x, t, out.loss_none, out.grad, total, gscale);
            return red == Reduction::none ? T(0) : static_cast<T>(s / double(denom));
        }
        // the blocks' sums: on the stack for batches of up to 8 blocks (no allocation)
        double few[8];
        std::vector<double> many(static_cast<std::size_t>(blocks > 8 ? blocks : 0));
        double* partial = blocks > 8 ? many.data() : few;
        const int nt = std::min(nthreads, threads_for(double(total) * 20.0));
        parallel_for(blocks, nt, [&](index_t bi) {
            const index_t b = bi * kBlock, n = std::min(kBlock, total - b);
            partial[bi] = kernel(x + b, t + b, out.loss_none ? out.loss_none + b : nullptr,
                                 out.grad ? out.grad + b : nullptr, n, gscale);
        });
        double s = 0.0;
        for (index_t bi = 0; bi < blocks; ++bi) s += partial[bi];
        return red == Reduction::none ? T(0) : static_cast<T>(s / double(denom));
    }
    Scratch<double, 64> scratch(rows);
    double* partial = scratch.data();
    const int nt = std::min(nthreads, threads_for(double(total) * 20.0));
    parallel_for(rows, nt, [&](index_t r) {
        const index_t b = r * per;
        const T wr = w[r];
        T* l = out.loss_none ? out.loss_none + b : nullptr;
        partial[r] = wr * kernel(x + b, t + b, l, out.grad ? out.grad + b : nullptr, per,
                                 wr / denom);
        if (l) k.scale_add(l, wr, T(0), l, per);
    });
    double s = 0.0;
    for (index_t r = 0; r < rows; ++r) s += partial[r];
    return red == Reduction::none ? T(0) : static_cast<T>(s / double(denom));
}

// elementwise_loss's mean over one block without weights (a small batch: a tiny
// network's step) without the frame of its general case: the same operations in the
// same order, so the same bits.
inline bool small_mean(const void* w, index_t rows, index_t per, Reduction red) noexcept {
    return !w && red == Reduction::mean && rows > 0 && per > 0 && rows * per <= kBlock;
}

template <class T, class Kernel>
T small_mean_loss(Kernel kernel, const T* x, const T* t, index_t rows, index_t per,
                  LossOutput<T> out) noexcept {
    const T denom = T(rows) * T(per);
    double s = 0.0;
    s += kernel(x, t, out.loss_none, out.grad, rows * per, T(1) / denom);
    return static_cast<T>(s / double(denom));
}

// L1 and Huber: plain loops at baseline flags, one pass over memory-bound data (the
// compiler vectorises them), rather than entries of every kernel set.

// One elementwise loss: value(d) and grad(d) of d = pred - target.
template <class T>
struct L1 {
    T value(T d) const noexcept { return std::fabs(d); }
    T grad(T d) const noexcept { return d > T(0) ? T(1) : (d < T(0) ? T(-1) : d * T(0)); }
};

template <class T>
struct Huber {
    T delta;
    T value(T d) const noexcept {
        const T a = std::fabs(d);
        return a < delta ? T(0.5) * d * d : delta * (a - T(0.5) * delta);
    }
    T grad(T d) const noexcept {
        if (d < -delta) return -delta;
        if (d > delta) return delta;
        return d;  // NaN stays NaN
    }
};

// Sum of the losses of n elements; writes loss_none and grad (times scale) when given.
template <class T, class L>
double run(const L& loss, const T* p, const T* t, T* l, T* g, index_t n, T lscale,
           T gscale) noexcept {
    double s = 0.0;
    for (index_t i = 0; i < n; ++i) {
        const T d = p[i] - t[i];
        const T v = loss.value(d);
        s += double(v);
        if (l) l[i] = lscale * v;
        if (g) g[i] = gscale * loss.grad(d);
    }
    return s;
}

template <class T, class L>
T reduce(const char* fn, const L& loss, const T* p, const T* t, const T* w, index_t rows,
         index_t per, Reduction red, LossOutput<T> out, int nthreads) {
    const T denom = mean_denominator(fn, w, rows, per, red);
    const index_t total = rows * per;
    if (total == 0) return T(0);
    // Blocks of whole rows, at least kBlock elements (one row when rows are longer).
    const index_t rows_per_block = std::max<index_t>(1, kBlock / std::max<index_t>(per, 1));
    const index_t blocks = (rows + rows_per_block - 1) / rows_per_block;
    Scratch<double, 8> scratch(blocks);
    double* partial = scratch.data();
    const int nt = std::min(nthreads, threads_for(double(total) * 8.0));
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t r0 = bi * rows_per_block, r1 = std::min(rows, r0 + rows_per_block);
        double s = 0.0;
        for (index_t r = r0; r < r1; ++r) {
            const index_t b = r * per;
            const T wr = w ? w[r] : T(1);
            const double row = run(loss, p + b, t + b, out.loss_none ? out.loss_none + b : nullptr,
                                   out.grad ? out.grad + b : nullptr, per, wr, wr / denom);
            s += w ? double(wr) * row : row;
        }
        partial[bi] = s;
    });
    if (red == Reduction::none) return T(0);
    double s = 0.0;
    for (index_t bi = 0; bi < blocks; ++bi) s += partial[bi];
    return static_cast<T>(s / double(denom));
}

}  // namespace

template <class T>
T mse_loss(const T* pred, const T* target, const T* w, index_t rows, index_t per,
           Reduction red, LossOutput<T> out, int nthreads) {
    if (small_mean(w, rows, per, red))
        return small_mean_loss(kernel_set<T>().mse, pred, target, rows, per, out);
    return elementwise_loss("mse_loss", kernel_set<T>().mse, pred, target, w, rows, per, red,
                            out, nthreads);
}

template <class T>
T bce_with_logits(const T* logits, const T* target, const T* w, index_t rows, index_t per,
                  Reduction red, LossOutput<T> out, int nthreads) {
    if (small_mean(w, rows, per, red))
        return small_mean_loss(kernel_set<T>().bce_logits, logits, target, rows, per, out);
    return elementwise_loss("binary_cross_entropy_with_logits", kernel_set<T>().bce_logits,
                            logits, target, w, rows, per, red, out, nthreads);
}

template <class T>
T cross_entropy(const T* logits, const std::int64_t* labels, const T* probs, const T* w,
                index_t rows, index_t classes, Reduction red, LossOutput<T> out, int nthreads) {
    const char* fn = "cross_entropy";
    if (labels) check_labels(labels, rows, classes, fn);
    NNCORE_CHECK(classes > 0, fn, ": logits must have at least one class; got 0 columns");
    const T denom = mean_denominator(fn, w, rows, index_t(1), red);
    if (rows == 0) return T(0);
    const auto& k = kernel_set<T>();
    const int nt = std::min(nthreads, threads_for(double(rows) * double(classes) * 20.0));
    // The kernel's rows (ce_row / ce_probs_row in kernels/ce_row.h; SIMD sets take label
    // rows one per lane), fixed blocks of rows over the threads, then the weighted sum in
    // row order.
    Scratch<T, 256> scratch(rows);
    T* lossv = scratch.data();
    constexpr index_t kRows = 512;
    const index_t blocks = (rows + kRows - 1) / kRows;
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t r0 = bi * kRows, n = std::min(kRows, rows - r0);
        const T* x = logits + r0 * classes;
        const T* wb = w ? w + r0 : nullptr;
        T* g = out.grad ? out.grad + r0 * classes : nullptr;
        if (labels) {
            k.ce_labels(x, labels + r0, wb, denom, lossv + r0, g, n, classes);
        } else {
            k.ce_probs(x, probs + r0 * classes, wb, denom, lossv + r0, g, n, classes);
        }
    });
    double total = 0.0;
    for (index_t r = 0; r < rows; ++r) {
        const T v = (w ? w[r] : T(1)) * lossv[r];
        if (out.loss_none) out.loss_none[r] = v;
        total += v;
    }
    return red == Reduction::none ? T(0) : static_cast<T>(total / double(denom));
}

template float mse_loss<float>(const float*, const float*, const float*, index_t, index_t,
                               Reduction, LossOutput<float>, int);
template double mse_loss<double>(const double*, const double*, const double*, index_t, index_t,
                                 Reduction, LossOutput<double>, int);
template float bce_with_logits<float>(const float*, const float*, const float*, index_t,
                                      index_t, Reduction, LossOutput<float>, int);
template double bce_with_logits<double>(const double*, const double*, const double*, index_t,
                                        index_t, Reduction, LossOutput<double>, int);
template float cross_entropy<float>(const float*, const std::int64_t*, const float*,
                                    const float*, index_t, index_t, Reduction,
                                    LossOutput<float>, int);
template double cross_entropy<double>(const double*, const std::int64_t*, const double*,
                                      const double*, index_t, index_t, Reduction,
                                      LossOutput<double>, int);

template <class T>
T l1_loss(const T* pred, const T* target, const T* w, index_t rows, index_t per,
          Reduction red, LossOutput<T> out, int nthreads) {
    return reduce("l1_loss", L1<T>{}, pred, target, w, rows, per, red, out, nthreads);
}

template <class T>
T huber_loss(const T* pred, const T* target, const T* w, index_t rows, index_t per,
             Reduction red, T delta, LossOutput<T> out, int nthreads) {
    NNCORE_CHECK(std::isfinite(delta) && delta > T(0),
                 "huber_loss: delta must be a finite number > 0; got ", delta);
    return reduce("huber_loss", Huber<T>{delta}, pred, target, w, rows, per, red, out,
                  nthreads);
}

template float l1_loss<float>(const float*, const float*, const float*, index_t, index_t,
                              Reduction, LossOutput<float>, int);
template double l1_loss<double>(const double*, const double*, const double*, index_t, index_t,
                                Reduction, LossOutput<double>, int);
template float huber_loss<float>(const float*, const float*, const float*, index_t, index_t,
                                 Reduction, float, LossOutput<float>, int);
template double huber_loss<double>(const double*, const double*, const double*, index_t,
                                   index_t, Reduction, double, LossOutput<double>, int);

}  // namespace nncore
