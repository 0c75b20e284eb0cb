// Bindings of the activations: elementwise activations (gelu, silu and softplus among
// them, whose backward passes take the pre-activation x), softmax, and their backwards.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "bindings/map_calls.h"
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
    return map_unary(x, out, fn, [&](const auto* kx, auto* res, index_t n) {
        using T = std::decay_t<decltype(*res)>;
        nncore::activation(act, kx, res, n, static_cast<T>(slope), get_num_threads());
    });
}

// v: the activation's output y, or its input x for the activations of act_from_input.
py::object activation_backward(const char* fn, Act act, py::handle y_obj, py::handle gy_obj,
                               double slope, py::handle out) {
    Arg y = arg(y_obj, fn, kernels::act_from_input(act) ? "x" : "y"),
        gy = grad_arg(y, gy_obj, fn);
    return map_binary(y, gy, out, fn, [&](const auto* ky, const auto* kgy, auto* res,
                                          index_t n) {
        using T = std::decay_t<decltype(*res)>;
        nncore::activation_backward(act, ky, kgy, res, n, static_cast<T>(slope),
                                    get_num_threads());
    });
}

Act gelu_kind(py::handle approximate, const char* fn) {
    if (!py::isinstance<py::str>(approximate)) {
        type_error(std::string(fn) + ": approximate must be 'none' or 'tanh'; got " +
                   type_name(approximate));
    }
    const auto s = approximate.cast<std::string>();
    NNCORE_CHECK(s == "none" || s == "tanh", fn, ": approximate must be 'none' or 'tanh'; got '",
                 s, "'");
    return s == "tanh" ? Act::gelu_tanh : Act::gelu;
}

// -------------------------------------------------------------------------- softmax

AxisShape axis_shape(const Arg& x, py::handle axis_obj, const char* fn) {
    if (!py::isinstance<py::int_>(axis_obj) || py::isinstance<py::bool_>(axis_obj)) {
        type_error(std::string(fn) + ": axis must be an int; got " + type_name(axis_obj));
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
    return map_unary(x, out, fn, [&](const auto* kx, auto* res, index_t) {
        nncore::softmax(kx, res, s, log, get_num_threads());
    });
}

py::object softmax_backward(const char* fn, bool log, py::handle y_obj, py::handle gy_obj,
                            py::handle axis, py::handle out) {
    Arg y = arg(y_obj, fn, "y"), gy = grad_arg(y, gy_obj, fn);
    const AxisShape s = axis_shape(y, axis, fn);
    return map_binary(y, gy, out, fn, [&](const auto* ky, const auto* kgy, auto* res,
                                          index_t) {
        nncore::softmax_backward(ky, kgy, res, s, log, get_num_threads());
    });
}

// Docstrings: the signature line comes from the py::arg declarations below.
const char* const kElementwiseDoc = R"(Elementwise ``%s``.

Parameters
----------
x : array_like
out : ndarray, optional
    Result buffer of the shape and result dtype of ``x``; may be ``x`` itself.

Returns
-------
ndarray of the shape of ``x``, float32 or float64.

Examples
--------
>>> %s([-1.0, 0.0, 2.0])
%s
)";

const char* const kBackwardDoc = R"(Gradient through the activation from its output: ``grad_x = %s``.

Parameters
----------
y : array_like
    The activation's output.
grad_y : array_like, shape of ``y``
    Gradient of the loss with respect to ``y``.
out : ndarray, optional
    Result buffer; may be ``y`` or ``grad_y``.

Returns
-------
ndarray of the shape of ``y``
)";

const char* const kSoftmaxDoc = R"(%s

Parameters
----------
x : array_like
axis : int
out : ndarray, optional
    Result buffer; may be ``x`` itself.
)";

// printf-style fill of the templates above; the strings live as long as the module.
const char* doc(const char* tmpl, std::initializer_list<const char*> parts) {
    static std::vector<std::unique_ptr<std::string>> kept;
    std::string s = tmpl;
    for (const char* part : parts) {
        const auto at = s.find("%s");
        s.replace(at, 2, part);
    }
    kept.push_back(std::make_unique<std::string>(std::move(s)));
    return kept.back()->c_str();
}

}  // namespace

void register_activations(py::module_& m) {
    m.def("identity", [](py::handle x, py::handle out) {
        return activation("identity", Act::identity, x, 0.0, out);
    }, "x"_a, py::kw_only(), "out"_a = py::none(),
       doc(kElementwiseDoc, {"y = x (a float copy)", "identity", "array([-1.,  0.,  2.])"}));
    m.def("relu", [](py::handle x, py::handle out) {
        return activation("relu", Act::relu, x, 0.0, out);
    }, "x"_a, py::kw_only(), "out"_a = py::none(),
       doc(kElementwiseDoc, {"y = max(x, 0)", "relu", "array([0., 0., 2.])"}));
    m.def("sigmoid", [](py::handle x, py::handle out) {
        return activation("sigmoid", Act::sigmoid, x, 0.0, out);
    }, "x"_a, py::kw_only(), "out"_a = py::none(),
       doc(kElementwiseDoc, {"y = 1 / (1 + exp(-x))", "sigmoid",
                             "array([0.26894142, 0.5       , 0.88079708])"}));
    m.def("tanh", [](py::handle x, py::handle out) {
        return activation("tanh", Act::tanh, x, 0.0, out);
    }, "x"_a, py::kw_only(), "out"_a = py::none(),
       doc(kElementwiseDoc, {"y = tanh(x)", "tanh",
                             "array([-0.76159416,  0.        ,  0.96402758])"}));
    m.def("leaky_relu", [](py::handle x, py::handle slope, py::handle out) {
        return activation("leaky_relu", Act::leaky_relu, x, slope_arg(slope, "leaky_relu"),
                          out);
    }, "x"_a, "slope"_a = 0.01, py::kw_only(), "out"_a = py::none(),
       R"(Elementwise ``y = x if x > 0 else slope * x``.

Parameters
----------
x : array_like
slope : float
    Negative slope, >= 0.
out : ndarray, optional
    Result buffer; may be ``x`` itself.
)");

    m.def("identity_backward", [](py::handle y, py::handle gy, py::handle out) {
        return activation_backward("identity_backward", Act::identity, y, gy, 0.0, out);
    }, "y"_a, "grad_y"_a, py::kw_only(), "out"_a = py::none(), doc(kBackwardDoc, {"grad_y"}));
    m.def("relu_backward", [](py::handle y, py::handle gy, py::handle out) {
        return activation_backward("relu_backward", Act::relu, y, gy, 0.0, out);
    }, "y"_a, "grad_y"_a, py::kw_only(), "out"_a = py::none(),
       doc(kBackwardDoc, {"grad_y where y > 0, else 0"}));
    m.def("sigmoid_backward", [](py::handle y, py::handle gy, py::handle out) {
        return activation_backward("sigmoid_backward", Act::sigmoid, y, gy, 0.0, out);
    }, "y"_a, "grad_y"_a, py::kw_only(), "out"_a = py::none(),
       doc(kBackwardDoc, {"grad_y * y * (1 - y)"}));
    m.def("tanh_backward", [](py::handle y, py::handle gy, py::handle out) {
        return activation_backward("tanh_backward", Act::tanh, y, gy, 0.0, out);
    }, "y"_a, "grad_y"_a, py::kw_only(), "out"_a = py::none(),
       doc(kBackwardDoc, {"grad_y * (1 - y**2)"}));
    m.def("leaky_relu_backward", [](py::handle y, py::handle gy, py::handle slope,
                                    py::handle out) {
        return activation_backward("leaky_relu_backward", Act::leaky_relu, y, gy,
                                   slope_arg(slope, "leaky_relu_backward"), out);
    }, "y"_a, "grad_y"_a, "slope"_a = 0.01, py::kw_only(), "out"_a = py::none(),
       doc(kBackwardDoc, {"grad_y where y > 0, else slope * grad_y"}));

    const py::handle none = py::none();
    m.def("gelu", [](py::handle x, py::handle approximate, py::handle out) {
        return activation("gelu", gelu_kind(approximate, "gelu"), x, 0.0, out);
    }, "x"_a, "approximate"_a = "none", py::kw_only(), "out"_a = none,
       R"(GELU, as ``torch.nn.functional.gelu``: ``0.5 * x * (1 + erf(x / sqrt(2)))``, or with
``approximate="tanh"`` ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``.
)");
    m.def("gelu_backward", [](py::handle x, py::handle gy, py::handle approximate,
                              py::handle out) {
        return activation_backward("gelu_backward", gelu_kind(approximate, "gelu_backward"), x,
                                   gy, 0.0, out);
    }, "x"_a, "grad_y"_a, "approximate"_a = "none", py::kw_only(), "out"_a = none,
       R"(Gradient through gelu from its **input** ``x`` (the derivative is not a
function of the output): ``grad_y * (Phi(x) + x * phi(x))`` for the exact form.
)");
    m.def("silu", [](py::handle x, py::handle out) {
        return activation("silu", Act::silu, x, 0.0, out);
    }, "x"_a, py::kw_only(), "out"_a = none, "SiLU (swish), x * sigmoid(x).");
    m.def("silu_backward", [](py::handle x, py::handle gy, py::handle out) {
        return activation_backward("silu_backward", Act::silu, x, gy, 0.0, out);
    }, "x"_a, "grad_y"_a, py::kw_only(), "out"_a = none,
       "Gradient through silu from its input x: grad_y * s * (1 + x * (1 - s)) with "
       "s = sigmoid(x).");
    m.def("softplus", [](py::handle x, py::handle out) {
        return activation("softplus", Act::softplus, x, 0.0, out);
    }, "x"_a, py::kw_only(), "out"_a = none,
       "log(1 + exp(x)), and x itself where x > 20 (as torch.nn.functional.softplus with "
       "beta=1, threshold=20).");
    m.def("softplus_backward", [](py::handle x, py::handle gy, py::handle out) {
        return activation_backward("softplus_backward", Act::softplus, x, gy, 0.0, out);
    }, "x"_a, "grad_y"_a, py::kw_only(), "out"_a = none,
       "Gradient through softplus from its input x: grad_y * sigmoid(x) (grad_y where "
       "x > 20).");

    m.def("softmax", [](py::handle x, py::handle axis, py::handle out) {
        return softmax("softmax", false, x, axis, out);
    }, "x"_a, "axis"_a = -1, py::kw_only(), "out"_a = py::none(),
       doc(kSoftmaxDoc, {"Softmax along ``axis``: ``exp(x - max) / sum(exp(x - max))``, "
                         "stable for any scale."}));
    m.def("log_softmax", [](py::handle x, py::handle axis, py::handle out) {
        return softmax("log_softmax", true, x, axis, out);
    }, "x"_a, "axis"_a = -1, py::kw_only(), "out"_a = py::none(),
       doc(kSoftmaxDoc, {"Log-softmax along ``axis``: ``x - max - log(sum(exp(x - max)))``."}));
    m.def("softmax_backward", [](py::handle y, py::handle gy, py::handle axis, py::handle out) {
        return softmax_backward("softmax_backward", false, y, gy, axis, out);
    }, "y"_a, "grad_y"_a, "axis"_a = -1, py::kw_only(), "out"_a = py::none(),
       "Gradient through softmax from its output: ``y * (grad_y - sum(grad_y * y, axis))``.");
    m.def("log_softmax_backward", [](py::handle y, py::handle gy, py::handle axis,
                                     py::handle out) {
        return softmax_backward("log_softmax_backward", true, y, gy, axis, out);
    }, "y"_a, "grad_y"_a, "axis"_a = -1, py::kw_only(), "out"_a = py::none(),
       "Gradient through log-softmax from its output: "
       "``grad_y - exp(y) * sum(grad_y, axis)``.");
}

}  // namespace nncore::bindings
