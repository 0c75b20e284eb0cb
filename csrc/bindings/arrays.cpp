#include "bindings/arrays.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/check.h"

namespace nncore::bindings {

void type_error(const std::string& msg) { throw py::type_error(msg); }

std::string type_name(py::handle obj) { return py::str(py::type::of(obj).attr("__name__")); }

std::string shape_str(const Shape& s) {
    std::ostringstream os;
    os << '(';
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i) os << ", ";
        os << s[i];
    }
    if (s.size() == 1) os << ',';
    os << ')';
    return os.str();
}

std::string shape_str(const Arg& a) { return shape_str(a.shape()); }

Arg arg(py::handle obj, const char* fn, const char* name) {
    Arg a;
    a.fn = fn;
    a.name = name;
    if (obj.is_none()) {
        type_error(std::string(fn) + ": " + name + " must be an array-like of numbers; got None");
    }
    if (py::isinstance<py::array>(obj)) {
        a.arr = py::reinterpret_borrow<py::array>(obj);
    } else {
        static py::object asarray = py::module_::import("numpy").attr("asarray");
        try {
            a.arr = asarray(obj);
        } catch (py::error_already_set& e) {
            const bool is_type = e.matches(PyExc_TypeError);
            const std::string msg = std::string(fn) + ": " + name +
                                    " could not be converted to an array (" + e.what() + ")";
            if (is_type) type_error(msg);
            throw std::invalid_argument(msg);
        }
    }
    const py::dtype dt = a.arr.dtype();
    a.kind = dt.kind();
    const auto itemsize = dt.itemsize();
    switch (a.kind) {
        case 'f':
            a.bits = itemsize <= 4 ? 32 : 64;
            break;
        case 'i':
        case 'u':
            a.bits = 64;
            break;
        default: {
            const std::string dname = py::str(dt);
            type_error(std::string(fn) + ": " + name +
                       " must be a real floating or integer array; got dtype " + dname);
        }
    }
    return a;
}

int result_bits(std::initializer_list<const Arg*> args) {
    for (const Arg* a : args) {
        if (a && a->bits == 64) return 64;
    }
    return 32;
}

namespace {

bool aligned_for(const void* p, std::size_t size) {
    return reinterpret_cast<std::uintptr_t>(p) % size == 0;
}

}  // namespace

template <class T>
py::array_t<T> c_array(const py::array& a) {
    // forcecast converts any real dtype; c_style copies only when the layout needs it.
    auto r = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
    if (!r) throw py::error_already_set();
    if (!aligned_for(r.data(), sizeof(T))) {
        // A view at an odd byte offset (e.g. np.frombuffer with offset=1): copy it.
        static py::object require = py::module_::import("numpy").attr("require");
        r = py::reinterpret_steal<py::array_t<T>>(
            require(r, py::dtype::of<T>(), "CA").release());
    }
    return r;
}

template <class T>
py::array_t<T> contiguous(const Arg& a) {
    return c_array<T>(a.arr);
}

template <class T>
MatView<const T> matrix(const Arg& a, py::array_t<T>& keep) {
    py::array cast = a.arr;
    if (!py::isinstance<py::array_t<T>>(cast)) {
        static py::object astype_name = py::str("astype");
        cast = cast.attr(astype_name)(py::dtype::of<T>(), py::arg("copy") = false);
    }
    const auto s0 = cast.strides(0), s1 = cast.strides(1);
    const auto item = static_cast<py::ssize_t>(sizeof(T));
    const bool aligned = reinterpret_cast<std::uintptr_t>(cast.data()) % sizeof(T) == 0;
    const bool usable = aligned && s0 > 0 && s1 > 0 && s0 % item == 0 && s1 % item == 0;
    if (usable) {
        keep = py::reinterpret_borrow<py::array_t<T>>(cast);
    } else {
        keep = c_array<T>(cast);
        if (!keep) throw py::error_already_set();
    }
    const auto r = keep.ndim() == 2 ? keep.shape(0) : 0;
    const auto c = keep.ndim() == 2 ? keep.shape(1) : 0;
    return MatView<const T>{keep.data(), static_cast<index_t>(r), static_cast<index_t>(c),
                            static_cast<index_t>(keep.strides(0) / item),
                            static_cast<index_t>(keep.strides(1) / item)};
}

template <class T>
py::array_t<T> output(py::handle out, const Shape& shape, const char* fn, const char* name) {
    if (out.is_none()) return py::array_t<T>(shape);
    if (!py::isinstance<py::array>(out)) {
        type_error(std::string(fn) + ": " + name + " must be a numpy.ndarray; got " +
                   type_name(out));
    }
    auto o = py::reinterpret_borrow<py::array>(out);
    const py::dtype want = py::dtype::of<T>();
    if (!o.dtype().is(want) && !o.dtype().equal(want)) {
        type_error(std::string(fn) + ": " + name + " must have dtype " +
                   std::string(py::str(want)) + "; got " + std::string(py::str(o.dtype())));
    }
    const Shape got(o.shape(), o.shape() + o.ndim());
    NNCORE_CHECK(got == shape, fn, ": ", name, " must have shape ", shape_str(shape), "; got ",
                 shape_str(got));
    NNCORE_CHECK(o.flags() & py::array::c_style, fn, ": ", name, " must be C-contiguous");
    NNCORE_CHECK(o.writeable(), fn, ": ", name, " must be writeable");
    NNCORE_CHECK(aligned_for(o.data(), sizeof(T)), fn, ": ", name, " must be aligned to its "
                 "item size (it starts at an odd byte offset)");
    return py::reinterpret_borrow<py::array_t<T>>(o);
}

namespace {

// [lo, hi) of the bytes an array may touch.
std::pair<std::uintptr_t, std::uintptr_t> span(const py::array& a) {
    auto lo = reinterpret_cast<std::uintptr_t>(a.data());
    auto hi = lo;
    if (a.size() == 0) return {lo, lo};
    for (py::ssize_t d = 0; d < a.ndim(); ++d) {
        const auto extent = (a.shape(d) - 1) * a.strides(d);
        if (extent < 0) lo += extent; else hi += extent;
    }
    return {lo, hi + a.itemsize()};
}

}  // namespace

bool overlaps(const py::array& a, const py::array& b) {
    const auto sa = span(a), sb = span(b);
    return sa.first < sb.second && sb.first < sa.second;
}

template <class T>
py::array_t<T> detach_from(py::array_t<T> in, const py::array& out) {
    if (!overlaps(in, out)) return in;
    const bool same = in.data() == out.data() && in.ndim() == out.ndim() &&
                      std::equal(in.strides(), in.strides() + in.ndim(), out.strides());
    if (same) return in;
    return py::array_t<T>(py::array(in).attr("copy")());
}

Act activation_arg(py::handle name, const char* fn) {
    if (name.is_none()) return Act::identity;
    if (!py::isinstance<py::str>(name)) {
        type_error(std::string(fn) + ": activation must be a str or None; got " + type_name(name));
    }
    return parse_activation(name.cast<std::string>(), fn);
}

Reduction reduction_arg(py::handle name, const char* fn) {
    if (!py::isinstance<py::str>(name)) {
        type_error(std::string(fn) + ": reduction must be a str; got " + type_name(name));
    }
    return parse_reduction(name.cast<std::string>(), fn);
}

double slope_arg(py::handle slope, const char* fn) {
    const double s = real_scalar(slope, fn, "slope");
    NNCORE_CHECK(std::isfinite(s) && s >= 0.0, fn, ": slope must be a finite number >= 0; got ",
                 s);
    return s;
}

double real_scalar(py::handle obj, const char* fn, const char* name) {
    if (py::isinstance<py::bool_>(obj) ||
        !(py::isinstance<py::float_>(obj) || py::isinstance<py::int_>(obj) ||
          py::hasattr(obj, "__float__"))) {
        type_error(std::string(fn) + ": " + name + " must be a real number; got " + type_name(obj));
    }
    if (py::isinstance<py::array>(obj) && py::reinterpret_borrow<py::array>(obj).size() != 1) {
        type_error(std::string(fn) + ": " + name + " must be a real number; got an array");
    }
    const std::string kind = type_name(obj);
    if (kind.find("complex") != std::string::npos) {
        type_error(std::string(fn) + ": " + name + " must be a real number; got " + kind);
    }
    return obj.cast<double>();
}

template py::array_t<double> c_array<double>(const py::array&);
template py::array_t<std::int64_t> c_array<std::int64_t>(const py::array&);
template py::array_t<std::uint64_t> c_array<std::uint64_t>(const py::array&);
template py::array_t<float> contiguous<float>(const Arg&);
template py::array_t<double> contiguous<double>(const Arg&);
template MatView<const float> matrix<float>(const Arg&, py::array_t<float>&);
template MatView<const double> matrix<double>(const Arg&, py::array_t<double>&);
template py::array_t<float> output<float>(py::handle, const Shape&, const char*, const char*);
template py::array_t<double> output<double>(py::handle, const Shape&, const char*, const char*);
template py::array_t<float> detach_from<float>(py::array_t<float>, const py::array&);
template py::array_t<double> detach_from<double>(py::array_t<double>, const py::array&);

}  // namespace nncore::bindings
