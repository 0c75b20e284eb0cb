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

}  // namespace

void register_losses(py::module_& m) {
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
}

}  // namespace nncore::bindings
