// The native training loop. It reads like python/nncore/training/step.py's train_step,
// with the same names; every arithmetic step is a core call the Python engine also makes.
#include "core/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/clip.h"
#include "core/dense.h"
#include "core/dispatch.h"
#include "core/dropout.h"
#include "core/elementwise.h"
#include "core/health.h"
#include "core/norms.h"
#include "core/softmax.h"
#include "core/workspace.h"
#include "core/enums.h"
#include "core/gemm_direct.h"
#include "core/losses.h"
#include "core/metrics.h"

namespace nncore {
namespace {

using Clock = std::chrono::steady_clock;

// rows x width, softmax along each row (core/softmax.h's axis view)
AxisShape rows_of(index_t rows, index_t width) {
    AxisShape s;
    s.outer = rows;
    s.len = width;
    s.inner = 1;
    return s;
}

// run() reads the clock about this often (seconds), whatever a step takes
constexpr double kClockGap = 10e-6;

// Four adjacent elements of a tiny layer's product or column sums side by side: GCC's
// and Clang's vector extension (SSE at baseline flags: each lane makes exactly the
// scalar loop's operations, a multiply then an add, so the same bits); other compilers
// take the scalar loops. NNCORE_TINY_INLINE: the products are inlined where they are
// called, where most strides are constants (200 instructions of a 2-4-1 step's 2400).
#if defined(__GNUC__)
#define NNCORE_TRAIN_VEC4 1
typedef float f32x4 __attribute__((vector_size(16)));
typedef double f64x4 __attribute__((vector_size(32)));
#define NNCORE_TINY_INLINE inline __attribute__((always_inline))
template <class T> struct Vec4;
template <> struct Vec4<float> { using type = f32x4; };
template <> struct Vec4<double> { using type = f64x4; };
template <class T> using vec4 = typename Vec4<T>::type;
template <class T>
inline vec4<T> load4(const T* p) noexcept {
    vec4<T> v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <class T>
inline void store4(T* p, const vec4<T>& v) noexcept { std::memcpy(p, &v, sizeof v); }
template <class T>
inline vec4<T> splat4(T x) noexcept { return vec4<T>{x, x, x, x}; }
#else
#define NNCORE_TINY_INLINE inline
#endif

// A Dense layer whose products gemm() computes directly (direct_product(rows, out, in):
// the same m * n * k for the forward product and both backward ones) runs here without
// the dispatch of dense_forward / dense_backward / gemm: the same direct_mul and the same
// kernel-set activation calls over the batch, so the same bits, with nothing allocated
// or looked up and no pass split by threads.
// direct_mul (core/gemm_direct.h) for one output column (N == 1: a layer of one output):
// c(i) = 0 + a(i, 0) * b(0) + a(i, 1) * b(1) + ... in p order, then + bias when given,
// the contract's order of operations for every element, with four rows of c summed side
// by side (four independent sums in one vector instead of one chain).
template <class T>
NNCORE_TINY_INLINE void direct_column(const T* __restrict a, index_t ars, index_t acs, const T* __restrict b,
                   index_t brs, T* __restrict c, index_t ldc, index_t M, index_t K,
                   const T* __restrict bias) noexcept {
    index_t i = 0;
#ifdef NNCORE_TRAIN_VEC4
    for (; i + 4 <= M; i += 4) {  // four rows of c in one vector
        const T* ai = a + i * ars;
        vec4<T> acc = splat4(T(0));
        if (ars == 1) {  // adjacent rows (a transposed)
            for (index_t p = 0; p < K; ++p) acc += load4(ai + p * acs) * splat4(b[p * brs]);
        } else {
            for (index_t p = 0; p < K; ++p) {
                const T* ap = ai + p * acs;
                acc += vec4<T>{ap[0], ap[ars], ap[2 * ars], ap[3 * ars]} * splat4(b[p * brs]);
            }
        }
        if (bias) acc += splat4(bias[0]);
        if (ldc == 1) {
            store4(c + i, acc);
        } else {
            for (int u = 0; u < 4; ++u) c[(i + u) * ldc] = acc[u];
        }
    }
#else
    for (; i + 4 <= M; i += 4) {
        const T* ai = a + i * ars;
        T c0 = T(0), c1 = T(0), c2 = T(0), c3 = T(0);
        for (index_t p = 0; p < K; ++p) {
            const T bp = b[p * brs];
            const T* ap = ai + p * acs;
            c0 += ap[0] * bp;
            c1 += ap[ars] * bp;
            c2 += ap[2 * ars] * bp;
            c3 += ap[3 * ars] * bp;
        }
        if (bias) {
            c0 += bias[0];
            c1 += bias[0];
            c2 += bias[0];
            c3 += bias[0];
        }
        c[i * ldc] = c0;
        c[(i + 1) * ldc] = c1;
        c[(i + 2) * ldc] = c2;
        c[(i + 3) * ldc] = c3;
    }
#endif
    for (; i < M; ++i) {
        T acc = T(0);
        for (index_t p = 0; p < K; ++p) acc += a[i * ars + p * acs] * b[p * brs];
        c[i * ldc] = bias ? acc + bias[0] : acc;
    }
}

// direct_mul for NC (2 to 4) adjacent columns of b (bcs == 1): each row's NC sums side
// by side in registers, every c(i, j) in the contract's order (0 + a(i, 0) b(0, j) + ...
// in p order, then + bias[j]); no loop over the columns to run.
template <int NC, class T>
NNCORE_TINY_INLINE void direct_narrow(const T* __restrict a, index_t ars, index_t acs, const T* __restrict b,
                   index_t brs, T* __restrict c, index_t ldc, index_t M, index_t K,
                   const T* __restrict bias) noexcept {
    for (index_t i = 0; i < M; ++i) {
        const T* ai = a + i * ars;
        T acc[NC];
        for (int u = 0; u < NC; ++u) acc[u] = T(0);
        for (index_t p = 0; p < K; ++p) {
            const T ap = ai[p * acs];
            const T* bp = b + p * brs;
            for (int u = 0; u < NC; ++u) acc[u] += ap * bp[u];
        }
        if (bias) {
            for (int u = 0; u < NC; ++u) acc[u] += bias[u];
        }
        T* row = c + i * ldc;
        for (int u = 0; u < NC; ++u) row[u] = acc[u];
    }
}

// direct_mul for 4 to 15 adjacent columns of b (bcs == 1): each row of c four columns at
// a time, every c(i, j) in the contract's order (0 + a(i, 0) b(0, j) + ... in p order,
// then + bias[j]); the last one to three columns one by one.
template <class T>
NNCORE_TINY_INLINE void direct_rowwise(const T* __restrict a, index_t ars, index_t acs, const T* __restrict b,
                    index_t brs, T* __restrict c, index_t ldc, index_t M, index_t N, index_t K,
                    const T* __restrict bias) noexcept {
    for (index_t i = 0; i < M; ++i) {
        const T* ai = a + i * ars;
        T* ci = c + i * ldc;
        index_t j = 0;
#ifdef NNCORE_TRAIN_VEC4
        for (; j + 4 <= N; j += 4) {
            vec4<T> acc = splat4(T(0));
            for (index_t p = 0; p < K; ++p) acc += splat4(ai[p * acs]) * load4(b + p * brs + j);
            if (bias) acc += load4(bias + j);
            store4(ci + j, acc);
        }
#endif
        for (; j < N; ++j) {
            T acc = T(0);
            for (index_t p = 0; p < K; ++p) acc += ai[p * acs] * b[p * brs + j];
            ci[j] = bias ? acc + bias[j] : acc;
        }
    }
}

// direct_mul(a, ars, acs, b, brs, 1, c, ldc, M, N, K, bias) (b's columns adjacent), with
// up to 15 columns summed here.
template <class T>
NNCORE_TINY_INLINE void direct_product_of(const T* a, index_t ars, index_t acs, const T* b, index_t brs, T* c,
                       index_t ldc, index_t M, index_t N, index_t K, const T* bias) noexcept {
    switch (N) {
        case 1: return direct_column(a, ars, acs, b, brs, c, ldc, M, K, bias);
        case 2: return direct_narrow<2>(a, ars, acs, b, brs, c, ldc, M, K, bias);
        case 3: return direct_narrow<3>(a, ars, acs, b, brs, c, ldc, M, K, bias);
        default:
            if (N < 16) return direct_rowwise(a, ars, acs, b, brs, c, ldc, M, N, K, bias);
            direct_mul(a, ars, acs, b, brs, index_t(1), c, ldc, M, N, K, bias);
    }
}

template <class T>
NNCORE_TINY_INLINE void direct_dense_forward(const kernels::KernelSet<T>& k, const T* x, const TrainLayer<T>& L,
                          index_t rows, T* y, T* z) {
    // y = act(x @ w + b); z = x @ w + b when given (gemm_direct's order of work)
    direct_product_of(x, L.in, index_t(1), L.w, L.out, y, L.out, rows, L.out, L.in, L.b);
    const index_t n = rows * L.out;
    if (z) std::copy(y, y + n, z);
    if (L.act != kernels::Act::identity) k.activation(L.act, y, y, n, L.slope, false);
}

// sums[j] = 0 + g(0, j) + g(1, j) + ... in row order, for j < cols: row by row, the
// columns side by side (each sum in its own order, whatever the vector width)
template <class T>
NNCORE_TINY_INLINE void column_sums(const T* __restrict g, index_t rows, index_t cols, T* __restrict sums) noexcept {
    index_t j = 0;
#ifdef NNCORE_TRAIN_VEC4
    for (; j + 4 <= cols; j += 4) {
        vec4<T> acc = splat4(T(0));
        for (index_t r = 0; r < rows; ++r) acc += load4(g + r * cols + j);
        store4(sums + j, acc);
    }
#endif
    for (; j < cols; ++j) {
        T sum = T(0);
        for (index_t r = 0; r < rows; ++r) sum += g[r * cols + j];
        sums[j] = sum;
    }
}

template <class T>
NNCORE_TINY_INLINE void direct_dense_backward(const kernels::KernelSet<T>& k, const T* x, const TrainLayer<T>& L,
                           index_t rows, const T* v, const T* gy, T* gz_buf, T* gx) {
    // dense_backward's arithmetic: grad_z = grad_y * act'(v) (elementwise: one call over
    // the batch); grad_x = grad_z @ w^T first (the previous layer's backward waits for it,
    // the parameters' gradients only for the update: XOR 2-4-1 fit(2000) 415 -> 409 us,
    // loaded machine);
    // grad_b = column sums of grad_z in row order from zero; grad_w = x^T @ grad_z. Each
    // product and sum is the same in any order, so the same bits.
    const index_t in = L.in, out = L.out;
    const T* gz = gy;
    if (L.act != kernels::Act::identity) {
        k.activation_backward(L.act, v, gy, gz_buf, rows * out, L.slope, false);
        gz = gz_buf;
    }
    if (gx) {
        // w^T's columns (rows of w) are adjacent when the layer has one output
        if (out == 1) direct_product_of(gz, out, index_t(1), static_cast<const T*>(L.w),
                                        index_t(1), gx, in, rows, in, out,
                                        static_cast<const T*>(nullptr));
        else direct_mul(gz, out, index_t(1), static_cast<const T*>(L.w), index_t(1), out, gx,
                        in, rows, in, out, static_cast<const T*>(nullptr));
    }
    if (L.grad_b) column_sums(gz, rows, out, L.grad_b);
    direct_product_of(x, index_t(1), in, gz, out, L.grad_w, out, in, out, rows,
                      static_cast<const T*>(nullptr));
}

// sgd_step_all (core/optim_all.h) without its per-parameter set-up: sgd_step's
// hyper-parameters (the same roundings), then the kernel set's sgd entry once per
// parameter of at most one chunk of for_chunks (the same call sgd_step makes), or
// sgd_step itself for longer ones.
constexpr index_t kOneChunk = 16384;  // core/elementwise.h's for_chunks: one chunk at most
// Bias gradients of Dense layers without an activation summed by backward() itself up to
// this many elements of grad (a pass that size is one core's job in any case)
constexpr index_t kSmallBiasSums = index_t(1) << 16;
// and activations' backward (with the bias sums) made by backward() itself on layers up
// to this wide (dense_backward's column chunk: it makes such a layer's pass in one chunk)
constexpr index_t kSmallActColumns = 256;
constexpr std::size_t kNoSlot = std::size_t(-1);

template <class T>
void sgd_update(const ParamSlot<T>* slots, std::size_t count, const SgdOptions& o,
                int nthreads) {
    SgdOptions o0 = o;  // parameters without weight decay
    o0.weight_decay = 0;
    const kernels::SgdHyper<T> h = sgd_hyper<T>(o), h0 = sgd_hyper<T>(o0);
    const auto& k = kernel_set<T>();
    for (std::size_t i = 0; i < count; ++i) {
        const ParamSlot<T>& s = slots[i];
        if (s.n <= kOneChunk) k.sgd(s.param, s.grad, s.state1, s.n, s.decay ? h : h0);
        else sgd_step(s.param, s.grad, s.state1, s.n, s.decay ? o : o0, nthreads);
    }
}

// dst's row r = src's row idx[r] - off, for r < rows (rows of n values: a batch's
// features or targets). Rows of up to four values are moved inline, by a loop made for
// their width, where a call to memmove per row costs more than the copy.
template <int W, class T>
NNCORE_TINY_INLINE void take_rows_of(const T* __restrict src, const std::int64_t* idx, index_t rows,
                  std::int64_t off, T* __restrict dst) noexcept {
    for (index_t r = 0; r < rows; ++r) {
        const T* row = src + (idx[r] - off) * W;
        for (int j = 0; j < W; ++j) dst[r * W + j] = row[j];
    }
}

template <class T>
NNCORE_TINY_INLINE void take_rows(const T* src, index_t n, const std::int64_t* idx, index_t rows,
               std::int64_t off, T* dst) noexcept {
    switch (n) {
        case 1: return take_rows_of<1>(src, idx, rows, off, dst);
        case 2: return take_rows_of<2>(src, idx, rows, off, dst);
        case 3: return take_rows_of<3>(src, idx, rows, off, dst);
        case 4: return take_rows_of<4>(src, idx, rows, off, dst);
        default:
            for (index_t r = 0; r < rows; ++r) {
                const T* row = src + (idx[r] - off) * n;
                std::copy(row, row + n, dst + r * n);
            }
    }
}

}  // namespace

namespace {

// random_interval: a value in [0, max], from the fewest bits that cover max, drawn again
// while above it (32 bits at a time up to 2^32 - 1, else 64)
std::uint64_t random_interval(const RandomBits& bits, std::uint64_t max) noexcept {
    if (max == 0) return 0;
    std::uint64_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    std::uint64_t value;
    if (max <= 0xffffffffULL) {
        while ((value = (bits.next_uint32(bits.state) & mask)) > max) {}
    } else {
        while ((value = (bits.next_uint64(bits.state) & mask)) > max) {}
    }
    return value;
}

}  // namespace

void draw_permutations(const RandomBits& bits, std::int64_t n, std::int64_t count,
                       std::int64_t* out) noexcept {
    for (std::int64_t e = 0; e < count; ++e) {
        std::int64_t* row = out + e * n;
        for (std::int64_t i = 0; i < n; ++i) row[i] = i;
        for (std::int64_t i = n - 1; i > 0; --i) {
            const auto j = static_cast<std::int64_t>(random_interval(bits, std::uint64_t(i)));
            std::swap(row[i], row[j]);
        }
    }
}

#if defined(__SIZEOF_INT128__)
namespace {

using u128 = unsigned __int128;

constexpr u128 kPcgMul = (u128(0x2360ED051FC65DA4ULL) << 64) | u128(0x4385DF649FCCF645ULL);

// numpy's pcg64_random_r (pcg_setseq_128_xsl_rr_64): the LCG step, then the output of
// the new state (the xor of its halves rotated right by its top 6 bits)
inline std::uint64_t pcg64_output(u128 state) noexcept {
    const std::uint64_t x = std::uint64_t(state >> 64) ^ std::uint64_t(state);
    const unsigned rot = unsigned(state >> 122);
    return (x >> rot) | (x << ((64 - rot) & 63));
}
inline std::uint64_t pcg64_next(u128& state, u128 inc) noexcept {
    state = state * kPcgMul + inc;
    return pcg64_output(state);
}

}  // namespace

bool draw_permutations_pcg64(Pcg64State& g, std::int64_t n, std::int64_t count,
                             std::int64_t* out) noexcept {
    // draw_permutations' draws, in a loop without unpredictable branches: numpy's
    // next_uint32 (the half kept, else a new 64-bit value: low half now, high half kept)
    // made ahead into buf, 512 at a time; random_interval's rejection as a select (a
    // rejected draw swaps position i with itself and keeps i), the mask fixed while i
    // stays within one power of two. The draws made ahead and not used are given back:
    // the state is stepped again from before the last fill by the steps used.
    if (n - 1 > std::int64_t(0xffffffffLL)) return false;
    u128 state = (u128(g.state_hi) << 64) | g.state_lo;
    const u128 inc = (u128(g.inc_hi) << 64) | g.inc_lo;
    constexpr int kSteps = 256;  // 64-bit values per fill (even)
    std::uint32_t buf[2 * kSteps + 1];
    const u128 mul2 = kPcgMul * kPcgMul, inc2 = inc * (kPcgMul + 1);
    int len = 0, k = 0;
    int lead = 0;                  // 1: buf[0] is the half kept before the last fill
    u128 base = state;             // the state before the last fill
    bool filled = false;
    const auto fill = [&]() {
        base = state;
        filled = true;
        len = 0;
        lead = g.has_uint32 ? 1 : 0;
        if (g.has_uint32) buf[len++] = g.uinteger;
        g.has_uint32 = false;
        // kSteps values as two chains of every other step (the LCG's two-step multiplier
        // and increment: the same states), two multiplies in flight: 10,000 rows 33 -> 25 us
        u128 s0 = state * kPcgMul + inc;
        u128 s1 = s0 * kPcgMul + inc;
        for (int q = 0; q < kSteps; q += 2) {
            const std::uint64_t v0 = pcg64_output(s0), v1 = pcg64_output(s1);
            buf[len++] = std::uint32_t(v0);
            buf[len++] = std::uint32_t(v0 >> 32);
            buf[len++] = std::uint32_t(v1);
            buf[len++] = std::uint32_t(v1 >> 32);
            if (q + 2 < kSteps) {
                s0 = s0 * mul2 + inc2;
                s1 = s1 * mul2 + inc2;
            }
        }
        state = s1;
        k = 0;
    };
    for (std::int64_t e = 0; e < count; ++e) {
        std::int64_t* row = out + e * n;
        for (std::int64_t i = 0; i < n; ++i) row[i] = i;
        std::uint64_t i = n > 0 ? std::uint64_t(n - 1) : 0;
        while (i > 0) {
            const std::uint64_t mask = ~std::uint64_t(0) >> __builtin_clzll(i);
            const std::uint64_t lo = (mask >> 1) + 1;  // the smallest i with this mask
            while (i >= lo) {
                if (k == len) fill();
                for (; k < len && i >= lo; ++k) {
                    const std::uint64_t v = buf[k] & mask;
                    const bool ok = v <= i;
                    const std::uint64_t j = ok ? v : i;
                    const std::int64_t t = row[i];
                    row[i] = row[j];
                    row[j] = t;
                    i -= ok;
                }
            }
        }
    }
    if (filled) {  // the state as if only the k (>= 1) draws of the last fill were made
        const int used = k - lead;  // draws from new 64-bit values
        const int steps = (used + 1) / 2;
        state = base;
        for (int t = 0; t < steps; ++t) pcg64_next(state, inc);
        if (steps > 0) g.uinteger = buf[lead + 2 * steps - 1];
        g.has_uint32 = used % 2 == 1;
        g.state_hi = std::uint64_t(state >> 64);
        g.state_lo = std::uint64_t(state);
    }
    return true;
}
#else
bool draw_permutations_pcg64(Pcg64State&, std::int64_t, std::int64_t, std::int64_t*) noexcept {
    return false;
}
#endif

double ScheduleSpec::lr_at(std::int64_t epoch) const {
    // The formulas of StepLR / ExponentialLR / CosineAnnealingLR.lr_at, operation for
    // operation (Python's float ** and math.cos are C's pow and cos).
    switch (kind) {
        case Schedule::step:
            return base_lr * std::pow(gamma, double(epoch / step_size));
        case Schedule::exponential:
            return base_lr * std::pow(gamma, double(epoch));
        case Schedule::cosine: {
            const std::int64_t t = epoch < t_max ? epoch : t_max;
            const double pi = 3.141592653589793;
            return eta_min + (base_lr - eta_min) * (1 + std::cos(pi * double(t) / double(t_max))) / 2;
        }
        case Schedule::none:
            break;
    }
    return base_lr;
}

template <class T>
Trainer<T>::Trainer(TrainSpec<T> spec) : s_(std::move(spec)) {
    const char* fn = "Trainer";
    NNCORE_CHECK(!s_.layers.empty(), fn, ": the model has no layers");
    NNCORE_CHECK((s_.n > 0 || s_.global_n > 0) && s_.batch_size > 0, fn, ": no training rows");
    NNCORE_CHECK(s_.world_size >= 1 && s_.rank >= 0 && s_.rank < s_.world_size, fn,
                 ": rank ", s_.rank, " is not in [0, world_size = ", s_.world_size, ")");
    NNCORE_CHECK(s_.global_n == 0 || (s_.own_lo >= 0 && s_.own_lo + s_.n <= s_.global_n), fn,
                 ": rows [", s_.own_lo, ", ", s_.own_lo + s_.n, ") are not in the global set of ",
                 s_.global_n);
    const index_t total = s_.global_n > 0 ? s_.global_n : s_.n;
    steps_ = (total + s_.batch_size - 1) / s_.batch_size;
    const index_t bs = s_.batch_size < total ? s_.batch_size : total;
    order_.resize(static_cast<std::size_t>(total));
    if (s_.global_n > 0) mine_.resize(static_cast<std::size_t>(bs));
    xb_.resize(static_cast<std::size_t>(bs * s_.features));
    if (s_.labels) lb_.resize(static_cast<std::size_t>(bs));
    else tb_.resize(static_cast<std::size_t>(bs * s_.target_cols));
    if (s_.weights) wb_.resize(static_cast<std::size_t>(bs));
    if (s_.loss == TrainLoss::ce_scaled) {
        NNCORE_CHECK(s_.loss_targets && s_.row_weight && s_.row_denominator &&
                         s_.world_size == 1 && !s_.weights,
                     fn, ": the scaled cross-entropy needs its targets, row weights and "
                     "denominators, one process and no other sample weights");
        ltb_.resize(static_cast<std::size_t>(bs * s_.target_cols_loss));
        scale_.resize(static_cast<std::size_t>(bs));
    }
    index_t width = s_.features;
    for (const auto& L : s_.layers) {
        // grad_in_[i]: the gradient on layer i's input (batch, its input width).
        grad_in_.emplace_back(static_cast<std::size_t>(bs * width));
        masks_.emplace_back(L.kind == TrainLayerKind::dropout ? static_cast<std::size_t>(bs * width)
                                                              : 0);
        NNCORE_CHECK(L.kind != TrainLayerKind::dropout || (L.p >= 0 && L.p < 1), fn,
                     ": dropout p must be in [0, 1); got ", L.p);
        const bool norm = L.kind == TrainLayerKind::layer_norm ||
                          L.kind == TrainLayerKind::batch_norm;
        NNCORE_CHECK(!norm || L.in == width, fn, ": a norm layer of ", L.in,
                     " features gets ", width);
        NNCORE_CHECK(L.kind != TrainLayerKind::batch_norm || (bs >= 2 &&
                     total % s_.batch_size != 1), fn,
                     ": BatchNorm1d needs batches of at least 2 rows");
        NNCORE_CHECK(L.kind != TrainLayerKind::residual_end ||
                         (L.begin >= 0 && L.begin < static_cast<std::int64_t>(widths_.size()) &&
                          s_.layers[static_cast<std::size_t>(L.begin)].kind ==
                              TrainLayerKind::residual_begin &&
                          widths_[static_cast<std::size_t>(L.begin)] == width),
                     fn, ": a residual block's end must follow its begin, at its width");
        const index_t stats = L.kind == TrainLayerKind::layer_norm ? bs
                            : L.kind == TrainLayerKind::batch_norm ? width : 0;
        // the product before a softmax, or the pre-activation z that the backward of a
        // gelu/silu/softplus Dense needs (kernels::act_from_input)
        const bool keeps_z = L.kind == TrainLayerKind::dense &&
                             (L.post_softmax || kernels::act_from_input(L.act));
        z_.emplace_back(keeps_z ? static_cast<std::size_t>(bs * L.out) : 0);
        stat_mean_.emplace_back(static_cast<std::size_t>(stats));
        stat_rstd_.emplace_back(static_cast<std::size_t>(stats));
        if (L.kind == TrainLayerKind::dense) {
            NNCORE_CHECK(L.in == width, fn, ": layer expects ", L.in, " inputs; gets ", width);
            // grad_z of a direct layer: its batches of at most kDirectGemmWork / (in * out) rows
            if (direct_product(1, L.out, L.in)) {
                const auto most = static_cast<index_t>(kDirectGemmWork / double(L.in * L.out));
                const auto need = static_cast<std::size_t>(std::min(bs, most) * L.out);
                if (gz_.size() < need) gz_.resize(need);
            }
            width = L.out;
        }
        widths_.push_back(width);
        outputs_.emplace_back(static_cast<std::size_t>(bs * width));
    }
    plan_row_strides(bs);
    NNCORE_CHECK(s_.loss != TrainLoss::ce_scaled || width == s_.target_cols_loss, fn,
                 ": the scaled cross-entropy's targets have ", s_.target_cols_loss,
                 " columns; the model gives ", width);
    NNCORE_CHECK(s_.loss == TrainLoss::ce_labels || s_.loss == TrainLoss::ce_scaled ||
                     width == s_.target_cols, fn,
                 ": targets have ", s_.target_cols, " columns; the model gives ", width);
    grad_out_.resize(static_cast<std::size_t>(bs * width));
    NNCORE_CHECK(!s_.keep_outputs || s_.world_size == 1, fn,
                 ": outputs are kept for one process only");
    if (s_.keep_outputs) epoch_out_.resize(static_cast<std::size_t>(total * width));
    for (const auto& slot : s_.slots) {
        grad_ptrs_.push_back(const_cast<T*>(slot.grad));  // the trainer's own buffers
        grad_sizes_.push_back(slot.n);
    }
    set_groups(s_.groups);
    if (s_.health) {
        for (const auto& L : s_.layers) {
            prev_.emplace_back();
            if (L.kind != TrainLayerKind::dense || !L.health) continue;
            prev_.back().assign(L.w, L.w + L.in * L.out);
            health_steps_.track(L.w);
            health_.resize(health_.size() + 5);
        }
    }
    for (std::int64_t i = 0; i < total; ++i) order_[i] = i;
    plan_fused_update();
    // tiny_step(): one process, the update fused, nothing kept or summed per step, and
    // only Dense layers whose products are direct for a whole batch (so for fewer rows)
    tiny_ = fuse_ && !s_.keep_outputs && s_.global_n == 0;
    for (const auto& L : s_.layers)
        tiny_ = tiny_ && L.kind == TrainLayerKind::dense && !L.post_softmax &&
                direct_product(bs, L.out, L.in);
    plan_packing();
}

// The pad of plan_row_strides: one cache line. Wide 1024-1024-1024-10 b256, one core
// (avx512, loaded machine, 10 steps, min of 10 fits, ms): 139.5 unpadded, 138.5 with 16
// floats, 139.0 with 32; two threads 76.6 -> 75.8.
template <class T>
constexpr index_t kRowPad = index_t(64 / sizeof(T));
// Only for batches of more than this many bytes per activation: a smaller one may be read
// in place by the products (gemm.cpp: up to a quarter of L2, rows at most 4 KiB apart),
// which a padded row would lose.
constexpr index_t kPadFrom = index_t(512) << 10;

template <class T>
void Trainer<T>::plan_row_strides(index_t bs) {
    // A Dense layer's output read by a Dense layer above it (and the gradient on it, the
    // input gradient of that layer) is the C of a product; rows a multiple of 4 KiB apart
    // (1024 floats) map each column's lines to a few sets of L1 and L2, so those rows are
    // laid kRowPad elements further apart. Only between two plain Dense layers (no
    // softmax, no kept pre-activation, products never direct), without health=True: no
    // other pass reads these buffers (the padding is never read), and nothing of them
    // reaches Python. The products give the same bits on strided rows.
    const std::size_t L = s_.layers.size();
    ld_.assign(widths_.begin(), widths_.end());
    const index_t pad = kRowPad<T>;
    const auto plain = [&](const TrainLayer<T>& d) {
        return d.kind == TrainLayerKind::dense && !d.post_softmax &&
               !kernels::act_from_input(d.act) && !direct_product(1, d.out, d.in);
    };
    if (s_.health) return;
    for (std::size_t i = 0; i + 1 < L; ++i) {
        const index_t w = widths_[i];
        if (!plain(s_.layers[i]) || !plain(s_.layers[i + 1]) ||
            (w * index_t(sizeof(T))) % 4096 != 0 || bs * w * index_t(sizeof(T)) <= kPadFrom)
            continue;
        ld_[i] = w + pad;
        outputs_[i].assign(static_cast<std::size_t>(bs * ld_[i]), T(0));
        grad_in_[i + 1].assign(static_cast<std::size_t>(bs * ld_[i]), T(0));
    }
}

template <class T>
void Trainer<T>::plan_fused_update() {
    // optimizer.step() after backward reads each parameter's final gradient and state
    // only: updating a layer's parameters once its backward is done gives the same bits,
    // unless something reads all the gradients first (clipping, the cross-rank sum) or the
    // weights after the update (health=True's sums).
    fuse_ = s_.clip_norm < 0 && s_.clip_value < 0 && !s_.health && !s_.grad_hook &&
            s_.world_size == 1;
    layer_slots_.assign(s_.layers.size(), {});
    weight_slot_.assign(s_.layers.size(), kNoSlot);
    rest_slots_.clear();
    if (!fuse_) return;
    // a parameter held by one layer and one slot, with the layer's gradient buffer
    const auto holders = [&](const T* p) {
        std::size_t n = 0;
        for (const auto& L : s_.layers) n += std::size_t(L.w == p) + std::size_t(L.b == p);
        return n;
    };
    for (std::size_t i = 0; i < s_.slots.size(); ++i) {
        const ParamSlot<T>& slot = s_.slots[i];
        std::size_t same = 0;
        for (const auto& o : s_.slots) same += std::size_t(o.param == slot.param);
        std::size_t at = s_.layers.size();
        if (same == 1 && holders(slot.param) == 1) {
            for (std::size_t l = 0; l < s_.layers.size(); ++l) {
                const auto& L = s_.layers[l];
                if ((L.w == slot.param && L.grad_w == slot.grad) ||
                    (L.b == slot.param && L.grad_b == slot.grad))
                    at = l;
            }
        }
        if (at < s_.layers.size()) layer_slots_[at].push_back(i);
        else rest_slots_.push_back(i);
        if (at < s_.layers.size()) {
            const auto& L = s_.layers[at];
            if (L.kind == TrainLayerKind::dense && L.w == slot.param &&
                L.grad_w == slot.grad && slot.n == L.in * L.out)
                weight_slot_[at] = i;
        }
    }
}

template <class T>
void Trainer<T>::update_block(void* ctx, index_t r0, index_t r1, index_t c0, index_t c1) {
    // update_slot's kernel call on rows [r0, r1) x columns [c0, c1) of one weight (in
    // one call over whole rows, else row by row): the optimiser kernels' arithmetic is
    // the same for every element wherever a call starts and ends (vector body or tail;
    // tests/native/test_optim_pieces.py), so the pieces give the whole call's bits
    const BlockUpdate& u = *static_cast<const BlockUpdate*>(ctx);
    const Trainer& t = *u.self;
    const ParamSlot<T>& s = t.s_.slots[u.slot];
    const GroupStep& gs = t.group_steps_[t.slot_group_[u.slot]];
    const int d = s.decay ? 1 : 0;
    const auto& k = kernel_set<T>();
    const auto at = [](T* p, index_t o) { return p ? p + o : nullptr; };
    const bool whole = c0 == 0 && c1 == u.ld;
    const index_t calls = whole ? 1 : r1 - r0;
    const index_t n = whole ? (r1 - r0) * u.ld : c1 - c0;
    for (index_t r = 0; r < calls; ++r) {
        const index_t o = (r0 + r) * u.ld + c0;
        switch (t.s_.optimizer) {
            case TrainOptimizer::sgd:
                k.sgd(s.param + o, s.grad + o, at(s.state1, o), n, gs.sgd_h[d]);
                break;
            case TrainOptimizer::adam:
                k.adam(s.param + o, s.grad + o, s.state1 + o, s.state2 + o, at(s.state3, o), n,
                       gs.adam_h[d]);
                break;
            case TrainOptimizer::rmsprop:
                k.rmsprop(s.param + o, s.grad + o, s.state1 + o, at(s.state2, o),
                          at(s.state3, o), n, gs.rmsprop_h[d]);
                break;
        }
    }
}

template <class T>
void Trainer<T>::begin_fused_update() {
    // update()'s options, group by group, for this step (its ++opt_steps_ included);
    // SGD's and RMSprop's stay those of the last step until the rate or set_groups()
    // changes them or the first step ends
    ++opt_steps_;
    const bool first = opt_steps_ == 1;
    if (prepared_ && lr_ == prepared_lr_ && first == prepared_first_ &&
        s_.optimizer != TrainOptimizer::adam)
        return;
    prepared_ = true;
    prepared_lr_ = lr_;
    prepared_first_ = first;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
        const OptimizerGroup& G = groups_[g];
        GroupStep& gs = group_steps_[g];
        const double lr = groups_.size() == 1 ? lr_ : G.lr;
        for (int d = 0; d < 2; ++d) {  // d = 0: a parameter without weight decay
            SgdOptions& so = gs.sgd[d];
            so = G.sgd;
            so.lr = lr;
            so.first = first;
            AdamOptions& ao = gs.adam[d];
            ao = G.adam;
            ao.lr = lr;
            ao.step = opt_steps_;
            RmspropOptions& ro = gs.rmsprop[d];
            ro = G.rmsprop;
            ro.lr = lr;
            if (d == 0) so.weight_decay = ao.weight_decay = ro.weight_decay = 0;
            switch (s_.optimizer) {
                case TrainOptimizer::sgd: gs.sgd_h[d] = sgd_hyper<T>(so); break;
                case TrainOptimizer::adam: gs.adam_h[d] = adam_hyper<T>(ao); break;
                case TrainOptimizer::rmsprop: gs.rmsprop_h[d] = rmsprop_hyper<T>(ro); break;
            }
        }
    }
}

template <class T>
void Trainer<T>::update_slot(std::size_t i, int nthreads) {
    // one parameter of the optimiser's all-parameters driver: the kernel itself for at
    // most one chunk of for_chunks (core/elementwise.h), the per-parameter step beyond
    const ParamSlot<T>& s = s_.slots[i];
    const GroupStep& gs = group_steps_[slot_group_[i]];
    const int d = s.decay ? 1 : 0;
    const auto& k = kernel_set<T>();
    const bool one = s.n <= kOneChunk;
    switch (s_.optimizer) {
        case TrainOptimizer::sgd:
            if (one) k.sgd(s.param, s.grad, s.state1, s.n, gs.sgd_h[d]);
            else sgd_step(s.param, s.grad, s.state1, s.n, gs.sgd[d], nthreads);
            break;
        case TrainOptimizer::adam:
            if (one) k.adam(s.param, s.grad, s.state1, s.state2, s.state3, s.n, gs.adam_h[d]);
            else adam_step(s.param, s.grad, s.state1, s.state2, s.n, gs.adam[d], nthreads,
                           s.state3);
            break;
        case TrainOptimizer::rmsprop:
            if (one) k.rmsprop(s.param, s.grad, s.state1, s.state2, s.state3, s.n,
                               gs.rmsprop_h[d]);
            else rmsprop_step(s.param, s.grad, s.state1, s.state2, s.state3, s.n,
                              gs.rmsprop[d], nthreads);
            break;
    }
}

template <class T>
std::vector<std::int64_t> Trainer<T>::batch_rows() const {
    const index_t s = step_ > 0 ? step_ - 1 : 0;
    const index_t b = s * s_.batch_size;
    const index_t e = b + batch_rows_;
    if (s_.global_n == 0) return std::vector<std::int64_t>(order_.begin() + b, order_.begin() + e);
    std::vector<std::int64_t> rows;  // sharded: the batch's rows this rank holds, local ids
    for (index_t r = b; r < e; ++r) {
        if (order_[r] >= s_.own_lo && order_[r] < s_.own_lo + s_.n) rows.push_back(order_[r] - s_.own_lo);
    }
    return rows;
}

template <class T>
void Trainer<T>::set_groups(std::vector<OptimizerGroup> groups) {
    std::size_t start = 0;
    for (const auto& g : groups) {
        NNCORE_CHECK(g.end > start && g.end <= s_.slots.size(), "Trainer.set_groups: the "
                     "groups must cover the ", s_.slots.size(), " parameters in order");
        for (std::size_t p = start; p < g.end; ++p) {
            const auto& slot = s_.slots[p];
            const bool needs1 = s_.optimizer != TrainOptimizer::sgd || g.sgd.momentum != 0;
            const bool needs2 = s_.optimizer == TrainOptimizer::adam ||
                                (s_.optimizer == TrainOptimizer::rmsprop &&
                                 g.rmsprop.momentum != 0);
            const bool needs3 = s_.optimizer == TrainOptimizer::rmsprop && g.rmsprop.centered;
            NNCORE_CHECK((!needs1 || slot.state1) && (!needs2 || slot.state2) &&
                             (!needs3 || slot.state3),
                         "Trainer.set_groups: the options need optimiser state the trainer "
                         "was made without");
        }
        start = g.end;
    }
    NNCORE_CHECK(start == s_.slots.size(), "Trainer.set_groups: the groups must cover the ",
                 s_.slots.size(), " parameters in order");
    groups_ = std::move(groups);
    slot_group_.assign(s_.slots.size(), 0);
    for (std::size_t g = 0, p = 0; g < groups_.size(); ++g) {
        for (; p < groups_[g].end; ++p) slot_group_[p] = g;
    }
    group_steps_.resize(groups_.size());
    prepared_ = false;
}

template <class T>
std::vector<std::int64_t> Trainer<T>::counters() const {
    std::vector<std::int64_t> counts;
    for (const auto& L : s_.layers) counts.push_back(L.calls);
    return counts;
}

template <class T>
void Trainer<T>::set_counters(const std::vector<std::int64_t>& counts) {
    NNCORE_CHECK(counts.size() == s_.layers.size(), "Trainer: set_counters needs one count "
                 "per layer; got ", counts.size(), " for ", s_.layers.size());
    for (std::size_t i = 0; i < counts.size(); ++i) s_.layers[i].calls = counts[i];
}

template <class T>
void Trainer<T>::start_epoch(const std::int64_t* order) {
    // order = rng.permutation(n) if shuffle else np.arange(n)  (drawn by Python)
    if (order) {  // a few rows inline, where a call to memmove costs more than the copy
        const std::size_t n = order_.size();
        if (n <= 16) {
            for (std::size_t i = 0; i < n; ++i) order_[i] = order[i];
        } else {
            std::copy(order, order + n, order_.begin());
        }
    }
    seen_ = total_loss_ = epoch_seconds_ = 0;
    correct_ = 0;
    std::fill(health_.begin(), health_.end(), 0.0);
}

template <class T>
void Trainer<T>::prefetch_next(index_t next) const {
    // The next batch's rows of x (rows of at least 1 KiB, one process, within this
    // epoch's order), requested into L2 while this step's backward runs, so that the next
    // gather does not wait for memory: a batch's rows lie anywhere in a set far larger
    // than the caches. A hint only (no value changes). MNIST-shaped 784-256-128-10 b64,
    // 1 core, one 60,000-row epoch, min of 3, 3 interleaved processes: 0.427-0.433 s
    // without, 0.409-0.418 s with (3.5-4.5% less); at 2 threads within noise.
    const std::size_t bytes = static_cast<std::size_t>(s_.features) * sizeof(T);
    const index_t total = static_cast<index_t>(order_.size());
    if (bytes < 1024 || s_.world_size != 1 || s_.global_n > 0 || next >= total) return;
    const index_t end = std::min(total, next + s_.batch_size);
    for (index_t r = next; r < end; ++r) {
        const char* row = reinterpret_cast<const char*>(s_.x + order_[r] * s_.features);
#if defined(__GNUC__)
        for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b, 0, 2);
#else
        (void)row;
#endif
    }
}

template <class T>
double Trainer<T>::step(index_t step, int nthreads, std::int64_t* correct) {
    // idx = order[step * bs:(step + 1) * bs]; xb, yb, wb = x[idx], y[idx], weights[idx]
    // (distributed: this rank's contiguous share idx[B*rank//P : B*(rank+1)//P])
    // (sharded: this rank's rows of the batch, in batch order)
    const index_t total = static_cast<index_t>(order_.size());
    const index_t begin = step * s_.batch_size;
    const index_t batch = (begin + s_.batch_size < total ? s_.batch_size : total - begin);
    const bool one = s_.world_size == 1;  // no division on the one-process path
    index_t lo = one ? 0 : batch * s_.rank / s_.world_size;
    index_t rows = one ? batch : batch * (s_.rank + 1) / s_.world_size - lo;
    const std::int64_t* idx = order_.data() + begin + lo;
    if (s_.global_n > 0) {
        rows = 0;
        for (index_t r = 0; r < batch; ++r) {
            const std::int64_t g = order_[begin + r];
            if (g >= s_.own_lo && g < s_.own_lo + s_.n) mine_[rows++] = g;
        }
        idx = mine_.data();
    }
    batch_rows_ = batch;
    const std::int64_t off = s_.global_n > 0 ? s_.own_lo : 0;  // global id -> local row
    take_rows(s_.x, s_.features, idx, rows, off, xb_.data());
    if (s_.labels) {
        for (index_t r = 0; r < rows; ++r) lb_[r] = s_.labels[idx[r] - off];
    } else {
        take_rows(s_.targets, s_.target_cols, idx, rows, off, tb_.data());
    }
    if (s_.weights) {
        for (index_t r = 0; r < rows; ++r) wb_[r] = s_.weights[idx[r]];
    }
    if (s_.loss == TrainLoss::ce_scaled)
        take_rows(s_.loss_targets, s_.target_cols_loss, idx, rows, off, ltb_.data());
    if (s_.loss == TrainLoss::ce_scaled && rows > 0) {
        // CrossEntropyLoss._fn: scale = row weight / the batch's denominator, in T
        double denominator = 0;
        for (index_t r = 0; r < rows; ++r) denominator += s_.row_denominator[idx[r] - off];
        for (index_t r = 0; r < rows; ++r)
            scale_[r] = static_cast<T>(s_.row_weight[idx[r] - off] / denominator);
    }

    if (tiny_ && rows > 0) return tiny_step(rows, nthreads, correct);
    double v = 0;
    if (rows > 0) {
        v = forward_loss(rows, nthreads, correct);
        prefetch_next(begin + batch);  // the next step's rows arrive during backward
        if (s_.keep_outputs) {  // metrics: this batch's outputs, at its place in the epoch
            const index_t w = widths_.back();
            const T* out = outputs_.back().data();
            std::copy(out, out + rows * w, epoch_out_.data() + begin * w);
        }
        if (!std::isfinite(v) && s_.stop_on_nonfinite && s_.world_size == 1) return v;
        if (s_.world_size > 1) v *= share(begin, batch, idx, rows);
        if (fuse_) begin_fused_update();
        backward(rows, nthreads, fuse_);
    } else {
        *correct = 0;
        for (std::size_t p = 0; p < grad_ptrs_.size(); ++p)
            std::fill(grad_ptrs_[p], grad_ptrs_[p] + grad_sizes_[p], T(0));
    }
    if (s_.grad_hook) {
        // Sum the gradients (and the loss and correct count) over the ranks.
        double scalars[2] = {v, double(*correct)};
        T* tail = s_.reduce_tail;
        if (tail) {
            tail[0] = static_cast<T>(v);
            tail[1] = static_cast<T>(v - double(tail[0]));
            tail[2] = static_cast<T>(*correct);
        }
        if (!s_.grad_hook(scalars)) {
            hook_failed_ = true;
            return v;
        }
        if (tail) {
            scalars[0] = double(tail[0]) + double(tail[1]);
            scalars[1] = double(tail[2]);
        }
        v = scalars[0];
        *correct = static_cast<std::int64_t>(scalars[1]);
        if (!std::isfinite(v) && s_.stop_on_nonfinite) return v;
    }

    // optimizer.step() (fused: done in backward, but for the parameters no layer holds)
    if (fuse_ && rows > 0) {
        for (const std::size_t p : rest_slots_) update_slot(p, nthreads);
    } else {
        update(nthreads);
    }
    // callbacks' on_step_end: GradientHealth
    if (s_.health) add_health(rows, nthreads);
    return v;
}

namespace {

// loss_of for the mean squared error without sample weights over a tiny network's batch:
// mse_loss's path for a mean within one block (core/losses.cpp's small_mean_loss: blocks
// of 8192 elements; kTinyMse stays well below), made here without the calls around it:
// the kernel set's mse once over the batch with gscale 1 / (rows * width), its sum over
// that count, the same operations in the same order, so the same bits.
constexpr index_t kTinyMse = 1024;

template <class T>
NNCORE_TINY_INLINE double tiny_mse(const kernels::KernelSet<T>& k, const T* out,
                                   const T* target, T* grad, index_t rows,
                                   index_t width) noexcept {
    const T denom = T(rows) * T(width);
    double s = 0.0;
    s += k.mse(out, target, nullptr, grad, rows * width, T(1) / denom);
    return double(static_cast<T>(s / double(denom)));
}

}  // namespace

template <class T>
double Trainer<T>::tiny_step(index_t rows, int nthreads, std::int64_t* correct) {
    // The rest of step() for a model of Dense layers whose products are all direct
    // (tiny_): the calls forward_loss, backward and the fused update make for such
    // layers, with the same arguments in the same order (so the same bits), without
    // their dispatch per layer.
    // out = model.forward(xb)
    const auto& k = kernel_set<T>();
    const std::vector<TrainLayer<T>>& layers = pack_ ? packed_layers_ : s_.layers;
    const std::size_t n_layers = layers.size();
    const T* in = xb_.data();
    for (std::size_t i = 0; i < n_layers; ++i) {
        const TrainLayer<T>& layer = layers[i];
        T* zp = kernels::act_from_input(layer.act) ? z_[i].data() : nullptr;
        direct_dense_forward(k, in, layer, rows, outputs_[i].data(), zp);
        in = outputs_[i].data();
    }
    // value = loss_fn(out, yb); the check before any update
    const index_t width = layers[n_layers - 1].out;
    const double value =
        s_.loss == TrainLoss::mse && !s_.weights && !s_.classification &&
                rows * width <= kTinyMse
            ? tiny_mse(k, in, tb_.data(), grad_out_.data(), rows, width)
            : loss_of(in, rows, nthreads, correct);
    if (!std::isfinite(value) && s_.stop_on_nonfinite) return value;
    // model.backward(loss_fn.backward()), each layer's parameters stepped once its
    // backward no longer reads them; then the parameters no layer holds
    begin_fused_update();
    const bool sgd = s_.optimizer == TrainOptimizer::sgd;
    const T* grad = grad_out_.data();
    for (std::size_t i = n_layers; i-- > 0;) {
        const TrainLayer<T>& layer = layers[i];
        const T* x_in = i == 0 ? xb_.data() : outputs_[i - 1].data();
        const T* v = kernels::act_from_input(layer.act) ? z_[i].data() : outputs_[i].data();
        T* gx = i > 0 ? grad_in_[i].data() : nullptr;  // the first layer skips grad_x
        direct_dense_backward(k, x_in, layer, rows, v, grad, gz_.data(), gx);
        grad = gx;
        if (pack_) continue;  // updated together below
        for (const std::size_t p : layer_slots_[i]) {
            const ParamSlot<T>& slot = s_.slots[p];
            if (sgd && slot.n <= kOneChunk) {  // update_slot's SGD call, without its switch
                const auto& h = group_steps_[slot_group_[p]].sgd_h[slot.decay ? 1 : 0];
                k.sgd(slot.param, slot.grad, slot.state1, slot.n, h);
            } else {
                update_slot(p, nthreads);
            }
        }
    }
    // packed: SGD's kernel once per run of parameters of one group and decay, after
    // the backward (no layer's backward reads another layer's parameters, so the
    // same bits as each layer's update after its backward: the kernel's operations
    // per element do not depend on the element's place in the call)
    for (const PackRun& r : pack_runs_) {
        const ParamSlot<T>& slot = s_.slots[r.slot];
        const auto& h = group_steps_[slot_group_[r.slot]].sgd_h[slot.decay ? 1 : 0];
        T* p = packed_.data() + r.off;
        k.sgd(p, p + pack_n_, slot.state1 ? p + 2 * pack_n_ : nullptr, r.n, h);
    }
    for (const std::size_t p : rest_slots_) update_slot(p, nthreads);
    return value;
}

template <class T>
void Trainer<T>::plan_packing() {
    // tiny_step with SGD updates every parameter in one kernel call per group when the
    // parameters sit side by side: during a run() call they live in packed_ (params,
    // their gradients, their velocities, each slot at its offset), copied in when the
    // call starts and back when it returns (Python sees the model's own arrays between
    // calls). Every parameter must be one layer's weight or bias, in one slot.
    pack_ = tiny_ && s_.optimizer == TrainOptimizer::sgd && rest_slots_.empty();
    index_t n = 0;
    pack_off_.assign(s_.slots.size(), 0);
    for (std::size_t p = 0; p < s_.slots.size(); ++p) {
        pack_off_[p] = n;
        n += s_.slots[p].n;
    }
    pack_ = pack_ && n <= kOneChunk;
    if (!pack_) return;
    pack_n_ = n;
    packed_.assign(static_cast<std::size_t>(3 * n), T(0));
    packed_layers_ = s_.layers;
    for (std::size_t i = 0; i < s_.layers.size(); ++i) {
        const TrainLayer<T>& L = s_.layers[i];
        TrainLayer<T>& P = packed_layers_[i];
        for (const std::size_t p : layer_slots_[i]) {
            T* at = packed_.data() + pack_off_[p];
            if (s_.slots[p].param == L.w) {
                P.w = at;
                P.grad_w = at + n;
            } else {
                P.b = at;
                P.grad_b = at + n;
            }
        }
    }
}

template <class T>
void Trainer<T>::pack_in() {
    // the model's parameters, gradients and velocities into packed_, and the runs of
    // slots of one group, decay and state (the groups may have changed since)
    pack_runs_.clear();
    for (std::size_t p = 0; p < s_.slots.size(); ++p) {
        const ParamSlot<T>& s = s_.slots[p];
        T* at = packed_.data() + pack_off_[p];
        std::copy(s.param, s.param + s.n, at);
        std::copy(s.grad, s.grad + s.n, at + pack_n_);
        if (s.state1) std::copy(s.state1, s.state1 + s.n, at + 2 * pack_n_);
        if (!pack_runs_.empty()) {
            PackRun& r = pack_runs_.back();
            const ParamSlot<T>& first = s_.slots[r.slot];
            if (slot_group_[r.slot] == slot_group_[p] && first.decay == s.decay &&
                (first.state1 == nullptr) == (s.state1 == nullptr)) {
                r.n += s.n;
                continue;
            }
        }
        pack_runs_.push_back(PackRun{pack_off_[p], s.n, p});
    }
}

template <class T>
void Trainer<T>::pack_out() {
    for (std::size_t p = 0; p < s_.slots.size(); ++p) {
        const ParamSlot<T>& s = s_.slots[p];
        const T* at = packed_.data() + pack_off_[p];
        std::copy(at, at + s.n, s.param);
        std::copy(at + pack_n_, at + pack_n_ + s.n, const_cast<T*>(s.grad));  // the trainer's own
        if (s.state1) std::copy(at + 2 * pack_n_, at + 2 * pack_n_ + s.n, s.state1);
    }
}

template <class T>
std::size_t Trainer<T>::residual_end_of(std::size_t begin) const {
    for (std::size_t j = begin + 1; j < s_.layers.size(); ++j) {
        if (s_.layers[j].kind == TrainLayerKind::residual_end &&
            s_.layers[j].begin == static_cast<std::int64_t>(begin))
            return j;
    }
    return begin;  // unreachable: the constructor checked every end has its begin
}

template <class T>
void Trainer<T>::add_health(index_t rows, int nthreads) {
    std::size_t k = 0;
    for (std::size_t i = 0; i < s_.layers.size(); ++i) {
        const auto& L = s_.layers[i];
        if (L.kind != TrainLayerKind::dense || !L.health) continue;
        HealthSums sums;  // taken in the step (update), else from prev_ (weights not stepped)
        if (!health_steps_.take(k / 5, &sums))
            sums = weight_health_sums(L.w, prev_[i].data(), L.grad_w, L.in * L.out, nthreads);
        const LayerHealth h = layer_health_of(sums, outputs_[i].data(), rows, L.out, L.act);
        health_[k++] += h.grad_norm;
        health_[k++] += h.weight_norm;
        health_[k++] += h.update_ratio;
        health_[k++] += h.saturated;
        health_[k++] += h.dead;
    }
}

template <class T>
double Trainer<T>::share(index_t begin, index_t batch, const std::int64_t* idx, index_t rows) {
    // This rank's part of the global batch's weighted mean: its gradient (and loss) are
    // scaled by local / global denominator, so that their sum over ranks is the mean.
    const auto wsum = [&](const std::int64_t* ids, index_t n) {
        double s = 0;
        for (index_t r = 0; r < n; ++r) s += double(s_.weights[ids[r]]);
        return s;
    };
    const double local = s_.weights ? wsum(idx, rows) : double(rows);
    const double global = s_.weights ? wsum(order_.data() + begin, batch) : double(batch);
    const double scale = global != 0 ? local / global : 0.0;
    const T ts = static_cast<T>(scale);
    const index_t n = rows * widths_.back();
    for (index_t i = 0; i < n; ++i) grad_out_[i] = grad_out_[i] * ts;
    return scale;
}

template <class T>
double Trainer<T>::forward_loss(index_t rows, int nthreads, std::int64_t* correct) {
    // out = model.forward(xb)
    const T* in = xb_.data();
    const std::size_t L = s_.layers.size();
    for (std::size_t i = 0; i < L; ++i) {
        auto& layer = s_.layers[i];
        T* y = outputs_[i].data();
        switch (layer.kind) {
            case TrainLayerKind::dense: {
                if (direct_product(rows, layer.out, layer.in)) {
                    // gelu/silu/softplus: the store writes z next to y, for backward
                    T* zp = kernels::act_from_input(layer.act) ? z_[i].data() : nullptr;
                    direct_dense_forward(kernel_set<T>(), in, layer, rows,
                                         layer.post_softmax ? z_[i].data() : y, zp);
                    if (layer.post_softmax) softmax(z_[i].data(), y, rows_of(rows, layer.out),
                                                    false, nthreads);
                    break;
                }
                // gelu/silu/softplus: z, then y = act(z) and act'(z) in one pass, the
                // derivative over z for backward: the bits of the python layer's fused
                // store and of its backward, which recomputes act'(z)
                const bool pair = kernels::act_from_input(layer.act) && !layer.post_softmax;
                MatView<T> yv = row_major(layer.post_softmax || pair ? z_[i].data() : y, rows,
                                          layer.out);
                yv.rs = ld_[i];  // (padded only when plain: y)
                dense_forward(MatView<const T>{in, rows, layer.in, in_ld(i), 1},
                              row_major<const T>(layer.w, layer.in, layer.out), layer.b, yv,
                              pair ? kernels::Act::identity : layer.act, layer.slope, nthreads);
                if (pair) activation_pair(layer.act, z_[i].data(), y, z_[i].data(),
                                          rows * layer.out, layer.slope, nthreads);
                if (layer.post_softmax) softmax(z_[i].data(), y, rows_of(rows, layer.out), false,
                                                nthreads);
                break;
            }
            case TrainLayerKind::softmax:
                softmax(in, y, rows_of(rows, widths_[i]), false, nthreads);
                break;
            case TrainLayerKind::activation:
                activation(layer.act, in, y, rows * widths_[i], layer.slope, nthreads);
                break;
            case TrainLayerKind::dropout:
                if (layer.p == 0) {  // Dropout(0) is the identity and draws no mask
                    std::copy(in, in + rows * widths_[i], y);
                    break;
                }
                dropout_forward(in, y, masks_[i].data(), rows * widths_[i], layer.p,
                                dropout_call_seed(layer.seed, layer.calls), nthreads);
                ++layer.calls;
                break;
            case TrainLayerKind::layer_norm:
                layer_norm_forward(in, layer.w, layer.b, static_cast<T>(layer.eps), y,
                                   stat_mean_[i].data(), stat_rstd_[i].data(), rows, layer.in,
                                   nthreads);
                break;
            case TrainLayerKind::residual_begin:  // the block's input, kept for its end
                std::copy(in, in + rows * widths_[i], y);
                break;
            case TrainLayerKind::residual_end: {  // x + f(x)
                const index_t n = rows * widths_[i];
                std::copy(in, in + n, y);
                kernel_set<T>().add_inplace(y, outputs_[static_cast<std::size_t>(layer.begin)].data(),
                                            n);
                break;
            }
            case TrainLayerKind::batch_norm: {
                // BatchNorm1d.forward in training mode: the batch statistics, and the
                // running ones updated when tracked
                BatchNormMode mode;
                mode.training = true;
                mode.momentum = 0.0;
                if (layer.running_mean) {
                    ++layer.calls;
                    mode.momentum = layer.momentum >= 0 ? layer.momentum
                                                        : 1.0 / double(layer.calls);
                }
                batch_norm_forward(in, layer.w, layer.b, layer.running_mean,
                                   layer.running_var, mode, static_cast<T>(layer.eps), y,
                                   stat_mean_[i].data(), stat_rstd_[i].data(), rows, layer.in,
                                   nthreads);
                break;
            }
        }
        in = y;
    }
    return loss_of(in, rows, nthreads, correct);
}

template <class T>
double Trainer<T>::loss_of(const T* out, index_t rows, int nthreads, std::int64_t* correct) {
    const index_t width = widths_.back();

    // value = loss_fn(out, yb, sample_weight=wb)
    LossOutput<T> lo;
    lo.grad = grad_out_.data();
    const T* w = s_.weights ? wb_.data() : nullptr;
    T value = T(0);
    switch (s_.loss) {
        case TrainLoss::mse:
            value = mse_loss(out, tb_.data(), w, rows, width, Reduction::mean, lo, nthreads);
            break;
        case TrainLoss::bce_logits:
            value = bce_with_logits(out, tb_.data(), w, rows, width, Reduction::mean, lo,
                                    nthreads);
            break;
        case TrainLoss::ce_labels:
            value = cross_entropy(out, lb_.data(), static_cast<const T*>(nullptr), w, rows, width,
                                  Reduction::mean, lo, nthreads);
            break;
        case TrainLoss::l1:
            value = l1_loss(out, tb_.data(), w, rows, width, Reduction::mean, lo, nthreads);
            break;
        case TrainLoss::huber:
            value = huber_loss(out, tb_.data(), w, rows, width, Reduction::mean,
                               static_cast<T>(s_.huber_delta), lo, nthreads);
            break;
        case TrainLoss::ce_probs:
            value = cross_entropy(out, static_cast<const std::int64_t*>(nullptr), tb_.data(), w,
                                  rows, width, Reduction::mean, lo, nthreads);
            break;
        case TrainLoss::ce_scaled:
            value = cross_entropy(out, static_cast<const std::int64_t*>(nullptr), ltb_.data(),
                                  scale_.data(), rows, width, Reduction::sum, lo, nthreads);
            break;
    }
    if (s_.classification) {
        *correct = count_correct(out, rows, width, s_.labels ? lb_.data() : nullptr,
                                 s_.labels ? nullptr : tb_.data());
    }
    return double(value);
}

template <class T>
void Trainer<T>::backward(index_t rows, int nthreads, bool fused) {
    // model.backward(loss_fn.backward()): layers in reverse; the first Dense skips grad_x.
    // fused: each layer's parameters are updated once its backward no longer reads them.
    const T* grad = grad_out_.data();
    index_t grad_ld = widths_.back();  // grad's row stride (ld_: padded between Dense layers)
    // (the slot `skip` excepted: its update ran in the weight-gradient product)
    const auto done = [&](std::size_t i, std::size_t skip = kNoSlot) {
        if (!fused) return;
        for (const std::size_t p : layer_slots_[i]) {
            if (p == skip) continue;
            const ParamSlot<T>& s = s_.slots[p];
            if (s_.optimizer == TrainOptimizer::sgd && s.n <= kOneChunk) {  // the common case
                const auto& h = group_steps_[slot_group_[p]].sgd_h[s.decay ? 1 : 0];
                kernel_set<T>().sgd(s.param, s.grad, s.state1, s.n, h);
            } else {
                update_slot(p, nthreads);
            }
        }
    };
    // grad holds the next (lower) Dense layer's grad_z, its bias gradient summed: the
    // layer above folded its input gradient into that layer's activation backward
    bool folded = false;
    for (std::size_t i = s_.layers.size(); i-- > 0;) {
        const auto& layer = s_.layers[i];
        const T* x_in = i == 0 ? xb_.data() : outputs_[i - 1].data();
        const bool need_grad_x = i > 0;
        T* gx = grad_in_[i].data();
        if (layer.kind == TrainLayerKind::dense) {
            if (layer.post_softmax) {  // through the softmax, from its output
                T* gz = z_[i].data();   // the product is not needed any more
                softmax_backward(outputs_[i].data(), grad, gz, rows_of(rows, layer.out), false,
                                 nthreads);
                grad = gz;
            }
            if (direct_product(rows, layer.out, layer.in)) {
                // v: the output, or the pre-activation for gelu/silu/softplus
                const T* v = kernels::act_from_input(layer.act) ? z_[i].data()
                                                                : outputs_[i].data();
                direct_dense_backward(kernel_set<T>(), x_in, layer, rows, v, grad, gz_.data(),
                                      need_grad_x ? gx : nullptr);
                done(i);  // the layer's last read of its parameters is behind
                if (!need_grad_x) break;
                grad = gx;
                grad_ld = in_ld(i);
                continue;
            }
            MatView<T> vgx{gx, rows, layer.in, in_ld(i), 1};
            // gelu/silu/softplus: grad times the derivative the forward kept, with the bias
            // gradient summed as it goes (rows in order from +0: column_sums' bits; the
            // kernel set's pair_backward), then as identity
            const bool pair = kernels::act_from_input(layer.act) && !layer.post_softmax;
            if (pair) {
                kernel_set<T>().pair_backward(grad, z_[i].data(), rows, layer.out,
                                              layer.grad_b);
                grad = z_[i].data();
            }
            // fused: the weights updated block by block as the GEMM finishes grad_w's
            // blocks (grad_x first), the other parameters after
            const std::size_t wslot = fused ? weight_slot_[i] : kNoSlot;
            BlockUpdate bu{this, wslot, layer.out};
            // Without an activation, the bias gradient is the column sums of grad from +0 in
            // row order: column_sums' bits here, in registers, where dense_backward's
            // parallel pass adds each row by a call (32 calls of one value for the 64-1
            // output layer of a 32-row batch); dense_backward then skips it.
            T* grad_b = pair || folded ? nullptr : layer.grad_b;
            kernels::Act act = pair || folded ? kernels::Act::identity : layer.act;
            folded = false;
            if (grad_b && act == kernels::Act::identity && rows * layer.out <= kSmallBiasSums &&
                grad_ld == layer.out) {
                column_sums(grad, rows, layer.out, grad_b);
                grad_b = nullptr;
            }
            // With an activation (relu, tanh, ...: its derivative from the output), on a
            // layer of at most kSmallActColumns outputs: grad_z and the bias gradient in one
            // pass of the kernel set's activation_backward_sums, the bits of
            // dense_backward's pass over one chunk of columns (activation_backward over the
            // batch, then the column sums from +0 in row order), which then runs as
            // identity. The sums were a second pass over grad_z.
            if (act != kernels::Act::identity && layer.out <= kSmallActColumns &&
                rows * layer.out <= kSmallBiasSums && grad_ld == layer.out) {
                T* gz = Workspace::local().get<T>(Slot::grad_z,
                                                  static_cast<std::size_t>(rows * layer.out));
                kernel_set<T>().activation_backward_sums(act, outputs_[i].data(), grad, gz, rows,
                                                         layer.out, layer.slope, grad_b);
                grad = gz;
                grad_ld = layer.out;
                grad_b = nullptr;
                act = kernels::Act::identity;
            }
            // A layer of one output below a Dense layer that would take the pass above:
            // its input gradient (a one-deep product, grad (rows x 1) @ w^T) made inside
            // that layer's pass (the kernel set's outer_backward_sums: each product as
            // the tile makes it, then the same activation backward and sums), now, while w
            // is not yet updated; the layer below then runs as identity on it.
            const bool fold = need_grad_x && layer.out == 1 && folds_into(i - 1, rows);
            if (fold) {
                const auto& below = s_.layers[i - 1];
                kernel_set<T>().outer_backward_sums(below.act, outputs_[i - 1].data(), grad,
                                                    layer.w, gx, rows, layer.in, below.slope,
                                                    below.grad_b);
            }
            dense_backward(MatView<const T>{x_in, rows, layer.in, in_ld(i), 1},
                           row_major<const T>(layer.w, layer.in, layer.out),
                           MatView<const T>{outputs_[i].data(), rows, layer.out, ld_[i], 1},
                           MatView<const T>{grad, rows, layer.out, grad_ld, 1}, act, layer.slope,
                           need_grad_x && !fold ? &vgx : nullptr,
                           row_major(layer.grad_w, layer.in, layer.out), grad_b, nthreads,
                           wslot != kNoSlot ? &Trainer::update_block : nullptr, &bu);
            done(i, wslot);  // the layer's last read of its parameters is behind
            if (!need_grad_x) break;
            folded = fold;
        } else if (layer.kind == TrainLayerKind::layer_norm) {
            layer_norm_backward(x_in, stat_mean_[i].data(), stat_rstd_[i].data(), layer.w, grad,
                                need_grad_x ? gx : nullptr, layer.grad_w, layer.grad_b, rows,
                                layer.in, nthreads);
            done(i);  // the layer's last read of its parameters is behind
            if (!need_grad_x) break;
        } else if (layer.kind == TrainLayerKind::batch_norm) {
            batch_norm_backward(x_in, stat_mean_[i].data(), stat_rstd_[i].data(), layer.w, grad,
                                true, need_grad_x ? gx : nullptr, layer.grad_w, layer.grad_b,
                                rows, layer.in, nthreads);
            done(i);  // the layer's last read of its parameters is behind
            if (!need_grad_x) break;
        } else if (layer.kind == TrainLayerKind::residual_end) {
            // the gradient goes into the block's layers as it is, and is kept for the
            // identity path (added at the begin)
            const index_t n = rows * widths_[i];
            std::copy(grad, grad + n, gx);
        } else if (layer.kind == TrainLayerKind::residual_begin) {
            if (!need_grad_x) break;
            const index_t n = rows * widths_[i];
            const std::size_t end = residual_end_of(i);
            std::copy(grad, grad + n, gx);
            kernel_set<T>().add_inplace(gx, grad_in_[end].data(), n);
        } else {
            if (!need_grad_x) break;  // nothing before it to train
            if (layer.kind == TrainLayerKind::softmax) {
                softmax_backward(outputs_[i].data(), grad, gx, rows_of(rows, widths_[i]), false,
                                 nthreads);
            } else if (layer.kind == TrainLayerKind::dropout) {
                if (layer.p == 0) std::copy(grad, grad + rows * widths_[i], gx);
                else dropout_backward(masks_[i].data(), grad, gx, rows * widths_[i], nthreads);
            } else {
                // from the output, or from the input for gelu/silu/softplus
                const T* v = kernels::act_from_input(layer.act) ? x_in : outputs_[i].data();
                activation_backward(layer.act, v, grad, gx, rows * widths_[i], layer.slope,
                                    nthreads);
            }
        }
        grad = gx;
        grad_ld = in_ld(i);
    }
}

template <class T>
bool Trainer<T>::folds_into(std::size_t i, index_t rows) const noexcept {
    // layer i takes backward()'s activation_backward_sums pass (an activation whose
    // derivative is read from the output, at most kSmallActColumns outputs), not the
    // direct layers' path nor a softmax's
    const auto& L = s_.layers[i];
    return L.kind == TrainLayerKind::dense && !L.post_softmax &&
           L.act != kernels::Act::identity && !kernels::act_from_input(L.act) &&
           L.out <= kSmallActColumns && rows * L.out <= kSmallBiasSums &&
           !direct_product(rows, L.out, L.in) && ld_[i] == L.out;
}

template <class T>
void Trainer<T>::update(int nthreads) {
    // optimizer.step(): clipping, then one all-parameters driver call (core/optim_all.h)
    const index_t count = static_cast<index_t>(grad_ptrs_.size());
    if (s_.clip_value >= 0)
        clip_grad_value<T>(grad_ptrs_.data(), grad_sizes_.data(), count, s_.clip_value);
    if (s_.clip_norm >= 0)
        clip_grad_norm<T>(grad_ptrs_.data(), grad_sizes_.data(), count, s_.clip_norm);
    ++opt_steps_;
    // one driver call per parameter group, in order (as the Python optimiser steps them)
    std::size_t start = 0;
    for (const auto& g : groups_) {
        const ParamSlot<T>* slots = s_.slots.data() + start;
        const std::size_t n = g.end - start;
        start = g.end;
        const double lr = groups_.size() == 1 ? lr_ : g.lr;
        // the group's driver call; with health=True through HealthSteps, which steps each
        // tracked weight in blocks with its sums taken around each block
        const auto drive = [&](const auto& o, auto step_all,
                               const kernels::SgdHyper<T>* sgd = nullptr) {
            if (!health_steps_.active()) return step_all(slots, n, o, nthreads);
            health_steps_.step(slots, n, nthreads,
                               [&](const ParamSlot<T>* p, std::size_t c, int t) {
                                   step_all(p, c, o, t);
                               }, sgd);
        };
        switch (s_.optimizer) {
            case TrainOptimizer::sgd: {
                SgdOptions o = g.sgd;
                o.lr = lr;
                o.first = opt_steps_ == 1;  // as SGD in optim.py: torch's first step
                SgdOptions o0 = o;  // sgd_update's hyper-parameters, for HealthSteps
                o0.weight_decay = 0;
                const kernels::SgdHyper<T> h[2] = {sgd_hyper<T>(o), sgd_hyper<T>(o0)};
                drive(o, sgd_update<T>, h);
                break;
            }
            case TrainOptimizer::adam: {
                AdamOptions o = g.adam;
                o.lr = lr;
                o.step = opt_steps_;
                drive(o, adam_step_all<T>);
                break;
            }
            case TrainOptimizer::rmsprop: {
                RmspropOptions o = g.rmsprop;
                o.lr = lr;
                drive(o, rmsprop_step_all<T>);
                break;
            }
        }
    }
}

template <class T>
ChunkResult Trainer<T>::run(std::int64_t max_epochs, double seconds, double lr,
                            const std::int64_t* orders, std::int64_t n_orders, int nthreads,
                            std::int64_t max_steps) {
    ChunkResult res;
    HotPool hot(nthreads);  // the workers stay on the job until this chunk returns
    // the records of the epochs this call may finish (at most a few MB of them)
    res.epochs.reserve(static_cast<std::size_t>(std::min<std::int64_t>(std::max<std::int64_t>(max_epochs, 0), 1 << 16)));
    std::int64_t steps_run = 0;
    const auto t_call = Clock::now();
    // A clock read costs about 25 ns, a whole step of a tiny network a few hundred: the
    // clock is read after every clock_every_ steps, as many as take about kClockGap
    // (doubled while shorter, halved while much longer; 1 for steps of a few µs or
    // more). The time between two reads goes to their steps in equal shares: to the
    // epochs finished since (the records from `pending` on, the first of them with
    // `first_steps` steps after the read, the others with all of theirs) and to the
    // epoch under way (epoch_seconds_, `current` steps).
    auto t_read = t_call;
    std::int64_t since = 0, current = 0, first_steps = 0;
    std::size_t pending = 0;
    const auto read_clock = [&]() {  // true when `seconds` have passed since the call
        const auto t = Clock::now();
        const double elapsed = std::chrono::duration<double>(t - t_read).count();
        const double per = since > 0 ? elapsed / double(since) : 0.0;
        for (std::size_t e = pending; e < res.epochs.size(); ++e)
            res.epochs[e].seconds += per * double(e == pending ? first_steps : steps_);
        epoch_seconds_ += since > 0 ? per * double(current) : elapsed;
        pending = res.epochs.size();
        if (elapsed < kClockGap) clock_every_ = std::min<std::int64_t>(clock_every_ * 2, 1 << 16);
        else if (elapsed > 4 * kClockGap && clock_every_ > 1) clock_every_ /= 2;
        since = current = 0;
        t_read = t;
        return std::chrono::duration<double>(t - t_call).count() >= seconds;
    };
    lr_ = lr;
    health_steps_.restart();  // Python ran since the last step: the weights may have changed
    // packed parameters: in now, back to the model's arrays however the call returns
    struct Unpack {
        Trainer* t;
        ~Unpack() {
            if (t) t->pack_out();
        }
    } unpack{pack_ ? this : nullptr};
    if (pack_) pack_in();
    while (static_cast<std::int64_t>(res.epochs.size()) < max_epochs) {
        if (step_ == 0) {
            const std::int64_t* order = nullptr;
            if (s_.shuffle) {
                if (res.orders_used == n_orders) break;  // no order drawn for this epoch
                order = orders + res.orders_used * static_cast<std::int64_t>(order_.size());
                ++res.orders_used;
            }
            start_epoch(order);
        }
        bool stop = false;  // mid-epoch: out of time or of steps
        bool late = false;  // at the epoch's end: out of time
        while (step_ < steps_) {
            std::int64_t correct = 0;
            const double value = step(step_, nthreads, &correct);
            if (hook_failed_) {
                read_clock();
                res.hook_failed = true;
                res.epoch = epoch_;
                res.step = step_;
                return res;
            }
            if (!std::isfinite(value) && s_.stop_on_nonfinite) {
                read_clock();
                res.nonfinite = true;
                res.bad_loss = value;
                res.epoch = epoch_;
                res.step = step_;
                ++step_;  // batch_rows() names the failing batch
                return res;
            }
            res.last_loss = value;
            seen_ += double(batch_rows_);
            total_loss_ += value * double(batch_rows_);
            correct_ += correct;
            ++step_;
            ++steps_run;
            ++since;
            ++current;
            const bool over = since >= clock_every_ && read_clock();
            if (step_ < steps_ && ((max_steps > 0 && steps_run >= max_steps) || over)) {
                stop = true;
                break;
            }
            late = over;
        }
        if (stop) break;
        if (pending == res.epochs.size()) first_steps = current;
        current = 0;
        EpochRecord rec;
        rec.loss = total_loss_ / (seen_ >= 1 ? seen_ : 1.0);
        rec.accuracy = double(correct_) / (seen_ >= 1 ? seen_ : 1.0);
        rec.seconds = epoch_seconds_;  // its share of the time until the next read follows
        rec.lr = lr_;
        if (!health_.empty()) rec.health = health_;
        res.epochs.push_back(std::move(rec));
        ++epoch_;
        step_ = 0;
        // lr_scheduler.step() between epochs of one call (Python steps its own copy).
        if (s_.schedule.kind != Schedule::none) lr_ = s_.schedule.lr_at(epoch_);
        if (late) break;
    }
    read_clock();  // the time since the last read, to its steps
    res.epoch = epoch_;
    res.step = step_;
    res.running_loss = total_loss_ / (seen_ >= 1 ? seen_ : 1.0);
    return res;
}

template class Trainer<float>;
template class Trainer<double>;

}  // namespace nncore
