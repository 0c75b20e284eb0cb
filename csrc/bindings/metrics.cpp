// Bindings that read class labels: the accuracy count (core/metrics.h), count_correct,
// and the label rule itself (core/labels.h), _first_bad_label.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/enums.h"
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
    m.def("_first_bad_label", &first_bad_label_py, "target"_a, "classes"_a,
          "(index, why) of the first entry of 1-D target that is not a class label in\n"
          "[0, classes) ('not_whole' or 'out_of_range'; classes < 0 checks whole numbers\n"
          "only), or (-1, '') when all are: the rule the losses apply (core/labels.h).");
    m.def("_layer_health", &layer_health_py, "w"_a, "prev"_a, "grad_w"_a, "y"_a, "activation"_a,
          "(grad_norm, weight_norm, update_ratio, saturated, dead) of a Dense layer after a\n"
          "training step, prev (its weights before the step) set to w (core/health.h).");
}

}  // namespace nncore::bindings
