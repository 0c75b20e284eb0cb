// Bindings of the L1 and Huber losses (core/losses_extra.h), each as loss, backward and
// and_grad, with their signatures and docstrings (nncore.functional re-exports them).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "bindings/arrays.h"
#include "core/check.h"
#include "core/enums.h"
#include "core/losses_extra.h"
#include "core/parallel.h"

namespace py = pybind11;

namespace nncore::bindings {
namespace {

enum class Want { loss, grad, both };

py::object extra_loss(const char* fn, bool huber, Want want, py::handle p_obj,
                      py::handle t_obj, py::handle red_obj, py::handle delta_obj,
                      py::handle w_obj, py::handle out) {
    if (!py::isinstance<py::str>(red_obj)) {
        type_error(std::string(fn) + ": reduction must be a str; got " +
                   std::string(py::str(py::type::of(red_obj).attr("__name__"))));
    }
    const Reduction red = parse_reduction(red_obj.cast<std::string>(), fn);
    const double delta = huber ? real_scalar(delta_obj, fn, "delta") : 1.0;
    NNCORE_CHECK(std::isfinite(delta) && delta > 0.0, fn,
                 ": delta must be a finite number > 0; got ", delta);
    Arg p = arg(p_obj, fn, "pred"), t = arg(t_obj, fn, "target");
    const bool has_w = !w_obj.is_none();
    Arg w = has_w ? arg(w_obj, fn, "sample_weight") : Arg{};
    NNCORE_CHECK(p.shape() == t.shape(), fn, ": target must have the shape of pred ",
                 shape_str(p), "; got ", shape_str(t));
    const index_t rows = p.ndim() == 0 ? 1 : p.dim(0);
    const index_t total = static_cast<index_t>(p.arr.size());
    const index_t per = rows == 0 ? 0 : total / rows;
    if (has_w) {
        NNCORE_CHECK(w.ndim() <= 1 && static_cast<index_t>(w.arr.size()) == rows, fn,
                     ": sample_weight must have shape (", rows,
                     ",) (one weight per sample); got ", shape_str(w));
    }
    auto run = [&](auto tag) -> py::object {
        using T = decltype(tag);
        py::array_t<T> kw;
        if (has_w) kw = contiguous<T>(w);
        auto kp = contiguous<T>(p), kt = contiguous<T>(t);
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
            loss = huber ? huber_loss(kp.data(), kt.data(), wp, rows, per, red,
                                      static_cast<T>(delta), lo, get_num_threads())
                         : l1_loss(kp.data(), kt.data(), wp, rows, per, red, lo,
                                   get_num_threads());
        }
        py::object value = red == Reduction::none ? py::object(none_values)
                                                  : py::object(py::float_(double(loss)));
        if (want == Want::loss) return value;
        if (want == Want::grad) return std::move(grad);
        return py::make_tuple(value, grad);
    };
    if (result_bits({&p, &t, has_w ? &w : nullptr}) == 32) return run(float{});
    return run(double{});
}

}  // namespace

void register_losses_extra(py::module_& m) {
    using namespace pybind11::literals;
    const py::handle none = py::none();
    m.def("l1_loss", [](py::handle p, py::handle t, py::handle red, py::handle w) {
        return extra_loss("l1_loss", false, Want::loss, p, t, red, py::none(), w, py::none());
    }, "pred"_a, "target"_a, "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = none,
       R"(Mean absolute error, ``mean(|pred - target|)`` over all elements (PyTorch's
``l1_loss``).

Parameters
----------
pred, target : array_like of the same shape (no broadcasting)
reduction : {"mean", "sum", "none"}
    ``"mean"``/``"sum"`` return a float; ``"none"`` an array of per-element losses,
    whose backward is the gradient of their sum.
sample_weight : array_like, shape (batch,), optional
    Weights each sample: ``mean = sum(w_i * l_i) / sum(w_i) / per_sample_elements``.
)");
    m.def("l1_loss_backward", [](py::handle p, py::handle t, py::handle red, py::handle w,
                                 py::handle out) {
        return extra_loss("l1_loss", false, Want::grad, p, t, red, py::none(), w, out);
    }, "pred"_a, "target"_a, "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = none,
       "out"_a = none,
       "Gradient of l1_loss w.r.t. pred: sign(pred - target) / n (0 where they are equal, "
       "as PyTorch).");
    m.def("l1_loss_and_grad", [](py::handle p, py::handle t, py::handle red, py::handle w,
                                 py::handle out) {
        return extra_loss("l1_loss", false, Want::both, p, t, red, py::none(), w, out);
    }, "pred"_a, "target"_a, "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = none,
       "out"_a = none, "(l1_loss(...), l1_loss_backward(...)) in one pass.");
    m.def("huber_loss", [](py::handle p, py::handle t, py::handle red, py::handle delta,
                           py::handle w) {
        return extra_loss("huber_loss", true, Want::loss, p, t, red, delta, w, py::none());
    }, "pred"_a, "target"_a, "reduction"_a = "mean", "delta"_a = 1.0, py::kw_only(),
       "sample_weight"_a = none,
       R"(Huber loss (PyTorch's ``huber_loss``): with ``d = pred - target``, ``0.5 * d**2``
where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``.

Parameters
----------
pred, target : array_like of the same shape (no broadcasting)
delta : float > 0
reduction : {"mean", "sum", "none"}
    ``"mean"``/``"sum"`` return a float; ``"none"`` an array of per-element losses,
    whose backward is the gradient of their sum.
sample_weight : array_like, shape (batch,), optional
    Weights each sample: ``mean = sum(w_i * l_i) / sum(w_i) / per_sample_elements``.
)");
    m.def("huber_loss_backward", [](py::handle p, py::handle t, py::handle red,
                                    py::handle delta, py::handle w, py::handle out) {
        return extra_loss("huber_loss", true, Want::grad, p, t, red, delta, w, out);
    }, "pred"_a, "target"_a, "reduction"_a = "mean", "delta"_a = 1.0, py::kw_only(),
       "sample_weight"_a = none, "out"_a = none,
       "Gradient of huber_loss w.r.t. pred: clip(pred - target, -delta, delta) / n.");
    m.def("huber_loss_and_grad", [](py::handle p, py::handle t, py::handle red,
                                    py::handle delta, py::handle w, py::handle out) {
        return extra_loss("huber_loss", true, Want::both, p, t, red, delta, w, out);
    }, "pred"_a, "target"_a, "reduction"_a = "mean", "delta"_a = 1.0, py::kw_only(),
       "sample_weight"_a = none, "out"_a = none,
       "(huber_loss(...), huber_loss_backward(...)) in one pass.");
}

}  // namespace nncore::bindings
