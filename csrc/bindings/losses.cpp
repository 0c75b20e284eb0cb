// Bindings of the losses: MSE, binary cross-entropy on logits, cross-entropy.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/enums.h"
#include "core/labels.h"
#include "core/losses.h"
#include "core/parallel.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

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
    // Labels of any integer or whole-number float dtype become int64, checked in core.
    py::array_t<std::int64_t> labels;
    if (!probs) {
        if (t.kind == 'i') {
            labels = c_array<std::int64_t>(t.arr);  // checked by nncore::cross_entropy
        } else {
            labels = py::array_t<std::int64_t>(label_shape);
            if (t.kind == 'u') {
                auto tu = c_array<std::uint64_t>(t.arr);
                to_labels(tu.data(), rows, classes, ptr(labels), fn);
            } else {
                auto tf = c_array<double>(t.arr);
                to_labels(tf.data(), rows, classes, ptr(labels), fn);
            }
        }
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

}  // namespace

void register_losses(py::module_& m) {
    // The notes every loss's docstring ends with.
#define NNCORE_LOSS_NOTES(UNIT, PER)                                                       \
    "\n\nreduction : {\"mean\", \"sum\", \"none\"}\n"                                       \
    "    ``\"mean\"``/``\"sum\"`` return a float; ``\"none\"`` an array of per-" UNIT       \
    " losses,\n    whose backward is the gradient of their sum.\n"                          \
    "sample_weight : array_like, shape (batch,), optional\n"                               \
    "    Weights each sample: ``mean = sum(w_i * l_i) / sum(w_i)" PER "``.\n"
    m.def("mse_loss", [](py::handle p, py::handle t, py::handle red, py::handle w) {
        return elementwise_loss("mse_loss", false, Want::loss, p, t, red, w, py::none());
    }, "pred"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(),
       "Mean squared error, ``mean((pred - target)**2)`` over all elements.\n\n"
       "Parameters\n----------\npred, target : array_like of the same shape (no broadcasting)"
       NNCORE_LOSS_NOTES("element", " / per_sample_elements"));
    m.def("mse_loss_backward", [](py::handle p, py::handle t, py::handle red, py::handle w,
                                  py::handle out) {
        return elementwise_loss("mse_loss", false, Want::grad, p, t, red, w, out);
    }, "pred"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(), "out"_a = py::none(),
       "Gradient of :func:`mse_loss` with respect to ``pred``: ``2 * (pred - target) / n``.");
    m.def("mse_loss_and_grad", [](py::handle p, py::handle t, py::handle red, py::handle w,
                                  py::handle out) {
        return elementwise_loss("mse_loss", false, Want::both, p, t, red, w, out);
    }, "pred"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(), "out"_a = py::none(),
       "``(mse_loss(...), mse_loss_backward(...))`` in one pass; ``out`` receives the "
       "gradient.");

    m.def("cross_entropy", [](py::handle z, py::handle t, py::handle red, py::handle w) {
        return cross_entropy(Want::loss, z, t, red, w, py::none());
    }, "logits"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(),
       "Cross-entropy on logits: log-softmax then negative log-likelihood, fused and stable."
       "\n\nParameters\n----------\nlogits : array_like, shape (batch, classes) or (classes,)"
       "\ntarget : array_like\n    Integer class labels of shape (batch,) (whole-number "
       "floats accepted), or\n    probabilities of the shape of ``logits``. Labels outside "
       "``[0, classes)`` raise\n    ValueError."
       NNCORE_LOSS_NOTES("sample", ""));
    m.def("cross_entropy_backward", [](py::handle z, py::handle t, py::handle red,
                                       py::handle w, py::handle out) {
        return cross_entropy(Want::grad, z, t, red, w, out);
    }, "logits"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(), "out"_a = py::none(),
       "Gradient of :func:`cross_entropy` w.r.t. ``logits``: ``(softmax - onehot) / batch``.");
    m.def("cross_entropy_and_grad", [](py::handle z, py::handle t, py::handle red,
                                       py::handle w, py::handle out) {
        return cross_entropy(Want::both, z, t, red, w, out);
    }, "logits"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(), "out"_a = py::none(),
       "``(cross_entropy(...), cross_entropy_backward(...))`` in one pass.");

    m.def("binary_cross_entropy_with_logits", [](py::handle z, py::handle t, py::handle red,
                                                 py::handle w) {
        return elementwise_loss("binary_cross_entropy_with_logits", true, Want::loss, z, t,
                                red, w, py::none());
    }, "logits"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(),
       "Binary cross-entropy on logits: ``max(z, 0) - z*t + log1p(exp(-|z|))``, "
       "elementwise.\n\nTakes logits, not probabilities (as PyTorch's "
       "``binary_cross_entropy_with_logits``);\nfinite for any magnitude.\n\nParameters\n"
       "----------\nlogits, target : array_like of the same shape; targets in [0, 1]"
       NNCORE_LOSS_NOTES("element", " / per_sample_elements"));
    m.def("binary_cross_entropy_with_logits_backward", [](py::handle z, py::handle t,
                                                          py::handle red, py::handle w,
                                                          py::handle out) {
        return elementwise_loss("binary_cross_entropy_with_logits", true, Want::grad, z, t,
                                red, w, out);
    }, "logits"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(), "out"_a = py::none(),
       "Gradient of :func:`binary_cross_entropy_with_logits`: ``(sigmoid(z) - t) / n``.");
    m.def("binary_cross_entropy_with_logits_and_grad", [](py::handle z, py::handle t,
                                                          py::handle red, py::handle w,
                                                          py::handle out) {
        return elementwise_loss("binary_cross_entropy_with_logits", true, Want::both, z, t,
                                red, w, out);
    }, "logits"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
       "sample_weight"_a = py::none(), "out"_a = py::none(),
       "``(loss, grad)`` of :func:`binary_cross_entropy_with_logits` in one pass.");
#undef NNCORE_LOSS_NOTES
}

}  // namespace nncore::bindings
