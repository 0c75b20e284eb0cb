// Bindings of inverted dropout (core/dropout.h), with their signatures and docstrings.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "bindings/map_calls.h"
#include "core/check.h"
#include "core/dropout.h"
#include "core/parallel.h"

namespace py = pybind11;

namespace nncore::bindings {
namespace {

std::uint64_t seed_arg(py::handle seed, const char* fn) {
    if (!py::isinstance<py::int_>(seed) || py::isinstance<py::bool_>(seed)) {
        type_error(std::string(fn) + ": seed must be an int; got " + type_name(seed));
    }
    py::int_ s = py::reinterpret_borrow<py::int_>(seed);
    const bool ok = s.attr("__ge__")(0).cast<bool>() &&
                    s.attr("__lt__")(py::int_(1).attr("__lshift__")(64)).cast<bool>();
    NNCORE_CHECK(ok, fn, ": seed must be in [0, 2**64); got ", std::string(py::str(seed)));
    return s.cast<std::uint64_t>();
}

py::object dropout(py::handle x_obj, py::handle p_obj, py::handle seed_obj, py::handle out,
                   py::handle mask_out) {
    const char* fn = "dropout";
    const double p = real_scalar(p_obj, fn, "p");
    NNCORE_CHECK(p >= 0.0 && p <= 1.0, fn, ": p must be in [0, 1]; got ", p);
    const std::uint64_t seed = seed_arg(seed_obj, fn);
    Arg x = arg(x_obj, fn, "x");
    auto run = [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, x.shape(), fn, "out");
        auto mask = output<T>(mask_out, x.shape(), fn, "mask");
        NNCORE_CHECK(!overlaps(res, mask), fn, ": out and mask must not share memory");
        auto kx = detach_from(detach_from(contiguous<T>(x), mask), res);
        {
            py::gil_scoped_release nogil;
            dropout_forward(kx.data(), ptr(res), ptr(mask), count(res), p, seed,
                            get_num_threads());
        }
        return py::make_tuple(res, mask);
    };
    if (x.bits == 32) return run(float{});
    return run(double{});
}

py::object dropout_backward(py::handle mask_obj, py::handle gy_obj, py::handle out) {
    const char* fn = "dropout_backward";
    Arg mask = arg(mask_obj, fn, "mask"), gy = grad_arg(mask, gy_obj, fn);
    return map_binary(mask, gy, out, fn, [](const auto* km, const auto* kg, auto* res,
                                            index_t n) {
        nncore::dropout_backward(km, kg, res, n, get_num_threads());
    });
}

}  // namespace

void register_dropout(py::module_& m) {
    using namespace pybind11::literals;
    m.def("dropout", &dropout, "x"_a, "p"_a, "seed"_a, py::kw_only(), "out"_a = py::none(),
          "mask"_a = py::none(),
          R"(Inverted dropout: ``(x * mask, mask)`` where ``mask`` is ``1 / (1 - p)`` for kept
elements and 0 for dropped ones (all 0 when ``p = 1``).

Element ``i`` (flat, C order) is kept when ``u(seed, i) >= p``, ``u`` being a
counter-based uniform number (splitmix64 of ``seed + (i + 1) * 0x9E3779B97F4A7C15``,
top 53 bits): the same mask for any thread count, and reproducible in NumPy
(:func:`nncore.reference.dropout`).

Parameters
----------
x : array_like
p : float in [0, 1]
    Probability of dropping an element.
seed : int in [0, 2**64)
out, mask : ndarray, optional
    Receive the result and the mask (``out`` may be ``x``).
)");
    m.def("dropout_backward", &dropout_backward, "mask"_a, "grad_y"_a, py::kw_only(),
          "out"_a = py::none(), "Gradient through dropout: grad_y * mask.");
}

}  // namespace nncore::bindings
