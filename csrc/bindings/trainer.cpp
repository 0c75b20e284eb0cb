// Binding of the native training engine (core/train.h): nncore._core._Trainer, which
// python/nncore/training/engines.py drives. The spec is read by bindings/train_spec.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "bindings/train_spec.h"
#include "core/check.h"
#include "core/labels.h"
#include "core/parallel.h"
#include "core/train.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// ValueError unless each of the k rows of orders (rows of `total` values) is a
// permutation of 0 .. total - 1. Up to 64 rows, a bit per row: `total` values below
// `total` whose bits cover all `total` are a permutation (a value out of range sets no
// bit, so then fewer than `total` are set); else a byte per row, per epoch, with each row
// checked as it comes.
void check_orders(const std::int64_t* orders, std::int64_t k, std::int64_t total) {
    const auto not_permutation = [&](std::int64_t e) {
        fail("Trainer.run: orders[", e, "] is not a permutation of ", total, " rows");
    };
    if (total <= 64) {
        const auto n = static_cast<std::uint64_t>(total);
        const std::uint64_t all = n == 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << n) - 1;
        for (std::int64_t e = 0; e < k; ++e) {
            const std::int64_t* row = orders + e * total;
            std::uint64_t seen = 0;
            for (std::int64_t i = 0; i < total; ++i) {
                const auto r = static_cast<std::uint64_t>(row[i]);  // negative: out of range
                seen |= r < n ? std::uint64_t(1) << r : 0;
            }
            if (seen != all) not_permutation(e);
        }
        return;
    }
    // a byte per row, cleared for each epoch after the first: 10,000 rows take 10 KiB
    // (L1). One row of 10,000, one core: an int64 stamp per row (80 KiB) 6.5 us, a bit
    // per row 7.8 (its words read, tested and written back), a byte 5.3.
    const auto n = static_cast<std::uint64_t>(total);
    std::vector<unsigned char> seen(static_cast<std::size_t>(n), 0);
    unsigned char* used = seen.data();
    for (std::int64_t e = 0; e < k; ++e) {
        const std::int64_t* row = orders + e * total;
        if (e > 0) std::fill(seen.begin(), seen.end(), static_cast<unsigned char>(0));
        for (std::int64_t i = 0; i < total; ++i) {
            const auto r = static_cast<std::uint64_t>(row[i]);  // negative: out of range
            if (r >= n || used[r]) not_permutation(e);
            used[r] = 1;
        }
    }
}

// A spec as a flat list of tokens, for _Trainer.same_spec: a dict's size and its keys (by
// identity: the spec's keys are interned literals), a list's length, an array by identity
// with its data, size, dtype and flags as they are now (a reshaped or re-typed array is
// not the same), a float's bits, an int's value, a bool, None, a str by identity. The
// data arrays (x, targets, weights) by dtype, size and layout only; the counters and the
// optimiser's steps, which run() takes anew each call, not at all. walk() is false for
// anything else in the spec (then no spec is the same as it).
struct SpecToken {
    std::uintptr_t kind = 0, a = 0, b = 0;
    bool operator==(const SpecToken& o) const { return kind == o.kind && a == o.a && b == o.b; }
};

bool walk(PyObject* v, std::vector<SpecToken>& out);

void put_array(PyObject* v, std::vector<SpecToken>& out, bool data) {
    const auto a = py::reinterpret_borrow<py::array>(v);
    const auto flags = static_cast<std::uintptr_t>(a.flags() & (py::array::c_style |
                                                                py::array::f_style));
    out.push_back({5, static_cast<std::uintptr_t>(a.dtype().num()) << 8 | flags,
                   static_cast<std::uintptr_t>(a.nbytes())});
    if (!data) {
        out.push_back({6, reinterpret_cast<std::uintptr_t>(v),
                       reinterpret_cast<std::uintptr_t>(a.data())});
        out.push_back({7, static_cast<std::uintptr_t>(a.writeable()),
                       static_cast<std::uintptr_t>(a.ndim())});
    }
}

bool walk_dict(PyObject* v, std::vector<SpecToken>& out) {
    static PyObject* const data_keys[] = {field_name("x"), field_name("targets"),
                                          field_name("weights")};
    static PyObject* const skipped[] = {field_name("optimizer_steps"), field_name("calls"),
                                        field_name("num_batches_tracked")};
    out.push_back({1, static_cast<std::uintptr_t>(PyDict_GET_SIZE(v)), 0});
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(v, &pos, &key, &value)) {
        out.push_back({2, reinterpret_cast<std::uintptr_t>(key), 0});
        if (std::find(std::begin(skipped), std::end(skipped), key) != std::end(skipped))
            continue;
        if (std::find(std::begin(data_keys), std::end(data_keys), key) !=
                std::end(data_keys) && py::isinstance<py::array>(value)) {
            put_array(value, out, true);
            continue;
        }
        if (!walk(value, out)) return false;
    }
    return true;
}

bool walk(PyObject* v, std::vector<SpecToken>& out) {
    if (PyDict_CheckExact(v)) return walk_dict(v, out);
    if (PyList_CheckExact(v)) {
        const Py_ssize_t n = PyList_GET_SIZE(v);
        out.push_back({3, static_cast<std::uintptr_t>(n), 0});
        for (Py_ssize_t i = 0; i < n; ++i) {
            if (!walk(PyList_GET_ITEM(v, i), out)) return false;
        }
        return true;
    }
    if (v == Py_None || v == Py_True || v == Py_False) {
        out.push_back({4, reinterpret_cast<std::uintptr_t>(v), 0});
        return true;
    }
    if (PyFloat_CheckExact(v)) {
        const double d = PyFloat_AS_DOUBLE(v);
        std::uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        out.push_back({8, static_cast<std::uintptr_t>(bits), 0});
        return true;
    }
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        const long long i = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow != 0 || (i == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return false;
        }
        out.push_back({9, static_cast<std::uintptr_t>(i), 0});
        return true;
    }
    if (PyUnicode_CheckExact(v)) {
        out.push_back({10, reinterpret_cast<std::uintptr_t>(v), 0});
        return true;
    }
    if (py::isinstance<py::array>(v)) {
        put_array(v, out, false);
        return true;
    }
    return false;
}

// The engine for one dtype, with the arrays it points into kept alive.
class TrainerBase {
public:
    virtual ~TrainerBase() = default;
    virtual py::dict run(std::int64_t max_epochs, double seconds, double lr,
                         py::handle orders, std::int64_t max_steps) = 0;
    virtual std::vector<std::int64_t> counters() const = 0;
    virtual void set_groups(py::handle groups) = 0;
    virtual py::array epoch_outputs() const = 0;
    virtual void set_counters(const std::vector<std::int64_t>& counts) = 0;
    virtual std::int64_t optimizer_steps() const = 0;
    virtual py::array_t<std::int64_t> batch_rows() const = 0;
    virtual void set_optimizer_steps(std::int64_t s) = 0;
    virtual void set_data(py::handle x, py::handle targets, py::handle weights) = 0;
    virtual bool same_spec(py::handle spec) const = 0;
    virtual void restart(py::handle x, py::handle targets, py::handle weights) = 0;
    virtual bool release_data() = 0;
};

template <class T>
class TypedTrainer final : public TrainerBase {
public:
    TypedTrainer(const py::dict& a) {
        TrainSpec<T> s = train_spec<T>(a, keep_);
        if (a.contains("grad_hook") && !a["grad_hook"].is_none()) {
            // hook(scalars): called with the GIL, after backward, to sum over the ranks.
            hook_ = a["grad_hook"];
            keep_.append(hook_);
            if (a.contains("reduce_tail") && !a["reduce_tail"].is_none()) {
                // the scalars travel in the gradient buffer's tail: hook() takes nothing
                s.reduce_tail = buffer<T>(a["reduce_tail"], 3, "reduce_tail", true, keep_);
                s.grad_hook = [this](double*) {
                    py::gil_scoped_acquire gil;
                    return call_hook([&] { hook_(); });
                };
            }
            if (!s.grad_hook) s.grad_hook = [this](double* scalars) {
                py::gil_scoped_acquire gil;
                py::array_t<double> arr(2);
                arr.mutable_data()[0] = scalars[0];
                arr.mutable_data()[1] = scalars[1];
                if (!call_hook([&] { hook_(arr); })) return false;
                scalars[0] = arr.data()[0];
                scalars[1] = arr.data()[1];
                return true;
            };
        }
        n_ = s.n;
        features_ = s.features;
        labels_ = s.labels != nullptr;
        classes_ = labels_ ? a["classes"].cast<std::int64_t>() : 0;
        target_cols_ = s.target_cols;
        has_weights_ = s.weights != nullptr;
        health_ = s.health;
        total_ = s.global_n > 0 ? s.global_n : s.n;
        trainer_ = std::make_unique<Trainer<T>>(std::move(s));
        trainer_->set_optimizer_steps(a["optimizer_steps"].cast<std::int64_t>());
        // the spec's tokens for same_spec, and the spec kept (its objects alive, so that an
        // identity compared stays theirs) but for its data arrays, which only data_ holds
        // (release_data lets them go); a data-parallel one (a hook) is never the same
        if (hook_ || !walk(a.ptr(), tokens_)) return;
        py::dict kept = py::reinterpret_steal<py::dict>(PyDict_Copy(a.ptr()));
        py::list data, others;
        for (const char* key : {"x", "targets", "weights"}) {
            PyObject* v = PyDict_GetItem(a.ptr(), field_name(key));  // borrowed
            if (v != nullptr && v != Py_None) data.append(py::handle(v));
            kept[field_name(key)] = py::none();
        }
        for (const py::handle item : keep_) {
            bool is_data = false;
            for (const py::handle d : data) is_data = is_data || item.is(d);
            if (!is_data) others.append(item);
        }
        keep_ = others;
        data_ = data;
        spec_ = kept;
    }

    bool same_spec(py::handle a) const override {
        if (!spec_ || !PyDict_CheckExact(a.ptr())) return false;
        std::vector<SpecToken> now;
        now.reserve(tokens_.size());
        return walk(a.ptr(), now) && now == tokens_;
    }

    void restart(py::handle x, py::handle targets, py::handle weights) override {
        set_data(x, targets, weights);
        trainer_->restart(data_x_, data_targets_, data_labels_, data_weights_);
    }

    bool release_data() override {
        if (!spec_) return false;  // same_spec never matches it: it keeps its data
        trainer_->set_data(nullptr, nullptr, nullptr, nullptr);
        data_ = py::list();
        released_ = true;
        return true;
    }

    py::dict run(std::int64_t max_epochs, double seconds, double lr,
                 py::handle orders, std::int64_t max_steps) override {
        // orders: (k, rows) int64, the permutations Python drew for the next k epochs
        // (None without shuffle); each a permutation of the rows, checked here.
        NNCORE_CHECK(!released_, "Trainer.run: the data was released; restart() first");
        const std::int64_t* op = nullptr;
        std::int64_t k = 0;
        py::list keep;
        if (!orders.is_none()) {
            NNCORE_CHECK(py::isinstance<py::array>(orders) &&
                             py::reinterpret_borrow<py::array>(orders).ndim() == 2,
                         "Trainer.run: orders must be a 2-D array");
            k = static_cast<std::int64_t>(py::reinterpret_borrow<py::array>(orders).shape(0));
            op = buffer<std::int64_t>(orders, k * total_, "orders", false, keep);
            check_orders(op, k, total_);
        }
        ChunkResult res;
        {
            py::gil_scoped_release nogil;
            res = trainer_->run(max_epochs, seconds, lr, op, k, get_num_threads(), max_steps);
        }
        if (failed_) {  // the grad_hook raised: re-raise its exception
            failed_ = false;
            auto e = std::move(hook_error_);
            throw *e;
        }
        // The finished epochs as columns, one float64 array per metric: no Python object
        // per epoch (History turns them into lists when it is read).
        const auto n = static_cast<py::ssize_t>(res.epochs.size());
        py::array_t<double> loss_l(n), acc_l(n), sec_l(n), lr_l(n);
        double* lo = loss_l.mutable_data();
        double* ac = acc_l.mutable_data();
        double* se = sec_l.mutable_data();
        double* lr_o = lr_l.mutable_data();
        py::list health_l(health_ ? n : 0);  // health=True only: no list per epoch else
        for (py::ssize_t i = 0; i < n; ++i) {
            const auto& e = res.epochs[static_cast<std::size_t>(i)];
            lo[i] = e.loss;
            ac[i] = e.accuracy;
            se[i] = e.seconds;
            lr_o[i] = e.lr;
            if (health_) health_l[i] = py::cast(e.health);
        }
        // the keys interned once (field_name): py::dict(key=value, ...) would cost ~45k
        // instructions a call, more than a tiny network's twenty steps
        py::dict out;
        const auto put = [&](const char* key, const py::object& value) {
            if (PyDict_SetItem(out.ptr(), field_name(key), value.ptr()) != 0)
                throw py::error_already_set();
        };
        put("loss", loss_l);
        put("accuracy", acc_l);
        put("seconds", sec_l);
        put("lr", lr_l);
        put("health", health_l);
        put("epoch", py::int_(res.epoch));
        put("step", py::int_(res.step));
        put("nonfinite", py::bool_(res.nonfinite));
        put("bad_loss", py::float_(res.bad_loss));
        put("running_loss", py::float_(res.running_loss));
        put("hook_failed", py::bool_(res.hook_failed));
        put("last_loss", py::float_(res.last_loss));
        put("orders_used", py::int_(res.orders_used));
        return out;
    }

    std::vector<std::int64_t> counters() const override { return trainer_->counters(); }
    void set_groups(py::handle groups) override {
        trainer_->set_groups(read_groups(groups, trainer_->optimizer()));
    }
    py::array epoch_outputs() const override {
        const auto& v = trainer_->epoch_outputs();
        const py::ssize_t w = trainer_->output_width();
        py::array_t<T> out({static_cast<py::ssize_t>(w ? v.size() / w : 0), w});
        std::copy(v.begin(), v.end(), out.mutable_data());
        return out;
    }
    void set_counters(const std::vector<std::int64_t>& counts) override {
        trainer_->set_counters(counts);
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
        released_ = false;
        data_ = keep;  // the previous batch's arrays may go
        data_x_ = xp;
        data_targets_ = tp;
        data_labels_ = lp;
        data_weights_ = wp;
    }

    py::array_t<std::int64_t> batch_rows() const override {
        const auto rows = trainer_->batch_rows();
        py::array_t<std::int64_t> out(static_cast<py::ssize_t>(rows.size()));
        std::copy(rows.begin(), rows.end(), out.mutable_data());
        return out;
    }

private:
    // Runs the grad hook's call (the GIL held); false, with its exception kept for run()
    // to raise, when it raised.
    template <class Call>
    bool call_hook(const Call& call) {
        try {
            call();
        } catch (py::error_already_set& e) {
            hook_error_ = std::make_unique<py::error_already_set>(std::move(e));
            failed_ = true;
            return false;
        }
        return true;
    }

    py::list keep_;
    py::object hook_;
    py::list data_;
    const T* data_x_ = nullptr;  // set_data's arrays
    const T* data_targets_ = nullptr;
    const std::int64_t* data_labels_ = nullptr;
    const T* data_weights_ = nullptr;
    bool released_ = false;  // release_data() ran since the last set_data
    py::object spec_;  // the spec, while same_spec can compare one with it
    std::vector<SpecToken> tokens_;
    std::int64_t n_ = 0, features_ = 0, classes_ = 0, target_cols_ = 0, total_ = 0;
    bool labels_ = false, has_weights_ = false, health_ = false;
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

}  // namespace

namespace {

// numpy's bitgen_t (numpy/random/bitgen.h), the pointer in a BitGenerator's capsule
struct NumpyBitGen {
    void* state;
    std::uint64_t (*next_uint64)(void*);
    std::uint32_t (*next_uint32)(void*);
    double (*next_double)(void*);
    std::uint64_t (*next_raw)(void*);
};

// the lock a BitGenerator's own draws hold, held while this object lives
struct HeldLock {
    py::object lock;
    explicit HeldLock(py::handle bit_generator) : lock(bit_generator.attr("lock")) {
        lock.attr("acquire")();
    }
    ~HeldLock() {
        try {
            lock.attr("release")();
        } catch (py::error_already_set& e) {
            e.discard_as_unraisable("nncore._core._permutations");
        }
    }
    HeldLock(const HeldLock&) = delete;
    HeldLock& operator=(const HeldLock&) = delete;
};

// the low 64 bits of a Python int, and those above them
std::uint64_t low_word(py::handle v) {
    const unsigned long long w = PyLong_AsUnsignedLongLongMask(v.ptr());
    if (PyErr_Occurred()) throw py::error_already_set();
    return w;
}
std::uint64_t high_word(py::handle v) {
    const auto high = py::reinterpret_steal<py::object>(PyNumber_Rshift(v.ptr(), py::int_(64).ptr()));
    if (!high) throw py::error_already_set();
    return low_word(high);
}
py::object int_of_words(std::uint64_t hi, std::uint64_t lo) {
    const auto high = py::reinterpret_steal<py::object>(
        PyNumber_Lshift(py::int_(hi).ptr(), py::int_(64).ptr()));
    if (!high) throw py::error_already_set();
    auto v = py::reinterpret_steal<py::object>(PyNumber_Or(high.ptr(), py::int_(lo).ptr()));
    if (!v) throw py::error_already_set();
    return v;
}

// numpy's PCG64 itself (not a subclass, which may keep its state otherwise)
bool is_numpy_pcg64(py::handle bit_generator) {
    static PyObject* const pcg64 =  // kept for the process (no destructor at exit)
        py::object(py::module_::import("numpy.random").attr("PCG64")).release().ptr();
    return reinterpret_cast<PyObject*>(Py_TYPE(bit_generator.ptr())) == pcg64;
}

py::array_t<std::int64_t> permutations(py::handle bit_generator, std::int64_t n,
                                       std::int64_t count) {
    NNCORE_CHECK(n >= 0 && count >= 0, "_permutations: n and count must be >= 0; got n = ", n,
                 ", count = ", count);
    const py::object cap_obj = bit_generator.attr("capsule");
    NNCORE_CHECK(py::isinstance<py::capsule>(cap_obj), "_permutations: bit_generator must be "
                 "a numpy BitGenerator (with a capsule)");
    const auto cap = py::reinterpret_borrow<py::capsule>(cap_obj);
    NNCORE_CHECK(cap.name() != nullptr && std::string(cap.name()) == "BitGenerator",
                 "_permutations: bit_generator's capsule is not numpy's BitGenerator");
    const auto* bg = cap.get_pointer<NumpyBitGen>();
    RandomBits bits;
    bits.state = bg->state;
    bits.next_uint64 = bg->next_uint64;
    bits.next_uint32 = bg->next_uint32;
    py::array_t<std::int64_t> out({static_cast<py::ssize_t>(count), static_cast<py::ssize_t>(n)});
    std::int64_t* o = out.mutable_data();
    const HeldLock held(bit_generator);  // as numpy's own draws hold it
    if (is_numpy_pcg64(bit_generator)) {
        // PCG64 (default_rng's): its generator inlined, the state through its `state`
        // dict. 10,000 rows: 72 us by the function pointers, 29 us so (loaded machine).
        const py::dict st = bit_generator.attr("state");
        const py::dict lcg = st["state"];
        Pcg64State g;
        g.state_hi = high_word(lcg["state"]);
        g.state_lo = low_word(lcg["state"]);
        g.inc_hi = high_word(lcg["inc"]);
        g.inc_lo = low_word(lcg["inc"]);
        g.has_uint32 = st["has_uint32"].cast<long long>() != 0;
        g.uinteger = static_cast<std::uint32_t>(st["uinteger"].cast<unsigned long long>());
        bool drawn;
        {
            py::gil_scoped_release nogil;
            drawn = draw_permutations_pcg64(g, n, count, o);
        }
        if (drawn) {
            py::dict lcg_after;
            lcg_after["state"] = int_of_words(g.state_hi, g.state_lo);
            lcg_after["inc"] = int_of_words(g.inc_hi, g.inc_lo);
            py::dict after;
            after["bit_generator"] = st["bit_generator"];
            after["state"] = lcg_after;
            after["has_uint32"] = py::int_(g.has_uint32 ? 1 : 0);
            after["uinteger"] = py::int_(g.uinteger);
            bit_generator.attr("state") = after;
            return out;
        }
    }
    {
        py::gil_scoped_release nogil;
        draw_permutations(bits, n, count, o);
    }
    return out;
}

}  // namespace

void register_trainer(py::module_& m) {
    m.def("_permutations", &permutations, "bit_generator"_a, "n"_a, "count"_a,
          "count rows of rng.permutation(n) drawn from a numpy BitGenerator, with the "
          "generator left as after that many calls (the native engine's epoch orders).");
    py::class_<TrainerBase>(m, "_Trainer", "The native training engine (see nncore.training).")
        .def(py::init(&make_trainer), "spec"_a)
        .def("run", &TrainerBase::run, "max_epochs"_a, "seconds"_a, "lr"_a,
             "orders"_a = py::none(), "max_steps"_a = 0)
        .def("counters", &TrainerBase::counters,
             "Each layer's count in plan order: Dropout masks drawn, BatchNorm1d batches "
             "tracked, else 0.")
        .def("set_counters", &TrainerBase::set_counters, "counts"_a)
        .def("set_groups", &TrainerBase::set_groups, "groups"_a,
             "The optimizer's parameter groups: [{'options': {...}, 'lr': float, 'count': "
             "int}], in order (a schedule may change rates, momentum or betas).")
        .def("epoch_outputs", &TrainerBase::epoch_outputs,
             "The last finished epoch's outputs in batch order (spec keep_outputs).")
        .def("batch_rows", &TrainerBase::batch_rows)
        .def("set_data", &TrainerBase::set_data, "x"_a, "targets"_a, "weights"_a)
        .def("same_spec", &TrainerBase::same_spec, "spec"_a,
             "Whether spec is the one this trainer was made from, but for the data arrays "
             "(the same dtype, size and layout), the counters and the optimizer's steps.")
        .def("restart", &TrainerBase::restart, "x"_a, "targets"_a, "weights"_a,
             "A new fit of the same spec: these rows (as set_data), the epoch and step "
             "from 0.")
        .def("release_data", &TrainerBase::release_data,
             "Let the data arrays go (a trainer kept between fits; restart() before the "
             "next run()); False, keeping them, when same_spec can never match it.")
        .def_property("optimizer_steps", &TrainerBase::optimizer_steps,
                      &TrainerBase::set_optimizer_steps);
}

}  // namespace nncore::bindings
