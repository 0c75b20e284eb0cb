// The native training engine: the loop of python/nncore/_epochs.py (_python_epoch), step for step.
//
// One step: gather the batch's rows (in the epoch's shuffled order), run the plan's
// layers forward (Dense with its fused activation, or an activation alone), take the
// loss and its gradient in one pass, run the layers backward, clip the gradients and
// update every parameter. Each of those is the same core call the Python engine makes
// through nncore.functional, with the same arguments, so both engines give the same bits.
// The trainer allocates its workspaces once; a step allocates nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/optim.h"
#include "core/random.h"
#include "core/views.h"
#include "kernels/kernel_table.h"

namespace nncore {

enum class TrainLoss : int { mse = 0, bce_logits = 1, ce_labels = 2, ce_probs = 3, l1 = 4,
                             huber = 5 };
enum class TrainOptimizer : int { sgd = 0, adam = 1 };
enum class Schedule : int { none = 0, step = 1, exponential = 2, cosine = 3 };

// One step of the model's plan: a Dense layer (w non-null) with its fused activation, or
// an activation layer on its own (w null).
template <class T>
struct TrainLayer {
    T* w = nullptr;        // (in, out), updated in place
    T* b = nullptr;        // (out,) or nullptr
    T* grad_w = nullptr;   // (in, out)
    T* grad_b = nullptr;   // (out,): the bias gradient, or scratch when there is no bias
    index_t in = 0, out = 0;
    kernels::Act act = kernels::Act::identity;
    T slope = T(0);
};

// The learning-rate schedule of python/nncore/optim.py, evaluated by the same formulas.
struct ScheduleSpec {
    Schedule kind = Schedule::none;
    double base_lr = 0, gamma = 0, eta_min = 0;
    std::int64_t step_size = 1, t_max = 1;
    // The rate for epoch count `epoch` (the schedule's last_epoch after stepping).
    double lr_at(std::int64_t epoch) const;
};

template <class T>
struct TrainSpec {
    std::vector<TrainLayer<T>> layers;
    const T* x = nullptr;                 // (n, features) row-major
    index_t n = 0, features = 0;
    TrainLoss loss = TrainLoss::mse;
    double huber_delta = 1.0;             // for TrainLoss::huber (core/losses.h)
    const T* targets = nullptr;           // (n, outputs) for mse / bce / ce_probs
    const std::int64_t* labels = nullptr; // (n,) for ce_labels, checked in range
    index_t target_cols = 0;              // outputs per target row (1 for labels)
    const T* weights = nullptr;           // (n,) sample weights or nullptr
    bool classification = false;          // count correct predictions
    index_t batch_size = 1;
    bool shuffle = true;
    bool stop_on_nonfinite = true;

    TrainOptimizer optimizer = TrainOptimizer::sgd;
    SgdOptions sgd;
    AdamOptions adam;
    // Every parameter in model.parameters() order with its gradient and state buffers
    // (velocity for SGD with momentum; m and v for Adam).
    std::vector<T*> params, grads, state1, state2;
    std::vector<index_t> sizes;
    // Per parameter, 1 when weight_decay does not apply to it (the optimiser's no_decay,
    // e.g. biases); empty: weight_decay applies to every parameter.
    std::vector<char> no_decay;
    double clip_norm = -1, clip_value = -1;  // < 0: off
    ScheduleSpec schedule;

    // Data-parallel training: this rank computes rows [B*rank/P, B*(rank+1)/P) of every
    // global batch of B rows, with its loss gradient scaled by its share of the batch's
    // (weighted) denominator; after backward, grad_hook sums every gradient and
    // scalars = {loss share, correct count} over the ranks, in place (an MPI Allreduce).
    index_t rank = 0, world_size = 1;
    // Sharded data (global_n > 0): the global set has global_n rows, shuffled alike on
    // every rank; this rank holds rows [own_lo, own_lo + n) of it in x / targets / labels
    // and computes the rows of each global batch it holds (in batch order). weights, when
    // given, holds all global_n rows (every rank needs each batch's denominator).
    index_t global_n = 0, own_lo = 0;
    // Returns false to stop the run at once (the hook failed).
    std::function<bool(double* scalars)> grad_hook;
    // When set (3 elements, normally the end of the flat buffer the gradients live in):
    // the scalars are written there before grad_hook as {hi, lo, correct} in T (the loss
    // as T(v) + T(v - T(v)), about 48 bits in float32) and read back after it, so that
    // one reduction of that buffer sums them with the gradients.
    T* reduce_tail = nullptr;
};

struct EpochRecord {
    double loss = 0, accuracy = 0, seconds = 0, lr = 0;
};

struct ChunkResult {
    std::vector<EpochRecord> epochs;  // epochs finished in this call
    std::int64_t epoch = 0;           // the epoch now under way (or next to start)
    std::int64_t step = 0;            // steps of it already done
    bool nonfinite = false;           // stopped at a NaN/inf loss, before backward
    double bad_loss = 0;
    double running_loss = 0;          // mean loss of the epoch under way so far
    bool hook_failed = false;         // grad_hook returned false: stopped before the update
    double last_loss = 0;             // the last step's loss
};

template <class T>
class Trainer {
public:
    // Validates the spec (throws std::invalid_argument) and allocates the workspaces.
    explicit Trainer(TrainSpec<T> spec, Pcg64 rng);

    // Trains until `max_epochs` more epochs have finished, or `seconds` have passed (checked
    // after each step), or a loss is NaN/inf with stop_on_nonfinite. `lr` is the rate for
    // the epoch under way; later epochs of this call take it from the schedule.
    ChunkResult run(std::int64_t max_epochs, double seconds, double lr, int nthreads);

    // Optimiser updates made so far (torch's / nncore's `steps`).
    std::int64_t optimizer_steps() const noexcept { return opt_steps_; }
    void set_optimizer_steps(std::int64_t s) noexcept { opt_steps_ = s; }
    const Pcg64& rng() const noexcept { return rng_; }
    // Rows of the current (or last) batch, in the order they were gathered (sharded: the
    // rows of it this rank holds, as local row numbers).
    std::vector<std::int64_t> batch_rows() const;
    double lr() const noexcept { return lr_; }
    // New rows of the same count and layout (train_on_batch): the next epoch uses them.
    void set_data(const T* x, const T* targets, const std::int64_t* labels, const T* weights) {
        s_.x = x;
        s_.targets = targets;
        s_.labels = labels;
        s_.weights = weights;
    }

private:
    void start_epoch();
    double step(index_t step, int nthreads, std::int64_t* correct);
    double forward_loss(index_t rows, int nthreads, std::int64_t* correct);
    void backward(index_t rows, int nthreads);
    double share(index_t begin, index_t batch, const std::int64_t* idx, index_t rows);
    void update(int nthreads);

    TrainSpec<T> s_;
    Pcg64 rng_;
    std::int64_t opt_steps_ = 0;
    bool hook_failed_ = false;
    std::int64_t epoch_ = 0, step_ = 0, steps_ = 0;
    double lr_ = 0;
    double seen_ = 0, total_loss_ = 0, epoch_seconds_ = 0;
    std::int64_t correct_ = 0;
    index_t batch_rows_ = 0;
    std::vector<std::int64_t> order_;
    std::vector<std::int64_t> mine_;  // sharded: this rank's rows of the batch (global ids)
    // Workspaces: gathered batch, each layer's output and input gradient, loss gradient.
    std::vector<T> xb_, tb_, wb_, grad_out_;
    std::vector<std::int64_t> lb_;
    std::vector<std::vector<T>> outputs_, grad_in_;
    std::vector<index_t> widths_;  // outputs per row of each layer
    std::vector<T*> grad_ptrs_;
};

}  // namespace nncore
