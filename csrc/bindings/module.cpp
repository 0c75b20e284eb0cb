// nncore._core: extract, check, release the GIL, call the core, wrap.
// The documented Python signatures live in python/nncore/functional.py, which calls
// these with every argument positional.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>

#include "bindings/arrays.h"
#include "core/build_info.h"
#include "core/check.h"
#include "core/dense.h"
#include "core/dispatch.h"
#include "core/elementwise.h"
#include "core/enums.h"
#include "core/gemm.h"
#include "core/losses.h"
#include "core/optim.h"
#include "core/parallel.h"
#include "core/peak.h"
#include "core/softmax.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// Runs f(T{}) with T = float or double.
template <class F>
py::object with_dtype(int bits, const F& f) {
    if (bits == 32) return f(float{});
    return f(double{});
}

Act activation_arg(py::handle name, const char* fn) {
    if (name.is_none()) return Act::identity;
    if (!py::isinstance<py::str>(name)) {
        type_error(std::string(fn) + ": activation must be a str or None; got " +
                   std::string(py::str(py::type::of(name).attr("__name__"))));
    }
    return parse_activation(name.cast<std::string>(), fn);
}

Reduction reduction_arg(py::handle name, const char* fn) {
    if (!py::isinstance<py::str>(name)) {
        type_error(std::string(fn) + ": reduction must be a str; got " +
                   std::string(py::str(py::type::of(name).attr("__name__"))));
    }
    return parse_reduction(name.cast<std::string>(), fn);
}

double slope_arg(py::handle slope, const char* fn) {
    const double s = real_scalar(slope, fn, "slope");
    NNCORE_CHECK(std::isfinite(s) && s >= 0.0, fn, ": slope must be a finite number >= 0; got ",
                 s);
    return s;
}

// ----------------------------------------------------------------------------- gemm

py::object matmul(py::handle a_obj, py::handle b_obj, bool trans_a, bool trans_b,
                  py::handle out) {
    const char* fn = "matmul";
    Arg a = arg(a_obj, fn, "a"), b = arg(b_obj, fn, "b");
    NNCORE_CHECK(a.ndim() == 2, fn, ": a must be 2-D; got shape ", shape_str(a));
    NNCORE_CHECK(b.ndim() == 2, fn, ": b must be 2-D; got shape ", shape_str(b));
    // Shapes first, and the output before any input is copied: an impossible result
    // fails fast instead of after copying large (e.g. broadcast) inputs.
    const auto m = trans_a ? a.dim(1) : a.dim(0), ka_ = trans_a ? a.dim(0) : a.dim(1);
    const auto kb_ = trans_b ? b.dim(1) : b.dim(0), n = trans_b ? b.dim(0) : b.dim(1);
    NNCORE_CHECK(ka_ == kb_, fn, ": inner dimensions must match: op(a) has shape (", m, ", ",
                 ka_, ") and op(b) has shape (", kb_, ", ", n, ")",
                 trans_a || trans_b ? " after the requested transposes" : "");
    return with_dtype(result_bits({&a, &b}), [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, {m, n}, fn, "out");
        py::array_t<T> ka, kb;
        MatView<const T> va = matrix<T>(a, ka), vb = matrix<T>(b, kb);
        if (trans_a) va = va.t();
        if (trans_b) vb = vb.t();
        NNCORE_CHECK(!overlaps(res, ka) && !overlaps(res, kb), fn,
                     ": out must not share memory with a or b");
        {
            py::gil_scoped_release nogil;
            gemm(va, vb, row_major(ptr(res), va.rows, vb.cols), GemmEpilogue<T>{},
                 get_num_threads());
        }
        return std::move(res);
    });
}

// ---------------------------------------------------------------------------- dense

// x as a (batch, in) matrix view: a 1-D x is one sample.
template <class T>
MatView<const T> sample_matrix(const Arg& x, index_t in, py::array_t<T>& keep) {
    if (x.ndim() == 1) {
        keep = contiguous<T>(x);
        return row_major<const T>(keep.data(), 1, in);
    }
    return matrix<T>(x, keep);
}

py::object dense_forward(py::handle x_obj, py::handle w_obj, py::handle b_obj,
                         py::handle act_obj, py::handle slope_obj, py::handle out) {
    const char* fn = "dense_forward";
    const Act act = activation_arg(act_obj, fn);
    const double slope = act == Act::leaky_relu ? slope_arg(slope_obj, fn) : 0.0;
    Arg x = arg(x_obj, fn, "x"), w = arg(w_obj, fn, "w");
    const bool has_b = !b_obj.is_none();
    Arg b = has_b ? arg(b_obj, fn, "b") : Arg{};
    NNCORE_CHECK(x.ndim() == 1 || x.ndim() == 2, fn,
                 ": x must be 1-D (one sample) or 2-D (batch, in); got shape ", shape_str(x));
    NNCORE_CHECK(w.ndim() == 2, fn, ": w must be 2-D (in, out); got shape ", shape_str(w));
    const auto in = x.dim(x.ndim() - 1);
    NNCORE_CHECK(w.dim(0) == in, fn, ": w must have ", in, " rows to match x of shape ",
                 shape_str(x), "; got w of shape ", shape_str(w));
    const auto n_out = w.dim(1);
    if (has_b) {
        NNCORE_CHECK(b.ndim() == 1 && b.dim(0) == n_out, fn, ": b must have shape (", n_out,
                     ",) to match w of shape ", shape_str(w), "; got b of shape ", shape_str(b));
    }
    const int bits = result_bits({&x, &w, has_b ? &b : nullptr});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        const bool one = x.ndim() == 1;
        const index_t batch = one ? 1 : x.dim(0);
        auto res = output<T>(out, one ? Shape{n_out} : Shape{batch, n_out}, fn, "out");
        py::array_t<T> kx, kw;
        const MatView<const T> vx = sample_matrix<T>(x, in, kx);
        const MatView<const T> vw = matrix<T>(w, kw);
        py::array_t<T> kb;
        if (has_b) kb = contiguous<T>(b);
        NNCORE_CHECK(!overlaps(res, kx) && !overlaps(res, kw) && !(has_b && overlaps(res, kb)),
                     fn, ": out must not share memory with x, w or b");
        {
            py::gil_scoped_release nogil;
            nncore::dense_forward(vx, vw, has_b ? kb.data() : static_cast<const T*>(nullptr),
                                  row_major(ptr(res), batch, n_out), act, static_cast<T>(slope),
                                  get_num_threads());
        }
        return std::move(res);
    });
}

py::object dense_backward(py::handle x_obj, py::handle w_obj, py::handle y_obj,
                          py::handle gy_obj, py::handle act_obj, py::handle slope_obj,
                          bool need_grad_x, py::handle out) {
    const char* fn = "dense_backward";
    const Act act = activation_arg(act_obj, fn);
    const double slope = act == Act::leaky_relu ? slope_arg(slope_obj, fn) : 0.0;
    Arg x = arg(x_obj, fn, "x"), w = arg(w_obj, fn, "w"), y = arg(y_obj, fn, "y"),
        gy = arg(gy_obj, fn, "grad_y");
    NNCORE_CHECK(x.ndim() == 1 || x.ndim() == 2, fn,
                 ": x must be 1-D (one sample) or 2-D (batch, in); got shape ", shape_str(x));
    NNCORE_CHECK(w.ndim() == 2, fn, ": w must be 2-D (in, out); got shape ", shape_str(w));
    const auto in = x.dim(x.ndim() - 1);
    NNCORE_CHECK(w.dim(0) == in, fn, ": w must have ", in, " rows to match x of shape ",
                 shape_str(x), "; got w of shape ", shape_str(w));
    const bool one = x.ndim() == 1;
    const auto batch = one ? 1 : x.dim(0);
    const auto n_out = w.dim(1);
    const Shape yshape = one ? Shape{n_out} : Shape{batch, n_out};
    NNCORE_CHECK(y.shape() == yshape, fn, ": y must have shape ", shape_str(yshape),
                 " to match x of shape ", shape_str(x), " and w of shape ", shape_str(w),
                 "; got ", shape_str(y));
    NNCORE_CHECK(gy.shape() == yshape, fn, ": grad_y must have shape ", shape_str(yshape),
                 " (the shape of y); got ", shape_str(gy));

    py::handle out_gx = py::none(), out_gw = py::none(), out_gb = py::none();
    if (!out.is_none()) {
        if (!py::isinstance<py::tuple>(out) || py::len(out) != 3) {
            type_error(std::string(fn) + ": out must be a tuple (grad_x, grad_w, grad_b)");
        }
        auto t = py::reinterpret_borrow<py::tuple>(out);
        out_gx = t[0];
        out_gw = t[1];
        out_gb = t[2];
    }
    const int bits = result_bits({&x, &w, &y, &gy});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        py::array_t<T> kx, kw;
        const MatView<const T> vx = sample_matrix<T>(x, in, kx);
        const MatView<const T> vw = matrix<T>(w, kw);
        py::array_t<T> ky = contiguous<T>(y), kgy = contiguous<T>(gy);
        py::array_t<T> gw = output<T>(out_gw, {in, n_out}, fn, "out[1] (grad_w)");
        py::array_t<T> gb = output<T>(out_gb, {n_out}, fn, "out[2] (grad_b)");
        py::array_t<T> gx;
        if (need_grad_x) gx = output<T>(out_gx, x.shape(), fn, "out[0] (grad_x)");
        const py::array* inputs[] = {&kx, &kw, &ky, &kgy};
        const py::array* outputs[] = {&gw, &gb, need_grad_x ? &gx : nullptr};
        for (const py::array* o : outputs) {
            if (!o) continue;
            for (const py::array* i : inputs) {
                NNCORE_CHECK(!overlaps(*o, *i), fn,
                             ": out arrays must not share memory with the inputs");
            }
            for (const py::array* o2 : outputs) {
                NNCORE_CHECK(!o2 || o2 == o || !overlaps(*o, *o2), fn,
                             ": out arrays must not share memory with each other");
            }
        }
        {
            py::gil_scoped_release nogil;
            MatView<T> vgx = need_grad_x ? row_major(ptr(gx), batch, in) : MatView<T>{};
            nncore::dense_backward(vx, vw, row_major<const T>(ky.data(), batch, n_out),
                                   row_major<const T>(kgy.data(), batch, n_out), act,
                                   static_cast<T>(slope), need_grad_x ? &vgx : nullptr,
                                   row_major(ptr(gw), in, n_out), ptr(gb), get_num_threads());
        }
        py::object gx_obj = need_grad_x ? py::object(gx) : py::object(py::none());
        return py::make_tuple(gx_obj, gw, gb);
    });
}

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

// --------------------------------------------------------------------------- losses

enum class Want { loss, grad, both };

// Shared by the three losses: the sample weights as T, checked against `rows`.
template <class T>
py::array_t<T> weights(const Arg* w, index_t rows, const char* fn) {
    if (!w) return py::array_t<T>();
    NNCORE_CHECK(w->ndim() <= 1 && static_cast<index_t>(w->arr.size()) == rows, fn,
                 ": sample_weight must have shape (", rows, ",) (one weight per sample); got ",
                 shape_str(*w));
    return contiguous<T>(*w);
}

py::object wrap_loss(Want want, Reduction red, double loss, py::object none_values,
                     py::object grad) {
    py::object value = red == Reduction::none ? none_values : py::object(py::float_(loss));
    if (want == Want::loss) return value;
    if (want == Want::grad) return grad;
    return py::make_tuple(value, grad);
}

// MSE and BCE: elementwise losses over arrays of the same shape.
py::object elementwise_loss(const char* fn, bool bce, Want want, py::handle p_obj,
                            py::handle t_obj, py::handle red_obj, py::handle w_obj,
                            py::handle out) {
    const Reduction red = reduction_arg(red_obj, fn);
    const char* pname = bce ? "logits" : "pred";
    Arg p = arg(p_obj, fn, pname), t = arg(t_obj, fn, "target");
    const bool has_w = !w_obj.is_none();
    Arg w = has_w ? arg(w_obj, fn, "sample_weight") : Arg{};
    NNCORE_CHECK(p.shape() == t.shape(), fn, ": target must have the shape of ", pname, " ",
                 shape_str(p), "; got ", shape_str(t));
    const index_t rows = p.ndim() == 0 ? 1 : p.dim(0);
    const index_t total = static_cast<index_t>(p.arr.size());
    const index_t per = rows == 0 ? 0 : total / rows;
    return with_dtype(result_bits({&p, &t, has_w ? &w : nullptr}), [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto kw = weights<T>(has_w ? &w : nullptr, rows, fn);
        auto kp = contiguous<T>(p), kt = contiguous<T>(t);
        // Default-constructed array_t objects are real (empty) arrays: track use by flags.
        const bool want_grad = want != Want::loss;
        const bool want_none = red == Reduction::none && want != Want::grad;
        py::array_t<T> grad, none_values;
        if (want_grad) grad = output<T>(out, p.shape(), fn, "out");
        if (want_none) none_values = py::array_t<T>(p.shape());
        LossOutput<T> lo;
        lo.grad = want_grad ? ptr(grad) : nullptr;
        lo.loss_none = want_none ? ptr(none_values) : nullptr;
        if (want_grad) {
            kp = detach_from(kp, grad);
            kt = detach_from(kt, grad);
        }
        T loss;
        {
            py::gil_scoped_release nogil;
            const T* wp = has_w ? kw.data() : nullptr;
            loss = bce ? bce_with_logits(kp.data(), kt.data(), wp, rows, per, red, lo,
                                         get_num_threads())
                       : mse_loss(kp.data(), kt.data(), wp, rows, per, red, lo,
                                  get_num_threads());
        }
        return wrap_loss(want, red, double(loss), none_values, grad);
    });
}

py::object cross_entropy(Want want, py::handle z_obj, py::handle t_obj, py::handle red_obj,
                         py::handle w_obj, py::handle out) {
    const char* fn = "cross_entropy";
    const Reduction red = reduction_arg(red_obj, fn);
    Arg z = arg(z_obj, fn, "logits"), t = arg(t_obj, fn, "target");
    const bool has_w = !w_obj.is_none();
    Arg w = has_w ? arg(w_obj, fn, "sample_weight") : Arg{};
    NNCORE_CHECK(z.ndim() == 1 || z.ndim() == 2, fn,
                 ": logits must be 2-D (batch, classes) or 1-D (classes,); got shape ",
                 shape_str(z));
    const bool one = z.ndim() == 1;
    const index_t rows = one ? 1 : z.dim(0);
    const index_t classes = z.dim(z.ndim() - 1);
    const bool probs = t.kind == 'f' && t.shape() == z.shape();
    const Shape label_shape = one ? Shape{} : Shape{rows};
    if (!probs) {
        NNCORE_CHECK(t.shape() == label_shape, fn, ": target must be class labels of shape ",
                     shape_str(label_shape), " or probabilities of shape ", shape_str(z),
                     " to match logits; got ", shape_str(t));
    }
    py::array_t<std::int64_t> labels;
    if (!probs) {
        if (t.kind == 'f') {
            // Whole numbers stored as floats are labels; anything else is an error.
            auto tf = c_array<double>(t.arr);
            const double* v = tf.data();
            for (index_t i = 0; i < rows; ++i) {
                NNCORE_CHECK(std::isfinite(v[i]) && std::floor(v[i]) == v[i], fn, ": target[", i,
                             "] = ", v[i], " is not a whole number (class labels must be "
                             "integers)");
                NNCORE_CHECK(v[i] >= 0 && v[i] < double(classes), fn, ": target[", i, "] = ",
                             v[i], " is out of range for ", classes, " classes");
            }
        }
        if (t.kind == 'u') {
            // Unsigned labels too large for int64 would wrap; reject them here.
            auto tu = c_array<std::uint64_t>(t.arr);
            for (index_t i = 0; i < rows; ++i) {
                NNCORE_CHECK(tu.data()[i] < std::uint64_t(classes), fn, ": target[", i, "] = ",
                             tu.data()[i], " is out of range for ", classes, " classes");
            }
        }
        labels = c_array<std::int64_t>(t.arr);
    }
    const int bits = result_bits({&z, probs ? &t : nullptr, has_w ? &w : nullptr});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto kw = weights<T>(has_w ? &w : nullptr, rows, fn);
        auto kz = contiguous<T>(z);
        py::array_t<T> kt;
        if (probs) kt = contiguous<T>(t);
        const bool want_grad = want != Want::loss;
        const bool want_none = red == Reduction::none && want != Want::grad;
        py::array_t<T> grad, none_values;
        if (want_grad) grad = output<T>(out, z.shape(), fn, "out");
        if (want_none) none_values = py::array_t<T>(one ? Shape{} : Shape{rows});
        if (want_grad) {
            kz = detach_from(kz, grad);
            if (probs) kt = detach_from(kt, grad);
        }
        LossOutput<T> lo;
        lo.grad = want_grad ? ptr(grad) : nullptr;
        lo.loss_none = want_none ? ptr(none_values) : nullptr;
        T loss;
        {
            py::gil_scoped_release nogil;
            loss = nncore::cross_entropy(kz.data(), probs ? nullptr : labels.data(),
                                         probs ? kt.data() : nullptr,
                                         has_w ? kw.data() : nullptr, rows, classes, red, lo,
                                         get_num_threads());
        }
        return wrap_loss(want, red, double(loss), none_values, grad);
    });
}

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

// -------------------------------------------------------------------------- runtime

void set_threads(py::handle n) {
    if (!py::isinstance<py::int_>(n) || py::isinstance<py::bool_>(n)) {
        type_error("set_num_threads: n must be an int; got " +
                   std::string(py::str(py::type::of(n).attr("__name__"))));
    }
    const auto v = n.cast<long long>();
    NNCORE_CHECK(v >= 1 && v <= 4096, "set_num_threads: n must be between 1 and 4096; got ", v);
    set_num_threads(static_cast<int>(v));
}

py::dict config() {
    const Dispatch& d = dispatch();
    py::dict c;
    c["version"] = nncore::version();
    c["compiler"] = nncore::compiler();
    c["openmp"] = openmp_enabled();
    c["max_threads"] = max_threads();
    c["num_threads"] = get_num_threads();
    c["cpu_features"] = d.cpu_features;
    c["isa"] = d.table->name;
    c["isa_supported"] = d.supported;
    c["isa_compiled"] = d.compiled;
    c["isa_requested"] = d.requested.empty() ? py::object(py::none()) : py::str(d.requested);
    auto blocks = [](const BlockSizes& b) {
        py::dict r;
        r["MR"] = b.mr; r["NR"] = b.nr; r["MC"] = b.mc; r["KC"] = b.kc; r["NC"] = b.nc;
        return r;
    };
    c["gemm_blocks"] = py::dict("float32"_a = blocks(d.f32), "float64"_a = blocks(d.f64));
    py::dict caches;
    caches["L1d"] = d.l1d; caches["L2"] = d.l2; caches["L3"] = d.l3;
    c["caches"] = caches;
    return c;
}

}  // namespace
}  // namespace nncore::bindings

namespace nncore::bindings {
void register_train(py::module_& m);  // bindings/train.cpp
void register_dropout(py::module_& m);  // bindings/dropout.cpp
void register_losses_extra(py::module_& m);  // bindings/losses_extra.cpp
void register_activations_extra(py::module_& m);  // bindings/activations_extra.cpp
}

PYBIND11_MODULE(_core, m) {
    using namespace nncore::bindings;
    using nncore::Act;
    m.doc() = "nncore's native kernels. Use nncore.functional, which documents each function.";
    m.attr("__version__") = nncore::version();
    nncore::dispatch();  // reads NNCORE_ISA now: an unknown value fails the import
    register_train(m);
    register_dropout(m);
    register_losses_extra(m);
    register_activations_extra(m);

    m.def("matmul", &matmul);
    m.def("dense_forward", &dense_forward);
    m.def("dense_backward", &dense_backward);

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

    struct LossName { const char* name; Want want; };
    for (int bce = 0; bce < 2; ++bce) {
        const char* base = bce ? "binary_cross_entropy_with_logits" : "mse_loss";
        for (LossName l : {LossName{"", Want::loss}, LossName{"_backward", Want::grad},
                           LossName{"_and_grad", Want::both}}) {
            const std::string full = std::string(base) + l.name;
            m.def(full.c_str(), [base, bce, l](py::handle p, py::handle t, py::handle red,
                                               py::handle w, py::handle out) {
                return elementwise_loss(base, bce != 0, l.want, p, t, red, w, out);
            });
        }
    }
    for (LossName l : {LossName{"", Want::loss}, LossName{"_backward", Want::grad},
                       LossName{"_and_grad", Want::both}}) {
        const std::string full = std::string("cross_entropy") + l.name;
        m.def(full.c_str(), [l](py::handle z, py::handle t, py::handle red, py::handle w,
                                py::handle out) { return cross_entropy(l.want, z, t, red, w, out); });
    }

    m.def("sgd_step", &sgd_step);
    m.def("adam_step", &adam_step);
    m.def("set_num_threads", &set_threads);
    m.def("get_num_threads", &nncore::get_num_threads);
    m.def("config", &config);
    m.def("_fma_peak_gflops", [](int bits, int nthreads, double seconds) {
        NNCORE_CHECK(bits == 32 || bits == 64, "_fma_peak_gflops: bits must be 32 or 64");
        NNCORE_CHECK(nthreads >= 1, "_fma_peak_gflops: nthreads must be >= 1");
        py::gil_scoped_release nogil;
        return nncore::fma_peak_gflops(bits == 32, nthreads, seconds);
    }, "bits"_a, "nthreads"_a, "seconds"_a = 0.2,
       "Measured peak GFLOP/s of the active kernel set (for benchmarks).");
}
