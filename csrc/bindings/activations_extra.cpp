// Bindings of gelu, silu and softplus (core/activations_extra.h) and their backward
// passes, which take the pre-activation x. python/nncore/functional.py documents them.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "bindings/map_calls.h"
#include "core/activations_extra.h"
#include "core/check.h"
#include "core/parallel.h"

namespace py = pybind11;

namespace nncore::bindings {
namespace {

ExtraAct gelu_kind(py::handle approximate, const char* fn) {
    if (!py::isinstance<py::str>(approximate)) {
        type_error(std::string(fn) + ": approximate must be 'none' or 'tanh'; got " +
                   type_name(approximate));
    }
    const auto s = approximate.cast<std::string>();
    NNCORE_CHECK(s == "none" || s == "tanh", fn, ": approximate must be 'none' or 'tanh'; got '",
                 s, "'");
    return s == "tanh" ? ExtraAct::gelu_tanh : ExtraAct::gelu;
}

py::object forward(const char* fn, ExtraAct act, py::handle x_obj, py::handle out) {
    Arg x = arg(x_obj, fn, "x");
    return map_unary(x, out, fn, [&](const auto* kx, auto* res, index_t n) {
        extra_activation(act, kx, res, n, get_num_threads());
    });
}

py::object backward(const char* fn, ExtraAct act, py::handle x_obj, py::handle gy_obj,
                    py::handle out) {
    Arg x = arg(x_obj, fn, "x"), gy = grad_arg(x, gy_obj, fn);
    return map_binary(x, gy, out, fn, [&](const auto* kx, const auto* kg, auto* res,
                                          index_t n) {
        extra_activation_backward(act, kx, kg, res, n, get_num_threads());
    });
}

}  // namespace

void register_activations_extra(py::module_& m) {
    using namespace pybind11::literals;
    const py::handle none = py::none();
    m.def("gelu", [](py::handle x, py::handle approximate, py::handle out) {
        return forward("gelu", gelu_kind(approximate, "gelu"), x, out);
    }, "x"_a, "approximate"_a = "none", py::kw_only(), "out"_a = none,
       R"(GELU, as ``torch.nn.functional.gelu``: ``0.5 * x * (1 + erf(x / sqrt(2)))``, or with
``approximate="tanh"`` ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``.
)");
    m.def("gelu_backward", [](py::handle x, py::handle gy, py::handle approximate,
                              py::handle out) {
        return backward("gelu_backward", gelu_kind(approximate, "gelu_backward"), x, gy, out);
    }, "x"_a, "grad_y"_a, "approximate"_a = "none", py::kw_only(), "out"_a = none,
       R"(Gradient through gelu from its **input** ``x`` (the derivative is not a
function of the output): ``grad_y * (Phi(x) + x * phi(x))`` for the exact form.
)");
    m.def("silu", [](py::handle x, py::handle out) {
        return forward("silu", ExtraAct::silu, x, out);
    }, "x"_a, py::kw_only(), "out"_a = none, "SiLU (swish), x * sigmoid(x).");
    m.def("silu_backward", [](py::handle x, py::handle gy, py::handle out) {
        return backward("silu_backward", ExtraAct::silu, x, gy, out);
    }, "x"_a, "grad_y"_a, py::kw_only(), "out"_a = none,
       "Gradient through silu from its input x: grad_y * s * (1 + x * (1 - s)) with "
       "s = sigmoid(x).");
    m.def("softplus", [](py::handle x, py::handle out) {
        return forward("softplus", ExtraAct::softplus, x, out);
    }, "x"_a, py::kw_only(), "out"_a = none,
       "log(1 + exp(x)), and x itself where x > 20 (as torch.nn.functional.softplus with "
       "beta=1, threshold=20).");
    m.def("softplus_backward", [](py::handle x, py::handle gy, py::handle out) {
        return backward("softplus_backward", ExtraAct::softplus, x, gy, out);
    }, "x"_a, "grad_y"_a, py::kw_only(), "out"_a = none,
       "Gradient through softplus from its input x: grad_y * sigmoid(x) (grad_y where "
       "x > 20).");
}

}  // namespace nncore::bindings
