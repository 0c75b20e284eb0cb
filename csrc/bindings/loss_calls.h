// What the loss bindings (losses.cpp) share: the sample-weight check,
// the outputs of a call (gradient, per-sample losses), the call of an elementwise loss,
// and the three entry points of a loss (value, _backward, _and_grad) that each m.def
// binds with its own names, defaults and docstring.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <type_traits>

#include "bindings/arrays.h"
#include "core/check.h"
#include "core/enums.h"
#include "core/losses.h"
#include "core/parallel.h"

// The reduction and sample_weight entries of a loss docstring's Parameters: UNIT is what
// reduction='none' gives one loss per ("element", "sample"), PER the rest of the mean's
// denominator.
#define NNCORE_LOSS_PARAMS(UNIT, PER)                                                      \
    "reduction : {\"mean\", \"sum\", \"none\"}\n"                                          \
    "    ``\"mean\"``/``\"sum\"`` return a float; ``\"none\"`` an array of per-" UNIT      \
    " losses,\n    whose backward is the gradient of their sum.\n"                         \
    "sample_weight : array_like, shape (batch,), optional\n"                               \
    "    Weights each sample: ``mean = sum(w_i * l_i) / sum(w_i)" PER "``.\n"

namespace nncore::bindings {

// What a call returns: the loss, its gradient, or (loss, gradient).
enum class Want { loss, grad, both };

// The sample weights as T (an empty array when w is null), checked: one per sample.
template <class T>
py::array_t<T> sample_weights(const Arg* w, index_t rows, const char* fn) {
    if (!w) return py::array_t<T>();
    NNCORE_CHECK(w->ndim() <= 1 && static_cast<index_t>(w->arr.size()) == rows, fn,
                 ": sample_weight must have shape (", rows, ",) (one weight per sample); got ",
                 shape_str(*w));
    return contiguous<T>(*w);
}

// The outputs of one call: the gradient (grad_shape, `out` when given) when it is
// wanted, the unreduced losses (none_shape) for reduction='none' when the loss is.
template <class T>
struct LossBuffers {
    // Default-constructed array_t objects are real (empty) arrays: track use by flags.
    bool want_grad = false, want_none = false;
    py::array_t<T> grad, none_values;
    LossOutput<T> lo;

    LossBuffers(Want want, Reduction red, py::handle out, const Shape& grad_shape,
                const Shape& none_shape, const char* fn) {
        want_grad = want != Want::loss;
        want_none = red == Reduction::none && want != Want::grad;
        if (want_grad) grad = output<T>(out, grad_shape, fn, "out");
        if (want_none) none_values = py::array_t<T>(none_shape);
        lo.grad = want_grad ? ptr(grad) : nullptr;
        lo.loss_none = want_none ? ptr(none_values) : nullptr;
    }

    // An input the gradient may overlap, copied when it does (see detach_from).
    void detach(py::array_t<T>& in) const {
        if (want_grad) in = detach_from(in, grad);
    }

    py::object result(Want want, Reduction red, T loss) const {
        py::object value = red == Reduction::none ? py::object(none_values)
                                                  : py::object(py::float_(double(loss)));
        if (want == Want::loss) return value;
        if (want == Want::grad) return grad;
        return py::make_tuple(value, grad);
    }
};

// An elementwise loss (MSE, BCE, L1, Huber): `pname` and target of one shape, seen as
// (rows, per). kernel(p, t, w, rows, per, red, lo) returns the reduced loss; it runs
// with the GIL released.
template <class Kernel>
py::object elementwise_loss(const char* fn, const char* pname, Want want, Reduction red,
                            py::handle p_obj, py::handle t_obj, py::handle w_obj,
                            py::handle out, const Kernel& kernel) {
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
        auto kw = sample_weights<T>(has_w ? &w : nullptr, rows, fn);
        auto kp = contiguous<T>(p), kt = contiguous<T>(t);
        LossBuffers<T> b(want, red, out, p.shape(), p.shape(), fn);
        b.detach(kp);
        b.detach(kt);
        T loss;
        {
            py::gil_scoped_release nogil;
            loss = kernel(kp.data(), kt.data(), has_w ? kw.data() : nullptr, rows, per, red,
                          b.lo);
        }
        return b.result(want, red, loss);
    });
}

// A core loss of mse_loss's signature (core/losses.h), both widths: the kernel of
// elementwise_loss for MSE, BCE and L1.
struct CoreLoss {
    float (*f32)(const float*, const float*, const float*, index_t, index_t, Reduction,
                 LossOutput<float>, int);
    double (*f64)(const double*, const double*, const double*, index_t, index_t, Reduction,
                  LossOutput<double>, int);

    template <class T>
    T operator()(const T* p, const T* t, const T* w, index_t rows, index_t per, Reduction red,
                 LossOutput<T> lo) const {
        if constexpr (std::is_same_v<T, float>) {
            return f32(p, t, w, rows, per, red, lo, get_num_threads());
        } else {
            return f64(p, t, w, rows, per, red, lo, get_num_threads());
        }
    }
};

// An elementwise loss of a core kernel: its name (in errors), its first argument's name
// and the kernel.
struct ElementwiseLoss {
    const char* fn;
    const char* pname;
    CoreLoss kernel;
};

// The loss call (for LossEntries) of the loss L describes.
template <const ElementwiseLoss& L>
py::object elementwise_call(Want want, py::handle out, py::handle p, py::handle t,
                            py::handle red, py::handle w) {
    return elementwise_loss(L.fn, L.pname, want, reduction_arg(red, L.fn), p, t, w, out,
                            L.kernel);
}

// The entry points of a loss call F(want, out, args...): value(args...) (no out),
// grad(args..., out) and both(args..., out), for the m.defs of name, name_backward and
// name_and_grad.
template <auto F>
struct LossEntries;

template <class... A, py::object (*F)(Want, py::handle, A...)>
struct LossEntries<F> {
    static py::object value(A... a) { return F(Want::loss, py::none(), a...); }
    static py::object grad(A... a, py::handle out) { return F(Want::grad, out, a...); }
    static py::object both(A... a, py::handle out) { return F(Want::both, out, a...); }
};

}  // namespace nncore::bindings
