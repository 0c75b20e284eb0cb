// Bindings of the native training engine (core/train.h), gradient clipping (core/clip.h)
// and the accuracy count (core/metrics.h). python/nncore/training.py drives the engine.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <string>

#include "bindings/arrays.h"
#include "core/check.h"
#include "core/clip.h"
#include "core/enums.h"
#include "core/labels.h"
#include "core/metrics.h"
#include "core/parallel.h"
#include "core/train.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// An ndarray the engine reads or updates in place: exact dtype T, C-contiguous, `size`
// elements, writeable when `writeable`. Returns its data pointer.
template <class T>
T* buffer(py::handle obj, std::int64_t size, const char* name, bool writeable,
          py::list& keep) {
    const char* fn = "Trainer";
    if (!py::isinstance<py::array>(obj)) {
        type_error(std::string(fn) + ": " + name + " must be a numpy.ndarray; got " +
                   std::string(py::str(py::type::of(obj).attr("__name__"))));
    }
    auto a = py::reinterpret_borrow<py::array>(obj);
    if (!a.dtype().equal(py::dtype::of<T>())) {
        type_error(std::string(fn) + ": " + name + " must have dtype " +
                   std::string(py::str(py::dtype::of<T>())) + "; got " +
                   std::string(py::str(a.dtype())));
    }
    NNCORE_CHECK(a.flags() & py::array::c_style, fn, ": ", name, " must be C-contiguous");
    NNCORE_CHECK(static_cast<std::int64_t>(a.size()) == size, fn, ": ", name, " must have ",
                 size, " elements; got ", a.size());
    NNCORE_CHECK(!writeable || a.writeable(), fn, ": ", name, " must be writeable");
    keep.append(a);
    // Read-only inputs (a read-only memmap, say) are only read: no mutable_data(), which
    // refuses them.
    return writeable ? static_cast<T*>(a.mutable_data())
                     : const_cast<T*>(static_cast<const T*>(a.data()));
}

Schedule schedule_arg(const std::string& s) {
    if (s == "none") return Schedule::none;
    if (s == "step") return Schedule::step;
    if (s == "exponential") return Schedule::exponential;
    if (s == "cosine") return Schedule::cosine;
    fail("Trainer: schedule must be 'none', 'step', 'exponential' or 'cosine'; got '", s, "'");
}

TrainLoss loss_arg(const std::string& s) {
    if (s == "mse") return TrainLoss::mse;
    if (s == "bce_logits") return TrainLoss::bce_logits;
    if (s == "ce_labels") return TrainLoss::ce_labels;
    if (s == "ce_probs") return TrainLoss::ce_probs;
    if (s == "l1") return TrainLoss::l1;
    if (s == "huber") return TrainLoss::huber;
    fail("Trainer: loss must be 'mse', 'bce_logits', 'ce_labels', 'ce_probs', 'l1' or 'huber'; "
         "got '", s, "'");
}

unsigned __int128 u128(std::uint64_t hi, std::uint64_t lo) {
    return (static_cast<unsigned __int128>(hi) << 64) | lo;
}

// The engine for one dtype, with the arrays it points into kept alive.
class TrainerBase {
public:
    virtual ~TrainerBase() = default;
    virtual py::dict run(std::int64_t max_epochs, double seconds, double lr) = 0;
    virtual py::tuple rng_state() const = 0;
    virtual std::int64_t optimizer_steps() const = 0;
    virtual py::array_t<std::int64_t> batch_rows() const = 0;
    virtual void set_optimizer_steps(std::int64_t s) = 0;
    virtual void set_data(py::handle x, py::handle targets, py::handle weights) = 0;
};

template <class T>
class TypedTrainer final : public TrainerBase {
public:
    TypedTrainer(const py::dict& a) {
        TrainSpec<T> s;
        const std::int64_t n = a["n"].cast<std::int64_t>();
        const std::int64_t features = a["features"].cast<std::int64_t>();
        s.n = n;
        s.features = features;
        s.x = buffer<T>(a["x"], n * features, "x", false, keep_);
        for (py::handle item : a["layers"].cast<py::list>()) {
            auto d = item.cast<py::dict>();
            TrainLayer<T> L;
            L.act = parse_activation(d["activation"].cast<std::string>(), "Trainer");
            L.slope = static_cast<T>(d["slope"].cast<double>());
            if (!d["w"].is_none()) {
                L.in = d["in"].cast<std::int64_t>();
                L.out = d["out"].cast<std::int64_t>();
                NNCORE_CHECK(L.in > 0 && L.out > 0, "Trainer: layer sizes must be positive");
                L.w = buffer<T>(d["w"], L.in * L.out, "layer w", true, keep_);
                L.grad_w = buffer<T>(d["grad_w"], L.in * L.out, "layer grad_w", true, keep_);
                L.grad_b = buffer<T>(d["grad_b"], L.out, "layer grad_b", true, keep_);
                if (!d["b"].is_none()) L.b = buffer<T>(d["b"], L.out, "layer b", true, keep_);
            }
            s.layers.push_back(L);
        }
        s.loss = loss_arg(a["loss"].cast<std::string>());
        if (a.contains("huber_delta")) s.huber_delta = a["huber_delta"].cast<double>();
        s.target_cols = a["target_cols"].cast<std::int64_t>();
        if (s.loss == TrainLoss::ce_labels) {
            s.labels = buffer<std::int64_t>(a["targets"], n, "labels", false, keep_);
            // cross_entropy's label check, once for the whole set.
            check_labels(s.labels, n, a["classes"].cast<std::int64_t>(), "cross_entropy");
        } else {
            s.targets = buffer<T>(a["targets"], n * s.target_cols, "targets", false, keep_);
        }
        // sharded data: the global row count and this rank's first row (see train.h)
        s.global_n = a.contains("global_n") ? a["global_n"].cast<std::int64_t>() : 0;
        s.own_lo = a.contains("own_lo") ? a["own_lo"].cast<std::int64_t>() : 0;
        if (!a["weights"].is_none()) {
            s.weights = buffer<T>(a["weights"], s.global_n > 0 ? s.global_n : n, "weights",
                                  false, keep_);
        }
        s.classification = a["classification"].cast<bool>();
        s.batch_size = a["batch_size"].cast<std::int64_t>();
        s.shuffle = a["shuffle"].cast<bool>();
        s.stop_on_nonfinite = a["stop_on_nonfinite"].cast<bool>();

        const std::string opt = a["optimizer"].cast<std::string>();
        NNCORE_CHECK(opt == "sgd" || opt == "adam", "Trainer: optimizer must be 'sgd' or 'adam'");
        s.optimizer = opt == "sgd" ? TrainOptimizer::sgd : TrainOptimizer::adam;
        auto o = a["options"].cast<py::dict>();
        if (s.optimizer == TrainOptimizer::sgd) {
            s.sgd.momentum = o["momentum"].cast<double>();
            s.sgd.dampening = o["dampening"].cast<double>();
            s.sgd.weight_decay = o["weight_decay"].cast<double>();
            s.sgd.nesterov = o["nesterov"].cast<bool>();
        } else {
            s.adam.beta1 = o["beta1"].cast<double>();
            s.adam.beta2 = o["beta2"].cast<double>();
            s.adam.eps = o["eps"].cast<double>();
            s.adam.weight_decay = o["weight_decay"].cast<double>();
        }
        auto params = a["params"].cast<py::list>(), grads = a["grads"].cast<py::list>();
        auto st1 = a["state1"].cast<py::list>(), st2 = a["state2"].cast<py::list>();
        NNCORE_CHECK(params.size() == grads.size(), "Trainer: params and grads differ in number");
        for (std::size_t i = 0; i < params.size(); ++i) {
            auto p = params[i].cast<py::array>();
            const auto size = static_cast<std::int64_t>(p.size());
            s.params.push_back(buffer<T>(params[i], size, "param", true, keep_));
            s.grads.push_back(buffer<T>(grads[i], size, "grad", true, keep_));
            if (i < st1.size()) s.state1.push_back(buffer<T>(st1[i], size, "state", true, keep_));
            if (i < st2.size()) s.state2.push_back(buffer<T>(st2[i], size, "state", true, keep_));
            s.sizes.push_back(size);
        }
        if (a.contains("no_decay") && !a["no_decay"].is_none()) {
            auto nd = a["no_decay"].cast<py::list>();
            NNCORE_CHECK(nd.size() == params.size(),
                         "Trainer: no_decay needs one flag per parameter");
            for (auto flag : nd) s.no_decay.push_back(flag.cast<bool>() ? 1 : 0);
        }
        const bool needs1 = s.optimizer == TrainOptimizer::adam || s.sgd.momentum != 0;
        NNCORE_CHECK(!needs1 || s.state1.size() == s.params.size(),
                     "Trainer: every parameter needs its optimiser state");
        NNCORE_CHECK(s.optimizer != TrainOptimizer::adam || s.state2.size() == s.params.size(),
                     "Trainer: every parameter needs its optimiser state");
        s.clip_norm = a["clip_norm"].cast<double>();
        s.clip_value = a["clip_value"].cast<double>();
        auto sch = a["schedule"].cast<py::dict>();
        s.schedule.kind = schedule_arg(sch["kind"].cast<std::string>());
        s.schedule.base_lr = sch["base_lr"].cast<double>();
        s.schedule.gamma = sch["gamma"].cast<double>();
        s.schedule.eta_min = sch["eta_min"].cast<double>();
        s.schedule.step_size = sch["step_size"].cast<std::int64_t>();
        s.schedule.t_max = sch["t_max"].cast<std::int64_t>();
        NNCORE_CHECK(s.schedule.step_size > 0 && s.schedule.t_max > 0,
                     "Trainer: schedule step_size and T_max must be positive");

        s.rank = a.contains("rank") ? a["rank"].cast<std::int64_t>() : 0;
        s.world_size = a.contains("world_size") ? a["world_size"].cast<std::int64_t>() : 1;
        if (a.contains("grad_hook") && !a["grad_hook"].is_none()) {
            // hook(scalars): called with the GIL, after backward, to sum over the ranks.
            hook_ = a["grad_hook"];
            keep_.append(hook_);
            if (a.contains("reduce_tail") && !a["reduce_tail"].is_none()) {
                // the scalars travel in the gradient buffer's tail: hook() takes nothing
                s.reduce_tail = buffer<T>(a["reduce_tail"], 3, "reduce_tail", true, keep_);
                s.grad_hook = [this](double*) {
                    py::gil_scoped_acquire gil;
                    try {
                        hook_();
                    } catch (py::error_already_set& e) {
                        hook_error_ = std::make_unique<py::error_already_set>(std::move(e));
                        failed_ = true;
                        return false;
                    }
                    return true;
                };
            }
            if (!s.grad_hook) s.grad_hook = [this](double* scalars) {
                py::gil_scoped_acquire gil;
                py::array_t<double> arr(2);
                arr.mutable_data()[0] = scalars[0];
                arr.mutable_data()[1] = scalars[1];
                try {
                    hook_(arr);
                } catch (py::error_already_set& e) {
                    hook_error_ = std::make_unique<py::error_already_set>(std::move(e));
                    failed_ = true;
                    return false;
                }
                scalars[0] = arr.data()[0];
                scalars[1] = arr.data()[1];
                return true;
            };
        }
        auto r = a["rng"].cast<py::tuple>();
        Pcg64 rng;
        rng.state = u128(r[0].cast<std::uint64_t>(), r[1].cast<std::uint64_t>());
        rng.inc = u128(r[2].cast<std::uint64_t>(), r[3].cast<std::uint64_t>());
        rng.has_uint32 = r[4].cast<bool>();
        rng.uinteger = r[5].cast<std::uint32_t>();
        n_ = n;
        features_ = features;
        labels_ = s.labels != nullptr;
        classes_ = labels_ ? a["classes"].cast<std::int64_t>() : 0;
        target_cols_ = s.target_cols;
        has_weights_ = s.weights != nullptr;
        trainer_ = std::make_unique<Trainer<T>>(std::move(s), rng);
        trainer_->set_optimizer_steps(a["optimizer_steps"].cast<std::int64_t>());
    }

    py::dict run(std::int64_t max_epochs, double seconds, double lr) override {
        ChunkResult res;
        {
            py::gil_scoped_release nogil;
            res = trainer_->run(max_epochs, seconds, lr, get_num_threads());
        }
        if (failed_) {  // the grad_hook raised: re-raise its exception
            failed_ = false;
            auto e = std::move(hook_error_);
            throw *e;
        }
        // The finished epochs as columns (one list per metric): no object per epoch.
        const auto n = static_cast<py::ssize_t>(res.epochs.size());
        py::list loss_l(n), acc_l(n), sec_l(n), lr_l(n);
        for (py::ssize_t i = 0; i < n; ++i) {
            const auto& e = res.epochs[static_cast<std::size_t>(i)];
            loss_l[i] = py::float_(e.loss);
            acc_l[i] = py::float_(e.accuracy);
            sec_l[i] = py::float_(e.seconds);
            lr_l[i] = py::float_(e.lr);
        }
        return py::dict("loss"_a = loss_l, "accuracy"_a = acc_l, "seconds"_a = sec_l,
                        "lr"_a = lr_l, "epoch"_a = res.epoch, "step"_a = res.step,
                        "nonfinite"_a = res.nonfinite, "bad_loss"_a = res.bad_loss, "running_loss"_a = res.running_loss,
                        "hook_failed"_a = res.hook_failed,
                        "last_loss"_a = res.last_loss);
    }

    py::tuple rng_state() const override {
        const Pcg64& g = trainer_->rng();
        const auto hi = [](unsigned __int128 v) { return static_cast<std::uint64_t>(v >> 64); };
        const auto lo = [](unsigned __int128 v) { return static_cast<std::uint64_t>(v); };
        return py::make_tuple(hi(g.state), lo(g.state), hi(g.inc), lo(g.inc), g.has_uint32,
                              g.uinteger);
    }

    std::int64_t optimizer_steps() const override { return trainer_->optimizer_steps(); }
    void set_optimizer_steps(std::int64_t s) override { trainer_->set_optimizer_steps(s); }

    void set_data(py::handle x, py::handle targets, py::handle weights) override {
        NNCORE_CHECK(weights.is_none() == !has_weights_, "Trainer.set_data: sample weights "
                     "must be given exactly when the trainer was made with them");
        py::list keep;
        const T* xp = buffer<T>(x, n_ * features_, "x", false, keep);
        const T* tp = nullptr;
        const std::int64_t* lp = nullptr;
        if (labels_) {
            lp = buffer<std::int64_t>(targets, n_, "labels", false, keep);
            check_labels(lp, n_, classes_, "cross_entropy");
        } else {
            tp = buffer<T>(targets, n_ * target_cols_, "targets", false, keep);
        }
        const T* wp = has_weights_ ? buffer<T>(weights, n_, "weights", false, keep) : nullptr;
        trainer_->set_data(xp, tp, lp, wp);
        data_ = keep;  // the previous batch's arrays may go
    }

    py::array_t<std::int64_t> batch_rows() const override {
        const auto rows = trainer_->batch_rows();
        py::array_t<std::int64_t> out(static_cast<py::ssize_t>(rows.size()));
        std::copy(rows.begin(), rows.end(), out.mutable_data());
        return out;
    }

private:
    py::list keep_;
    py::object hook_;
    py::list data_;
    std::int64_t n_ = 0, features_ = 0, classes_ = 0, target_cols_ = 0;
    bool labels_ = false, has_weights_ = false;
    std::unique_ptr<py::error_already_set> hook_error_;
    bool failed_ = false;
    std::unique_ptr<Trainer<T>> trainer_;
};

std::unique_ptr<TrainerBase> make_trainer(const py::dict& a) {
    const std::string dtype = a["dtype"].cast<std::string>();
    if (dtype == "float32") return std::make_unique<TypedTrainer<float>>(a);
    if (dtype == "float64") return std::make_unique<TypedTrainer<double>>(a);
    fail("Trainer: dtype must be 'float32' or 'float64'; got '", dtype, "'");
}

// ------------------------------------------------------------------ clipping, metrics

// The gradient arrays of one call: same float dtype, C-contiguous, writeable.
template <class T>
void grad_pointers(const py::list& grads, const char* fn, std::vector<T*>& ptrs,
                   std::vector<index_t>& sizes) {
    for (std::size_t i = 0; i < grads.size(); ++i) {
        auto a = grads[i].cast<py::array>();
        NNCORE_CHECK(a.dtype().equal(py::dtype::of<T>()), fn, ": grads[", i, "] has dtype ",
                     std::string(py::str(a.dtype())), "; every gradient must have dtype ",
                     std::string(py::str(py::dtype::of<T>())), " like grads[0]");
        NNCORE_CHECK(a.flags() & py::array::c_style, fn, ": grads[", i, "] must be C-contiguous");
        NNCORE_CHECK(a.writeable(), fn, ": grads[", i, "] must be writeable");
        ptrs.push_back(static_cast<T*>(a.mutable_data()));
        sizes.push_back(static_cast<index_t>(a.size()));
    }
}

int grads_bits(const py::list& grads, const char* fn) {
    NNCORE_CHECK(grads.size() > 0, fn, ": grads must be a non-empty list of arrays");
    for (std::size_t i = 0; i < grads.size(); ++i) {
        if (!py::isinstance<py::array>(grads[i])) {
            type_error(std::string(fn) + ": grads[" + std::to_string(i) +
                       "] must be a numpy.ndarray updated in place; got " +
                       std::string(py::str(py::type::of(grads[i]).attr("__name__"))));
        }
    }
    auto a0 = grads[0].cast<py::array>();
    if (a0.dtype().equal(py::dtype::of<float>())) return 32;
    if (a0.dtype().equal(py::dtype::of<double>())) return 64;
    type_error(std::string(fn) + ": gradients must have dtype float32 or float64; got " +
               std::string(py::str(a0.dtype())));
}

// f(pointers, sizes, count) on the gradients as T* with the GIL released.
template <class F>
auto with_grads(const py::list& grads, const char* fn, const F& f) {
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        std::vector<T*> ptrs;
        std::vector<index_t> sizes;
        grad_pointers<T>(grads, fn, ptrs, sizes);
        py::gil_scoped_release nogil;
        return f(ptrs.data(), sizes.data(), index_t(ptrs.size()));
    };
    return grads_bits(grads, fn) == 32 ? run(float{}) : run(double{});
}

double clip_grad_norm_py(py::list grads, double max_norm) {
    const char* fn = "clip_grad_norm_";
    NNCORE_CHECK(std::isfinite(max_norm) && max_norm >= 0, fn,
                 ": max_norm must be a finite number >= 0; got ", max_norm);
    return with_grads(grads, fn, [&](auto* const* g, const index_t* n, index_t count) {
        return clip_grad_norm(g, n, count, max_norm);
    });
}

void clip_grad_value_py(py::list grads, double clip_value) {
    const char* fn = "clip_grad_value_";
    NNCORE_CHECK(std::isfinite(clip_value) && clip_value >= 0, fn,
                 ": clip_value must be a finite number >= 0; got ", clip_value);
    with_grads(grads, fn, [&](auto* const* g, const index_t* n, index_t count) {
        clip_grad_value(g, n, count, clip_value);
        return 0;
    });
}

std::int64_t count_correct_py(py::handle out_obj, py::handle target_obj) {
    const char* fn = "count_correct";
    Arg o = arg(out_obj, fn, "out"), t = arg(target_obj, fn, "target");
    NNCORE_CHECK(o.ndim() == 2, fn, ": out must be 2-D (batch, outputs); got shape ",
                 shape_str(o));
    const index_t rows = o.dim(0), cols = o.dim(1);
    const bool labels = t.kind != 'f' && t.ndim() == 1;
    if (labels) {
        NNCORE_CHECK(t.dim(0) == rows, fn, ": target must have ", rows,
                     " labels to match out of shape ", shape_str(o), "; got shape ", shape_str(t));
    } else {
        const bool ok = (t.ndim() == 2 && t.dim(0) == rows && t.dim(1) == cols) ||
                        (cols == 1 && t.ndim() == 1 && t.dim(0) == rows);
        NNCORE_CHECK(ok, fn, ": target must be labels of shape (", rows, ",) or have the shape "
                     "of out ", shape_str(o), "; got ", shape_str(t));
    }
    const int bits = o.bits;
    const auto run = [&](auto tag) -> std::int64_t {
        using T = decltype(tag);
        auto ko = contiguous<T>(o);
        if (labels) {
            auto kl = c_array<std::int64_t>(t.arr);
            return count_correct<T>(ko.data(), rows, cols, kl.data(), nullptr);
        }
        auto kt = contiguous<T>(t);
        return count_correct<T>(ko.data(), rows, cols, nullptr, kt.data());
    };
    return bits == 32 ? run(float{}) : run(double{});
}

}  // namespace

void register_train(py::module_& m) {
    py::class_<TrainerBase>(m, "_Trainer", "The native training engine (see nncore.training).")
        .def(py::init(&make_trainer), "spec"_a)
        .def("run", &TrainerBase::run, "max_epochs"_a, "seconds"_a, "lr"_a)
        .def("rng_state", &TrainerBase::rng_state)
        .def("batch_rows", &TrainerBase::batch_rows)
        .def("set_data", &TrainerBase::set_data, "x"_a, "targets"_a, "weights"_a)
        .def_property("optimizer_steps", &TrainerBase::optimizer_steps,
                      &TrainerBase::set_optimizer_steps);
    m.def("clip_grad_norm_", &clip_grad_norm_py, "grads"_a, "max_norm"_a,
          "Scale all gradients in place so their global L2 norm is at most max_norm; "
          "returns the norm before clipping.");
    m.def("clip_grad_value_", &clip_grad_value_py, "grads"_a, "clip_value"_a,
          "Clip every gradient element into [-clip_value, clip_value], in place.");
    m.def("count_correct", &count_correct_py, "out"_a, "target"_a,
          "Number of correct predictions of out for target (labels or targets).");
}

}  // namespace nncore::bindings
