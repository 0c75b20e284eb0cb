// Plain loops at baseline flags: these losses are one pass over memory-bound data, so
// they live in the core rather than in every kernel set (the compiler vectorises them).
#include "core/losses_extra.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "core/reduction.h"

namespace nncore {
namespace {

constexpr index_t kBlock = 8192;  // elements per block of the fixed-order sum

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
    std::vector<double> partial(static_cast<std::size_t>(blocks));
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
    for (double v : partial) s += v;
    return static_cast<T>(s / double(denom));
}

}  // namespace

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
