// Bindings of the optimisers: sgd_step, adam_step (in place).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/optim.h"
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
                   "got " + std::string(py::str(py::type::of(obj).attr("__name__"))));
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

template <class T>
py::array_t<T> state(py::handle obj, const py::array& param, const char* fn, const char* name) {
    auto a = py::reinterpret_borrow<py::array>(obj);
    const int want = sizeof(T) == 4 ? 32 : 64;
    NNCORE_CHECK(inplace_bits(obj, fn, name) == want, fn, ": ", name, " must have dtype ",
                 std::string(py::str(param.dtype())), " like param");
    const Shape ps(param.shape(), param.shape() + param.ndim());
    const Shape s(a.shape(), a.shape() + a.ndim());
    NNCORE_CHECK(s == ps, fn, ": ", name, " must have the shape of param ", shape_str(ps),
                 "; got ", shape_str(s));
    NNCORE_CHECK(!overlaps(a, param), fn, ": ", name, " must not share memory with param");
    return py::reinterpret_borrow<py::array_t<T>>(a);
}

double nonneg(py::handle v, const char* fn, const char* name) {
    const double d = real_scalar(v, fn, name);
    NNCORE_CHECK(std::isfinite(d) && d >= 0.0, fn, ": ", name, " must be a finite number >= 0; "
                 "got ", d);
    return d;
}

void sgd_step(py::handle param, py::handle grad, py::handle velocity, py::handle lr,
              py::handle momentum, py::handle weight_decay, bool nesterov,
              py::handle dampening) {
    const char* fn = "sgd_step";
    const int bits = inplace_bits(param, fn, "param");
    Arg g = arg(grad, fn, "grad");
    SgdOptions o;
    o.lr = nonneg(lr, fn, "lr");
    o.momentum = nonneg(momentum, fn, "momentum");
    o.weight_decay = nonneg(weight_decay, fn, "weight_decay");
    o.dampening = nonneg(dampening, fn, "dampening");
    o.nesterov = nesterov;
    NNCORE_CHECK(!nesterov || (o.momentum > 0 && o.dampening == 0), fn,
                 ": nesterov requires momentum > 0 and dampening == 0");
    NNCORE_CHECK(o.momentum == 0 || !velocity.is_none(), fn,
                 ": velocity must be an array when momentum > 0; got None");
    auto p = py::reinterpret_borrow<py::array>(param);
    NNCORE_CHECK(g.shape() == Shape(p.shape(), p.shape() + p.ndim()), fn,
                 ": grad must have the shape of param ",
                 shape_str(Shape(p.shape(), p.shape() + p.ndim())), "; got ", shape_str(g));
    with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto kp = py::reinterpret_borrow<py::array_t<T>>(p);
        auto kg = detach_from(contiguous<T>(g), kp);
        const bool has_v = o.momentum != 0;
        py::array_t<T> kv;
        if (has_v) kv = state<T>(velocity, p, fn, "velocity");
        {
            py::gil_scoped_release nogil;
            nncore::sgd_step(ptr(kp), kg.data(), has_v ? ptr(kv) : nullptr, count(kp), o,
                             get_num_threads());
        }
        return py::none();
    });
}

void adam_step(py::handle param, py::handle grad, py::handle m, py::handle v, py::handle step,
               py::handle lr, py::handle beta1, py::handle beta2, py::handle eps,
               py::handle weight_decay) {
    const char* fn = "adam_step";
    const int bits = inplace_bits(param, fn, "param");
    Arg g = arg(grad, fn, "grad");
    if (!py::isinstance<py::int_>(step) || py::isinstance<py::bool_>(step)) {
        type_error(std::string(fn) + ": step must be an int; got " +
                   std::string(py::str(py::type::of(step).attr("__name__"))));
    }
    AdamOptions o;
    o.step = step.cast<std::int64_t>();
    NNCORE_CHECK(o.step >= 1, fn, ": step must be >= 1 (it counts updates from 1); got ", o.step);
    o.lr = nonneg(lr, fn, "lr");
    o.beta1 = nonneg(beta1, fn, "beta1");
    o.beta2 = nonneg(beta2, fn, "beta2");
    o.eps = nonneg(eps, fn, "eps");
    o.weight_decay = nonneg(weight_decay, fn, "weight_decay");
    NNCORE_CHECK(o.beta1 < 1 && o.beta2 < 1, fn, ": beta1 and beta2 must be in [0, 1); got ",
                 o.beta1, " and ", o.beta2);
    auto p = py::reinterpret_borrow<py::array>(param);
    const Shape ps(p.shape(), p.shape() + p.ndim());
    NNCORE_CHECK(g.shape() == ps, fn, ": grad must have the shape of param ", shape_str(ps),
                 "; got ", shape_str(g));
    with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto kp = py::reinterpret_borrow<py::array_t<T>>(p);
        auto kg = detach_from(contiguous<T>(g), kp);
        auto km = state<T>(m, p, fn, "m");
        auto kv = state<T>(v, p, fn, "v");
        NNCORE_CHECK(!overlaps(km, kv), fn, ": m and v must not share memory");
        {
            py::gil_scoped_release nogil;
            nncore::adam_step(ptr(kp), kg.data(), ptr(km), ptr(kv), count(kp), o,
                              get_num_threads());
        }
        return py::none();
    });
}

}  // namespace

void register_optim(py::module_& m) {
    m.def("sgd_step", &sgd_step);
    m.def("adam_step", &adam_step);
}

}  // namespace nncore::bindings
