// Bindings of gradient clipping (core/clip.h): clip_grad_norm_ and clip_grad_value_,
// over a list of gradient arrays updated in place.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/clip.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// The gradient arrays of one call: same float dtype, C-contiguous, writeable.
template <class T>
void grad_pointers(const py::list& grads, const char* fn, std::vector<T*>& ptrs,
                   std::vector<index_t>& sizes) {
    for (std::size_t i = 0; i < grads.size(); ++i) {
        auto a = grads[i].cast<py::array>();
        NNCORE_CHECK(a.dtype().equal(py::dtype::of<T>()), fn, ": grads[", i, "] has dtype ",
                     std::string(py::str(a.dtype())), "; every gradient must have dtype ",
                     std::string(py::str(py::dtype::of<T>())), " like grads[0]");
        NNCORE_CHECK(a.flags() & py::array::c_style, fn, ": grads[", i, "] must be C-contiguous");
        NNCORE_CHECK(a.writeable(), fn, ": grads[", i, "] must be writeable");
        ptrs.push_back(static_cast<T*>(a.mutable_data()));
        sizes.push_back(static_cast<index_t>(a.size()));
    }
}

int grads_bits(const py::list& grads, const char* fn) {
    NNCORE_CHECK(grads.size() > 0, fn, ": grads must be a non-empty list of arrays");
    for (std::size_t i = 0; i < grads.size(); ++i) {
        if (!py::isinstance<py::array>(grads[i])) {
            type_error(std::string(fn) + ": grads[" + std::to_string(i) +
                       "] must be a numpy.ndarray updated in place; got " + type_name(grads[i]));
        }
    }
    auto a0 = grads[0].cast<py::array>();
    if (a0.dtype().equal(py::dtype::of<float>())) return 32;
    if (a0.dtype().equal(py::dtype::of<double>())) return 64;
    type_error(std::string(fn) + ": gradients must have dtype float32 or float64; got " +
               std::string(py::str(a0.dtype())));
}

// f(pointers, sizes, count) on the gradients as T* with the GIL released.
template <class F>
auto with_grads(const py::list& grads, const char* fn, const F& f) {
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        std::vector<T*> ptrs;
        std::vector<index_t> sizes;
        grad_pointers<T>(grads, fn, ptrs, sizes);
        py::gil_scoped_release nogil;
        return f(ptrs.data(), sizes.data(), index_t(ptrs.size()));
    };
    return grads_bits(grads, fn) == 32 ? run(float{}) : run(double{});
}

double clip_grad_norm_py(py::list grads, double max_norm) {
    const char* fn = "clip_grad_norm_";
    NNCORE_CHECK(std::isfinite(max_norm) && max_norm >= 0, fn,
                 ": max_norm must be a finite number >= 0; got ", max_norm);
    return with_grads(grads, fn, [&](auto* const* g, const index_t* n, index_t count) {
        return clip_grad_norm(g, n, count, max_norm);
    });
}

void clip_grad_value_py(py::list grads, double clip_value) {
    const char* fn = "clip_grad_value_";
    NNCORE_CHECK(std::isfinite(clip_value) && clip_value >= 0, fn,
                 ": clip_value must be a finite number >= 0; got ", clip_value);
    with_grads(grads, fn, [&](auto* const* g, const index_t* n, index_t count) {
        clip_grad_value(g, n, count, clip_value);
        return 0;
    });
}

}  // namespace

void register_clip(py::module_& m) {
    m.def("clip_grad_norm_", &clip_grad_norm_py, "grads"_a, "max_norm"_a,
          "Scale all gradients in place so their global L2 norm is at most max_norm; "
          "returns the norm before clipping.");
    m.def("clip_grad_value_", &clip_grad_value_py, "grads"_a, "clip_value"_a,
          "Clip every gradient element into [-clip_value, clip_value], in place.");
}

}  // namespace nncore::bindings
