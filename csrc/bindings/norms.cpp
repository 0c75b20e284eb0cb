// Bindings of layer and batch normalisation (core/norms.h): layer_norm, batch_norm and
// their backward passes, with their signatures and docstrings.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/norms.h"
#include "core/parallel.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// A per-feature vector (weight, bias, running statistics): None, or n values.
struct Vec {
    bool given = false;
    Arg a;
};

Vec feature_vec(py::handle obj, py::ssize_t n, const Arg& x, const char* fn,
                const char* name) {
    Vec v;
    if (obj.is_none()) return v;
    v.given = true;
    v.a = arg(obj, fn, name);
    NNCORE_CHECK(v.a.ndim() == 1 && v.a.dim(0) == n, fn, ": ", name, " must have shape (", n,
                 ",) to match the ", n, " features of x of shape ", shape_str(x), "; got ",
                 shape_str(v.a));
    return v;
}

// out=(a, b, c): the three handles (None when out is None).
std::array<py::handle, 3> out3(py::handle out, const char* fn, const char* what) {
    std::array<py::handle, 3> h{py::none(), py::none(), py::none()};
    if (out.is_none()) return h;
    if (!py::isinstance<py::tuple>(out) || py::len(out) != 3) {
        type_error(std::string(fn) + ": out must be a tuple " + what + "; got " + type_name(out));
    }
    auto t = py::reinterpret_borrow<py::tuple>(out);
    for (int i = 0; i < 3; ++i) h[i] = t[i];
    return h;
}

// No output shares memory with an input or another output.
void check_disjoint(const std::vector<const py::array*>& outs,
                    const std::vector<const py::array*>& ins, const char* fn) {
    for (const py::array* o : outs) {
        for (const py::array* i : ins) {
            NNCORE_CHECK(!overlaps(*o, *i), fn,
                         ": out arrays must not share memory with the inputs");
        }
        for (const py::array* o2 : outs) {
            NNCORE_CHECK(o2 == o || !overlaps(*o, *o2), fn,
                         ": out arrays must not share memory with each other");
        }
    }
}

template <class T>
const T* data_or_null(const Vec& v, py::array_t<T>& keep) {
    if (!v.given) return nullptr;
    keep = contiguous<T>(v.a);
    return keep.data();
}

double eps_arg(py::handle obj, const char* fn) {
    const double eps = real_scalar(obj, fn, "eps");
    NNCORE_CHECK(std::isfinite(eps) && eps >= 0.0, fn, ": eps must be a finite number >= 0; got ",
                 eps);
    return eps;
}

// x of a LayerNorm: at least 1-D, normalised over its last axis of n >= 1 features.
py::ssize_t layer_features(const Arg& x, const char* fn) {
    NNCORE_CHECK(x.ndim() >= 1, fn, ": x must be at least 1-D (normalised over its last axis); "
                 "got shape ", shape_str(x));
    const auto n = x.dim(x.ndim() - 1);
    NNCORE_CHECK(n >= 1, fn, ": x must have at least one feature (last axis); got shape ",
                 shape_str(x));
    return n;
}

Shape leading(const Arg& x) {
    Shape s = x.shape();
    s.pop_back();
    return s;
}

py::object layer_norm(py::handle x_obj, py::handle w_obj, py::handle b_obj,
                      py::handle eps_obj, py::handle out) {
    const char* fn = "layer_norm";
    Arg x = arg(x_obj, fn, "x");
    const auto n = layer_features(x, fn);
    const Vec w = feature_vec(w_obj, n, x, fn, "weight");
    const Vec b = feature_vec(b_obj, n, x, fn, "bias");
    const double eps = eps_arg(eps_obj, fn);
    const auto outs = out3(out, fn, "(y, mean, rstd)");
    const int bits = result_bits({&x, w.given ? &w.a : nullptr, b.given ? &b.a : nullptr});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        const index_t rows = count(x.arr) / n;
        auto y = output<T>(outs[0], x.shape(), fn, "out[0] (y)");
        auto mean = output<T>(outs[1], leading(x), fn, "out[1] (mean)");
        auto rstd = output<T>(outs[2], leading(x), fn, "out[2] (rstd)");
        auto kx = contiguous<T>(x);
        py::array_t<T> kw, kb;
        const T* pw = data_or_null<T>(w, kw);
        const T* pb = data_or_null<T>(b, kb);
        check_disjoint({&y, &mean, &rstd}, {&kx, &kw, &kb}, fn);
        {
            py::gil_scoped_release nogil;
            layer_norm_forward<T>(kx.data(), pw, pb, static_cast<T>(eps), ptr(y), ptr(mean),
                                  ptr(rstd), rows, n, get_num_threads());
        }
        return py::make_tuple(y, mean, rstd);
    });
}

py::object layer_norm_backward(py::handle x_obj, py::handle mean_obj, py::handle rstd_obj,
                               py::handle gy_obj, py::handle w_obj, py::handle out) {
    const char* fn = "layer_norm_backward";
    Arg x = arg(x_obj, fn, "x");
    const auto n = layer_features(x, fn);
    Arg mean = arg(mean_obj, fn, "mean"), rstd = arg(rstd_obj, fn, "rstd"),
        gy = arg(gy_obj, fn, "grad_y");
    const Shape lead = leading(x);
    for (const Arg* s : {&mean, &rstd}) {
        NNCORE_CHECK(s->shape() == lead, fn, ": ", s->name, " must have shape ", shape_str(lead),
                     " (one value per row of x of shape ", shape_str(x), "); got ",
                     shape_str(*s));
    }
    NNCORE_CHECK(gy.shape() == x.shape(), fn, ": grad_y must have the shape of x ",
                 shape_str(x), "; got ", shape_str(gy));
    const Vec w = feature_vec(w_obj, n, x, fn, "weight");
    const auto outs = out3(out, fn, "(grad_x, grad_weight, grad_bias)");
    const int bits = result_bits({&x, &mean, &rstd, &gy, w.given ? &w.a : nullptr});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        const index_t rows = count(x.arr) / n;
        auto gx = output<T>(outs[0], x.shape(), fn, "out[0] (grad_x)");
        auto gw = output<T>(outs[1], {n}, fn, "out[1] (grad_weight)");
        auto gb = output<T>(outs[2], {n}, fn, "out[2] (grad_bias)");
        auto kx = contiguous<T>(x), km = contiguous<T>(mean), kr = contiguous<T>(rstd),
             kg = contiguous<T>(gy);
        py::array_t<T> kw;
        const T* pw = data_or_null<T>(w, kw);
        check_disjoint({&gx, &gw, &gb}, {&kx, &km, &kr, &kg, &kw}, fn);
        {
            py::gil_scoped_release nogil;
            nncore::layer_norm_backward<T>(kx.data(), km.data(), kr.data(), pw, kg.data(),
                                           ptr(gx), ptr(gw), ptr(gb), rows, n,
                                           get_num_threads());
        }
        return py::make_tuple(gx, gw, gb);
    });
}

// x of a BatchNorm1d: (batch, features) with features >= 1.
py::ssize_t batch_features(const Arg& x, const char* fn) {
    NNCORE_CHECK(x.ndim() == 2, fn, ": x must be 2-D (batch, features); got shape ",
                 shape_str(x));
    NNCORE_CHECK(x.dim(1) >= 1, fn, ": x must have at least one feature; got shape ",
                 shape_str(x));
    return x.dim(1);
}

py::object batch_norm(py::handle x_obj, py::handle rm_obj, py::handle rv_obj,
                      py::handle w_obj, py::handle b_obj, bool training, py::handle mom_obj,
                      py::handle eps_obj, py::handle out) {
    const char* fn = "batch_norm";
    Arg x = arg(x_obj, fn, "x");
    const auto n = batch_features(x, fn);
    const auto rows = x.dim(0);
    NNCORE_CHECK(rm_obj.is_none() == rv_obj.is_none(), fn,
                 ": give both running_mean and running_var, or neither");
    const bool running = !rm_obj.is_none();
    NNCORE_CHECK(training || running, fn, ": training=False normalises with the running "
                 "statistics: running_mean and running_var are required");
    NNCORE_CHECK(!training || rows > 1, fn, ": training needs more than one row in x to "
                 "compute batch statistics; got x of shape ", shape_str(x));
    const Vec rm = feature_vec(rm_obj, n, x, fn, "running_mean");
    const Vec rv = feature_vec(rv_obj, n, x, fn, "running_var");
    const Vec w = feature_vec(w_obj, n, x, fn, "weight");
    const Vec b = feature_vec(b_obj, n, x, fn, "bias");
    const double momentum = real_scalar(mom_obj, fn, "momentum");
    NNCORE_CHECK(momentum >= 0.0 && momentum <= 1.0, fn, ": momentum must be in [0, 1]; got ",
                 momentum);
    const double eps = eps_arg(eps_obj, fn);
    const auto outs = out3(out, fn, "(y, mean, rstd)");
    const int bits = result_bits({&x, w.given ? &w.a : nullptr, b.given ? &b.a : nullptr});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto y = output<T>(outs[0], x.shape(), fn, "out[0] (y)");
        auto mean = output<T>(outs[1], {n}, fn, "out[1] (mean)");
        auto rstd = output<T>(outs[2], {n}, fn, "out[2] (rstd)");
        // Training updates the running statistics in place (torch's F.batch_norm): they
        // must be writeable arrays of the result dtype. Eval only reads them.
        py::array_t<T> krm, krv;
        if (running && training) {
            krm = output<T>(rm_obj, {n}, fn, "running_mean");
            krv = output<T>(rv_obj, {n}, fn, "running_var");
            NNCORE_CHECK(!overlaps(krm, krv), fn,
                         ": running_mean and running_var must not share memory");
        } else if (running) {
            krm = contiguous<T>(rm.a);
            krv = contiguous<T>(rv.a);
        }
        auto kx = contiguous<T>(x);
        py::array_t<T> kw, kb;
        const T* pw = data_or_null<T>(w, kw);
        const T* pb = data_or_null<T>(b, kb);
        check_disjoint({&y, &mean, &rstd}, {&kx, &kw, &kb, &krm, &krv}, fn);
        if (running && training) {
            for (const py::array* r : {&krm, &krv}) {
                NNCORE_CHECK(!overlaps(*r, kx) && !overlaps(*r, kw) && !overlaps(*r, kb), fn,
                             ": running_mean and running_var must not share memory with x, "
                             "weight or bias");
            }
        }
        {
            py::gil_scoped_release nogil;
            batch_norm_forward<T>(kx.data(), pw, pb, running ? ptr(krm) : nullptr,
                                  running ? ptr(krv) : nullptr,
                                  BatchNormMode{training, momentum}, static_cast<T>(eps),
                                  ptr(y), ptr(mean), ptr(rstd), rows, n, get_num_threads());
        }
        return py::make_tuple(y, mean, rstd);
    });
}

py::object batch_norm_backward(py::handle x_obj, py::handle mean_obj, py::handle rstd_obj,
                               py::handle gy_obj, py::handle w_obj, bool training,
                               py::handle out) {
    const char* fn = "batch_norm_backward";
    Arg x = arg(x_obj, fn, "x");
    const auto n = batch_features(x, fn);
    const auto rows = x.dim(0);
    Arg gy = arg(gy_obj, fn, "grad_y");
    NNCORE_CHECK(gy.shape() == x.shape(), fn, ": grad_y must have the shape of x ",
                 shape_str(x), "; got ", shape_str(gy));
    const Vec mean = feature_vec(mean_obj, n, x, fn, "mean");
    const Vec rstd = feature_vec(rstd_obj, n, x, fn, "rstd");
    if (!mean.given || !rstd.given) {
        type_error(std::string(fn) + ": mean and rstd must be array-likes of numbers; got None");
    }
    const Vec w = feature_vec(w_obj, n, x, fn, "weight");
    const auto outs = out3(out, fn, "(grad_x, grad_weight, grad_bias)");
    const int bits = result_bits({&x, &mean.a, &rstd.a, &gy, w.given ? &w.a : nullptr});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto gx = output<T>(outs[0], x.shape(), fn, "out[0] (grad_x)");
        auto gw = output<T>(outs[1], {n}, fn, "out[1] (grad_weight)");
        auto gb = output<T>(outs[2], {n}, fn, "out[2] (grad_bias)");
        auto kx = contiguous<T>(x), km = contiguous<T>(mean.a), kr = contiguous<T>(rstd.a),
             kg = contiguous<T>(gy);
        py::array_t<T> kw;
        const T* pw = data_or_null<T>(w, kw);
        check_disjoint({&gx, &gw, &gb}, {&kx, &km, &kr, &kg, &kw}, fn);
        {
            py::gil_scoped_release nogil;
            nncore::batch_norm_backward<T>(kx.data(), km.data(), kr.data(), pw, kg.data(),
                                           training, ptr(gx), ptr(gw), ptr(gb), rows, n,
                                           get_num_threads());
        }
        return py::make_tuple(gx, gw, gb);
    });
}

}  // namespace

void register_norms(py::module_& m) {
    m.def("layer_norm", &layer_norm, "x"_a, "weight"_a = py::none(), "bias"_a = py::none(),
          "eps"_a = 1e-5, py::kw_only(), "out"_a = py::none(),
          R"(Layer normalisation over the last axis (``torch.nn.functional.layer_norm`` with
``normalized_shape = x.shape[-1:]``).

For each row ``r`` of ``x`` (every index but the last): ``mean = x[r].mean()``,
``var = ((x[r] - mean) ** 2).mean()`` (biased), ``rstd = 1 / sqrt(var + eps)`` and
``y[r] = (x[r] - mean) * rstd * weight + bias``. Rows run in parallel; each row is
computed one fixed way, so results are bitwise identical for any thread count.

Parameters
----------
x : array_like, shape (..., features)
weight, bias : array_like, shape (features,), optional
    The affine parameters (None: 1 and 0).
eps : float >= 0
out : tuple of three ndarrays, optional
    ``(y, mean, rstd)`` to write into; none may share memory with the inputs.

Returns
-------
(y, mean, rstd) : tuple of ndarray
    ``y`` of x's shape; ``mean`` and ``rstd`` of shape ``x.shape[:-1]``, what
    :func:`layer_norm_backward` needs.
)");
    m.def("layer_norm_backward", &layer_norm_backward, "x"_a, "mean"_a, "rstd"_a, "grad_y"_a,
          "weight"_a = py::none(), py::kw_only(), "out"_a = py::none(),
          R"(Gradients through :func:`layer_norm` from its input ``x``, the ``mean`` and ``rstd``
it returned and ``grad_y`` (d loss / d y).

With ``xhat = (x - mean) * rstd`` and ``g = grad_y * weight`` (``grad_y`` when weight is
None), per row: ``grad_x = rstd * (g - g.mean() - xhat * (g * xhat).mean())``;
``grad_weight = sum over rows of grad_y * xhat`` and ``grad_bias = sum over rows of
grad_y`` (each column summed over rows in index order: bitwise the same at any thread
count). The parameter gradients are returned whether or not the forward had them.

Returns
-------
(grad_x, grad_weight, grad_bias) : tuple of ndarray
    Shapes ``x.shape``, ``(features,)``, ``(features,)``. ``out`` may name arrays to
    write them into (none sharing memory with the inputs).
)");
    m.def("batch_norm", &batch_norm, "x"_a, "running_mean"_a = py::none(),
          "running_var"_a = py::none(), "weight"_a = py::none(), "bias"_a = py::none(),
          "training"_a = false, "momentum"_a = 0.1, "eps"_a = 1e-5, py::kw_only(),
          "out"_a = py::none(),
          R"(Batch normalisation of ``x`` (batch, features) over the batch
(``torch.nn.functional.batch_norm``, same argument order and defaults).

``training=True``: per feature, ``mean`` and the biased ``var`` over the rows (at least
two), ``rstd = 1 / sqrt(var + eps)``; when given, ``running_mean`` and ``running_var``
are updated in place: ``running = momentum * batch + (1 - momentum) * running``, with
the unbiased variance for ``running_var`` (they must then be writeable C-contiguous
arrays of the result dtype). ``training=False``: ``mean = running_mean`` and
``rstd = 1 / sqrt(running_var + eps)``. Then ``y = (x - mean) * rstd * weight + bias``.

Features run in parallel; each feature's sums add the rows in index order, so results
are bitwise identical for any thread count.

Parameters
----------
x : array_like, shape (batch, features)
running_mean, running_var : ndarray, shape (features,), optional (required for eval)
weight, bias : array_like, shape (features,), optional (None: 1 and 0)
training : bool
momentum : float in [0, 1]
eps : float >= 0
out : tuple of three ndarrays, optional
    ``(y, mean, rstd)`` to write into.

Returns
-------
(y, mean, rstd) : tuple of ndarray
    ``mean`` and ``rstd`` (shape ``(features,)``) are the statistics used, what
    :func:`batch_norm_backward` needs.
)");
    m.def("batch_norm_backward", &batch_norm_backward, "x"_a, "mean"_a, "rstd"_a, "grad_y"_a,
          "weight"_a = py::none(), "training"_a = false, py::kw_only(), "out"_a = py::none(),
          R"(Gradients through :func:`batch_norm` from its input ``x``, the ``mean`` and
``rstd`` it returned and ``grad_y``.

With ``xhat = (x - mean) * rstd``: ``grad_weight = (grad_y * xhat).sum(0)``,
``grad_bias = grad_y.sum(0)`` and, with ``training=True`` (the statistics came from this
batch), ``grad_x = weight * rstd / batch * (batch * grad_y - grad_bias - xhat *
grad_weight)``; with ``training=False`` (running statistics, constants)
``grad_x = weight * rstd * grad_y``.

Returns
-------
(grad_x, grad_weight, grad_bias) : tuple of ndarray
)");
}

}  // namespace nncore::bindings
