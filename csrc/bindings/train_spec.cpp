// Reading the trainer's spec (bindings/train_spec.h).
#include "bindings/train_spec.h"

#include <pybind11/numpy.h>

#include <string>

#include "bindings/arrays.h"
#include "core/check.h"
#include "core/enums.h"
#include "core/labels.h"

namespace nncore::bindings {
namespace {

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

}  // namespace

template <class T>
T* buffer(py::handle obj, std::int64_t size, const char* name, bool writeable,
          py::list& keep) {
    const char* fn = "Trainer";
    if (!py::isinstance<py::array>(obj)) {
        type_error(std::string(fn) + ": " + name + " must be a numpy.ndarray; got " +
                   type_name(obj));
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

template <class T>
TrainSpec<T> train_spec(const py::dict& a, py::list& keep) {
    TrainSpec<T> s;
    const std::int64_t n = a["n"].cast<std::int64_t>();
    const std::int64_t features = a["features"].cast<std::int64_t>();
    s.n = n;
    s.features = features;
    s.x = buffer<T>(a["x"], n * features, "x", false, keep);
    for (py::handle item : a["layers"].cast<py::list>()) {
        auto d = item.cast<py::dict>();
        TrainLayer<T> L;
        L.act = parse_activation(d["activation"].cast<std::string>(), "Trainer");
        L.slope = static_cast<T>(d["slope"].cast<double>());
        if (!d["w"].is_none()) {
            L.in = d["in"].cast<std::int64_t>();
            L.out = d["out"].cast<std::int64_t>();
            NNCORE_CHECK(L.in > 0 && L.out > 0, "Trainer: layer sizes must be positive");
            L.w = buffer<T>(d["w"], L.in * L.out, "layer w", true, keep);
            L.grad_w = buffer<T>(d["grad_w"], L.in * L.out, "layer grad_w", true, keep);
            L.grad_b = buffer<T>(d["grad_b"], L.out, "layer grad_b", true, keep);
            if (!d["b"].is_none()) L.b = buffer<T>(d["b"], L.out, "layer b", true, keep);
        }
        s.layers.push_back(L);
    }
    s.loss = loss_arg(a["loss"].cast<std::string>());
    if (a.contains("huber_delta")) s.huber_delta = a["huber_delta"].cast<double>();
    s.target_cols = a["target_cols"].cast<std::int64_t>();
    if (s.loss == TrainLoss::ce_labels) {
        s.labels = buffer<std::int64_t>(a["targets"], n, "labels", false, keep);
        // cross_entropy's label check, once for the whole set.
        check_labels(s.labels, n, a["classes"].cast<std::int64_t>(), "cross_entropy");
    } else {
        s.targets = buffer<T>(a["targets"], n * s.target_cols, "targets", false, keep);
    }
    // sharded data: the global row count and this rank's first row (see train.h)
    s.global_n = a.contains("global_n") ? a["global_n"].cast<std::int64_t>() : 0;
    s.own_lo = a.contains("own_lo") ? a["own_lo"].cast<std::int64_t>() : 0;
    if (!a["weights"].is_none()) {
        s.weights = buffer<T>(a["weights"], s.global_n > 0 ? s.global_n : n, "weights",
                              false, keep);
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
        s.params.push_back(buffer<T>(params[i], size, "param", true, keep));
        s.grads.push_back(buffer<T>(grads[i], size, "grad", true, keep));
        if (i < st1.size()) s.state1.push_back(buffer<T>(st1[i], size, "state", true, keep));
        if (i < st2.size()) s.state2.push_back(buffer<T>(st2[i], size, "state", true, keep));
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
    return s;
}

Pcg64 rng_arg(const py::tuple& r) {
    Pcg64 rng;
    rng.state = u128(r[0].cast<std::uint64_t>(), r[1].cast<std::uint64_t>());
    rng.inc = u128(r[2].cast<std::uint64_t>(), r[3].cast<std::uint64_t>());
    rng.has_uint32 = r[4].cast<bool>();
    rng.uinteger = r[5].cast<std::uint32_t>();
    return rng;
}

py::tuple rng_tuple(const Pcg64& g) {
    const auto hi = [](unsigned __int128 v) { return static_cast<std::uint64_t>(v >> 64); };
    const auto lo = [](unsigned __int128 v) { return static_cast<std::uint64_t>(v); };
    return py::make_tuple(hi(g.state), lo(g.state), hi(g.inc), lo(g.inc), g.has_uint32,
                          g.uinteger);
}

template float* buffer<float>(py::handle, std::int64_t, const char*, bool, py::list&);
template double* buffer<double>(py::handle, std::int64_t, const char*, bool, py::list&);
template std::int64_t* buffer<std::int64_t>(py::handle, std::int64_t, const char*, bool,
                                            py::list&);
template TrainSpec<float> train_spec<float>(const py::dict&, py::list&);
template TrainSpec<double> train_spec<double>(const py::dict&, py::list&);

}  // namespace nncore::bindings
