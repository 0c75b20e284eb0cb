// Bindings of the L1 and Huber losses (core/losses_extra.h), each as loss, backward and
// and_grad, with their signatures and docstrings (nncore.functional re-exports them).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <type_traits>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "bindings/loss_calls.h"
#include "core/check.h"
#include "core/enums.h"
#include "core/losses_extra.h"
#include "core/parallel.h"

namespace py = pybind11;

namespace nncore::bindings {
namespace {

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

void register_losses_extra(py::module_& m) {
    using namespace pybind11::literals;
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
