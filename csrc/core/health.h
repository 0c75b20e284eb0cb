// Gradient health of one Dense layer after a training step (fit(..., health=True)): the
// numbers nncore.GradientHealth records, computed by one core function for both engines
// so that they agree bit for bit.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "core/optim_all.h"
#include "core/views.h"
#include "kernels/kernel_table.h"

namespace nncore {

struct LayerHealth {
    double grad_norm = 0;     // |grad_w|
    double weight_norm = 0;   // |w| after the step
    double update_ratio = 0;  // |w - prev| / (|prev| + 1e-12)
    double saturated = 0;     // sigmoid: share of y < 0.01 or y > 0.99; tanh: |y| > 0.99
    double dead = 0;          // relu: share of columns that are <= 0 in every row
};

// The sums of squares behind the norms: of grad_w, of w, of w - prev and of prev.
struct HealthSums {
    double grad = 0, weight = 0, change = 0, prev = 0;
};

// The sums over n values of w, prev and grad_w (prev holds the weights before the step and
// is set to w): the kernel set's health_before and health_after over blocks of
// kernels::kHealthBlock (16 lanes, runs in T, a fixed tree: the same bits in every kernel
// set), whose results are added block by block in index order, so the sums are the same
// for any thread count.
template <class T>
HealthSums weight_health_sums(const T* w, T* prev, const T* grad_w, index_t n, int nthreads);

// The statistics from the sums and the layer's output y: rows x cols row-major (may be
// null when rows == 0), activated by act. The counts are exact.
template <class T>
LayerHealth layer_health_of(const HealthSums& s, const T* y, index_t rows, index_t cols,
                            kernels::Act act);

// Both: w, prev, grad_w: n values each (prev is set to w).
template <class T>
LayerHealth layer_health(const T* w, T* prev, const T* grad_w, index_t n, const T* y,
                         index_t rows, index_t cols, kernels::Act act, int nthreads);

// The native trainer's optimiser step fused with the health sums, so that a step reads
// the weights and gradients from memory once: each tracked weight matrix is stepped in
// blocks of kHealthBlock, with health_before (which keeps a copy of the block's weights)
// right before a block's step and health_after right after it, the block in cache. The sums
// are those of weight_health_sums with prev = the weights before the step (the same
// blocks, lanes and order), bit for bit, since the optimisers' updates are elementwise.
// With plain SGD the three calls are one kernel, sgd_health (the same bits).
// Between restarts the sum of prev^2 is the last step's sum of w^2 (nothing else changes
// the weights between the trainer's steps), so it is taken at the first step only.
template <class T>
class HealthSteps {
public:
    // Steps the parameters slots[0:count] (one all-parameters driver call).
    using Drive = std::function<void(const ParamSlot<T>* slots, std::size_t count, int nthreads)>;

    // Whether any weights are tracked (health=True): otherwise step() is drive() itself.
    bool active() const noexcept { return !w_.empty(); }
    // Track the weights w (of n values) of the next health layer; returns its index.
    std::size_t track(const T* w);
    // The weights may have changed since the last step (the trainer's run() returned to
    // Python in between: callbacks ran).
    void restart();
    // drive(slots, count, nthreads), with every tracked weight's slot stepped in blocks
    // and its sums taken.
    // With sgd (plain SGD: sgd[0] the hyper-parameters with weight decay, sgd[1] without),
    // a tracked block is stepped and summed in one pass (the kernel set's sgd_health, the
    // same bits as health_before, the step and health_after).
    void step(const ParamSlot<T>* slots, std::size_t count, int nthreads, const Drive& drive,
              const kernels::SgdHyper<T>* sgd = nullptr);
    // Layer `index`'s sums of the last step, once; false when no step took them (its
    // weights are not among the parameters stepped).
    bool take(std::size_t index, HealthSums* out);

private:
    std::vector<const T*> w_;
    std::vector<HealthSums> sums_;
    std::vector<char> fresh_;
    std::vector<char> known_;   // sums_[i].weight is that of the weights as they are now
    std::vector<double> part_;  // block sums
    std::vector<T> scratch_;    // kHealthBlock values per thread: a block before its step
};

}  // namespace nncore
