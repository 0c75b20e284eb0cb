// The native training engine: python/nncore/training/step.py's train_step, step for step,
// over the epochs python/nncore/training/engines.py's PythonEngine runs.
//
// One step: gather the batch's rows (in the epoch's order, drawn by Python), run the
// plan's layers forward (Dense with its fused activation, activations, Dropout, norms,
// residual blocks), take the loss and its gradient in one pass, run the layers backward,
// clip the gradients and update every parameter through the optimiser's all-parameters
// driver, group by group (a plain step, without clipping, health=True or ranks: each
// layer's parameters right after its backward, with the same kernel calls). Each of those is the same core call the Python engine makes
// through nncore.functional, with the same arguments, so both engines give the same bits.
// The trainer allocates its workspaces once; a step allocates nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/health.h"
#include "core/optim.h"
#include "core/optim_all.h"
#include "core/views.h"
#include "core/workspace.h"
#include "kernels/kernel_table.h"

namespace nncore {

enum class TrainLoss : int { mse = 0, bce_logits = 1, ce_labels = 2, ce_probs = 3, l1 = 4,
                             huber = 5, ce_scaled = 6 };
enum class TrainOptimizer : int { sgd = 0, adam = 1, rmsprop = 2 };
enum class Schedule : int { none = 0, step = 1, exponential = 2, cosine = 3 };

enum class TrainLayerKind : int { dense = 0, activation = 1, dropout = 2, layer_norm = 3,
                                   batch_norm = 4, residual_begin = 5, residual_end = 6,
                                   softmax = 7 };

// One step of the model's plan: a Dense layer with its fused activation, an activation
// layer on its own, a Dropout layer (python/nncore/dropout.py), or a LayerNorm /
// BatchNorm1d (python/nncore/norms.py; w, b its weight and bias or null, in = out its
// features), or the two ends of a Residual block (python/nncore/blocks.py): its begin
// keeps the block's input, its end (`begin` the index of its begin) adds that input to
// the output of the layers between them; backward adds the gradient that reached the
// end to the one that came back through the layers.
template <class T>
struct TrainLayer {
    TrainLayerKind kind = TrainLayerKind::activation;
    T* w = nullptr;        // dense: (in, out), updated in place
    T* b = nullptr;        // (out,) or nullptr
    T* grad_w = nullptr;   // (in, out)
    T* grad_b = nullptr;   // (out,): the bias gradient, or scratch when there is no bias
    index_t in = 0, out = 0;
    kernels::Act act = kernels::Act::identity;
    T slope = T(0);
    // dropout: the drop probability, the layer's seed and its count of masks drawn so far
    // (Dropout.calls; each forward draws the mask of dropout_call_seed(seed, calls++)).
    double p = 0;
    std::uint64_t seed = 0;
    std::int64_t calls = 0;
    // layer_norm, batch_norm: eps; batch_norm: the running statistics (null when not
    // tracked), momentum (< 0: the cumulative average 1 / batches) and the batches
    // tracked so far (BatchNorm1d.num_batches_tracked; `calls` holds it).
    double eps = 1e-5, momentum = 0.1;
    T* running_mean = nullptr;
    T* running_var = nullptr;
    std::int64_t begin = -1;  // residual_end: the index of its residual_begin
    bool health = true;       // dense: gathered by health=True (a model's own Dense layers)
    // dense: a softmax after the product (Dense(..., "softmax"): act is identity, the
    // product goes to a workspace, the softmax of its rows to the output)
    bool post_softmax = false;
};

// The learning-rate schedule of python/nncore/optim.py, evaluated by the same formulas.
struct ScheduleSpec {
    Schedule kind = Schedule::none;
    double base_lr = 0, gamma = 0, eta_min = 0;
    std::int64_t step_size = 1, t_max = 1;
    // The rate for epoch count `epoch` (the schedule's last_epoch after stepping).
    double lr_at(std::int64_t epoch) const;
};

// One parameter group of the optimiser (torch's param_groups): its options, its rate
// (used when there are several groups; one group takes the rate of run() and the
// schedule) and the end of its slots (the groups cover the slots in order).
struct OptimizerGroup {
    SgdOptions sgd;
    AdamOptions adam;
    RmspropOptions rmsprop;
    double lr = 0;
    std::size_t end = 0;
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
    // ce_scaled (CrossEntropyLoss with weight or label_smoothing, losses.py): each row's
    // smoothed, class-weighted probability targets (n, classes), its sample weight and its
    // share of the mean's denominator; a batch's loss is the sum of the rows' cross-entropy
    // times T(row_weight / (the batch's row_denominators summed in row order)). The labels
    // or targets above still count the correct predictions.
    const T* loss_targets = nullptr;
    index_t target_cols_loss = 0;
    const double* row_weight = nullptr;
    const double* row_denominator = nullptr;
    bool classification = false;          // count correct predictions
    index_t batch_size = 1;
    bool shuffle = true;                  // epochs take their order from run()'s orders
    bool stop_on_nonfinite = true;

    TrainOptimizer optimizer = TrainOptimizer::sgd;
    // The optimiser's parameter groups over the slots below, in order (one, usually).
    std::vector<OptimizerGroup> groups;
    // Every parameter in the optimiser's order, as the optimiser's ParamSlots (its
    // gradient, its state buffers and whether weight_decay applies; core/optim_all.h):
    // updated through the same all-parameters driver the Python optimisers call.
    std::vector<ParamSlot<T>> slots;
    double clip_norm = -1, clip_value = -1;  // < 0: off
    // fit(..., health=True): after every update, each Dense layer's core layer_health
    // (core/health.h), summed over the epoch's steps as nncore.GradientHealth sums them.
    bool health = false;
    // fit(metrics=...): keep every step's output rows for the epoch, in batch order
    // (epoch_outputs()), so that Python updates the metrics batch by batch from them as
    // the python engine does.
    bool keep_outputs = false;
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
    // with health: per Dense layer, the sums over the epoch's steps of grad_norm,
    // weight_norm, update_ratio, saturated and dead (5 values a layer)
    std::vector<double> health;
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
    std::int64_t orders_used = 0;     // rows of run()'s orders taken by epochs started
};

// A random bit generator through numpy's bitgen_t entries (numpy/random/bitgen.h):
// its state and its next 64 and 32 random bits.
struct RandomBits {
    void* state = nullptr;
    std::uint64_t (*next_uint64)(void*) = nullptr;
    std::uint32_t (*next_uint32)(void*) = nullptr;
};

// `count` permutations of 0..n-1 into out (count rows of n), each drawn as NumPy's
// Generator.permutation(n) draws it: Fisher-Yates from the last position down to the
// second, each position's partner in [0, i] by masked rejection (random_interval of
// numpy/random/src/distributions), so the rows, and the generator's state after them,
// are those of `count` permutation calls. The caller holds the generator's lock.
void draw_permutations(const RandomBits& bits, std::int64_t n, std::int64_t count,
                       std::int64_t* out) noexcept;

// numpy's PCG64 state (its `state` dict: the 128-bit LCG state and increment as high and
// low words, and the 32-bit half kept for the next 32-bit draw).
struct Pcg64State {
    std::uint64_t state_hi = 0, state_lo = 0, inc_hi = 0, inc_lo = 0;
    bool has_uint32 = false;
    std::uint32_t uinteger = 0;
};

// draw_permutations for numpy's PCG64, its generator inlined: the same rows and the same
// state after them (g is updated). False, with nothing drawn, when this build has no
// 128-bit integers or n - 1 needs 64-bit draws (then use draw_permutations).
bool draw_permutations_pcg64(Pcg64State& g, std::int64_t n, std::int64_t count,
                             std::int64_t* out) noexcept;

template <class T>
class Trainer {
public:
    // Validates the spec (throws std::invalid_argument) and allocates the workspaces.
    explicit Trainer(TrainSpec<T> spec);

    // Trains until `max_epochs` more epochs have finished, or `seconds` have passed (checked
    // every few steps, about every 10 µs: a clock read costs as much as a tiny network's
    // step), or a loss is NaN/inf with stop_on_nonfinite. An epoch's seconds are its
    // steps' shares of the time between the clock reads around them. `lr` is the rate for
    // the epoch under way; later epochs of this call take it from the schedule.
    // With shuffle, each epoch started in this call visits the rows in the order of the
    // next row of `orders` (n_orders rows of the global row count each, drawn by Python's
    // rng.permutation); the call stops before an epoch it has no order for.
    // max_steps > 0: the call also returns after that many steps (a schedule stepped per
    // batch runs one step a call: Python steps it and hands over the new rates).
    ChunkResult run(std::int64_t max_epochs, double seconds, double lr,
                    const std::int64_t* orders, std::int64_t n_orders, int nthreads,
                    std::int64_t max_steps = 0);

    // Optimiser updates made so far (torch's / nncore's `steps`).
    std::int64_t optimizer_steps() const noexcept { return opt_steps_; }
    void set_optimizer_steps(std::int64_t s) noexcept { opt_steps_ = s; }
    TrainOptimizer optimizer() const noexcept { return s_.optimizer; }
    // The optimiser's parameter groups, their options and rates (a schedule may have
    // changed a rate, momentum or betas since the last call). Throws
    // std::invalid_argument when the groups do not cover the slots in order, or need
    // state buffers the trainer lacks.
    void set_groups(std::vector<OptimizerGroup> groups);
    // Each layer's count, in plan order: masks drawn by a Dropout layer (Dropout.calls),
    // batches tracked by a BatchNorm1d (num_batches_tracked), 0 for the others.
    std::vector<std::int64_t> counters() const;
    // Sets them (a Python forward in training mode draws masks and tracks batches too).
    void set_counters(const std::vector<std::int64_t>& counts);
    // keep_outputs: the last finished epoch's outputs, (rows, outputs) in batch order.
    const std::vector<T>& epoch_outputs() const noexcept { return epoch_out_; }
    index_t output_width() const noexcept { return widths_.empty() ? 0 : widths_.back(); }
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
    void start_epoch(const std::int64_t* order);
    double step(index_t step, int nthreads, std::int64_t* correct);
    void prefetch_next(index_t next) const;
    double forward_loss(index_t rows, int nthreads, std::int64_t* correct);
    // the loss of the batch's outputs `out`, its gradient in grad_out_ (and the correct
    // predictions): forward_loss's end
    double loss_of(const T* out, index_t rows, int nthreads, std::int64_t* correct);
    // step() after the gather for a model of direct Dense layers only (tiny_)
    double tiny_step(index_t rows, int nthreads, std::int64_t* correct);
    void backward(index_t rows, int nthreads, bool fused);
    // whether layer i (a Dense) takes the input gradient of a one-output layer above it
    // into its activation backward (backward(): outer_backward_sums)
    bool folds_into(std::size_t i, index_t rows) const noexcept;
    double share(index_t begin, index_t batch, const std::int64_t* idx, index_t rows);
    void update(int nthreads);
    void plan_fused_update();
    void begin_fused_update();
    void update_slot(std::size_t slot, int nthreads);
    void add_health(index_t rows, int nthreads);
    std::size_t residual_end_of(std::size_t begin) const;

    TrainSpec<T> s_;
    std::vector<OptimizerGroup> groups_;  // one over every slot, from the spec, until set
    std::int64_t opt_steps_ = 0;
    bool hook_failed_ = false;
    std::int64_t epoch_ = 0, step_ = 0, steps_ = 0;
    std::int64_t clock_every_ = 1;  // run() reads the clock after this many steps
    double lr_ = 0;
    double seen_ = 0, total_loss_ = 0, epoch_seconds_ = 0;
    std::int64_t correct_ = 0;
    index_t batch_rows_ = 0;
    std::vector<std::int64_t> order_;
    std::vector<std::int64_t> mine_;  // sharded: this rank's rows of the batch (global ids)
    // Workspaces: gathered batch, each layer's output and input gradient, loss gradient.
    // 64-byte aligned (tabular 20-64-64-1 b32: Trainer::run about 1% faster than where
    // std::vector put them)
    AlignedVector<T> xb_, tb_, wb_, grad_out_, ltb_, scale_;  // ltb_, scale_: ce_scaled
    std::vector<std::int64_t> lb_;
    std::vector<AlignedVector<T>> outputs_, grad_in_, masks_;  // masks_: per layer (dropout)
    std::vector<std::vector<T>> stat_mean_, stat_rstd_;     // per layer (norms)
    std::vector<AlignedVector<T>> z_;                        // per layer (post softmax)
    std::vector<std::vector<T>> prev_;  // health: each layer's weights before the step
    HealthSteps<T> health_steps_;       // health: the step fused with the weight sums
    std::vector<double> health_;        // health: the epoch's sums, 5 per Dense layer
    std::vector<T> epoch_out_;          // keep_outputs: the epoch's outputs
    std::vector<index_t> widths_;  // outputs per row of each layer
    // row stride of outputs_[i] and of the gradient on it (grad_in_[i + 1]): widths_[i],
    // or more between two Dense layers (plan_row_strides)
    std::vector<index_t> ld_;
    void plan_row_strides(index_t bs);
    index_t in_ld(std::size_t i) const noexcept { return i == 0 ? s_.features : ld_[i - 1]; }
    std::vector<T*> grad_ptrs_;       // the slots' gradients and sizes, for clipping
    std::vector<index_t> grad_sizes_;
    // Dense layers whose products are direct (core/gemm_direct.h): grad_z's workspace.
    AlignedVector<T> gz_;
    // The update fused into backward (fuse_: no clipping, no health=True and one process,
    // so that each parameter's update reads only its own final gradient and state): the
    // slots of layer i (layer_slots_[i]) are updated right after layer i's backward, the
    // last reader of its weights in the step; rest_slots_ (a parameter that no single
    // layer holds) after backward. Each slot's update is the same kernel call with the
    // same constants as update()'s drivers, so the order changes no bit.
    struct GroupStep {  // one group's constants for this step; [1]: with weight_decay
        SgdOptions sgd[2];
        kernels::SgdHyper<T> sgd_h[2];
        AdamOptions adam[2];
        kernels::AdamHyper<T> adam_h[2];
        RmspropOptions rmsprop[2];
        kernels::RmspropHyper<T> rmsprop_h[2];
    };
    bool fuse_ = false;
    bool tiny_ = false;  // step() takes tiny_step()
    // tiny_step with SGD: the parameters packed side by side during a run() call, so
    // that one kernel call updates a group (plan_packing() in train.cpp)
    void plan_packing();
    void pack_in();
    void pack_out();
    struct PackRun {  // slots of one group, decay and state in a row
        index_t off = 0, n = 0;
        std::size_t slot = 0;  // the first of them
    };
    bool pack_ = false;
    index_t pack_n_ = 0;                     // values of all the slots
    std::vector<T> packed_;                  // params, then gradients, then velocities
    std::vector<index_t> pack_off_;          // each slot's offset in each third
    std::vector<PackRun> pack_runs_;
    std::vector<TrainLayer<T>> packed_layers_;  // the layers reading packed_
    // group_steps_ hold the constants of lr prepared_lr_ and first step prepared_first_
    // (valid unless set_groups() ran since; Adam's change with every step)
    bool prepared_ = false, prepared_first_ = false;
    double prepared_lr_ = 0;
    std::vector<std::vector<std::size_t>> layer_slots_;
    std::vector<std::size_t> rest_slots_, slot_group_;
    std::vector<GroupStep> group_steps_;
    // The weights' update fused further, into the weight-gradient product: weight_slot_[i]
    // is the slot of Dense layer i's weights (in layer_slots_[i]; npos: none), updated by
    // update_block on each block of grad_w the GEMM hands over once it is final
    // (GemmEpilogue::block_done), with the same kernel call on those elements.
    struct BlockUpdate {
        const Trainer* self;
        std::size_t slot;
        index_t ld;  // row stride of the weights and their gradient (the layer's out)
    };
    static void update_block(void* ctx, index_t r0, index_t r1, index_t c0, index_t c1);
    std::vector<std::size_t> weight_slot_;
};

}  // namespace nncore
