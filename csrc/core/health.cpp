// Plain loops at baseline flags: one pass over the weights (three arrays) and one over the
// output, each a small share of the step's products.
#include "core/health.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"

namespace nncore {
namespace {

constexpr index_t kBlock = 4096;  // shapes the sums: independent of the thread count

// Sums of squares of grad_w, w and w - prev over one block, in 4 interleaved lanes each
// (so the compiler can keep them in vector registers), added lane by lane at the end.
template <class T>
void block_sums(const T* w, const T* prev, const T* g, index_t b, index_t e, double out[4]) {
    double sg[4] = {0, 0, 0, 0}, sw[4] = {0, 0, 0, 0}, sd[4] = {0, 0, 0, 0},
           sp[4] = {0, 0, 0, 0};
    index_t i = b;
    for (; i + 4 <= e; i += 4) {
        for (int l = 0; l < 4; ++l) {
            const double gi = double(g[i + l]), wi = double(w[i + l]), pi = double(prev[i + l]);
            const double d = wi - pi;
            sg[l] += gi * gi;
            sw[l] += wi * wi;
            sd[l] += d * d;
            sp[l] += pi * pi;
        }
    }
    for (int l = 0; i < e; ++i, ++l) {
        const double gi = double(g[i]), wi = double(w[i]), pi = double(prev[i]);
        const double d = wi - pi;
        sg[l] += gi * gi;
        sw[l] += wi * wi;
        sd[l] += d * d;
        sp[l] += pi * pi;
    }
    out[0] = (sg[0] + sg[1]) + (sg[2] + sg[3]);
    out[1] = (sw[0] + sw[1]) + (sw[2] + sw[3]);
    out[2] = (sd[0] + sd[1]) + (sd[2] + sd[3]);
    out[3] = (sp[0] + sp[1]) + (sp[2] + sp[3]);
}

}  // namespace

template <class T>
LayerHealth layer_health(const T* w, T* prev, const T* grad_w, index_t n, const T* y,
                         index_t rows, index_t cols, kernels::Act act, int nthreads) {
    const index_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> part(static_cast<std::size_t>(4 * blocks));
    const int nt = std::min(nthreads, threads_for(double(n) * 8.0));
    parallel_for(blocks, nt, [&](index_t bi) {
        const index_t b = bi * kBlock, e = std::min(n, b + kBlock);
        block_sums(w, prev, grad_w, b, e, part.data() + 4 * bi);
        std::copy(w + b, w + e, prev + b);  // prev = w, for the next step
    });
    double sums[4] = {0, 0, 0, 0};
    for (index_t bi = 0; bi < blocks; ++bi) {
        for (int k = 0; k < 4; ++k) sums[k] += part[static_cast<std::size_t>(4 * bi + k)];
    }
    LayerHealth h;
    h.grad_norm = std::sqrt(sums[0]);
    h.weight_norm = std::sqrt(sums[1]);
    h.update_ratio = std::sqrt(sums[2]) / (std::sqrt(sums[3]) + 1e-12);
    const index_t size = rows * cols;
    if (size == 0) return h;
    if (act == kernels::Act::sigmoid || act == kernels::Act::tanh) {
        const T lo = T(0.01), hi = T(0.99);
        std::int64_t count = 0;
        for (index_t i = 0; i < size; ++i) {
            const T v = y[i];
            count += act == kernels::Act::sigmoid ? (v < lo || v > hi) : (std::abs(v) > hi);
        }
        h.saturated = double(count) / double(size);
    } else if (act == kernels::Act::relu) {
        std::vector<char> alive(static_cast<std::size_t>(cols), 0);
        for (index_t r = 0; r < rows; ++r) {
            const T* row = y + r * cols;
            for (index_t c = 0; c < cols; ++c) alive[c] |= !(row[c] <= T(0));  // NaN: alive
        }
        std::int64_t dead = 0;
        for (index_t c = 0; c < cols; ++c) dead += !alive[c];
        h.dead = double(dead) / double(cols);
    }
    return h;
}

template LayerHealth layer_health<float>(const float*, float*, const float*, index_t,
                                         const float*, index_t, index_t, kernels::Act, int);
template LayerHealth layer_health<double>(const double*, double*, const double*, index_t,
                                          const double*, index_t, index_t, kernels::Act, int);

}  // namespace nncore
