// The gradient-health statistics of one Dense layer through the active kernel set: the
// sums over the weights in blocks of kernels::kHealthBlock (whose sums are added in block
// order, whoever computed them), the counts over the layer's output.
#include "core/health.h"

#include <algorithm>
#include <cmath>

#include "core/dispatch.h"
#include "core/parallel.h"

namespace nncore {
namespace {

constexpr index_t kBlock = kernels::kHealthBlock;

index_t health_blocks(index_t n) { return (n + kBlock - 1) / kBlock; }

HealthSums add_blocks(const double* part, index_t blocks) {
    double s[4] = {0, 0, 0, 0};
    for (index_t bi = 0; bi < blocks; ++bi) {
        for (int j = 0; j < 4; ++j) s[j] += part[4 * bi + j];
    }
    return {s[0], s[1], s[2], s[3]};
}

// Threads for the sums over n values (about 8 flops a value).
int health_threads(index_t n, int nthreads) {
    return std::min(nthreads, threads_for(double(n) * 8.0));
}

}  // namespace

template <class T>
HealthSums weight_health_sums(const T* w, T* prev, const T* grad_w, index_t n, int nthreads) {
    const auto& k = kernel_set<T>();
    const index_t blocks = health_blocks(n);
    std::vector<double> part(static_cast<std::size_t>(4 * blocks));
    parallel_for(blocks, health_threads(n, nthreads), [&](index_t bi) {
        const index_t b = bi * kBlock, e = std::min(n, b + kBlock);
        double* out = part.data() + 4 * bi;
        k.health_before(prev + b, grad_w + b, nullptr, e - b, true, out);
        k.health_after(w + b, prev + b, e - b, true, out);
    });
    return add_blocks(part.data(), blocks);
}

template <class T>
LayerHealth layer_health_of(const HealthSums& s, const T* y, index_t rows, index_t cols,
                            kernels::Act act) {
    const auto& k = kernel_set<T>();
    LayerHealth h;
    h.grad_norm = std::sqrt(s.grad);
    h.weight_norm = std::sqrt(s.weight);
    h.update_ratio = std::sqrt(s.change) / (std::sqrt(s.prev) + 1e-12);
    const index_t size = rows * cols;
    if (size == 0) return h;
    if (act == kernels::Act::sigmoid) {
        h.saturated = double(k.count_outside(y, size, T(0.01), T(0.99))) / double(size);
    } else if (act == kernels::Act::tanh) {  // |y| > 0.99
        h.saturated = double(k.count_outside(y, size, -T(0.99), T(0.99))) / double(size);
    } else if (act == kernels::Act::relu) {
        h.dead = double(k.dead_columns(y, rows, cols)) / double(cols);
    }
    return h;
}

template <class T>
LayerHealth layer_health(const T* w, T* prev, const T* grad_w, index_t n, const T* y,
                         index_t rows, index_t cols, kernels::Act act, int nthreads) {
    return layer_health_of(weight_health_sums(w, prev, grad_w, n, nthreads), y, rows, cols,
                           act);
}

template <class T>
std::size_t HealthSteps<T>::track(const T* w) {
    w_.push_back(w);
    sums_.emplace_back();
    fresh_.push_back(0);
    known_.push_back(0);
    return w_.size() - 1;
}

template <class T>
void HealthSteps<T>::restart() {
    std::fill(known_.begin(), known_.end(), 0);
}

template <class T>
void HealthSteps<T>::step(const ParamSlot<T>* slots, std::size_t count, int nthreads,
                          const Drive& drive, const kernels::SgdHyper<T>* sgd) {
    const auto& k = kernel_set<T>();
    std::size_t done = 0;  // slots[done:i] are stepped by one driver call when i is tracked
    for (std::size_t i = 0; i < count; ++i) {
        const auto it = std::find(w_.begin(), w_.end(), slots[i].param);
        if (it == w_.end()) continue;
        if (i > done) drive(slots + done, i - done, nthreads);
        done = i + 1;
        const std::size_t index = static_cast<std::size_t>(it - w_.begin());
        // the sum of the old weights' squares is the last step's sum of the new ones (the
        // same values, blocks, lanes and order): taken only at the first step of an epoch
        const bool prev_sum = !known_[index];
        const ParamSlot<T>& s = slots[i];
        const index_t n = s.n, blocks = health_blocks(n);
        const int nt = health_threads(n, nthreads);
        part_.resize(static_cast<std::size_t>(4 * blocks));
        if (!sgd) scratch_.resize(static_cast<std::size_t>(nt * kBlock));
        parallel_for(blocks, nt, [&](index_t bi) {
            const index_t b = bi * kBlock, len = std::min(n, b + kBlock) - b;
            if (sgd) {  // the three calls below in one pass
                k.sgd_health(s.param + b, s.grad + b, s.state1 ? s.state1 + b : nullptr, len,
                             sgd[s.decay ? 0 : 1], prev_sum, part_.data() + 4 * bi);
                return;
            }
            T* before = scratch_.data() + thread_id() * kBlock;
            double* out = part_.data() + 4 * bi;
            k.health_before(s.param + b, s.grad + b, before, len, prev_sum, out);
            ParamSlot<T> part = s;  // the block: every buffer is elementwise
            part.param += b;
            part.grad += b;
            if (part.state1) part.state1 += b;
            if (part.state2) part.state2 += b;
            if (part.state3) part.state3 += b;
            part.n = len;
            drive(&part, 1, 1);
            k.health_after(s.param + b, before, len, false, out);
        });
        HealthSums sums = add_blocks(part_.data(), blocks);
        if (!prev_sum) sums.prev = sums_[index].weight;
        sums_[index] = sums;
        fresh_[index] = 1;
        known_[index] = 1;
    }
    if (count > done) drive(slots + done, count - done, nthreads);
}

template <class T>
bool HealthSteps<T>::take(std::size_t index, HealthSums* out) {
    if (index >= fresh_.size() || !fresh_[index]) return false;
    fresh_[index] = 0;
    *out = sums_[index];
    return true;
}

template HealthSums weight_health_sums<float>(const float*, float*, const float*, index_t, int);
template HealthSums weight_health_sums<double>(const double*, double*, const double*, index_t,
                                               int);
template LayerHealth layer_health_of<float>(const HealthSums&, const float*, index_t, index_t,
                                            kernels::Act);
template LayerHealth layer_health_of<double>(const HealthSums&, const double*, index_t, index_t,
                                             kernels::Act);
template LayerHealth layer_health<float>(const float*, float*, const float*, index_t,
                                         const float*, index_t, index_t, kernels::Act, int);
template LayerHealth layer_health<double>(const double*, double*, const double*, index_t,
                                          const double*, index_t, index_t, kernels::Act, int);
template class HealthSteps<float>;
template class HealthSteps<double>;

}  // namespace nncore
