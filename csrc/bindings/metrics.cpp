// Bindings that read class labels: the metrics' counts and areas (core/metrics.h),
// count_correct, confusion_matrix and roc_auc, and the input rules themselves: labels
// (core/labels.h, _first_bad_label) and NaN or infinities (core/finite.h, _first_nonfinite).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "bindings/loss_calls.h"
#include "core/check.h"
#include "core/enums.h"
#include "core/finite.h"
#include "core/health.h"
#include "core/labels.h"
#include "core/parallel.h"
#include "core/metrics.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

std::int64_t count_correct_py(py::handle out_obj, py::handle target_obj) {
    const char* fn = "count_correct";
    Arg o = arg(out_obj, fn, "out"), t = arg(target_obj, fn, "target");
    NNCORE_CHECK(o.ndim() == 2, fn, ": out must be 2-D (batch, outputs); got shape ",
                 shape_str(o));
    const index_t rows = o.dim(0), cols = o.dim(1);
    const bool labels = t.kind != 'f' && t.ndim() == 1;
    if (labels) {
        NNCORE_CHECK(t.dim(0) == rows, fn, ": target must have ", rows,
                     " labels to match out of shape ", shape_str(o), "; got shape ", shape_str(t));
    } else {
        const bool ok = (t.ndim() == 2 && t.dim(0) == rows && t.dim(1) == cols) ||
                        (cols == 1 && t.ndim() == 1 && t.dim(0) == rows);
        NNCORE_CHECK(ok, fn, ": target must be labels of shape (", rows, ",) or have the shape "
                     "of out ", shape_str(o), "; got ", shape_str(t));
    }
    const int bits = o.bits;
    const auto run = [&](auto tag) -> std::int64_t {
        using T = decltype(tag);
        auto ko = contiguous<T>(o);
        if (labels) {
            auto kl = c_array<std::int64_t>(t.arr);
            return count_correct<T>(ko.data(), rows, cols, kl.data(), nullptr);
        }
        auto kt = contiguous<T>(t);
        return count_correct<T>(ko.data(), rows, cols, nullptr, kt.data());
    };
    return bits == 32 ? run(float{}) : run(double{});
}

// target as int64 class labels in [0, classes) (any integer or whole-number float dtype),
// checked by core's label rule; `n` values (the shape is the caller's to check).
py::array_t<std::int64_t> class_labels(const Arg& t, index_t n, index_t classes,
                                       const char* fn) {
    if (t.kind == 'i') {
        auto labels = c_array<std::int64_t>(t.arr);
        check_labels(labels.data(), n, classes, fn);
        return labels;
    }
    py::array_t<std::int64_t> labels(static_cast<py::ssize_t>(n));
    if (t.kind == 'u') {
        auto tu = c_array<std::uint64_t>(t.arr);
        to_labels(tu.data(), n, classes, ptr(labels), fn);
    } else {
        auto tf = c_array<double>(t.arr);
        to_labels(tf.data(), n, classes, ptr(labels), fn);
    }
    return labels;
}

py::array confusion_matrix_py(py::handle out_obj, py::handle target_obj, py::handle w_obj,
                              py::handle threshold_obj) {
    const char* fn = "confusion_matrix";
    Arg o = arg(out_obj, fn, "out"), t = arg(target_obj, fn, "target");
    const bool has_w = !w_obj.is_none();
    Arg w = has_w ? arg(w_obj, fn, "sample_weight") : Arg{};
    const double threshold = real_scalar(threshold_obj, fn, "threshold");
    NNCORE_CHECK(o.ndim() == 2 && o.dim(1) >= 1, fn,
                 ": out must be 2-D (batch, outputs) with at least one output; got shape ",
                 shape_str(o));
    const index_t rows = o.dim(0), cols = o.dim(1), classes = cols > 1 ? cols : 2;
    // several outputs: labels (n,) or target rows (their argmax); one: labels or targets
    // (> 0.5) of shape (n,) or (n, 1)
    const bool column = t.ndim() == 1 || (cols == 1 && t.ndim() == 2 && t.dim(1) == 1);
    const bool labels = cols > 1 ? t.ndim() == 1 : t.kind != 'f';
    const bool ok = t.ndim() >= 1 && t.dim(0) == rows &&
                    (column || (t.ndim() == 2 && t.dim(1) == cols));
    NNCORE_CHECK(ok, fn, ": target must be labels of shape (", rows,
                 ",) or have the shape of out ", shape_str(o), "; got ", shape_str(t));
    py::array_t<std::int64_t> kl;
    if (labels) kl = class_labels(t, rows, classes, fn);
    auto kw = sample_weights<double>(has_w ? &w : nullptr, rows, fn);
    py::array_t<double> matrix({classes, classes});
    std::fill(ptr(matrix), ptr(matrix) + classes * classes, 0.0);
    const int bits = result_bits({&o, labels ? nullptr : &t});
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        auto ko = contiguous<T>(o);
        py::array_t<T> kt;
        if (!labels) kt = contiguous<T>(t);
        py::gil_scoped_release nogil;
        nncore::confusion_matrix<T>(ko.data(), rows, cols, labels ? kl.data() : nullptr,
                                    labels ? nullptr : kt.data(), has_w ? kw.data() : nullptr,
                                    threshold, ptr(matrix));
    };
    if (bits == 32) run(float{}); else run(double{});
    return matrix;
}

py::object roc_auc_py(py::handle score_obj, py::handle target_obj, py::handle w_obj) {
    const char* fn = "roc_auc";
    Arg s = arg(score_obj, fn, "score"), t = arg(target_obj, fn, "target");
    const bool has_w = !w_obj.is_none();
    Arg w = has_w ? arg(w_obj, fn, "sample_weight") : Arg{};
    NNCORE_CHECK(s.ndim() == 1 || (s.ndim() == 2 && s.dim(1) >= 2), fn,
                 ": score must be 1-D (n,) for one binary problem or 2-D (n, classes) with "
                 "classes >= 2 for one-vs-rest; got shape ", shape_str(s));
    const bool binary = s.ndim() == 1;
    const index_t n = s.dim(0), problems = binary ? 1 : s.dim(1);
    NNCORE_CHECK(t.ndim() == 1 && t.dim(0) == n, fn, ": target must be class labels of shape (",
                 n, ",) to match score of shape ", shape_str(s), "; got ", shape_str(t));
    NNCORE_CHECK(n < (index_t(1) << 31), fn, ": at most 2^31 - 1 rows; got ", n);
    auto labels = class_labels(t, n, binary ? 2 : problems, fn);
    auto kw = sample_weights<double>(has_w ? &w : nullptr, n, fn);
    py::array_t<double> auc(static_cast<py::ssize_t>(problems));
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        auto ks = contiguous<T>(s);
        py::gil_scoped_release nogil;
        nncore::roc_auc<T>(ks.data(), n, problems, labels.data(), has_w ? kw.data() : nullptr,
                           ptr(auc), get_num_threads());
    };
    if (s.bits == 32) run(float{}); else run(double{});
    if (binary) return py::float_(auc.data()[0]);
    return std::move(auc);
}

// The array as it is (a C-contiguous float32 or float64 ndarray of any shape, never
// converted: anything else is a TypeError), its values in C order.
template <class T>
index_t first_nonfinite_of(py::handle obj) {
    const auto a = py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(obj);
    const T* p = a.data();
    const index_t n = static_cast<index_t>(a.size());
    py::gil_scoped_release release;
    return first_nonfinite(p, n, get_num_threads());
}

index_t first_nonfinite_py(py::handle a) {
    if (py::isinstance<py::array_t<float, py::array::c_style>>(a)) return first_nonfinite_of<float>(a);
    if (py::isinstance<py::array_t<double, py::array::c_style>>(a)) return first_nonfinite_of<double>(a);
    throw py::type_error("_first_nonfinite: a must be a C-contiguous float32 or float64 ndarray; got " +
                         std::string(py::str(py::type::of(a).attr("__name__"))) +
                         (py::isinstance<py::array>(a)
                              ? " of dtype " + std::string(py::str(a.attr("dtype"))) +
                                    (py::reinterpret_borrow<py::array>(a).flags() &
                                             py::array::c_style
                                         ? ""
                                         : ", not C-contiguous")
                              : std::string()));
}

py::tuple first_bad_label_py(py::handle target_obj, index_t classes) {
    const char* fn = "_first_bad_label";
    Arg t = arg(target_obj, fn, "target");
    NNCORE_CHECK(t.ndim() == 1, fn, ": target must be 1-D labels; got shape ", shape_str(t));
    const index_t n = t.dim(0);
    BadLabel bad;
    if (t.kind == 'u') {
        auto k = c_array<std::uint64_t>(t.arr);
        py::gil_scoped_release release;
        bad = first_bad_label(k.data(), n, classes);
    } else if (t.kind == 'f') {
        auto k = c_array<double>(t.arr);
        py::gil_scoped_release release;
        bad = first_bad_label(k.data(), n, classes);
    } else {
        auto k = c_array<std::int64_t>(t.arr);
        py::gil_scoped_release release;
        bad = first_bad_label(k.data(), n, classes);
    }
    const char* why = bad.fault == LabelFault::not_whole      ? "not_whole"
                      : bad.fault == LabelFault::out_of_range ? "out_of_range"
                                                              : "";
    return py::make_tuple(bad.index, why);
}

// (grad_norm, weight_norm, update_ratio, saturated, dead) of one Dense layer after a step;
// prev (the weights before it) is set to w. Both engines call core's layer_health.
py::tuple layer_health_py(py::array w, py::array prev, py::array grad_w, py::array y,
                          const std::string& activation) {
    const char* fn = "_layer_health";
    const Act act = parse_activation(activation, fn);
    const auto check = [&](const py::array& a, const char* name, bool writeable) {
        NNCORE_CHECK(a.dtype().equal(w.dtype()), fn, ": ", name, " must have the dtype of w");
        NNCORE_CHECK(a.flags() & py::array::c_style, fn, ": ", name, " must be C-contiguous");
        NNCORE_CHECK(!writeable || a.writeable(), fn, ": ", name, " must be writeable");
    };
    NNCORE_CHECK(w.dtype().equal(py::dtype::of<float>()) ||
                     w.dtype().equal(py::dtype::of<double>()),
                 fn, ": w must be float32 or float64");
    check(w, "w", false);
    check(prev, "prev", true);
    check(grad_w, "grad_w", false);
    check(y, "y", false);
    NNCORE_CHECK(prev.size() == w.size() && grad_w.size() == w.size(), fn,
                 ": prev and grad_w must have the size of w");
    NNCORE_CHECK(y.ndim() == 2, fn, ": y must be 2-D");
    const index_t n = w.size(), rows = y.shape(0), cols = y.shape(1);
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        const T* wp = static_cast<const T*>(w.data());
        T* pp = static_cast<T*>(prev.mutable_data());
        const T* gp = static_cast<const T*>(grad_w.data());
        const T* yp = static_cast<const T*>(y.data());
        py::gil_scoped_release nogil;
        return layer_health<T>(wp, pp, gp, n, yp, rows, cols, act, get_num_threads());
    };
    const LayerHealth h = w.dtype().equal(py::dtype::of<float>()) ? run(float{}) : run(double{});
    return py::make_tuple(h.grad_norm, h.weight_norm, h.update_ratio, h.saturated, h.dead);
}

}  // namespace

void register_metrics(py::module_& m) {
    m.def("count_correct", &count_correct_py, "out"_a, "target"_a,
          "Number of correct predictions of out for target (labels or targets).");
    m.def("confusion_matrix", &confusion_matrix_py, "out"_a, "target"_a,
          "sample_weight"_a = py::none(), py::kw_only(), "threshold"_a = 0.0,
          R"doc(Confusion counts of the predictions in ``out`` against ``target``.

Several outputs: the predicted class is the row's argmax (the first maximum; NaN counts
as the maximum, as ``numpy.argmax``); the true class is the label, or the argmax of the
target row (one-hot or probabilities). One output: the prediction is ``out > threshold``
(class 1) and the truth the label (0 or 1), or ``target > 0.5`` for float targets.

Parameters
----------
out : array_like, shape (batch, outputs)
    Scores (logits, or probabilities with ``threshold=0.5``).
target : array_like
    Class labels, shape (batch,) (integers, or whole-number floats, in
    [0, classes)); or targets of the shape of ``out`` (with one output also (batch,)).
sample_weight : array_like, shape (batch,), optional
    The count each row adds (1 when omitted).
threshold : float
    With one output, a row predicts class 1 when ``out > threshold``.

Returns
-------
ndarray of float64, shape (classes, classes)
    ``m[i, j]``: the (weighted) count of rows of true class ``i`` predicted ``j``
    (``classes`` is ``outputs``, or 2 for one output), as
    ``sklearn.metrics.confusion_matrix(true, pred, sample_weight=...)``. Rows are
    added in order on one thread.)doc");
    m.def("roc_auc", &roc_auc_py, "score"_a, "target"_a, "sample_weight"_a = py::none(),
          R"doc(Area under the ROC curve, as ``sklearn.metrics.roc_auc_score``.

A 1-D ``score`` is one binary problem (positive: ``target == 1``); a 2-D ``score``
(batch, classes) is one problem per class, one-vs-rest (positive: ``target == c``,
scored by column ``c``), whose mean is sklearn's ``multi_class="ovr"`` macro average.
Tied scores count half a pair (the trapezoid over distinct thresholds that sklearn
draws): ``sum over positive i, negative j of w_i w_j ([s_i > s_j] + [s_i == s_j] / 2)``
over ``sum(w positive) * sum(w negative)``.

Parameters
----------
score : array_like, shape (batch,) or (batch, classes)
    float32 or float64 scores (integers become float64).
target : array_like, shape (batch,)
    Class labels: 0 or 1 for a 1-D score, in [0, classes) for a 2-D one (integers, or
    whole-number floats).
sample_weight : array_like, shape (batch,), optional

Returns
-------
float or ndarray of float64, shape (classes,)
    The area (a float for a 1-D score, one per class for a 2-D one); NaN for a problem
    without positive or without negative weight, or with a NaN score.

Each problem is sorted (a radix sort) and summed by one thread, classes spread over the
threads; the result is the same for any thread count. The GIL is released.)doc");
    m.def("_first_bad_label", &first_bad_label_py, "target"_a, "classes"_a,
          "(index, why) of the first entry of 1-D target that is not a class label in\n"
          "[0, classes) ('not_whole' or 'out_of_range'; classes < 0 checks whole numbers\n"
          "only), or (-1, '') when all are: the rule the losses apply (core/labels.h).");
    m.def("_first_nonfinite", &first_nonfinite_py, "a"_a,
          "Index in C order of the first NaN or infinite value of a (a C-contiguous float32\n"
          "or float64 array), or -1 when all are finite: fit's check of its data\n"
          "(core/finite.h), the same index at any thread count. The GIL is released.");
    m.def("_layer_health", &layer_health_py, "w"_a, "prev"_a, "grad_w"_a, "y"_a, "activation"_a,
          "(grad_norm, weight_norm, update_ratio, saturated, dead) of a Dense layer after a\n"
          "training step, prev (its weights before the step) set to w (core/health.h).");
}

}  // namespace nncore::bindings
