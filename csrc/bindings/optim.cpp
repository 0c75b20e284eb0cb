// Bindings of the optimisers: sgd_step, adam_step, rmsprop_step (one parameter, in place)
// and sgd_step_all, adam_step_all, rmsprop_step_all (every parameter of an optimiser step,
// or of one param group, in one call).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/optim.h"
#include "core/optim_all.h"
#include "core/parallel.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// -------------------------------------------------------------------------- optim

// A parameter-like array updated in place: an ndarray of float32/64, C-contiguous,
// writeable. Returns its bit width.
int inplace_bits(py::handle obj, const char* fn, const char* name) {
    if (!py::isinstance<py::array>(obj)) {
        type_error(std::string(fn) + ": " + name + " must be a numpy.ndarray updated in place; "
                   "got " + type_name(obj));
    }
    auto a = py::reinterpret_borrow<py::array>(obj);
    const bool f32 = a.dtype().equal(py::dtype::of<float>());
    const bool f64 = a.dtype().equal(py::dtype::of<double>());
    if (!f32 && !f64) {
        type_error(std::string(fn) + ": " + name + " must have dtype float32 or float64; got " +
                   std::string(py::str(a.dtype())));
    }
    NNCORE_CHECK(a.flags() & py::array::c_style, fn, ": ", name, " must be C-contiguous");
    NNCORE_CHECK(a.writeable(), fn, ": ", name, " must be writeable");
    NNCORE_CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % a.itemsize() == 0, fn, ": ", name,
                 " must be aligned to its item size");
    return f32 ? 32 : 64;
}

// A state buffer (velocity, m, v) for `param`: in place, same dtype and shape, apart.
template <class T>
py::array_t<T> state(py::handle obj, const py::array& param, const char* fn, const char* name,
                     const char* pname = "param") {
    auto a = py::reinterpret_borrow<py::array>(obj);
    const int want = sizeof(T) == 4 ? 32 : 64;
    NNCORE_CHECK(inplace_bits(obj, fn, name) == want, fn, ": ", name, " must have dtype ",
                 std::string(py::str(param.dtype())), " like ", pname);
    const Shape ps(param.shape(), param.shape() + param.ndim());
    const Shape s(a.shape(), a.shape() + a.ndim());
    NNCORE_CHECK(s == ps, fn, ": ", name, " must have the shape of ", pname, " ", shape_str(ps),
                 "; got ", shape_str(s));
    NNCORE_CHECK(!overlaps(a, param), fn, ": ", name, " must not share memory with ", pname);
    return py::reinterpret_borrow<py::array_t<T>>(a);
}

double nonneg(py::handle v, const char* fn, const char* name) {
    const double d = real_scalar(v, fn, name);
    NNCORE_CHECK(std::isfinite(d) && d >= 0.0, fn, ": ", name, " must be a finite number >= 0; "
                 "got ", d);
    return d;
}

SgdOptions sgd_options(const char* fn, py::handle lr, py::handle momentum,
                       py::handle weight_decay, bool nesterov, py::handle dampening,
                       bool first) {
    SgdOptions o;
    o.first = first;
    o.lr = nonneg(lr, fn, "lr");
    o.momentum = nonneg(momentum, fn, "momentum");
    o.weight_decay = nonneg(weight_decay, fn, "weight_decay");
    o.dampening = nonneg(dampening, fn, "dampening");
    o.nesterov = nesterov;
    NNCORE_CHECK(!nesterov || (o.momentum > 0 && o.dampening == 0), fn,
                 ": nesterov requires momentum > 0 and dampening == 0");
    return o;
}

AdamOptions adam_options(const char* fn, py::handle step, py::handle lr, py::handle beta1,
                         py::handle beta2, py::handle eps, py::handle weight_decay,
                         bool decoupled = false) {
    if (!py::isinstance<py::int_>(step) || py::isinstance<py::bool_>(step)) {
        type_error(std::string(fn) + ": step must be an int; got " + type_name(step));
    }
    AdamOptions o;
    o.step = step.cast<std::int64_t>();
    NNCORE_CHECK(o.step >= 1, fn, ": step must be >= 1 (it counts updates from 1); got ", o.step);
    o.lr = nonneg(lr, fn, "lr");
    o.beta1 = nonneg(beta1, fn, "beta1");
    o.beta2 = nonneg(beta2, fn, "beta2");
    o.eps = nonneg(eps, fn, "eps");
    o.weight_decay = nonneg(weight_decay, fn, "weight_decay");
    o.decoupled = decoupled;
    NNCORE_CHECK(o.beta1 < 1 && o.beta2 < 1, fn, ": beta1 and beta2 must be in [0, 1); got ",
                 o.beta1, " and ", o.beta2);
    return o;
}

RmspropOptions rmsprop_options(const char* fn, py::handle lr, py::handle alpha, py::handle eps,
                               py::handle weight_decay, py::handle momentum, bool centered) {
    RmspropOptions o;
    o.lr = nonneg(lr, fn, "lr");
    o.alpha = nonneg(alpha, fn, "alpha");
    o.eps = nonneg(eps, fn, "eps");
    o.weight_decay = nonneg(weight_decay, fn, "weight_decay");
    o.momentum = nonneg(momentum, fn, "momentum");
    o.centered = centered;
    NNCORE_CHECK(o.alpha <= 1, fn, ": alpha must be in [0, 1]; got ", o.alpha);
    return o;
}

// The names one parameter's arrays go by in messages: "param" / "grad" / "velocity" for
// the per-parameter functions, "params[3]" / "grads[3]" / ... for the batched ones.
struct SlotNames {
    std::string param, grad, s1, s2, s3;
};

// Checks one parameter's grad and state buffers against the parameter and returns its
// slot; the arrays the slot points into are appended to `keep`.
template <class T>
ParamSlot<T> make_slot(const py::array& p, const Arg& g, py::handle s1, py::handle s2,
                       const char* fn, const SlotNames& nm, py::list& keep,
                       py::handle s3 = py::none()) {
    const Shape ps(p.shape(), p.shape() + p.ndim());
    NNCORE_CHECK(g.shape() == ps, fn, ": ", nm.grad, " must have the shape of ", nm.param, " ",
                 shape_str(ps), "; got ", shape_str(g));
    auto kp = py::reinterpret_borrow<py::array_t<T>>(p);
    auto kg = detach_from(contiguous<T>(g), kp);
    keep.append(kg);
    ParamSlot<T> slot;
    slot.param = ptr(kp);
    slot.grad = kg.data();
    slot.n = count(kp);
    py::array_t<T> k1, k2;
    if (!s1.is_none()) {
        k1 = state<T>(s1, p, fn, nm.s1.c_str(), nm.param.c_str());
        slot.state1 = ptr(k1);
    }
    if (!s2.is_none()) {
        k2 = state<T>(s2, p, fn, nm.s2.c_str(), nm.param.c_str());
        NNCORE_CHECK(!overlaps(k1, k2), fn, ": ", nm.s1, " and ", nm.s2,
                     " must not share memory");
        slot.state2 = ptr(k2);
    }
    if (!s3.is_none()) {
        auto k3 = state<T>(s3, p, fn, nm.s3.c_str(), nm.param.c_str());
        NNCORE_CHECK(!overlaps(k1, k3) && !overlaps(k2, k3), fn, ": ", nm.s3,
                     " must not share memory with ", nm.s1, " or ", nm.s2);
        slot.state3 = ptr(k3);
    }
    return slot;
}

void sgd_step(py::handle param, py::handle grad, py::handle velocity, py::handle lr,
              py::handle momentum, py::handle weight_decay, bool nesterov,
              py::handle dampening, bool first) {
    const char* fn = "sgd_step";
    const int bits = inplace_bits(param, fn, "param");
    Arg g = arg(grad, fn, "grad");
    const SgdOptions o = sgd_options(fn, lr, momentum, weight_decay, nesterov, dampening, first);
    NNCORE_CHECK(o.momentum == 0 || !velocity.is_none(), fn,
                 ": velocity must be an array when momentum > 0; got None");
    auto p = py::reinterpret_borrow<py::array>(param);
    const SlotNames nm{"param", "grad", "velocity", ""};
    const py::handle v = o.momentum != 0 ? velocity : py::handle(py::none());
    py::list keep;
    with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        const ParamSlot<T> s = make_slot<T>(p, g, v, py::none(), fn, nm, keep);
        {
            py::gil_scoped_release nogil;
            nncore::sgd_step(s.param, s.grad, s.state1, s.n, o, get_num_threads());
        }
        return py::none();
    });
}

void adam_step(py::handle param, py::handle grad, py::handle m, py::handle v, py::handle max_v,
               py::handle step, py::handle lr, py::handle beta1, py::handle beta2,
               py::handle eps, py::handle weight_decay, bool decoupled_weight_decay) {
    const char* fn = "adam_step";
    const int bits = inplace_bits(param, fn, "param");
    Arg g = arg(grad, fn, "grad");
    const AdamOptions o = adam_options(fn, step, lr, beta1, beta2, eps, weight_decay,
                                       decoupled_weight_decay);
    auto p = py::reinterpret_borrow<py::array>(param);
    const SlotNames nm{"param", "grad", "m", "v", "max_v"};
    // m and v are required: None gets the in-place array message.
    if (m.is_none()) inplace_bits(m, fn, "m");
    if (v.is_none()) inplace_bits(v, fn, "v");
    py::list keep;
    with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        const ParamSlot<T> s = make_slot<T>(p, g, m, v, fn, nm, keep, max_v);
        {
            py::gil_scoped_release nogil;
            nncore::adam_step(s.param, s.grad, s.state1, s.state2, s.n, o, get_num_threads(),
                              s.state3);
        }
        return py::none();
    });
}

void rmsprop_step(py::handle param, py::handle grad, py::handle square_avg,
                  py::handle momentum_buffer, py::handle grad_avg, py::handle lr,
                  py::handle alpha, py::handle eps, py::handle weight_decay,
                  py::handle momentum, bool centered) {
    const char* fn = "rmsprop_step";
    const int bits = inplace_bits(param, fn, "param");
    Arg g = arg(grad, fn, "grad");
    const RmspropOptions o = rmsprop_options(fn, lr, alpha, eps, weight_decay, momentum,
                                             centered);
    if (square_avg.is_none()) inplace_bits(square_avg, fn, "square_avg");
    if (o.momentum != 0 && momentum_buffer.is_none()) {
        inplace_bits(momentum_buffer, fn, "momentum_buffer");
    }
    if (centered && grad_avg.is_none()) inplace_bits(grad_avg, fn, "grad_avg");
    auto p = py::reinterpret_borrow<py::array>(param);
    const SlotNames nm{"param", "grad", "square_avg", "momentum_buffer", "grad_avg"};
    const py::handle b = o.momentum != 0 ? momentum_buffer : py::handle(py::none());
    const py::handle c = centered ? grad_avg : py::handle(py::none());
    py::list keep;
    with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        const ParamSlot<T> s = make_slot<T>(p, g, square_avg, b, fn, nm, keep, c);
        {
            py::gil_scoped_release nogil;
            nncore::rmsprop_step(s.param, s.grad, s.state1, s.state2, s.state3, s.n, o,
                                 get_num_threads());
        }
        return py::none();
    });
}

// ------------------------------------------------------------------ all parameters

// params, grads and the state lists, checked and turned into slots (all before any
// update, so a bad entry leaves every parameter untouched). Runs of parameters of one
// dtype go to the driver together, in the order given.
struct Batch {
    std::vector<ParamSlot<float>> f32;
    std::vector<ParamSlot<double>> f64;
    std::vector<std::pair<int, std::size_t>> runs;  // (bits, length) in order
    py::list keep;
};

py::sequence seq_arg(py::handle obj, const char* fn, const char* name) {
    if (!py::isinstance<py::list>(obj) && !py::isinstance<py::tuple>(obj)) {
        type_error(std::string(fn) + ": " + name + " must be a list of arrays; got " +
                   type_name(obj));
    }
    return py::reinterpret_borrow<py::sequence>(obj);
}

Batch batch(const char* fn, py::handle params_obj, py::handle grads_obj, py::handle s1_obj,
            py::handle s2_obj, const char* s1_name, const char* s2_name, bool need_s1,
            bool need_s2, py::handle no_decay_obj, py::handle s3_obj = py::none(),
            const char* s3_name = "", bool need_s3 = false) {
    py::sequence params = seq_arg(params_obj, fn, "params");
    py::sequence grads = seq_arg(grads_obj, fn, "grads");
    const std::size_t n = py::len(params);
    NNCORE_CHECK(py::len(grads) == n, fn, ": grads must have one array per parameter (", n,
                 "); got ", py::len(grads));
    auto states = [&](py::handle obj, const char* name, bool need) -> py::object {
        if (obj.is_none()) {
            NNCORE_CHECK(!need, fn, ": ", name, " must be a list of arrays; got None");
            return py::none();
        }
        py::sequence s = seq_arg(obj, fn, name);
        NNCORE_CHECK(py::len(s) == n, fn, ": ", name, " must have one array per parameter (",
                     n, "); got ", py::len(s));
        return std::move(s);
    };
    py::object s1 = states(s1_obj, s1_name, need_s1), s2 = states(s2_obj, s2_name, need_s2);
    py::object s3 = states(s3_obj, s3_name, need_s3);
    // no_decay: None (weight_decay applies to every parameter) or one bool per parameter.
    std::vector<char> skip_decay(n, 0);
    if (!no_decay_obj.is_none()) {
        py::sequence nd = seq_arg(no_decay_obj, fn, "no_decay");
        NNCORE_CHECK(py::len(nd) == n, fn, ": no_decay must have one flag per parameter (", n,
                     "); got ", py::len(nd));
        for (std::size_t i = 0; i < n; ++i) {
            py::object flag = nd[i];
            if (!py::isinstance<py::bool_>(flag)) {
                type_error(std::string(fn) + ": no_decay[" + std::to_string(i) +
                           "] must be a bool; got " + type_name(flag));
            }
            skip_decay[i] = flag.cast<bool>() ? 1 : 0;
        }
    }
    Batch b;
    std::vector<SlotNames> names(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string at = "[" + std::to_string(i) + "]";
        SlotNames& nm = names[i];
        nm = {"params" + at, "grads" + at, std::string(s1_name) + at, std::string(s2_name) + at,
              std::string(s3_name) + at};
        py::object p_obj = params[i], g_obj = grads[i];
        const int bits = inplace_bits(p_obj, fn, nm.param.c_str());
        Arg g = arg(g_obj, fn, nm.grad.c_str());
        py::object o1 = s1.is_none() ? py::object(py::none()) : py::object(s1[py::int_(i)]);
        py::object o2 = s2.is_none() ? py::object(py::none()) : py::object(s2[py::int_(i)]);
        py::object o3 = s3.is_none() ? py::object(py::none()) : py::object(s3[py::int_(i)]);
        if (need_s1 && o1.is_none()) inplace_bits(o1, fn, nm.s1.c_str());
        if (need_s2 && o2.is_none()) inplace_bits(o2, fn, nm.s2.c_str());
        if (need_s3 && o3.is_none()) inplace_bits(o3, fn, nm.s3.c_str());
        auto p = py::reinterpret_borrow<py::array>(p_obj);
        if (bits == 32) {
            b.f32.push_back(make_slot<float>(p, g, o1, o2, fn, nm, b.keep, o3));
            b.f32.back().decay = !skip_decay[i];
        } else {
            b.f64.push_back(make_slot<double>(p, g, o1, o2, fn, nm, b.keep, o3));
            b.f64.back().decay = !skip_decay[i];
        }
        if (!b.runs.empty() && b.runs.back().first == bits) ++b.runs.back().second;
        else b.runs.emplace_back(bits, 1);
    }
    return b;
}

template <class Step>
void run_batch(const Batch& b, const Step& step) {
    py::gil_scoped_release nogil;
    const int nt = get_num_threads();
    std::size_t i32 = 0, i64 = 0;
    for (const auto& [bits, len] : b.runs) {
        if (bits == 32) {
            step(b.f32.data() + i32, len, nt);
            i32 += len;
        } else {
            step(b.f64.data() + i64, len, nt);
            i64 += len;
        }
    }
}

void sgd_step_all(py::handle params, py::handle grads, py::handle velocities, py::handle lr,
                  py::handle momentum, py::handle weight_decay, bool nesterov,
                  py::handle dampening, bool first, py::handle no_decay) {
    const char* fn = "sgd_step_all";
    const SgdOptions o = sgd_options(fn, lr, momentum, weight_decay, nesterov, dampening, first);
    const bool has_v = o.momentum != 0;
    const Batch b = batch(fn, params, grads, has_v ? velocities : py::handle(py::none()),
                          py::none(), "velocities", "", has_v, false, no_decay);
    run_batch(b, [&](const auto* slots, std::size_t len, int nt) {
        nncore::sgd_step_all(slots, len, o, nt);
    });
}

void adam_step_all(py::handle params, py::handle grads, py::handle ms, py::handle vs,
                   py::handle max_vs, py::handle step, py::handle lr, py::handle beta1,
                   py::handle beta2, py::handle eps, py::handle weight_decay,
                   bool decoupled_weight_decay, py::handle no_decay) {
    const char* fn = "adam_step_all";
    const AdamOptions o = adam_options(fn, step, lr, beta1, beta2, eps, weight_decay,
                                       decoupled_weight_decay);
    const Batch b = batch(fn, params, grads, ms, vs, "m", "v", true, true, no_decay, max_vs,
                          "max_v", !max_vs.is_none());
    run_batch(b, [&](const auto* slots, std::size_t len, int nt) {
        nncore::adam_step_all(slots, len, o, nt);
    });
}

void rmsprop_step_all(py::handle params, py::handle grads, py::handle square_avgs,
                      py::handle momentum_buffers, py::handle grad_avgs, py::handle lr,
                      py::handle alpha, py::handle eps, py::handle weight_decay,
                      py::handle momentum, bool centered, py::handle no_decay) {
    const char* fn = "rmsprop_step_all";
    const RmspropOptions o = rmsprop_options(fn, lr, alpha, eps, weight_decay, momentum,
                                             centered);
    const bool mom = o.momentum != 0;
    const Batch b = batch(fn, params, grads, square_avgs,
                          mom ? momentum_buffers : py::handle(py::none()), "square_avg",
                          "momentum_buffer", true, mom, no_decay,
                          centered ? grad_avgs : py::handle(py::none()), "grad_avg", centered);
    run_batch(b, [&](const auto* slots, std::size_t len, int nt) {
        nncore::rmsprop_step_all(slots, len, o, nt);
    });
}

}  // namespace

void register_optim(py::module_& m) {
    m.def("sgd_step", &sgd_step, "param"_a, "grad"_a, "velocity"_a = py::none(), py::kw_only(),
          "lr"_a, "momentum"_a = 0.0, "weight_decay"_a = 0.0, "nesterov"_a = false,
          "dampening"_a = 0.0, "first"_a = false,
          R"(One SGD update in place, as ``torch.optim.SGD``.

``g = grad + weight_decay * param``; with momentum,
``velocity = momentum * velocity + (1 - dampening) * g`` and the step is ``velocity``
(or ``g + momentum * velocity`` with ``nesterov``); ``param -= lr * step``.
With ``first=True`` (the optimiser's first step) ``velocity = g``: torch starts its
momentum buffer as the gradient, without dampening, and so does :class:`nncore.SGD`.

Parameters
----------
param : ndarray, float32 or float64, C-contiguous, writeable
grad : array_like, shape of ``param``
velocity : ndarray like ``param``, required when ``momentum > 0``; start it at zeros.
first : bool
    ``velocity`` holds no history yet: it is overwritten with ``g``, not read.
)");
    m.def("adam_step", &adam_step, "param"_a, "grad"_a, "m"_a, "v"_a, "max_v"_a = py::none(),
          py::kw_only(), "step"_a, "lr"_a = 1e-3, "beta1"_a = 0.9, "beta2"_a = 0.999,
          "eps"_a = 1e-8, "weight_decay"_a = 0.0, "decoupled_weight_decay"_a = false,
          R"(One Adam update in place, as ``torch.optim.Adam``.

``m`` and ``v`` (arrays like ``param``, starting at zeros) hold the moment estimates;
``step`` counts updates from 1 for the bias correction. ``max_v`` (an array like
``param``, starting at zeros) turns on amsgrad: it keeps the running maximum of ``v``,
which takes ``v``'s place in the denominator. ``decoupled_weight_decay=True`` is
``torch.optim.AdamW``: ``param *= 1 - lr * weight_decay`` before the update, instead of
adding ``weight_decay * param`` to the gradient.
)");
    m.def("rmsprop_step", &rmsprop_step, "param"_a, "grad"_a, "square_avg"_a,
          "momentum_buffer"_a = py::none(), "grad_avg"_a = py::none(), py::kw_only(),
          "lr"_a = 1e-2, "alpha"_a = 0.99, "eps"_a = 1e-8, "weight_decay"_a = 0.0,
          "momentum"_a = 0.0, "centered"_a = false,
          R"(One RMSprop update in place, as ``torch.optim.RMSprop``.

``g = grad + weight_decay * param``; ``square_avg = alpha * square_avg + (1 - alpha) g^2``;
centered: ``grad_avg = alpha * grad_avg + (1 - alpha) g`` and
``avg = sqrt(square_avg - grad_avg^2) + eps``, else ``avg = sqrt(square_avg) + eps``;
with momentum ``momentum_buffer = momentum * momentum_buffer + g / avg`` and
``param -= lr * momentum_buffer``, else ``param -= lr * g / avg``. The state arrays are
like ``param`` and start at zeros; ``momentum_buffer`` is needed when ``momentum > 0``,
``grad_avg`` when ``centered``.
)");
    m.def("sgd_step_all", &sgd_step_all, "params"_a, "grads"_a, "velocities"_a, py::kw_only(),
          "lr"_a, "momentum"_a = 0.0, "weight_decay"_a = 0.0, "nesterov"_a = false,
          "dampening"_a = 0.0, "first"_a = false, "no_decay"_a = py::none(),
          "One SGD update of every parameter in place (as sgd_step on each, in order), in "
          "one call. velocities: a list like params, or None when momentum == 0. no_decay: "
          "None, or one bool per parameter (True: weight_decay does not apply to it).");
    m.def("adam_step_all", &adam_step_all, "params"_a, "grads"_a, "m"_a, "v"_a,
          "max_v"_a = py::none(), py::kw_only(), "step"_a, "lr"_a = 1e-3, "beta1"_a = 0.9,
          "beta2"_a = 0.999, "eps"_a = 1e-8, "weight_decay"_a = 0.0,
          "decoupled_weight_decay"_a = false, "no_decay"_a = py::none(),
          "One Adam update of every parameter in place (as adam_step on each, in order), in "
          "one call. m, v: lists like params; max_v: a list like params (amsgrad) or None. "
          "no_decay: as for sgd_step_all.");
    m.def("rmsprop_step_all", &rmsprop_step_all, "params"_a, "grads"_a, "square_avg"_a,
          "momentum_buffer"_a = py::none(), "grad_avg"_a = py::none(), py::kw_only(),
          "lr"_a = 1e-2, "alpha"_a = 0.99, "eps"_a = 1e-8, "weight_decay"_a = 0.0,
          "momentum"_a = 0.0, "centered"_a = false, "no_decay"_a = py::none(),
          "One RMSprop update of every parameter in place (as rmsprop_step on each, in "
          "order), in one call. square_avg: a list like params; momentum_buffer (momentum "
          "> 0) and grad_avg (centered): lists like params or None. no_decay: as for "
          "sgd_step_all.");
}

}  // namespace nncore::bindings
