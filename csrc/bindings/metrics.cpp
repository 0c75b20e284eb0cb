// Bindings that read class labels: the accuracy count (core/metrics.h), count_correct,
// and the label rule itself (core/labels.h), _first_bad_label.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/labels.h"
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

}  // namespace

void register_metrics(py::module_& m) {
    m.def("count_correct", &count_correct_py, "out"_a, "target"_a,
          "Number of correct predictions of out for target (labels or targets).");
    m.def("_first_bad_label", &first_bad_label_py, "target"_a, "classes"_a,
          "(index, why) of the first entry of 1-D target that is not a class label in\n"
          "[0, classes) ('not_whole' or 'out_of_range'; classes < 0 checks whole numbers\n"
          "only), or (-1, '') when all are: the rule the losses apply (core/labels.h).");
}

}  // namespace nncore::bindings
