// The call of a binding whose result has the shape of its input (the activations,
// softmax, dropout_backward): the result in `out` when given, else
// new; the inputs as T, copied when they overlap it; the kernel with the GIL released.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"
#include "core/check.h"

namespace nncore::bindings {

// grad_y of a backward pass, converted and checked to have the shape of `a` (y, x or
// mask).
inline Arg grad_arg(const Arg& a, py::handle gy_obj, const char* fn) {
    Arg gy = arg(gy_obj, fn, "grad_y");
    NNCORE_CHECK(a.shape() == gy.shape(), fn, ": grad_y must have the shape of ", a.name, " ",
                 shape_str(a), "; got ", shape_str(gy));
    return gy;
}

// kernel(x, res, n) -> the result, of x's shape and dtype.
template <class Kernel>
py::object map_unary(const Arg& x, py::handle out, const char* fn, const Kernel& kernel) {
    return with_dtype(x.bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, x.shape(), fn, "out");
        auto kx = detach_from(contiguous<T>(x), res);
        {
            py::gil_scoped_release nogil;
            kernel(kx.data(), ptr(res), count(res));
        }
        return std::move(res);
    });
}

// kernel(a, b, res, n) -> the result, of the shape of a (and b) and their result dtype.
template <class Kernel>
py::object map_binary(const Arg& a, const Arg& b, py::handle out, const char* fn,
                      const Kernel& kernel) {
    return with_dtype(result_bits({&a, &b}), [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, a.shape(), fn, "out");
        auto ka = detach_from(contiguous<T>(a), res);
        auto kb = detach_from(contiguous<T>(b), res);
        {
            py::gil_scoped_release nogil;
            kernel(ka.data(), kb.data(), ptr(res), count(res));
        }
        return std::move(res);
    });
}

}  // namespace nncore::bindings
