// Portable C++ kernels: the complete fallback and the readable specification of every
// entry in kernel_table.h. Compiled at baseline flags; the compiler may vectorise the
// simple loops, but nothing here depends on it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../kernel_table.h"

namespace nncore::kernels::generic {
namespace {

#include "../act_math.h"
#include "../ce_row.h"
#include "../dropout_mix.h"
#include "../pack_impl.h"
#include "norms.h"
#include "health.h"

template <class T>
inline T sigmoid(T x) noexcept {
    // exp(-|x|) never overflows; the two branches are the same function.
    const T e = std::exp(-std::abs(x));
    const T s = T(1) / (T(1) + e);
    return x >= T(0) ? s : e * s;
}

template <class T>
inline T apply(Act act, T x, T slope) noexcept {
    switch (act) {
        case Act::relu: return x > T(0) ? x : (x == x ? T(0) : x);
        case Act::leaky_relu: return x > T(0) ? x : x * slope;
        case Act::sigmoid: return x == x ? sigmoid(x) : x;
        case Act::tanh: return std::tanh(x);
        case Act::gelu: return gelu(x);
        case Act::gelu_tanh: return gelu_tanh(x);
        case Act::silu: return silu(x);
        case Act::softplus: return softplus(x);
        case Act::identity: break;
    }
    return x;
}

// act'(v), with v the output y, or the pre-activation for act_from_input(act).
template <class T>
inline T derivative(Act act, T y, T slope) noexcept {
    switch (act) {
        case Act::relu: return y > T(0) ? T(1) : T(0);
        case Act::leaky_relu: return y > T(0) ? T(1) : slope;
        case Act::sigmoid: return y * (T(1) - y);
        case Act::tanh: return std::fma(-y, y, T(1));  // one rounding: 1 - y^2 cancels near |y| = 1
        case Act::gelu: return gelu_derivative(y);
        case Act::gelu_tanh: return gelu_tanh_derivative(y);
        case Act::silu: return silu_derivative(y);
        case Act::softplus: return softplus_derivative(y);
        case Act::identity: break;
    }
    return T(1);
}

constexpr int kMR = 4;
constexpr int kNR = 8;

// acc = A * B_panel over kc, then the epilogue, with A(i, p) = a[i * ars + p * acs] (a
// packed panel: ars = 1, acs = kMR); rows >= m are not read. See kernel_table.h.
template <class T>
void tile_of(index_t m, index_t n, index_t kc, const T* a, index_t ars, index_t acs,
             const T* b, index_t ldb, T* c, index_t ldc, const TileEpilogue<T>& ep) noexcept {
    T acc[kMR][kNR] = {};
    for (index_t p = 0; p < kc; ++p) {
        const T* bp = b + p * ldb;
        for (index_t i = 0; i < m; ++i) {
            const T av = a[i * ars + p * acs];
            for (int j = 0; j < kNR; ++j) acc[i][j] += av * bp[j];
        }
    }
    for (index_t i = 0; i < m; ++i) {
        T* ci = c + i * ldc;
        for (index_t j = 0; j < n; ++j) {
            T v = ep.accumulate ? ci[j] + acc[i][j] : acc[i][j];
            if (ep.last) {
                if (ep.bias) v += ep.bias[j];
                if (ep.z) ep.z[i * ep.ldz + j] = v;
                v = apply(ep.act, v, ep.slope);
            }
            ci[j] = v;
        }
    }
}

template <class T>
void gemm_tile(index_t m, index_t n, index_t kc, const T* a, const T* b, index_t ldb, T* c,
               index_t ldc, const TileEpilogue<T>& ep) noexcept {
    tile_of(m, n, kc, a, index_t(1), index_t(kMR), b, ldb, c, ldc, ep);
}

// gemm_tiles (kernel_table.h): the tile over each row panel of a column strip, A packed or
// read in place.
template <class T>
void gemm_tiles(index_t m, index_t n, index_t kc, const T* a, index_t a_rs, index_t a_cs,
                const T* b, index_t ldb, T* c, index_t ldc, const TileEpilogue<T>& ep) noexcept {
    TileEpilogue<T> tile = ep;
    for (index_t i0 = 0; i0 < m; i0 += kMR) {
        const index_t rows = m - i0 < kMR ? m - i0 : index_t(kMR);
        if (ep.z) tile.z = ep.z + i0 * ep.ldz;
        if (a_rs == 0) {
            tile_of(rows, n, kc, a + i0 * kc, index_t(1), index_t(kMR), b, ldb, c + i0 * ldc,
                    ldc, tile);
        } else {
            tile_of(rows, n, kc, a + i0 * a_rs, a_rs, a_cs, b, ldb, c + i0 * ldc, ldc, tile);
        }
    }
}

// gemm_cols (kernel_table.h): gemm_tile's operations per element, one element at a time.
template <class T>
void gemm_cols(index_t m, index_t n, index_t kc, const T* a, index_t lda, const T* b,
               index_t brs, index_t bcs, T* c, index_t ldc, const TileEpilogue<T>& ep) noexcept {
    for (index_t j = 0; j < n; ++j) {
        for (index_t i = 0; i < m; ++i) {
            T acc = T(0);
            for (index_t p = 0; p < kc; ++p) acc += a[p * lda + i] * b[p * brs + j * bcs];
            T v = acc;
            if (ep.bias) v += ep.bias[j];
            if (ep.z) ep.z[i * ep.ldz + j] = v;
            c[i * ldc + j] = apply(ep.act, v, ep.slope);
        }
    }
}

template <class T>
void activation(Act act, const T* x, T* y, index_t n, T slope, bool /*stream*/) noexcept {
    for (index_t i = 0; i < n; ++i) y[i] = apply(act, x[i], slope);
}

template <class T>
void activation_backward(Act act, const T* y, const T* gy, T* gx, index_t n, T slope,
                         bool /*stream*/) noexcept {
    for (index_t i = 0; i < n; ++i) {
        const T d = derivative(act, y[i], slope);
        // relu: the gradient is exactly zero where the unit is off, even for inf/NaN gy.
        gx[i] = (act == Act::relu) ? (y[i] > T(0) ? gy[i] : T(0)) : gy[i] * d;
    }
}

// The counter z = seed + (first + i + 1) * golden advances by golden per element (mod 2^64).
template <class T>
void dropout(const T* x, T* y, T* mask, index_t n, std::uint64_t seed, std::uint64_t first,
             std::uint64_t keep_from, T scale) noexcept {
    std::uint64_t z = seed + (first + 1) * DropoutMix::golden;
    for (index_t i = 0; i < n; ++i, z += DropoutMix::golden) {
        const T m = dropout_bits(z) >= keep_from ? scale : T(0);
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

template <class T>
void dropout_backward(const T* mask, const T* gy, T* gx, index_t n) noexcept {
    for (index_t i = 0; i < n; ++i) gx[i] = gy[i] * mask[i];
}

template <class T>
void activation_pair(Act act, const T* x, T* y, T* d, index_t n, T slope) noexcept {
    for (index_t i = 0; i < n; ++i) {
        const T v = x[i];  // d may be x
        y[i] = apply(act, v, slope);
        d[i] = derivative(act, v, slope);
    }
}

template <class T>
void add_inplace(T* acc, const T* x, index_t n) noexcept {
    for (index_t i = 0; i < n; ++i) acc[i] += x[i];
}

template <class T>
void pair_backward(const T* gy, T* d, index_t rows, index_t n, T* bias) noexcept {
    if (bias) std::fill(bias, bias + n, T(0));
    for (index_t r = 0; r < rows; ++r) {
        T* row = d + r * n;
        for (index_t j = 0; j < n; ++j) row[j] = gy[r * n + j] * row[j];
        if (bias) add_inplace(bias, row, n);
    }
}

template <class T>
void activation_backward_sums(Act act, const T* v, const T* gy, T* gx, index_t rows, index_t n,
                              T slope, T* bias) noexcept {
    if (bias) std::fill(bias, bias + n, T(0));
    for (index_t r = 0; r < rows; ++r) {
        activation_backward(act, v + r * n, gy + r * n, gx + r * n, n, slope, false);
        if (bias) add_inplace(bias, gx + r * n, n);
    }
}

template <class T>
void outer_backward_sums(Act act, const T* v, const T* g, const T* w, T* gx, index_t rows,
                         index_t n, T slope, T* bias) noexcept {
    if (bias) std::fill(bias, bias + n, T(0));
    for (index_t r = 0; r < rows; ++r) {
        T* row = gx + r * n;
        for (index_t j = 0; j < n; ++j) {
            T acc = T(0);  // gemm_tile's sum over one k
            acc += g[r] * w[j];
            row[j] = acc;
        }
        activation_backward(act, v + r * n, row, row, n, slope, false);
        if (bias) add_inplace(bias, row, n);
    }
}

template <class T>
T max(const T* x, index_t n) noexcept {
    T m = x[0];
    for (index_t i = 0; i < n; ++i) {
        if (x[i] != x[i]) return x[i];
        m = x[i] > m ? x[i] : m;
    }
    return m;
}

template <class T>
T exp_shift_sum(const T* x, T shift, T* y, index_t n) noexcept {
    T s = T(0);
    for (index_t i = 0; i < n; ++i) {
        const T e = std::exp(x[i] - shift);
        if (y) y[i] = e;
        s += e;
    }
    return s;
}

template <class T>
void scale_add(const T* x, T s, T c, T* y, index_t n) noexcept {
    for (index_t i = 0; i < n; ++i) y[i] = x[i] * s + c;
}

template <class T>
T dot(const T* x, const T* y, index_t n) noexcept {
    T s = T(0);
    for (index_t i = 0; i < n; ++i) s += x[i] * y[i];
    return s;
}

template <class T>
T mse(const T* p, const T* t, T* l, T* g, index_t n, T gscale) noexcept {
    T s = T(0);
    for (index_t i = 0; i < n; ++i) {
        const T d = p[i] - t[i];
        s += d * d;
        if (l) l[i] = d * d;
        if (g) g[i] = gscale * T(2) * d;
    }
    return s;
}

template <class T>
T bce_logits(const T* z, const T* t, T* l, T* g, index_t n, T gscale) noexcept {
    T s = T(0);
    for (index_t i = 0; i < n; ++i) {
        const T zi = z[i], ti = t[i];
        const T loss = std::max(zi, T(0)) - zi * ti + std::log1p(std::exp(-std::abs(zi)));
        s += loss;
        const T grad = gscale * ((zi == zi ? sigmoid(zi) : zi) - ti);
        if (l) l[i] = loss;
        if (g) g[i] = grad;
    }
    return s;
}

template <class T>
void ce_labels(const T* x, const std::int64_t* labels, const T* w, T denom, T* loss, T* g,
               index_t rows, index_t classes) noexcept {
    for (index_t r = 0; r < rows; ++r) {
        const T gscale = (w ? w[r] : T(1)) / denom;
        loss[r] = ce_row(x + r * classes, labels[r], classes, gscale,
                         g ? g + r * classes : nullptr);
    }
}

template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, index_t n, bool log) noexcept {
    if (log) {
        T s = T(0);
        for (index_t i = 0; i < n; ++i) s += gy[i];
        for (index_t i = 0; i < n; ++i) gx[i] = gy[i] - std::exp(y[i]) * s;
    } else {
        const T d = dot(gy, y, n);
        for (index_t i = 0; i < n; ++i) gx[i] = y[i] * (gy[i] - d);
    }
}

template <class T>
void sgd(T* param, const T* grad, T* velocity, index_t n, const SgdHyper<T>& h) noexcept {
    for (index_t i = 0; i < n; ++i) {
        const T g = grad[i] + h.weight_decay * param[i];
        T step = g;
        if (h.momentum != T(0)) {
            const T v = h.first ? g : h.momentum * velocity[i] + h.keep * g;
            velocity[i] = v;
            step = h.nesterov ? g + h.momentum * v : v;
        }
        param[i] -= h.lr * step;
    }
}

// The specification of sgd_health: the three calls it fuses, the old weights kept in a
// block's copy (n <= kHealthBlock).
template <class T>
void sgd_health(T* param, const T* grad, T* velocity, index_t n, const SgdHyper<T>& h,
                bool prev_sum, double* out) noexcept {
    T keep[kHealthBlock];
    health_before(param, grad, keep, n, prev_sum, out);
    sgd(param, grad, velocity, n, h);
    health_after(param, keep, n, false, out);
}

template <class T>
void adam(T* param, const T* grad, T* m, T* v, T* vmax, index_t n,
          const AdamHyper<T>& h) noexcept {
    for (index_t i = 0; i < n; ++i) {
        const T g = grad[i] + h.weight_decay * param[i];
        if (h.decoupled) param[i] *= h.decay_scale;
        const T mi = h.beta1 * m[i] + h.one_b1 * g;
        const T vi = h.beta2 * v[i] + h.one_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        T u = vi;
        if (vmax) {
            u = vmax[i] < vi ? vi : vmax[i];
            vmax[i] = u;
        }
        param[i] -= h.step_size * mi / (std::sqrt(u) / h.root_bc2 + h.eps);
    }
}

template <class T>
void rmsprop(T* param, const T* grad, T* sq, T* buf, T* ga, index_t n,
             const RmspropHyper<T>& h) noexcept {
    for (index_t i = 0; i < n; ++i) {
        const T g = grad[i] + h.weight_decay * param[i];
        const T s = h.alpha * sq[i] + h.one_alpha * g * g;
        sq[i] = s;
        T a;
        if (h.centered) {
            const T c = h.alpha * ga[i] + h.one_alpha * g;
            ga[i] = c;
            a = std::sqrt(s - c * c) + h.eps;
        } else {
            a = std::sqrt(s) + h.eps;
        }
        if (h.momentum != T(0)) {
            const T b = h.momentum * buf[i] + g / a;
            buf[i] = b;
            param[i] -= h.lr * b;
        } else {
            param[i] -= h.lr * (g / a);
        }
    }
}

// 8 independent chains hide the FMA latency; volatile keeps the result alive.
template <class T>
double fma_peak(std::int64_t iters) noexcept {
    T acc[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    const T a = T(0.999999), b = T(1e-7);
    for (std::int64_t i = 0; i < iters; ++i) {
        for (int c = 0; c < 8; ++c) acc[c] = acc[c] * a + b;
    }
    volatile T sink = acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
    (void)sink;
    return 16.0 * double(iters);
}

template <class T>
void ce_probs(const T* x, const T* t, const T* w, T denom, T* loss, T* g, index_t rows,
              index_t classes) noexcept {
    for (index_t r = 0; r < rows; ++r) {
        const T gscale = (w ? w[r] : T(1)) / denom;
        loss[r] = ce_probs_row(x + r * classes, t + r * classes, classes, gscale,
                               g ? g + r * classes : nullptr);
    }
}

template <class T>
KernelSet<T> make_set() noexcept {
    KernelSet<T> k;
    k.mr = kMR;
    k.nr = kNR;
    k.mc = 64;
    k.kc = 256;
    k.nc = 1024;
    k.gemm_tile = &gemm_tile<T>;
    k.gemm_tiles = &gemm_tiles<T>;
    k.pack_a = &pack_a_ref<T, kMR>;
    k.pack_b = &pack_b_ref<T, kNR>;
    k.gemm_cols = &gemm_cols<T>;
    k.activation = &activation<T>;
    k.activation_backward = &activation_backward<T>;
    k.dropout = &dropout<T>;
    k.dropout_backward = &dropout_backward<T>;
    k.activation_pair = &activation_pair<T>;
    k.pair_backward = &pair_backward<T>;
    k.activation_backward_sums = &activation_backward_sums<T>;
    k.outer_backward_sums = &outer_backward_sums<T>;
    k.add_inplace = &add_inplace<T>;
    k.max = &max<T>;
    k.exp_shift_sum = &exp_shift_sum<T>;
    k.scale_add = &scale_add<T>;
    k.dot = &dot<T>;
    k.mse = &mse<T>;
    k.bce_logits = &bce_logits<T>;
    k.ce_labels = &ce_labels<T>;
    k.ce_probs = &ce_probs<T>;
    k.softmax_backward = &softmax_backward<T>;
    k.sgd = &sgd<T>;
    k.sgd_health = &sgd_health<T>;
    k.adam = &adam<T>;
    k.rmsprop = &rmsprop<T>;
    k.fma_peak = &fma_peak<T>;
    set_norm_kernels(k);
    set_health_kernels(k);
    return k;
}

}  // namespace

const KernelTable& table() noexcept {
    static const KernelTable t{"generic", make_set<float>(), make_set<double>()};
    return t;
}

}  // namespace nncore::kernels::generic
