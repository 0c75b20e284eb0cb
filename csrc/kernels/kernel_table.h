// The contract between csrc/core and the per-ISA kernel sets.
//
// A kernel set is a table of function pointers and block sizes per dtype. Kernels
// work on raw pointers, sizes and (where stated) element strides. They never
// allocate, throw, read the environment or start threads: the core does blocking,
// packing and threading, and calls these on pieces it has already validated.
//
// Every set must produce results within a few ulps of the generic set, which is the
// readable specification (csrc/kernels/generic/). A SIMD set starts from the generic
// table and overrides the entries it implements, so no entry is ever null.
//
// Each set's code lives in its own anonymous namespace (the shared headers ce_row.h,
// pack_impl.h and simd/*.h open none and are included inside it): the only symbol a set
// exports is its table(). The build checks this (cmake/check_kernel_symbols.cmake).
#pragma once

#include <cstdint>

namespace nncore::kernels {

using index_t = std::int64_t;

// Activation applied by the GEMM epilogue and the elementwise kernels (act_math.h
// defines gelu, gelu_tanh, silu and softplus, with PyTorch's definitions: gelu_tanh is
// gelu(approximate="tanh"), softplus has beta = 1 and threshold = 20).
enum class Act : int {
    identity = 0, relu = 1, sigmoid = 2, tanh = 3, leaky_relu = 4,
    gelu = 5, gelu_tanh = 6, silu = 7, softplus = 8
};

// The activation's derivative is not a function of its output: its backward reads the
// pre-activation (a dense layer keeps it: TileEpilogue::z).
constexpr bool act_from_input(Act act) noexcept {
    return act == Act::gelu || act == Act::gelu_tanh || act == Act::silu ||
           act == Act::softplus;
}

// What happens when the gemm tile kernel stores its MR x NR accumulator to C.
template <class T>
struct TileEpilogue {
    // true: C += acc (C holds an earlier k-block). false: C = acc (C may hold garbage).
    bool accumulate = false;
    // true on the last k-block: after the sum, add bias then apply the activation.
    bool last = true;
    // nullptr, or bias for this tile's columns: bias[j] is added to column j (j < n).
    const T* bias = nullptr;
    Act act = Act::identity;
    T slope = T(0);  // leaky_relu negative slope (>= 0)
    // nullptr, or this tile's place in the pre-activation's buffer (row stride ldz): on
    // the last k-block it receives the sum plus bias, before the activation.
    T* z = nullptr;
    index_t ldz = 0;
};

// One SGD update's constants, rounded once to T by the core (csrc/core/optim.cpp).
template <class T>
struct SgdHyper {
    T lr = T(0), momentum = T(0), keep = T(1), weight_decay = T(0);  // keep = 1 - dampening
    bool nesterov = false;
    // The velocity holds no history yet (the optimiser's first step): it starts as the
    // step's gradient, undamped, as torch.optim.SGD initialises its momentum buffer.
    bool first = false;
};

// One Adam update's constants, rounded once to T by the core from their double values:
// step_size = lr / (1 - beta1^t), root_bc2 = sqrt(1 - beta2^t), one_b1 = 1 - beta1, ...
// AdamW (decoupled weight decay): decay_scale = 1 - lr * weight_decay multiplies the
// parameter first and weight_decay (the L2 term) is 0; decoupled says so.
template <class T>
struct AdamHyper {
    T step_size = T(0), beta1 = T(0), beta2 = T(0), one_b1 = T(1), one_b2 = T(1);
    T root_bc2 = T(1), eps = T(0), weight_decay = T(0);
    T decay_scale = T(1);
    bool decoupled = false;
};

// One RMSprop update's constants (torch.optim.RMSprop), rounded once to T by the core:
// one_alpha = 1 - alpha.
template <class T>
struct RmspropHyper {
    T lr = T(0), alpha = T(0), one_alpha = T(1), eps = T(0), weight_decay = T(0);
    T momentum = T(0);
    bool centered = false;
};

template <class T>
struct KernelSet {
    // Register tile (mr rows x nr columns of C) and default cache blocks; mc is a
    // multiple of mr and nc a multiple of nr. The core may shrink mc/kc/nc to the caches
    // it detects, keeping those multiples.
    int mr = 0, nr = 0, mc = 0, kc = 0, nc = 0;
    // The k-block depth for a B that is never read in place (core/gemm.cpp); 0: kc.
    int kc_packed = 0;
    // The tile reads B in vectors of nr_part columns (a panel of n columns: its first
    // ceil(n / nr_part) vectors), so a row-major B may also be read in place over n < nr
    // columns when n is a multiple of nr_part; 0: whole panels only (n = nr).
    int nr_part = 0;

    // One tile: C[0:m, 0:n] (row stride ldc, unit column stride) <- op(acc) where
    // acc = A_panel * B_panel, with 1 <= m <= mr, 1 <= n <= nr, kc >= 1.
    // a_panel: kc groups of mr values, a_panel[p*mr + i] = A(i, p); rows >= m are zero;
    // aligned to 64 bytes. b_panel: kc rows of nr values ldb apart, b_panel[p*ldb + j] =
    // B(p, j): a packed panel (ldb = nr, aligned to 64 bytes, columns >= n zero), or nr
    // columns of a row-major B read in place (ldb = its row stride, n = nr or a multiple of
    // nr_part, any alignment).
    // Only C[0:m, 0:n] is read or written (and ep.z[0:m, 0:n] written, when given).
    void (*gemm_tile)(index_t m, index_t n, index_t kc, const T* a_panel, const T* b_panel,
                      index_t ldb, T* c, index_t ldc, const TileEpilogue<T>& ep) noexcept = nullptr;

    // gemm_tile over a column strip: every row panel of A against the same b_panel, in
    // one call instead of one call per tile (a small network's layer: 8 tiles of 4 rows for
    // a 32-row batch). With a_rs == 0, A is packed by pack_a into row panels kc * mr values
    // apart (a + i0 * kc for rows i0 .. i0 + mr); otherwise A is read in place, A(i, p) =
    // a[i * a_rs + p * a_cs], row-major (a_cs == 1) or column-major (a_rs == 1). For i0 =
    // 0, mr, 2 mr, ... < m, the tile of rows i0 .. min(m, i0 + mr) is gemm_tile's (same
    // operations per element, so the same bits whether A is packed or not) with C at c +
    // i0 * ldc and ep.z advanced by i0 rows (ep.z + i0 * ep.ldz); A's rows >= m are not
    // read. m >= 1.
    void (*gemm_tiles)(index_t m, index_t n, index_t kc, const T* a, index_t a_rs,
                       index_t a_cs, const T* b_panel, index_t ldb, T* c, index_t ldc,
                       const TileEpilogue<T>& ep) noexcept = nullptr;

    // Packing the panels gemm_tile reads, from operands with any strides (a transposed
    // operand is a view with swapped strides): A(i, p) = a[i*rs + p*cs] for i < m <= mr,
    // p < kc -> a_panel; B(p, j) = b[p*rs + j*cs] for p < kc, j < n <= nr -> b_panel;
    // padding rows / columns are zero. dst is aligned to 64 bytes. See pack_impl.h.
    void (*pack_a)(const T* a, index_t rs, index_t cs, index_t m, index_t kc,
                   T* dst) noexcept = nullptr;
    void (*pack_b)(const T* b, index_t rs, index_t cs, index_t kc, index_t n,
                   T* dst) noexcept = nullptr;

    // A narrow product with a column-major A read in place (a weight gradient x^T @ g of a
    // layer with a few outputs): C[0:m, 0:n] <- op(acc), acc(i, j) = sum over p < kc of
    // A(i, p) B(p, j), A(i, p) = a[p*lda + i], B(p, j) = b[p*brs + j*bcs], with gemm_tile's
    // operations per element (its sum in p order from zero, then ep on the last k-block;
    // ep.accumulate false), over many rows at once instead of one lane of a tile. ep.bias
    // and ep.z as for a tile at column 0.
    void (*gemm_cols)(index_t m, index_t n, index_t kc, const T* a, index_t lda, const T* b,
                      index_t brs, index_t bcs, T* c, index_t ldc,
                      const TileEpilogue<T>& ep) noexcept = nullptr;

    // y[i] = act(x[i]) for i < n. x and y may be the same buffer. NaN propagates.
    // stream: a hint that the output is larger than the caches and not read again soon;
    // stores may then bypass the caches (non-temporal). The values are the same.
    void (*activation)(Act act, const T* x, T* y, index_t n, T slope,
                       bool stream) noexcept = nullptr;

    // gx[i] = gy[i] * act'(v[i]). For the activations whose derivative is written in
    // terms of their output, v is the output y: identity 1; relu y > 0; leaky_relu
    // y > 0 ? 1 : slope; sigmoid y (1 - y); tanh 1 - y^2. For those of act_from_input, v is
    // the pre-activation x: gelu Phi(x) + x phi(x); gelu_tanh s + x s (1 - s) v'(x) with
    // s = sigmoid(v(x)); silu s + x s (1 - s) with s = sigmoid(x); softplus sigmoid(x)
    // (1 above 20); see act_math.h. Any of v, gy, gx may be the same buffer.
    // stream: as for activation.
    void (*activation_backward)(Act act, const T* v, const T* gy, T* gx, index_t n, T slope,
                                bool stream) noexcept = nullptr;

    // Inverted dropout with counter-based masks (the generator of csrc/core/dropout.h): for
    // i < n, with k = splitmix64(seed + (first + i + 1) * 0x9E3779B97F4A7C15) >> 11 (all
    // arithmetic mod 2^64), mask[i] = k >= keep_from ? scale : 0 and y[i] = x[i] * mask[i].
    // keep_from = ceil(p * 2^53) <= 2^53 (2^53 keeps nothing). y may be x; mask may not.
    void (*dropout)(const T* x, T* y, T* mask, index_t n, std::uint64_t seed,
                    std::uint64_t first, std::uint64_t keep_from, T scale) noexcept = nullptr;
    // Its backward: gx[i] = gy[i] * mask[i] for i < n (gx may be gy).
    void (*dropout_backward)(const T* mask, const T* gy, T* gx, index_t n) noexcept = nullptr;

    // For the activations of act_from_input, the forward and the derivative in one pass:
    // y[i] = act(x[i]) and d[i] = act'(x[i]), bit for bit what activation gives and the
    // factor activation_backward multiplies gy by (so gy[i] * d[i] is its gx[i]); the
    // activation's maths shared between the two (gelu: the normal tail once). d may be x;
    // y may not alias x or d.
    void (*activation_pair)(Act act, const T* x, T* y, T* d, index_t n, T slope) noexcept =
        nullptr;

    // The backward of a layer whose derivative its forward kept (activation_pair's d):
    // for rows x n values (row stride n), d[r, j] = gy[r, j] * d[r, j]; with bias (else
    // nullptr) bias[j] = the new d[0, j] + d[1, j] + ..., rows in order from +0 (what
    // zeroing bias and add_inplace of each row give).
    void (*pair_backward)(const T* gy, T* d, index_t rows, index_t n, T* bias) noexcept =
        nullptr;

    // activation_backward over rows x n values (row stride n) with the bias gradient
    // summed as it goes: gx[r, j] = activation_backward's gx for v[r, j], gy[r, j]; with
    // bias (else nullptr) bias[j] = gx[0, j] + gx[1, j] + ..., rows in order from +0 (what
    // zeroing bias and add_inplace of each row give: a Dense layer's grad_z and bias
    // gradient in one pass). Any of v, gy, gx may be the same buffer; bias overlaps none.
    void (*activation_backward_sums)(Act act, const T* v, const T* gy, T* gx, index_t rows,
                                     index_t n, T slope, T* bias) noexcept = nullptr;

    // activation_backward_sums of the input gradient of a one-output layer: with
    // gy[r, j] = the one-deep product g[r] w[j] as gemm_tile computes it (its sum from zero
    // of one product, no bias, no activation), gx[r, j] = activation_backward's gx for
    // v[r, j], gy[r, j] (rows x n, row stride n), and with bias (else nullptr) its column
    // sums as activation_backward_sums adds them. gx overlaps none of v, g, w, bias.
    void (*outer_backward_sums)(Act act, const T* v, const T* g, const T* w, T* gx,
                                index_t rows, index_t n, T slope, T* bias) noexcept = nullptr;

    // acc[i] += x[i] for i < n.
    void (*add_inplace)(T* acc, const T* x, index_t n) noexcept = nullptr;

    // max of x[0:n], n >= 1; NaN if any element is NaN.
    T (*max)(const T* x, index_t n) noexcept = nullptr;

    // y[i] = exp(x[i] - shift) for i < n (y may be x or nullptr: then nothing is
    // stored); returns the sum of those values, added in a fixed order.
    T (*exp_shift_sum)(const T* x, T shift, T* y, index_t n) noexcept = nullptr;

    // y[i] = x[i] * s + c for i < n. x and y may be the same buffer.
    void (*scale_add)(const T* x, T s, T c, T* y, index_t n) noexcept = nullptr;

    // sum of x[i] * y[i] for i < n, in a fixed order.
    T (*dot)(const T* x, const T* y, index_t n) noexcept = nullptr;

    // Squared error: d = p[i] - t[i]. If l: l[i] = d*d. If g: g[i] = gscale * 2 * d.
    // Returns the sum of d*d in a fixed order. l and g may alias p or t.
    T (*mse)(const T* p, const T* t, T* l, T* g, index_t n, T gscale) noexcept = nullptr;

    // Binary cross-entropy on logits z with targets t, stable for any |z|:
    // loss = max(z, 0) - z*t + log1p(exp(-|z|)). If l: l[i] = loss. If g:
    // g[i] = gscale * (sigmoid(z) - t). Returns the sum of the losses in a fixed order.
    T (*bce_logits)(const T* z, const T* t, T* l, T* g, index_t n, T gscale) noexcept = nullptr;

    // Cross-entropy with class labels over `rows` rows of `classes` logits (row stride
    // `classes`, labels already checked to be in range): loss[r] = ce_row(...) of
    // ce_row.h for every row, with gscale = (w ? w[r] : 1) / denom, and the gradient
    // rows stored in g when it is not nullptr. SIMD sets take whole vectors of rows at a
    // time (one row per lane) when classes <= kCeLaneClasses.
    void (*ce_labels)(const T* x, const std::int64_t* labels, const T* w, T denom, T* loss,
                      T* g, index_t rows, index_t classes) noexcept = nullptr;

    // Cross-entropy with probability targets t (same layout as x) over `rows` rows:
    // loss[r] = ce_probs_row(...) of ce_row.h (before the sample weight), with
    // gscale = (w ? w[r] : 1) / denom, and the gradient rows stored in g when it is not
    // nullptr. SIMD sets take the max and the exponentials a vector at a time.
    void (*ce_probs)(const T* x, const T* t, const T* w, T denom, T* loss, T* g,
                     index_t rows, index_t classes) noexcept = nullptr;

    // Gradient through softmax (or log_softmax when log) along one contiguous row of n
    // values, from its output y: softmax gx[i] = y[i] * (gy[i] - d) with d = dot(gy, y)
    // (this set's dot); log_softmax gx[i] = gy[i] - exp(y[i]) * s with s = sum of gy
    // added in index order. gx may be gy.
    void (*softmax_backward)(const T* y, const T* gy, T* gx, index_t n, bool log) noexcept =
        nullptr;

    // SGD in place, for i < n: g = grad[i] + weight_decay * param[i]; with momentum > 0,
    // v = first ? g : momentum * velocity[i] + keep * g, velocity[i] = v and the step is
    // nesterov ? g + momentum * v : v; with momentum == 0 the step is g (velocity is not
    // touched and may be nullptr). param[i] -= lr * step. Every product and sum rounds
    // once, in this order (no fused multiply-add).
    void (*sgd)(T* param, const T* grad, T* velocity, index_t n,
                const SgdHyper<T>& h) noexcept = nullptr;

    // Adam in place, for i < n: g = grad[i] + weight_decay * param[i]; when decoupled
    // (AdamW) first param[i] *= decay_scale; m[i] = beta1 * m[i] + one_b1 * g;
    // v[i] = beta2 * v[i] + (one_b2 * g) * g; with vmax (amsgrad, else nullptr)
    // vmax[i] = max(vmax[i], v[i]) and u = vmax[i], else u = v[i];
    // param[i] -= (step_size * m[i]) / (sqrt(u) / root_bc2 + eps), each operation
    // rounded once in this order.
    void (*adam)(T* param, const T* grad, T* m, T* v, T* vmax, index_t n,
                 const AdamHyper<T>& h) noexcept = nullptr;

    // RMSprop in place (torch.optim.RMSprop), for i < n: g = grad[i] + weight_decay *
    // param[i]; sq[i] = alpha * sq[i] + (one_alpha * g) * g; when centered
    // ga[i] = alpha * ga[i] + one_alpha * g and a = sqrt(sq[i] - ga[i] * ga[i]) + eps,
    // else a = sqrt(sq[i]) + eps; with momentum > 0 buf[i] = momentum * buf[i] + g / a
    // and param[i] -= lr * buf[i], else param[i] -= lr * (g / a). buf (momentum == 0) and
    // ga (not centered) may be nullptr. Each operation rounded once in this order.
    void (*rmsprop)(T* param, const T* grad, T* sq, T* buf, T* ga, index_t n,
                    const RmspropHyper<T>& h) noexcept = nullptr;

    // Runs `iters` rounds of independent FMAs in this set's widest registers (values
    // kept in registers, the result discarded) and returns the floating-point
    // operations done (2 per lane per FMA): the core's peak rate, for benchmarks.
    double (*fma_peak)(std::int64_t iters) noexcept = nullptr;

    // ---- Normalisation (core/norms.cpp; generic/norms.h, simd/norms.h). Every sum is
    // added in a fixed order (a column's over rows in index order), whoever calls.
    // LayerNorm of one row of n >= 1 values: mean = sum(x) / n, var = sum((x - mean)^2) / n
    // (biased), rstd = 1 / sqrt(var + eps); y[j] = (x[j] - mean) * rstd, times w[j] when
    // w, plus b[j] when b (w, b may be nullptr). Stores mean and rstd. y may be x.
    void (*layer_norm_row)(const T* x, const T* w, const T* b, T eps, T* y, T* mean,
                           T* rstd, index_t n) noexcept = nullptr;
    // Gradient through one LayerNorm row, with xh[j] = (x[j] - mean) * rstd and
    // g[j] = gy[j] * w[j] (gy[j] when w is nullptr): gx[j] = rstd * ((g[j] - sum(g) / n)
    // - xh[j] * (sum(g * xh) / n)). gx may be gy.
    void (*layer_norm_row_backward)(const T* x, T mean, T rstd, const T* w, const T* gy,
                                    T* gx, index_t n) noexcept = nullptr;
    // Over `rows` rows (row stride ld) of n columns: gw[j] = sum_i gy(i, j) * ((x(i, j) -
    // mean[i]) * rstd[i]) and gb[j] = sum_i gy(i, j), rows added in index order.
    void (*layer_norm_param_grads)(const T* x, const T* gy, index_t ld, index_t rows,
                                   index_t n, const T* mean, const T* rstd, T* gw,
                                   T* gb) noexcept = nullptr;
    // BatchNorm statistics of n columns over rows >= 1 rows (row stride ld), rows added in
    // index order: mean[j] = (sum_i x(i, j)) / rows; m2[j] = sum_i (x(i, j) - mean[j])^2.
    void (*batch_norm_stats)(const T* x, index_t ld, index_t rows, index_t n, T* mean,
                             T* m2) noexcept = nullptr;
    // y(i, j) = (x(i, j) - m[j]) * s[j] + c[j] (row stride ld for x and y). y may be x.
    void (*batch_norm_apply)(const T* x, T* y, index_t ld, index_t rows, index_t n,
                             const T* m, const T* s, const T* c) noexcept = nullptr;
    // sg[j] = sum_i gy(i, j) and sgd[j] = sum_i gy(i, j) * (x(i, j) - m[j]), rows in
    // index order.
    void (*batch_norm_grad_sums)(const T* x, const T* gy, index_t ld, index_t rows,
                                 index_t n, const T* m, T* sg, T* sgd) noexcept = nullptr;
    // gx(i, j) = k[j] * ((gy(i, j) - a[j]) - (x(i, j) - m[j]) * b[j]). gx may be gy.
    void (*batch_norm_backward_apply)(const T* x, const T* gy, T* gx, index_t ld,
                                      index_t rows, index_t n, const T* m, const T* k,
                                      const T* a, const T* b) noexcept = nullptr;

    // ---- Gradient health (core/health.cpp; generic/health.h, simd/health.h). Sums of
    // squares over one block of n values (the core passes blocks of kHealthBlock): value i
    // goes to lane i % kHealthLanes; a lane adds the squares of its values in T, each with
    // one rounding (a fused multiply-add, t = fma(x, x, t); the difference d rounded in T
    // first) over runs of kHealthRun values (its share of kHealthLanes * kHealthRun
    // consecutive ones), and
    // adds each run's sum, converted to double, to its double sum; the lanes' sums are
    // then added as a tree: lane l + lane l + 8, then l + l + 4, l + l + 2, l + l + 1.
    // Every set gives the same bits. A step's four sums come from two calls, one before
    // and one after the optimiser's update of the block (or both after it, from a copy).
    // Before the step, w the weights: out[0] = sum g^2; with prev_sum, out[3] = sum w^2
    // (else out[3] is not written); with keep (else nullptr), keep[i] = w[i].
    void (*health_before)(const T* w, const T* g, T* keep, index_t n, bool prev_sum,
                          double* out) noexcept = nullptr;
    // After it, w the new weights and p the old: out[1] = sum w^2, out[2] = sum d^2 with
    // d = w - p; with set_p, then p[i] = w[i].
    void (*health_after)(const T* w, T* p, index_t n, bool set_p, double* out) noexcept =
        nullptr;
    // health_before, sgd and health_after of one block (n <= kHealthBlock) in one call,
    // the same bits: out[0] = sum g^2, out[1] = sum w^2 of the new weights, out[2] = sum
    // d^2 (d = new - old), with prev_sum out[3] = sum w^2 of the old ones (else not
    // written); param and velocity stepped as sgd steps them.
    void (*sgd_health)(T* param, const T* grad, T* velocity, index_t n,
                       const SgdHyper<T>& h, bool prev_sum, double* out) noexcept = nullptr;
    // Number of i < n with x[i] < lo or x[i] > hi, for lo <= hi (a NaN is neither).
    std::int64_t (*count_outside)(const T* x, index_t n, T lo, T hi) noexcept = nullptr;
    // Number of the `cols` columns of y (rows >= 1 rows, row stride cols) whose every
    // value is <= 0 (a NaN keeps its column alive).
    std::int64_t (*dead_columns)(const T* y, index_t rows, index_t cols) noexcept = nullptr;
    // Whether any of the n values at x is NaN or infinite (x need not be aligned to T:
    // core/finite.cpp, the input check of fit and predict). Every set gives the same answer.
    bool (*any_nonfinite)(const T* x, index_t n) noexcept = nullptr;
};

// Gradient health: the lanes and runs of the health sums, and the block the core hands them.
// A run of 16 float squares summed in float is within 2^-20 of its exact sum (the run
// sums, the lanes and the blocks then add in double), and it leaves the float->double
// conversions, the slowest part, to one in 16 squares.
constexpr int kHealthLanes = 16;
constexpr int kHealthRun = 16;
constexpr index_t kHealthBlock = 4096;

// Largest class count that SIMD ce_labels kernels handle one row per lane.
constexpr index_t kCeLaneClasses = 32;

// One instruction set's kernels for both dtypes.
struct KernelTable {
    const char* name = "";  // "generic", "avx2", "avx512"
    KernelSet<float> f32;
    KernelSet<double> f64;
};

namespace generic { const KernelTable& table() noexcept; }
namespace avx2 { const KernelTable& table() noexcept; }
namespace avx512 { const KernelTable& table() noexcept; }

}  // namespace nncore::kernels
