// The bindings' helper layer: turn Python objects into arrays the core can use, check
// them, and make outputs. Every error names the function and the argument.
//
// Rules (docs/functional.md): bool, complex, object, str, bytes, datetime and void
// dtypes are TypeError; integers compute in float64, float16 in float32; the result
// dtype is the promotion of the floating inputs. Inputs are never modified.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/enums.h"
#include "core/views.h"

namespace nncore::bindings {

namespace py = pybind11;

using Shape = std::vector<py::ssize_t>;

// An argument converted to an ndarray whose dtype has been checked.
struct Arg {
    py::array arr;
    int bits = 64;      // 32 or 64: the float width this argument asks for
    char kind = 'f';    // numpy dtype kind of the original: 'f', 'i' or 'u'
    const char* fn = "";
    const char* name = "";

    py::ssize_t ndim() const { return arr.ndim(); }
    Shape shape() const { return Shape(arr.shape(), arr.shape() + arr.ndim()); }
    py::ssize_t dim(py::ssize_t i) const { return arr.shape(i); }
};

// Converts `obj` (array-like) and checks its dtype. None, bool, complex, object, str...
// raise TypeError; ragged or otherwise unconvertible input raises ValueError.
Arg arg(py::handle obj, const char* fn, const char* name);

// 32 if every argument asks for float32, else 64.
int result_bits(std::initializer_list<const Arg*> args);

// "(2, 3)"
std::string shape_str(const Shape& s);
std::string shape_str(const Arg& a);

// A C-contiguous, aligned copy-or-view of `a` as T (a copy only when needed).
template <class T>
py::array_t<T> contiguous(const Arg& a);
template <class T>
py::array_t<T> c_array(const py::array& a);

// A 2-D view of `a` as T with positive element strides (copied to C order when its
// strides are negative, zero or not a multiple of the item size). `a` must be 2-D.
// `keep` holds the array the view points into.
template <class T>
MatView<const T> matrix(const Arg& a, py::array_t<T>& keep);

// `out` when given (checked: ndarray, dtype T, exact shape, C-contiguous, writeable),
// else a new uninitialised C-contiguous array of that shape.
template <class T>
py::array_t<T> output(py::handle out, const Shape& shape, const char* fn, const char* name);

// True when the memory spans of two arrays overlap.
bool overlaps(const py::array& a, const py::array& b);

// If `in` overlaps `out` but is not exactly the same buffer and layout, a private copy
// of `in` (so an in-place call reads its input before writing); else `in`.
template <class T>
py::array_t<T> detach_from(py::array_t<T> in, const py::array& out);

template <class T>
T* ptr(py::array_t<T>& a) {
    return a.mutable_data();
}
template <class T>
const T* cptr(const py::array_t<T>& a) {
    return a.data();
}

// Element count as the core's index type.
inline index_t count(const py::array& a) { return static_cast<index_t>(a.size()); }

// Python float or int (not bool) as double; TypeError otherwise.
double real_scalar(py::handle obj, const char* fn, const char* name);

[[noreturn]] void type_error(const std::string& msg);

// The name of obj's type ("list", "NoneType"), for TypeError messages.
std::string type_name(py::handle obj);

// Runs f(T{}) with T = float (bits == 32) or double.
template <class F>
py::object with_dtype(int bits, const F& f) {
    if (bits == 32) return f(float{});
    return f(double{});
}

// An activation name (str or None, which is identity); TypeError for other types.
Act activation_arg(py::handle name, const char* fn);
// A reduction name ("mean", "sum", "none"); TypeError for a non-str.
Reduction reduction_arg(py::handle name, const char* fn);
// leaky_relu's slope: a finite real number >= 0.
double slope_arg(py::handle slope, const char* fn);

}  // namespace nncore::bindings
