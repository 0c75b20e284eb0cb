// Bindings of the losses: MSE, binary cross-entropy on logits, cross-entropy, L1 and
// Huber, each as loss, backward and and_grad, with their signatures and docstrings.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "bindings/loss_calls.h"
#include "core/check.h"
#include "core/enums.h"
#include "core/labels.h"
#include "core/losses.h"
#include "core/parallel.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

constexpr ElementwiseLoss kMse{"mse_loss", "pred", {mse_loss<float>, mse_loss<double>}};
constexpr ElementwiseLoss kBce{"binary_cross_entropy_with_logits", "logits",
                               {bce_with_logits<float>, bce_with_logits<double>}};

py::object ce_call(Want want, py::handle out, py::handle z_obj, py::handle t_obj,
                   py::handle red_obj, py::handle w_obj) {
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
        auto kw = sample_weights<T>(has_w ? &w : nullptr, rows, fn);
        auto kz = contiguous<T>(z);
        py::array_t<T> kt;
        if (probs) kt = contiguous<T>(t);
        LossBuffers<T> b(want, red, out, z.shape(), label_shape, fn);
        b.detach(kz);
        if (probs) b.detach(kt);
        T loss;
        {
            py::gil_scoped_release nogil;
            loss = nncore::cross_entropy(kz.data(), probs ? nullptr : labels.data(),
                                         probs ? kt.data() : nullptr,
                                         has_w ? kw.data() : nullptr, rows, classes, red, b.lo,
                                         get_num_threads());
        }
        return b.result(want, red, loss);
    });
}

using MseLoss = LossEntries<elementwise_call<kMse>>;
using BceWithLogits = LossEntries<elementwise_call<kBce>>;
using CrossEntropy = LossEntries<ce_call>;

constexpr ElementwiseLoss kL1{"l1_loss", "pred", {l1_loss<float>, l1_loss<double>}};

py::object huber_call(Want want, py::handle out, py::handle p, py::handle t, py::handle red_obj,
                      py::handle delta_obj, py::handle w) {
    const char* fn = "huber_loss";
    const Reduction red = reduction_arg(red_obj, fn);
    const double delta = real_scalar(delta_obj, fn, "delta");
    NNCORE_CHECK(std::isfinite(delta) && delta > 0.0, fn,
                 ": delta must be a finite number > 0; got ", delta);
    return elementwise_loss(fn, "pred", want, red, p, t, w, out,
                            [&](const auto* kp, const auto* kt, const auto* wp, index_t rows,
                                index_t per, Reduction r, auto lo) {
                                using T = std::decay_t<decltype(*kp)>;
                                return huber_loss(kp, kt, wp, rows, per, r,
                                                  static_cast<T>(delta), lo, get_num_threads());
                            });
}

using L1Loss = LossEntries<elementwise_call<kL1>>;
using HuberLoss = LossEntries<huber_call>;

}  // namespace

void register_losses(py::module_& m) {
    m.def("mse_loss", &MseLoss::value, "pred"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = py::none(),
          "Mean squared error, ``mean((pred - target)**2)`` over all elements.\n\n"
          "Parameters\n----------\npred, target : array_like of the same shape (no "
          "broadcasting)"
          "\n\n" NNCORE_LOSS_PARAMS("element", " / per_sample_elements"));
    m.def("mse_loss_backward", &MseLoss::grad, "pred"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = py::none(),
          "out"_a = py::none(),
          "Gradient of :func:`mse_loss` with respect to ``pred``: ``2 * (pred - target) / n``.");
    m.def("mse_loss_and_grad", &MseLoss::both, "pred"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = py::none(),
          "out"_a = py::none(),
          "``(mse_loss(...), mse_loss_backward(...))`` in one pass; ``out`` receives the "
          "gradient.");

    m.def("cross_entropy", &CrossEntropy::value, "logits"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = py::none(),
          "Cross-entropy on logits: log-softmax then negative log-likelihood, fused and "
          "stable.\n\nParameters\n----------\nlogits : array_like, shape (batch, classes) or "
          "(classes,)\ntarget : array_like\n    Integer class labels of shape (batch,) "
          "(whole-number floats accepted), or\n    probabilities of the shape of ``logits``. "
          "Labels outside ``[0, classes)`` raise\n    ValueError."
          "\n\n" NNCORE_LOSS_PARAMS("sample", ""));
    m.def("cross_entropy_backward", &CrossEntropy::grad, "logits"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = py::none(),
          "out"_a = py::none(),
          "Gradient of :func:`cross_entropy` w.r.t. ``logits``: ``(softmax - onehot) / batch``.");
    m.def("cross_entropy_and_grad", &CrossEntropy::both, "logits"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = py::none(),
          "out"_a = py::none(),
          "``(cross_entropy(...), cross_entropy_backward(...))`` in one pass.");

    m.def("binary_cross_entropy_with_logits", &BceWithLogits::value, "logits"_a,
          "target"_a, "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = py::none(),
          "Binary cross-entropy on logits: ``max(z, 0) - z*t + log1p(exp(-|z|))``, "
          "elementwise.\n\nTakes logits, not probabilities (as PyTorch's "
          "``binary_cross_entropy_with_logits``);\nfinite for any magnitude.\n\nParameters\n"
          "----------\nlogits, target : array_like of the same shape; targets in [0, 1]"
          "\n\n" NNCORE_LOSS_PARAMS("element", " / per_sample_elements"));
    m.def("binary_cross_entropy_with_logits_backward", &BceWithLogits::grad,
          "logits"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
          "sample_weight"_a = py::none(), "out"_a = py::none(),
          "Gradient of :func:`binary_cross_entropy_with_logits`: ``(sigmoid(z) - t) / n``.");
    m.def("binary_cross_entropy_with_logits_and_grad", &BceWithLogits::both,
          "logits"_a, "target"_a, "reduction"_a = "mean", py::kw_only(),
          "sample_weight"_a = py::none(), "out"_a = py::none(),
          "``(loss, grad)`` of :func:`binary_cross_entropy_with_logits` in one pass.");

    const py::handle none = py::none();
    m.def("l1_loss", &L1Loss::value, "pred"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = none,
          R"(Mean absolute error, ``mean(|pred - target|)`` over all elements (PyTorch's
``l1_loss``).

Parameters
----------
pred, target : array_like of the same shape (no broadcasting)
)" NNCORE_LOSS_PARAMS("element", " / per_sample_elements"));
    m.def("l1_loss_backward", &L1Loss::grad, "pred"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = none, "out"_a = none,
          "Gradient of l1_loss w.r.t. pred: sign(pred - target) / n (0 where they are "
          "equal, as PyTorch).");
    m.def("l1_loss_and_grad", &L1Loss::both, "pred"_a, "target"_a,
          "reduction"_a = "mean", py::kw_only(), "sample_weight"_a = none, "out"_a = none,
          "(l1_loss(...), l1_loss_backward(...)) in one pass.");
    m.def("huber_loss", &HuberLoss::value, "pred"_a, "target"_a,
          "reduction"_a = "mean", "delta"_a = 1.0, py::kw_only(), "sample_weight"_a = none,
          R"(Huber loss (PyTorch's ``huber_loss``): with ``d = pred - target``, ``0.5 * d**2``
where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``.

Parameters
----------
pred, target : array_like of the same shape (no broadcasting)
delta : float > 0
)" NNCORE_LOSS_PARAMS("element", " / per_sample_elements"));
    m.def("huber_loss_backward", &HuberLoss::grad, "pred"_a, "target"_a,
          "reduction"_a = "mean", "delta"_a = 1.0, py::kw_only(), "sample_weight"_a = none,
          "out"_a = none,
          "Gradient of huber_loss w.r.t. pred: clip(pred - target, -delta, delta) / n.");
    m.def("huber_loss_and_grad", &HuberLoss::both, "pred"_a, "target"_a,
          "reduction"_a = "mean", "delta"_a = 1.0, py::kw_only(), "sample_weight"_a = none,
          "out"_a = none, "(huber_loss(...), huber_loss_backward(...)) in one pass.");
}

}  // namespace nncore::bindings
