// Reading the trainer's spec (bindings/train_spec.h).
#include "bindings/train_spec.h"

#include <pybind11/numpy.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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
    if (s == "ce_scaled") return TrainLoss::ce_scaled;
    fail("Trainer: loss must be 'mse', 'bce_logits', 'ce_labels', 'ce_probs', 'ce_scaled', "
         "'l1' or 'huber'; got '", s, "'");
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

namespace {

// A field name: its interned Python string and its number among the names seen.
struct FieldName {
    PyObject* str;
    std::size_t id;
};

// Field names made once per name (a spec is read with the GIL held, which guards these
// tables; the strings live as long as the module): found by the literal's address, so a
// read hashes no string, and a dict finds the interned key by its pointer. Literals of the
// same text share one string and one number.
std::vector<PyObject*>& names_by_id() {
    static std::vector<PyObject*> names;
    return names;
}

FieldName field(const char* key) {
    static std::unordered_map<const char*, FieldName> by_literal;
    const auto it = by_literal.find(key);
    if (it != by_literal.end()) return it->second;
    PyObject* s = PyUnicode_InternFromString(key);
    if (s == nullptr) throw py::error_already_set();
    auto& names = names_by_id();
    const auto same = std::find(names.begin(), names.end(), s);
    const FieldName f{s, static_cast<std::size_t>(same - names.begin())};
    if (same == names.end()) names.push_back(s);
    else Py_DECREF(s);  // the table holds that string already
    by_literal.emplace(key, f);
    return f;
}

// A spec dict read field by field: every field read is marked, and finish() rejects any
// field left unread, so a misspelt or unknown key is an error instead of a silent default.
// One dict lookup a read with the field's interned name (field): the fields read are
// counted once each (by their number), and as every one of them is in the dict, as many
// as the dict holds means none is left unread; only then are the keys walked, to name the
// unknown one.
class SpecReader {
public:
    SpecReader(py::handle d, const char* where)
        : where_(where), read_(names_by_id().size() + 16, 0) {
        if (!py::isinstance<py::dict>(d)) {
            type_error(std::string("Trainer: ") + where_ + " must be a dict; got " +
                       type_name(d));
        }
        d_ = py::reinterpret_borrow<py::dict>(d);
    }
    py::object operator[](const char* key) {
        const FieldName f = field(key);
        PyObject* v = lookup(f.str);
        NNCORE_CHECK(v != nullptr, "Trainer: ", where_, " has no field '", key, "'");
        if (f.id >= read_.size()) read_.resize(2 * f.id + 16, 0);
        if (!read_[f.id]) {
            read_[f.id] = 1;
            ++count_;
        }
        return py::reinterpret_borrow<py::object>(v);
    }
    bool has(const char* key) const { return lookup(field(key).str) != nullptr; }
    template <class V>
    V get(const char* key) { return (*this)[key].template cast<V>(); }
    template <class V>
    V get(const char* key, V fallback) { return has(key) ? get<V>(key) : fallback; }
    void finish() const {
        if (static_cast<py::ssize_t>(count_) == PyDict_Size(d_.ptr())) return;
        const auto& names = names_by_id();
        for (auto item : d_) {
            const std::string key = py::str(item.first);
            bool read = false;
            for (std::size_t i = 0; i < read_.size(); ++i)
                read = read || (read_[i] && key == PyUnicode_AsUTF8(names[i]));
            NNCORE_CHECK(read, "Trainer: ", where_, " has an unknown field '", key, "'");
        }
    }

private:
    PyObject* lookup(PyObject* name) const {
        PyObject* v = PyDict_GetItemWithError(d_.ptr(), name);  // borrowed
        if (v == nullptr && PyErr_Occurred()) throw py::error_already_set();
        return v;
    }

    py::dict d_;
    const char* where_;  // "the spec", "a layer", ...: a literal
    std::vector<unsigned char> read_;  // by field number: 1 when read
    std::size_t count_ = 0;   // the fields read
};

}  // namespace

PyObject* field_name(const char* key) { return field(key).str; }

std::vector<OptimizerGroup> read_groups(py::handle groups, TrainOptimizer kind) {
    std::vector<OptimizerGroup> out;
    std::size_t end = 0;
    if (!py::isinstance<py::list>(groups)) type_error("Trainer: groups must be a list");
    for (py::handle item : groups.cast<py::list>()) {
        SpecReader d(item, "a parameter group");
        OptimizerGroup g;
        SpecReader o(d["options"], "the optimizer options");
        if (kind == TrainOptimizer::sgd) {
            g.sgd.momentum = o.get<double>("momentum");
            g.sgd.dampening = o.get<double>("dampening");
            g.sgd.weight_decay = o.get<double>("weight_decay");
            g.sgd.nesterov = o.get<bool>("nesterov");
        } else if (kind == TrainOptimizer::adam) {
            g.adam.beta1 = o.get<double>("beta1");
            g.adam.beta2 = o.get<double>("beta2");
            g.adam.eps = o.get<double>("eps");
            g.adam.weight_decay = o.get<double>("weight_decay");
            g.adam.decoupled = o.get<bool>("decoupled");
        } else {
            g.rmsprop.alpha = o.get<double>("alpha");
            g.rmsprop.eps = o.get<double>("eps");
            g.rmsprop.weight_decay = o.get<double>("weight_decay");
            g.rmsprop.momentum = o.get<double>("momentum");
            g.rmsprop.centered = o.get<bool>("centered");
        }
        o.finish();
        g.lr = d.get<double>("lr");
        const auto count = d.get<std::int64_t>("count");
        NNCORE_CHECK(count > 0, "Trainer: a parameter group needs parameters");
        end += static_cast<std::size_t>(count);
        g.end = end;
        d.finish();
        out.push_back(g);
    }
    return out;
}

template <class T>
TrainSpec<T> train_spec(const py::dict& spec, py::list& keep) {
    SpecReader a(spec, "the spec");
    TrainSpec<T> s;
    a["dtype"];  // chose T (bindings/trainer.cpp)
    const std::int64_t n = a.get<std::int64_t>("n");
    const std::int64_t features = a.get<std::int64_t>("features");
    s.n = n;
    s.features = features;
    s.x = buffer<T>(a["x"], n * features, "x", false, keep);
    for (py::handle item : a.get<py::list>("layers")) {
        SpecReader d(item, "a layer");
        TrainLayer<T> L;
        const std::string kind = d.get<std::string>("kind");
        if (kind == "dense" || kind == "activation") {
            L.kind = kind == "dense" ? TrainLayerKind::dense : TrainLayerKind::activation;
            L.act = parse_activation(d.get<std::string>("activation"), "Trainer");
            L.slope = static_cast<T>(d.get<double>("slope"));
            if (L.kind == TrainLayerKind::dense) {
                L.health = d.get<bool>("health");
                L.post_softmax = d.get<bool>("post_softmax");
            }
        } else if (kind == "softmax") {
            L.kind = TrainLayerKind::softmax;
        } else if (kind == "residual_begin") {
            L.kind = TrainLayerKind::residual_begin;
        } else if (kind == "residual_end") {
            L.kind = TrainLayerKind::residual_end;
            L.begin = d.get<std::int64_t>("begin");
        } else if (kind == "dropout") {
            L.kind = TrainLayerKind::dropout;
            L.p = d.get<double>("p");
            L.seed = d.get<std::uint64_t>("seed");
            L.calls = d.get<std::int64_t>("calls");
        } else if (kind == "layer_norm" || kind == "batch_norm") {
            L.kind = kind == "layer_norm" ? TrainLayerKind::layer_norm
                                          : TrainLayerKind::batch_norm;
            L.in = L.out = d.get<std::int64_t>("features");
            NNCORE_CHECK(L.in > 0, "Trainer: a norm layer needs features > 0");
            L.eps = d.get<double>("eps");
            if (!d["weight"].is_none()) {
                L.w = buffer<T>(d["weight"], L.in, "layer weight", true, keep);
                L.b = buffer<T>(d["bias"], L.in, "layer bias", true, keep);
                L.grad_w = buffer<T>(d["grad_weight"], L.in, "layer grad_weight", true, keep);
                L.grad_b = buffer<T>(d["grad_bias"], L.in, "layer grad_bias", true, keep);
            } else {
                NNCORE_CHECK(d["bias"].is_none() && d["grad_weight"].is_none() &&
                                 d["grad_bias"].is_none(),
                             "Trainer: a norm layer without weight has no bias");
            }
            if (L.kind == TrainLayerKind::batch_norm) {
                L.momentum = d.get<double>("momentum");
                L.calls = d.get<std::int64_t>("num_batches_tracked");
                if (!d["running_mean"].is_none()) {
                    L.running_mean = buffer<T>(d["running_mean"], L.in, "running_mean", true, keep);
                    L.running_var = buffer<T>(d["running_var"], L.in, "running_var", true, keep);
                } else {
                    NNCORE_CHECK(d["running_var"].is_none(),
                                 "Trainer: running_var without running_mean");
                }
            }
        } else {
            fail("Trainer: a layer's kind must be 'dense', 'activation', 'dropout', "
                 "'layer_norm', 'batch_norm', 'residual_begin', 'residual_end' or "
                 "'softmax'; got '",
                 kind, "'");
        }
        if (L.kind == TrainLayerKind::dense) {
            L.in = d.get<std::int64_t>("in");
            L.out = d.get<std::int64_t>("out");
            NNCORE_CHECK(L.in > 0 && L.out > 0, "Trainer: layer sizes must be positive");
            L.w = buffer<T>(d["w"], L.in * L.out, "layer w", true, keep);
            L.grad_w = buffer<T>(d["grad_w"], L.in * L.out, "layer grad_w", true, keep);
            L.grad_b = buffer<T>(d["grad_b"], L.out, "layer grad_b", true, keep);
            if (!d["b"].is_none()) L.b = buffer<T>(d["b"], L.out, "layer b", true, keep);
        }
        d.finish();
        s.layers.push_back(L);
    }
    s.loss = loss_arg(a.get<std::string>("loss"));
    s.huber_delta = a.get<double>("huber_delta", 1.0);
    if (s.loss == TrainLoss::ce_scaled) {
        // the counting targets: labels (1-D) or probabilities, as given below
        const std::int64_t c = a.get<std::int64_t>("classes");
        s.target_cols_loss = c;
        s.loss_targets = buffer<T>(a["loss_targets"], n * c, "loss_targets", false, keep);
        s.row_weight = buffer<double>(a["row_weight"], n, "row_weight", false, keep);
        s.row_denominator = buffer<double>(a["row_denominator"], n, "row_denominator", false,
                                           keep);
    }
    s.target_cols = a.get<std::int64_t>("target_cols");
    const std::int64_t classes = a.get<std::int64_t>("classes");
    const bool labels = s.loss == TrainLoss::ce_labels ||
                        (s.loss == TrainLoss::ce_scaled && a.get<bool>("labels"));
    if (labels) {
        s.labels = buffer<std::int64_t>(a["targets"], n, "labels", false, keep);
        // cross_entropy's label check, once for the whole set.
        check_labels(s.labels, n, classes, "cross_entropy");
    } else {
        s.targets = buffer<T>(a["targets"], n * s.target_cols, "targets", false, keep);
    }
    // sharded data: the global row count and this rank's first row (see train.h)
    s.global_n = a.get<std::int64_t>("global_n", 0);
    s.own_lo = a.get<std::int64_t>("own_lo", 0);
    if (!a["weights"].is_none()) {
        s.weights = buffer<T>(a["weights"], s.global_n > 0 ? s.global_n : n, "weights",
                              false, keep);
    }
    s.classification = a.get<bool>("classification");
    s.batch_size = a.get<std::int64_t>("batch_size");
    s.shuffle = a.get<bool>("shuffle");
    s.stop_on_nonfinite = a.get<bool>("stop_on_nonfinite");

    const std::string opt = a.get<std::string>("optimizer");
    NNCORE_CHECK(opt == "sgd" || opt == "adam" || opt == "rmsprop",
                 "Trainer: optimizer must be 'sgd', 'adam' or 'rmsprop'; got '", opt, "'");
    s.optimizer = opt == "sgd" ? TrainOptimizer::sgd
                : opt == "adam" ? TrainOptimizer::adam : TrainOptimizer::rmsprop;
    s.groups = read_groups(a["groups"], s.optimizer);
    // The optimiser's slots: every parameter with its gradient and state buffers
    // (state1/2/3 as core/optim_all.h's ParamSlot; None where unused) and decay flag.
    auto params = a.get<py::list>("params");
    for (std::size_t i = 0; i < params.size(); ++i) {
        SpecReader p(params[i], "a parameter slot");
        auto data = p["param"];
        NNCORE_CHECK(py::isinstance<py::array>(data), "Trainer: a slot's param must be an array");
        const auto size = static_cast<std::int64_t>(data.cast<py::array>().size());
        ParamSlot<T> slot;
        slot.n = size;
        slot.param = buffer<T>(data, size, "param", true, keep);
        slot.grad = buffer<T>(p["grad"], size, "grad", true, keep);
        T** states[3] = {&slot.state1, &slot.state2, &slot.state3};
        const char* names[3] = {"state1", "state2", "state3"};
        for (int k = 0; k < 3; ++k) {
            py::object st = p[names[k]];
            if (!st.is_none()) *states[k] = buffer<T>(st, size, names[k], true, keep);
        }
        slot.decay = p.get<bool>("decay");
        p.finish();
        s.slots.push_back(slot);
    }
    s.clip_norm = a.get<double>("clip_norm");
    s.clip_value = a.get<double>("clip_value");
    s.health = a.get<bool>("health", false);
    s.keep_outputs = a.get<bool>("keep_outputs", false);
    SpecReader sch(a["schedule"], "the schedule");
    s.schedule.kind = schedule_arg(sch.get<std::string>("kind"));
    s.schedule.base_lr = sch.get<double>("base_lr");
    s.schedule.gamma = sch.get<double>("gamma");
    s.schedule.eta_min = sch.get<double>("eta_min");
    s.schedule.step_size = sch.get<std::int64_t>("step_size");
    s.schedule.t_max = sch.get<std::int64_t>("t_max");
    sch.finish();
    NNCORE_CHECK(s.schedule.step_size > 0 && s.schedule.t_max > 0,
                 "Trainer: schedule step_size and T_max must be positive");

    s.rank = a.get<std::int64_t>("rank", 0);
    s.world_size = a.get<std::int64_t>("world_size", 1);
    a["optimizer_steps"];  // read by bindings/trainer.cpp
    if (a.has("grad_hook")) a["grad_hook"];      // taken by bindings/trainer.cpp
    if (a.has("reduce_tail")) a["reduce_tail"];  // likewise
    a.finish();
    return s;
}

template float* buffer<float>(py::handle, std::int64_t, const char*, bool, py::list&);
template double* buffer<double>(py::handle, std::int64_t, const char*, bool, py::list&);
template std::int64_t* buffer<std::int64_t>(py::handle, std::int64_t, const char*, bool,
                                            py::list&);
template TrainSpec<float> train_spec<float>(const py::dict&, py::list&);
template TrainSpec<double> train_spec<double>(const py::dict&, py::list&);

}  // namespace nncore::bindings
