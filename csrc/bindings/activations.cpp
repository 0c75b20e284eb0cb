// Bindings of the activations: elementwise activations, softmax, and their backwards.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/elementwise.h"
#include "core/enums.h"
#include "core/parallel.h"
#include "core/softmax.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// ---------------------------------------------------------------------- elementwise

py::object activation(const char* fn, Act act, py::handle x_obj, double slope,
                      py::handle out) {
    Arg x = arg(x_obj, fn, "x");
    return with_dtype(x.bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, x.shape(), fn, "out");
        auto kx = detach_from(contiguous<T>(x), res);
        {
            py::gil_scoped_release nogil;
            nncore::activation(act, kx.data(), ptr(res), count(res), static_cast<T>(slope),
                               get_num_threads());
        }
        return std::move(res);
    });
}

py::object activation_backward(const char* fn, Act act, py::handle y_obj, py::handle gy_obj,
                               double slope, py::handle out) {
    Arg y = arg(y_obj, fn, "y"), gy = arg(gy_obj, fn, "grad_y");
    NNCORE_CHECK(y.shape() == gy.shape(), fn, ": grad_y must have the shape of y ",
                 shape_str(y), "; got ", shape_str(gy));
    return with_dtype(result_bits({&y, &gy}), [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, y.shape(), fn, "out");
        auto ky = detach_from(contiguous<T>(y), res);
        auto kgy = detach_from(contiguous<T>(gy), res);
        {
            py::gil_scoped_release nogil;
            nncore::activation_backward(act, ky.data(), kgy.data(), ptr(res), count(res),
                                        static_cast<T>(slope), get_num_threads());
        }
        return std::move(res);
    });
}

// -------------------------------------------------------------------------- softmax

AxisShape axis_shape(const Arg& x, py::handle axis_obj, const char* fn) {
    if (!py::isinstance<py::int_>(axis_obj) || py::isinstance<py::bool_>(axis_obj)) {
        type_error(std::string(fn) + ": axis must be an int; got " +
                   std::string(py::str(py::type::of(axis_obj).attr("__name__"))));
    }
    const auto nd = x.ndim();
    auto axis = axis_obj.cast<py::ssize_t>();
    NNCORE_CHECK(axis >= -nd && axis < nd, fn, ": axis ", axis, " is out of bounds for x of shape ",
                 shape_str(x));
    if (axis < 0) axis += nd;
    AxisShape s;
    for (py::ssize_t d = 0; d < nd; ++d) {
        if (d < axis) s.outer *= x.dim(d);
        else if (d == axis) s.len = x.dim(d);
        else s.inner *= x.dim(d);
    }
    return s;
}

py::object softmax(const char* fn, bool log, py::handle x_obj, py::handle axis,
                   py::handle out) {
    Arg x = arg(x_obj, fn, "x");
    const AxisShape s = axis_shape(x, axis, fn);
    return with_dtype(x.bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, x.shape(), fn, "out");
        auto kx = detach_from(contiguous<T>(x), res);
        {
            py::gil_scoped_release nogil;
            nncore::softmax(kx.data(), ptr(res), s, log, get_num_threads());
        }
        return std::move(res);
    });
}

py::object softmax_backward(const char* fn, bool log, py::handle y_obj, py::handle gy_obj,
                            py::handle axis, py::handle out) {
    Arg y = arg(y_obj, fn, "y"), gy = arg(gy_obj, fn, "grad_y");
    NNCORE_CHECK(y.shape() == gy.shape(), fn, ": grad_y must have the shape of y ",
                 shape_str(y), "; got ", shape_str(gy));
    const AxisShape s = axis_shape(y, axis, fn);
    return with_dtype(result_bits({&y, &gy}), [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, y.shape(), fn, "out");
        auto ky = detach_from(contiguous<T>(y), res);
        auto kgy = detach_from(contiguous<T>(gy), res);
        {
            py::gil_scoped_release nogil;
            nncore::softmax_backward(ky.data(), kgy.data(), ptr(res), s, log,
                                     get_num_threads());
        }
        return std::move(res);
    });
}

}  // namespace

void register_activations(py::module_& m) {
    struct Named { const char* name; const char* bname; Act act; };
    for (Named a : {Named{"identity", "identity_backward", Act::identity},
                    Named{"relu", "relu_backward", Act::relu},
                    Named{"sigmoid", "sigmoid_backward", Act::sigmoid},
                    Named{"tanh", "tanh_backward", Act::tanh},
                    Named{"leaky_relu", "leaky_relu_backward", Act::leaky_relu}}) {
        const bool leaky = a.act == Act::leaky_relu;
        m.def(a.name, [a, leaky](py::handle x, py::handle slope, py::handle out) {
            return activation(a.name, a.act, x, leaky ? slope_arg(slope, a.name) : 0.0, out);
        });
        m.def(a.bname, [a, leaky](py::handle y, py::handle gy, py::handle slope, py::handle out) {
            return activation_backward(a.bname, a.act, y, gy,
                                       leaky ? slope_arg(slope, a.bname) : 0.0, out);
        });
    }
    m.def("softmax", [](py::handle x, py::handle axis, py::handle out) {
        return softmax("softmax", false, x, axis, out);
    });
    m.def("log_softmax", [](py::handle x, py::handle axis, py::handle out) {
        return softmax("log_softmax", true, x, axis, out);
    });
    m.def("softmax_backward", [](py::handle y, py::handle gy, py::handle axis, py::handle out) {
        return softmax_backward("softmax_backward", false, y, gy, axis, out);
    });
    m.def("log_softmax_backward", [](py::handle y, py::handle gy, py::handle axis,
                                     py::handle out) {
        return softmax_backward("log_softmax_backward", true, y, gy, axis, out);
    });
}

}  // namespace nncore::bindings
