// The native training loop. It reads like python/nncore/_epochs.py's _python_epoch,
// with the same names; every arithmetic step is a core call the Python engine also makes.
#include "core/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/check.h"
#include "core/clip.h"
#include "core/dense.h"
#include "core/elementwise.h"
#include "core/enums.h"
#include "core/losses.h"
#include "core/metrics.h"

namespace nncore {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

double ScheduleSpec::lr_at(std::int64_t epoch) const {
    // The formulas of StepLR / ExponentialLR / CosineAnnealingLR.lr_at, operation for
    // operation (Python's float ** and math.cos are C's pow and cos).
    switch (kind) {
        case Schedule::step:
            return base_lr * std::pow(gamma, double(epoch / step_size));
        case Schedule::exponential:
            return base_lr * std::pow(gamma, double(epoch));
        case Schedule::cosine: {
            const std::int64_t t = epoch < t_max ? epoch : t_max;
            const double pi = 3.141592653589793;
            return eta_min + (base_lr - eta_min) * (1 + std::cos(pi * double(t) / double(t_max))) / 2;
        }
        case Schedule::none:
            break;
    }
    return base_lr;
}

template <class T>
Trainer<T>::Trainer(TrainSpec<T> spec, Pcg64 rng) : s_(std::move(spec)), rng_(rng) {
    const char* fn = "Trainer";
    NNCORE_CHECK(!s_.layers.empty(), fn, ": the model has no layers");
    NNCORE_CHECK((s_.n > 0 || s_.global_n > 0) && s_.batch_size > 0, fn, ": no training rows");
    NNCORE_CHECK(s_.params.size() == s_.grads.size() && s_.params.size() == s_.sizes.size(),
                 fn, ": parameters, gradients and sizes differ in number");
    NNCORE_CHECK(s_.no_decay.empty() || s_.no_decay.size() == s_.params.size(), fn,
                 ": no_decay needs one flag per parameter");
    NNCORE_CHECK(s_.world_size >= 1 && s_.rank >= 0 && s_.rank < s_.world_size, fn,
                 ": rank ", s_.rank, " is not in [0, world_size = ", s_.world_size, ")");
    NNCORE_CHECK(s_.global_n == 0 || (s_.own_lo >= 0 && s_.own_lo + s_.n <= s_.global_n), fn,
                 ": rows [", s_.own_lo, ", ", s_.own_lo + s_.n, ") are not in the global set of ",
                 s_.global_n);
    const index_t total = s_.global_n > 0 ? s_.global_n : s_.n;
    steps_ = (total + s_.batch_size - 1) / s_.batch_size;
    const index_t bs = s_.batch_size < total ? s_.batch_size : total;
    order_.resize(static_cast<std::size_t>(total));
    if (s_.global_n > 0) mine_.resize(static_cast<std::size_t>(bs));
    xb_.resize(static_cast<std::size_t>(bs * s_.features));
    if (s_.labels) lb_.resize(static_cast<std::size_t>(bs));
    else tb_.resize(static_cast<std::size_t>(bs * s_.target_cols));
    if (s_.weights) wb_.resize(static_cast<std::size_t>(bs));
    index_t width = s_.features;
    for (const auto& L : s_.layers) {
        // grad_in_[i]: the gradient on layer i's input (batch, its input width).
        grad_in_.emplace_back(static_cast<std::size_t>(bs * width));
        if (L.w) {
            NNCORE_CHECK(L.in == width, fn, ": layer expects ", L.in, " inputs; gets ", width);
            width = L.out;
        }
        widths_.push_back(width);
        outputs_.emplace_back(static_cast<std::size_t>(bs * width));
    }
    NNCORE_CHECK(s_.loss == TrainLoss::ce_labels || width == s_.target_cols, fn,
                 ": targets have ", s_.target_cols, " columns; the model gives ", width);
    grad_out_.resize(static_cast<std::size_t>(bs * width));
    grad_ptrs_ = s_.grads;
    for (std::int64_t i = 0; i < total; ++i) order_[i] = i;
}

template <class T>
std::vector<std::int64_t> Trainer<T>::batch_rows() const {
    const index_t s = step_ > 0 ? step_ - 1 : 0;
    const index_t b = s * s_.batch_size;
    const index_t e = b + batch_rows_;
    if (s_.global_n == 0) return std::vector<std::int64_t>(order_.begin() + b, order_.begin() + e);
    std::vector<std::int64_t> rows;  // sharded: the batch's rows this rank holds, local ids
    for (index_t r = b; r < e; ++r) {
        if (order_[r] >= s_.own_lo && order_[r] < s_.own_lo + s_.n) rows.push_back(order_[r] - s_.own_lo);
    }
    return rows;
}

template <class T>
void Trainer<T>::start_epoch() {
    // order = rng.permutation(n) if shuffle else np.arange(n)
    if (s_.shuffle) rng_.permutation(order_);
    seen_ = total_loss_ = epoch_seconds_ = 0;
    correct_ = 0;
}

template <class T>
double Trainer<T>::step(index_t step, int nthreads, std::int64_t* correct) {
    // idx = order[step * bs:(step + 1) * bs]; xb, yb, wb = x[idx], y[idx], weights[idx]
    // (distributed: this rank's contiguous share idx[B*rank//P : B*(rank+1)//P])
    // (sharded: this rank's rows of the batch, in batch order)
    const index_t total = static_cast<index_t>(order_.size());
    const index_t begin = step * s_.batch_size;
    const index_t batch = (begin + s_.batch_size < total ? s_.batch_size : total - begin);
    index_t lo = batch * s_.rank / s_.world_size;
    index_t rows = batch * (s_.rank + 1) / s_.world_size - lo;
    const std::int64_t* idx = order_.data() + begin + lo;
    if (s_.global_n > 0) {
        rows = 0;
        for (index_t r = 0; r < batch; ++r) {
            const std::int64_t g = order_[begin + r];
            if (g >= s_.own_lo && g < s_.own_lo + s_.n) mine_[rows++] = g;
        }
        idx = mine_.data();
    }
    batch_rows_ = batch;
    const std::int64_t off = s_.global_n > 0 ? s_.own_lo : 0;  // global id -> local row
    for (index_t r = 0; r < rows; ++r) {
        const std::int64_t i = idx[r] - off;
        const T* src = s_.x + i * s_.features;
        std::copy(src, src + s_.features, xb_.data() + r * s_.features);
        if (s_.labels) lb_[r] = s_.labels[i];
        else std::copy(s_.targets + i * s_.target_cols,
                       s_.targets + (i + 1) * s_.target_cols, tb_.data() + r * s_.target_cols);
        if (s_.weights) wb_[r] = s_.weights[idx[r]];
    }

    double v = 0;
    if (rows > 0) {
        v = forward_loss(rows, nthreads, correct);
        if (!std::isfinite(v) && s_.stop_on_nonfinite && s_.world_size == 1) return v;
        if (s_.world_size > 1) v *= share(begin, batch, idx, rows);
        backward(rows, nthreads);
    } else {
        *correct = 0;
        for (std::size_t p = 0; p < s_.grads.size(); ++p)
            std::fill(s_.grads[p], s_.grads[p] + s_.sizes[p], T(0));
    }
    if (s_.grad_hook) {
        // Sum the gradients (and the loss and correct count) over the ranks.
        double scalars[2] = {v, double(*correct)};
        T* tail = s_.reduce_tail;
        if (tail) {
            tail[0] = static_cast<T>(v);
            tail[1] = static_cast<T>(v - double(tail[0]));
            tail[2] = static_cast<T>(*correct);
        }
        if (!s_.grad_hook(scalars)) {
            hook_failed_ = true;
            return v;
        }
        if (tail) {
            scalars[0] = double(tail[0]) + double(tail[1]);
            scalars[1] = double(tail[2]);
        }
        v = scalars[0];
        *correct = static_cast<std::int64_t>(scalars[1]);
        if (!std::isfinite(v) && s_.stop_on_nonfinite) return v;
    }

    // optimizer.step()
    update(nthreads);
    return v;
}

template <class T>
double Trainer<T>::share(index_t begin, index_t batch, const std::int64_t* idx, index_t rows) {
    // This rank's part of the global batch's weighted mean: its gradient (and loss) are
    // scaled by local / global denominator, so that their sum over ranks is the mean.
    const auto wsum = [&](const std::int64_t* ids, index_t n) {
        double s = 0;
        for (index_t r = 0; r < n; ++r) s += double(s_.weights[ids[r]]);
        return s;
    };
    const double local = s_.weights ? wsum(idx, rows) : double(rows);
    const double global = s_.weights ? wsum(order_.data() + begin, batch) : double(batch);
    const double scale = global != 0 ? local / global : 0.0;
    const T ts = static_cast<T>(scale);
    const index_t n = rows * widths_.back();
    for (index_t i = 0; i < n; ++i) grad_out_[i] = grad_out_[i] * ts;
    return scale;
}

template <class T>
double Trainer<T>::forward_loss(index_t rows, int nthreads, std::int64_t* correct) {
    // out = model.forward(xb)
    const T* in = xb_.data();
    const std::size_t L = s_.layers.size();
    for (std::size_t i = 0; i < L; ++i) {
        const auto& layer = s_.layers[i];
        T* y = outputs_[i].data();
        if (layer.w) {
            dense_forward(row_major<const T>(in, rows, layer.in),
                          row_major<const T>(layer.w, layer.in, layer.out), layer.b,
                          row_major(y, rows, layer.out), layer.act, layer.slope, nthreads);
        } else {
            activation(layer.act, in, y, rows * widths_[i], layer.slope, nthreads);
        }
        in = y;
    }
    const T* out = in;
    const index_t width = widths_.back();

    // value = loss_fn(out, yb, sample_weight=wb)
    LossOutput<T> lo;
    lo.grad = grad_out_.data();
    const T* w = s_.weights ? wb_.data() : nullptr;
    T value = T(0);
    switch (s_.loss) {
        case TrainLoss::mse:
            value = mse_loss(out, tb_.data(), w, rows, width, Reduction::mean, lo, nthreads);
            break;
        case TrainLoss::bce_logits:
            value = bce_with_logits(out, tb_.data(), w, rows, width, Reduction::mean, lo,
                                    nthreads);
            break;
        case TrainLoss::ce_labels:
            value = cross_entropy(out, lb_.data(), static_cast<const T*>(nullptr), w, rows, width,
                                  Reduction::mean, lo, nthreads);
            break;
        case TrainLoss::l1:
            value = l1_loss(out, tb_.data(), w, rows, width, Reduction::mean, lo, nthreads);
            break;
        case TrainLoss::huber:
            value = huber_loss(out, tb_.data(), w, rows, width, Reduction::mean,
                               static_cast<T>(s_.huber_delta), lo, nthreads);
            break;
        case TrainLoss::ce_probs:
            value = cross_entropy(out, static_cast<const std::int64_t*>(nullptr), tb_.data(), w,
                                  rows, width, Reduction::mean, lo, nthreads);
            break;
    }
    if (s_.classification) {
        *correct = count_correct(out, rows, width, s_.labels ? lb_.data() : nullptr,
                                 s_.labels ? nullptr : tb_.data());
    }
    return double(value);
}

template <class T>
void Trainer<T>::backward(index_t rows, int nthreads) {
    // model.backward(loss_fn.backward()): layers in reverse; the first Dense skips grad_x
    const T* grad = grad_out_.data();
    for (std::size_t i = s_.layers.size(); i-- > 0;) {
        const auto& layer = s_.layers[i];
        const T* x_in = i == 0 ? xb_.data() : outputs_[i - 1].data();
        const bool need_grad_x = i > 0;
        T* gx = grad_in_[i].data();
        if (layer.w) {
            MatView<T> vgx = row_major(gx, rows, layer.in);
            dense_backward(row_major<const T>(x_in, rows, layer.in),
                           row_major<const T>(layer.w, layer.in, layer.out),
                           row_major<const T>(outputs_[i].data(), rows, layer.out),
                           row_major<const T>(grad, rows, layer.out), layer.act, layer.slope,
                           need_grad_x ? &vgx : nullptr,
                           row_major(layer.grad_w, layer.in, layer.out), layer.grad_b, nthreads);
            if (!need_grad_x) break;
        } else {
            if (!need_grad_x) break;  // nothing before it to train
            activation_backward(layer.act, outputs_[i].data(), grad, gx, rows * widths_[i],
                                layer.slope, nthreads);
        }
        grad = gx;
    }
}

template <class T>
void Trainer<T>::update(int nthreads) {
    const index_t count = static_cast<index_t>(s_.params.size());
    if (s_.clip_value >= 0)
        clip_grad_value<T>(grad_ptrs_.data(), s_.sizes.data(), count, s_.clip_value);
    if (s_.clip_norm >= 0)
        clip_grad_norm<T>(grad_ptrs_.data(), s_.sizes.data(), count, s_.clip_norm);
    ++opt_steps_;
    for (index_t p = 0; p < count; ++p) {
        const bool decay = s_.no_decay.empty() || !s_.no_decay[static_cast<std::size_t>(p)];
        if (s_.optimizer == TrainOptimizer::sgd) {
            SgdOptions o = s_.sgd;
            o.lr = lr_;
            o.first = opt_steps_ == 1;  // as SGD in optim.py: torch's first step
            if (!decay) o.weight_decay = 0;
            sgd_step(s_.params[p], s_.grads[p], s_.state1.empty() ? nullptr : s_.state1[p],
                     s_.sizes[p], o, nthreads);
        } else {
            AdamOptions o = s_.adam;
            o.lr = lr_;
            o.step = opt_steps_;
            if (!decay) o.weight_decay = 0;
            adam_step(s_.params[p], s_.grads[p], s_.state1[p], s_.state2[p], s_.sizes[p], o,
                      nthreads);
        }
    }
}

template <class T>
ChunkResult Trainer<T>::run(std::int64_t max_epochs, double seconds, double lr, int nthreads) {
    ChunkResult res;
    const auto t_call = Clock::now();
    lr_ = lr;
    while (static_cast<std::int64_t>(res.epochs.size()) < max_epochs) {
        auto t_part = Clock::now();
        if (step_ == 0) start_epoch();
        bool out_of_time = false;
        while (step_ < steps_) {
            std::int64_t correct = 0;
            const double value = step(step_, nthreads, &correct);
            if (hook_failed_) {
                res.hook_failed = true;
                res.epoch = epoch_;
                res.step = step_;
                return res;
            }
            if (!std::isfinite(value) && s_.stop_on_nonfinite) {
                res.nonfinite = true;
                res.bad_loss = value;
                res.epoch = epoch_;
                res.step = step_;
                ++step_;  // batch_rows() names the failing batch
                return res;
            }
            res.last_loss = value;
            seen_ += double(batch_rows_);
            total_loss_ += value * double(batch_rows_);
            correct_ += correct;
            ++step_;
            if (step_ < steps_ && seconds_since(t_call) >= seconds) {
                out_of_time = true;
                break;
            }
        }
        epoch_seconds_ += seconds_since(t_part);
        if (out_of_time) break;
        EpochRecord rec;
        rec.loss = total_loss_ / (seen_ >= 1 ? seen_ : 1.0);
        rec.accuracy = double(correct_) / (seen_ >= 1 ? seen_ : 1.0);
        rec.seconds = epoch_seconds_;
        rec.lr = lr_;
        res.epochs.push_back(rec);
        ++epoch_;
        step_ = 0;
        // lr_scheduler.step() between epochs of one call (Python steps its own copy).
        if (s_.schedule.kind != Schedule::none) lr_ = s_.schedule.lr_at(epoch_);
        if (seconds_since(t_call) >= seconds) break;
    }
    res.epoch = epoch_;
    res.step = step_;
    res.running_loss = total_loss_ / (seen_ >= 1 ? seen_ : 1.0);
    return res;
}

template class Trainer<float>;
template class Trainer<double>;

}  // namespace nncore
