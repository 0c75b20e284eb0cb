// Bindings of the dense family: matmul, dense_forward, dense_backward.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <string>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/check.h"
#include "core/dense.h"
#include "core/enums.h"
#include "core/gemm.h"
#include "core/parallel.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// ----------------------------------------------------------------------------- gemm

py::object matmul(py::handle a_obj, py::handle b_obj, bool trans_a, bool trans_b,
                  py::handle out) {
    const char* fn = "matmul";
    Arg a = arg(a_obj, fn, "a"), b = arg(b_obj, fn, "b");
    NNCORE_CHECK(a.ndim() == 2, fn, ": a must be 2-D; got shape ", shape_str(a));
    NNCORE_CHECK(b.ndim() == 2, fn, ": b must be 2-D; got shape ", shape_str(b));
    // Shapes first, and the output before any input is copied: an impossible result
    // fails fast instead of after copying large (e.g. broadcast) inputs.
    const auto m = trans_a ? a.dim(1) : a.dim(0), ka_ = trans_a ? a.dim(0) : a.dim(1);
    const auto kb_ = trans_b ? b.dim(1) : b.dim(0), n = trans_b ? b.dim(0) : b.dim(1);
    NNCORE_CHECK(ka_ == kb_, fn, ": inner dimensions must match: op(a) has shape (", m, ", ",
                 ka_, ") and op(b) has shape (", kb_, ", ", n, ")",
                 trans_a || trans_b ? " after the requested transposes" : "");
    return with_dtype(result_bits({&a, &b}), [&](auto tag) -> py::object {
        using T = decltype(tag);
        auto res = output<T>(out, {m, n}, fn, "out");
        py::array_t<T> ka, kb;
        MatView<const T> va = matrix<T>(a, ka), vb = matrix<T>(b, kb);
        if (trans_a) va = va.t();
        if (trans_b) vb = vb.t();
        NNCORE_CHECK(!overlaps(res, ka) && !overlaps(res, kb), fn,
                     ": out must not share memory with a or b");
        {
            py::gil_scoped_release nogil;
            gemm(va, vb, row_major(ptr(res), va.rows, vb.cols), GemmEpilogue<T>{},
                 get_num_threads());
        }
        return std::move(res);
    });
}

// The blocks gemm() hands to GemmEpilogue::block_done, for tests: each call adds 1 to
// the count of the elements of its block and copies the block of c as it is then.
template <class T>
struct BlockLog {
    std::mutex mu;
    const T* c = nullptr;
    T* snap = nullptr;
    std::int32_t* count = nullptr;
    index_t n = 0;
    std::int64_t calls = 0;
    static void record(void* ctx, index_t r0, index_t r1, index_t c0, index_t c1) {
        auto& log = *static_cast<BlockLog*>(ctx);
        std::lock_guard<std::mutex> lock(log.mu);
        ++log.calls;
        for (index_t i = r0; i < r1; ++i) {
            for (index_t j = c0; j < c1; ++j) {
                log.count[i * log.n + j] += 1;
                log.snap[i * log.n + j] = log.c[i * log.n + j];
            }
        }
    }
};

py::object gemm_blocks(py::handle a_obj, py::handle b_obj, bool trans_a, int threads) {
    const char* fn = "_gemm_blocks";
    Arg a = arg(a_obj, fn, "a"), b = arg(b_obj, fn, "b");
    NNCORE_CHECK(a.ndim() == 2 && b.ndim() == 2, fn, ": a and b must be 2-D");
    const auto m = trans_a ? a.dim(1) : a.dim(0), k = trans_a ? a.dim(0) : a.dim(1);
    NNCORE_CHECK(b.dim(0) == k, fn, ": inner dimensions must match");
    NNCORE_CHECK(threads >= 1, fn, ": threads must be >= 1");
    const auto n = b.dim(1);
    return with_dtype(result_bits({&a, &b}), [&](auto tag) -> py::object {
        using T = decltype(tag);
        py::array_t<T> c({m, n}), snap({m, n});
        py::array_t<std::int32_t> count({m, n});
        std::fill(count.mutable_data(), count.mutable_data() + m * n, 0);
        py::array_t<T> ka, kb;
        MatView<const T> va = matrix<T>(a, ka), vb = matrix<T>(b, kb);
        if (trans_a) va = va.t();
        BlockLog<T> log;
        log.c = c.data();
        log.snap = snap.mutable_data();
        log.count = count.mutable_data();
        log.n = n;
        GemmEpilogue<T> ep;
        ep.block_done = &BlockLog<T>::record;
        ep.block_ctx = &log;
        {
            py::gil_scoped_release nogil;
            gemm(va, vb, row_major(c.mutable_data(), m, n), ep, threads);
        }
        return py::make_tuple(c, count, snap, log.calls);
    });
}

// ---------------------------------------------------------------------------- dense

// x as a (batch, in) matrix view: a 1-D x is one sample.
template <class T>
MatView<const T> sample_matrix(const Arg& x, index_t in, py::array_t<T>& keep) {
    if (x.ndim() == 1) {
        keep = contiguous<T>(x);
        return row_major<const T>(keep.data(), 1, in);
    }
    return matrix<T>(x, keep);
}

// The layer's input size, with x (batch, in) or (in,) and w (in, out) checked.
py::ssize_t dense_in(const Arg& x, const Arg& w, const char* fn) {
    NNCORE_CHECK(x.ndim() == 1 || x.ndim() == 2, fn,
                 ": x must be 1-D (one sample) or 2-D (batch, in); got shape ", shape_str(x));
    NNCORE_CHECK(w.ndim() == 2, fn, ": w must be 2-D (in, out); got shape ", shape_str(w));
    const auto in = x.dim(x.ndim() - 1);
    NNCORE_CHECK(w.dim(0) == in, fn, ": w must have ", in, " rows to match x of shape ",
                 shape_str(x), "; got w of shape ", shape_str(w));
    return in;
}

py::object dense_forward(py::handle x_obj, py::handle w_obj, py::handle b_obj,
                         py::handle act_obj, py::handle slope_obj, py::handle out,
                         py::handle z_out) {
    const char* fn = "dense_forward";
    const Act act = activation_arg(act_obj, fn);
    const double slope = act == Act::leaky_relu ? slope_arg(slope_obj, fn) : 0.0;
    Arg x = arg(x_obj, fn, "x"), w = arg(w_obj, fn, "w");
    const bool has_b = !b_obj.is_none();
    Arg b = has_b ? arg(b_obj, fn, "b") : Arg{};
    const auto in = dense_in(x, w, fn);
    const auto n_out = w.dim(1);
    if (has_b) {
        NNCORE_CHECK(b.ndim() == 1 && b.dim(0) == n_out, fn, ": b must have shape (", n_out,
                     ",) to match w of shape ", shape_str(w), "; got b of shape ", shape_str(b));
    }
    const int bits = result_bits({&x, &w, has_b ? &b : nullptr});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        const bool one = x.ndim() == 1;
        const index_t batch = one ? 1 : x.dim(0);
        const Shape yshape = one ? Shape{n_out} : Shape{batch, n_out};
        auto res = output<T>(out, yshape, fn, "out");
        const bool has_z = !z_out.is_none();
        py::array_t<T> zres;
        if (has_z) zres = output<T>(z_out, yshape, fn, "z_out");
        py::array_t<T> kx, kw;
        const MatView<const T> vx = sample_matrix<T>(x, in, kx);
        const MatView<const T> vw = matrix<T>(w, kw);
        py::array_t<T> kb;
        if (has_b) kb = contiguous<T>(b);
        NNCORE_CHECK(!overlaps(res, kx) && !overlaps(res, kw) && !(has_b && overlaps(res, kb)),
                     fn, ": out must not share memory with x, w or b");
        if (has_z) {
            NNCORE_CHECK(!overlaps(zres, kx) && !overlaps(zres, kw) &&
                             !(has_b && overlaps(zres, kb)) && !overlaps(zres, res),
                         fn, ": z_out must not share memory with x, w, b or out");
        }
        {
            py::gil_scoped_release nogil;
            MatView<T> vz = has_z ? row_major(ptr(zres), batch, n_out) : MatView<T>{};
            nncore::dense_forward(vx, vw, has_b ? kb.data() : static_cast<const T*>(nullptr),
                                  row_major(ptr(res), batch, n_out), act, static_cast<T>(slope),
                                  get_num_threads(), has_z ? &vz : nullptr);
        }
        return std::move(res);
    });
}

py::object dense_backward(py::handle x_obj, py::handle w_obj, py::handle y_obj,
                          py::handle gy_obj, py::handle act_obj, py::handle slope_obj,
                          bool need_grad_x, py::handle out) {
    const char* fn = "dense_backward";
    const Act act = activation_arg(act_obj, fn);
    const double slope = act == Act::leaky_relu ? slope_arg(slope_obj, fn) : 0.0;
    Arg x = arg(x_obj, fn, "x"), w = arg(w_obj, fn, "w"), y = arg(y_obj, fn, "y"),
        gy = arg(gy_obj, fn, "grad_y");
    const auto in = dense_in(x, w, fn);
    const bool one = x.ndim() == 1;
    const auto batch = one ? 1 : x.dim(0);
    const auto n_out = w.dim(1);
    const Shape yshape = one ? Shape{n_out} : Shape{batch, n_out};
    NNCORE_CHECK(y.shape() == yshape, fn, ": y must have shape ", shape_str(yshape),
                 " to match x of shape ", shape_str(x), " and w of shape ", shape_str(w),
                 "; got ", shape_str(y));
    NNCORE_CHECK(gy.shape() == yshape, fn, ": grad_y must have shape ", shape_str(yshape),
                 " (the shape of y); got ", shape_str(gy));

    py::handle out_gx = py::none(), out_gw = py::none(), out_gb = py::none();
    if (!out.is_none()) {
        if (!py::isinstance<py::tuple>(out) || py::len(out) != 3) {
            type_error(std::string(fn) + ": out must be a tuple (grad_x, grad_w, grad_b)");
        }
        auto t = py::reinterpret_borrow<py::tuple>(out);
        out_gx = t[0];
        out_gw = t[1];
        out_gb = t[2];
    }
    const int bits = result_bits({&x, &w, &y, &gy});
    return with_dtype(bits, [&](auto tag) -> py::object {
        using T = decltype(tag);
        py::array_t<T> kx, kw;
        const MatView<const T> vx = sample_matrix<T>(x, in, kx);
        const MatView<const T> vw = matrix<T>(w, kw);
        py::array_t<T> ky = contiguous<T>(y), kgy = contiguous<T>(gy);
        py::array_t<T> gw = output<T>(out_gw, {in, n_out}, fn, "out[1] (grad_w)");
        py::array_t<T> gb = output<T>(out_gb, {n_out}, fn, "out[2] (grad_b)");
        py::array_t<T> gx;
        if (need_grad_x) gx = output<T>(out_gx, x.shape(), fn, "out[0] (grad_x)");
        const py::array* inputs[] = {&kx, &kw, &ky, &kgy};
        const py::array* outputs[] = {&gw, &gb, need_grad_x ? &gx : nullptr};
        for (const py::array* o : outputs) {
            if (!o) continue;
            for (const py::array* i : inputs) {
                NNCORE_CHECK(!overlaps(*o, *i), fn,
                             ": out arrays must not share memory with the inputs");
            }
            for (const py::array* o2 : outputs) {
                NNCORE_CHECK(!o2 || o2 == o || !overlaps(*o, *o2), fn,
                             ": out arrays must not share memory with each other");
            }
        }
        {
            py::gil_scoped_release nogil;
            MatView<T> vgx = need_grad_x ? row_major(ptr(gx), batch, in) : MatView<T>{};
            nncore::dense_backward(vx, vw, row_major<const T>(ky.data(), batch, n_out),
                                   row_major<const T>(kgy.data(), batch, n_out), act,
                                   static_cast<T>(slope), need_grad_x ? &vgx : nullptr,
                                   row_major(ptr(gw), in, n_out), ptr(gb), get_num_threads());
        }
        py::object gx_obj = need_grad_x ? py::object(gx) : py::object(py::none());
        return py::make_tuple(gx_obj, gw, gb);
    });
}

}  // namespace

void register_dense(py::module_& m) {
    m.def("_gemm_blocks", &gemm_blocks, "a"_a, "b"_a, "trans_a"_a = false, "threads"_a = 1,
          "(c, count, snap, calls): c = op(a) @ b by the native GEMM on `threads` threads\n"
          "with a GemmEpilogue::block_done hook that adds 1 to count over each block it is\n"
          "handed and copies that block of c, as it is then, to snap (for tests).");
    m.def("matmul", &matmul, "a"_a, "b"_a, py::kw_only(), "trans_a"_a = false,
          "trans_b"_a = false, "out"_a = py::none(),
          R"(Matrix product ``op(a) @ op(b)`` with the native blocked GEMM.

Parameters
----------
a : array_like, shape (m, k), or (k, m) when ``trans_a``
b : array_like, shape (k, n), or (n, k) when ``trans_b``
trans_a, trans_b : bool
    Use the transpose of the operand (no copy is made).
out : ndarray, shape (m, n), optional
    Must not share memory with ``a`` or ``b``.

Returns
-------
ndarray, shape (m, n)

Examples
--------
>>> matmul([[1.0, 2.0]], [[3.0], [4.0]])
array([[11.]])
)");
    m.def("dense_forward", &dense_forward, "x"_a, "w"_a, "b"_a = py::none(),
          "activation"_a = "identity", py::kw_only(), "slope"_a = 0.01, "out"_a = py::none(),
          "z_out"_a = py::none(),
          R"(A dense layer: ``activation(x @ w + b)``, bias and activation fused into the GEMM.

Parameters
----------
x : array_like, shape (batch, in) or (in,)
    Inputs; a 1-D ``x`` is one sample and gives a 1-D result.
w : array_like, shape (in, out)
    Weights (the transpose of PyTorch's ``Linear.weight``).
b : array_like, shape (out,), optional
    Bias.
activation : str or None
    One of "identity", "relu", "sigmoid", "tanh", "leaky_relu", "gelu", "gelu_tanh",
    "silu", "softplus".
    ``"gelu_tanh"`` is gelu with ``approximate="tanh"``; softplus has PyTorch's beta=1,
    threshold=20.
slope : float
    Negative slope of ``leaky_relu`` (>= 0).
out : ndarray, shape (batch, out), optional
    Must not share memory with the inputs.
z_out : ndarray, shape of the result, optional
    Receives the pre-activation ``x @ w + b``, stored by the same pass as the result. The
    derivatives of gelu, gelu_tanh, silu and softplus are not functions of their output:
    :func:`dense_backward` takes this ``z`` in place of ``y`` for them. Must not share
    memory with the inputs or ``out``.

Returns
-------
ndarray, shape (batch, out) or (out,)

Examples
--------
>>> dense_forward([[1.0, -2.0]], [[1.0], [1.0]], [0.5], "relu")
array([[0.]])
)");
    m.def("dense_backward", &dense_backward, "x"_a, "w"_a, "y"_a, "grad_y"_a,
          "activation"_a = "identity", py::kw_only(), "slope"_a = 0.01, "need_grad_x"_a = true,
          "out"_a = py::none(),
          R"(Gradients of a dense layer ``y = activation(x @ w + b)``.

With ``grad_z = grad_y * activation'(y)`` (the derivative written from the output, or
from the pre-activation ``z`` for gelu, gelu_tanh, silu and softplus):
``grad_w = x.T @ grad_z``, ``grad_b = grad_z.sum(0)``, ``grad_x = grad_z @ w.T``.

Parameters
----------
x : array_like, shape (batch, in) or (in,)
    The layer's input.
w : array_like, shape (in, out)
y : array_like, shape (batch, out) or (out,)
    The layer's output (after the activation); for gelu, gelu_tanh, silu and softplus,
    whose derivative is not a function of the output, the pre-activation
    ``z = x @ w + b`` instead (``dense_forward``'s ``z_out``).
grad_y : array_like, shape of ``y``
    Gradient of the loss with respect to ``y``.
activation : str or None
    The activation the forward pass used.
slope : float
    Negative slope of ``leaky_relu``.
need_grad_x : bool
    Compute ``grad_x`` (skip it for a network's first layer).
out : tuple (grad_x or None, grad_w or None, grad_b or None), optional
    Preallocated outputs; ``None`` entries are allocated.

Returns
-------
grad_x : ndarray of the shape of ``x``, or None when ``need_grad_x`` is False
grad_w : ndarray, shape (in, out)
grad_b : ndarray, shape (out,)
)");
}

}  // namespace nncore::bindings
