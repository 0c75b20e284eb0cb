// The gradient-health kernels of kernel_table.h in plain loops: the readable specification
// the SIMD sets (simd/health.h) follow. The sums give the same bits in every set: their
// lanes, runs and the tree that adds them are part of the contract, and every operation
// rounds once (a square and its sum as one fused multiply-add; the kernels compile with
// -ffp-contract=off, so nothing else fuses).
// The counts are whole numbers, the same in any order.
// No include guard, no #include and no namespace: generic.cpp includes it inside its own
// anonymous namespace.

// The kHealthLanes (16) lanes of one sum added as the contract's tree: lane l + lane l + 8,
// then l + l + 4, l + l + 2, l + l + 1.
inline double health_lane_tree(const double* s) noexcept {
    double a[8], b[4];
    for (int l = 0; l < 8; ++l) a[l] = s[l] + s[l + 8];
    for (int l = 0; l < 4; ++l) b[l] = a[l] + a[l + 4];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

// The runs of health_before / health_after: value(i, v) gives the K values whose squares
// go to lane i % 16 of sums 0..K-1 (out[0..K-1]), each added with one rounding (std::fma:
// an instruction where the CPU has one, else the C library's correctly rounded fma).
template <class T, int K, class Value>
void health_runs(index_t n, double* const* out, const Value& value) noexcept {
    constexpr int L = kHealthLanes;
    constexpr index_t run = index_t(L) * kHealthRun;  // values one run of every lane covers
    double s[K][L] = {};
    for (index_t r0 = 0; r0 < n; r0 += run) {
        const index_t r1 = n - r0 < run ? n : r0 + run;
        T t[K][L] = {};  // the run's sums in T; lanes without a value add +0 below
        for (index_t i = r0; i < r1; i += L) {
            const int m = r1 - i < L ? static_cast<int>(r1 - i) : L;
            for (int l = 0; l < m; ++l) {  // value i + l: lane l
                T v[K];
                value(i + l, v);
                for (int k = 0; k < K; ++k) t[k][l] = std::fma(v[k], v[k], t[k][l]);
            }
        }
        for (int k = 0; k < K; ++k) {
            for (int l = 0; l < L; ++l) s[k][l] = s[k][l] + double(t[k][l]);
        }
    }
    for (int k = 0; k < K; ++k) *out[k] = health_lane_tree(s[k]);
}

template <class T>
void health_before(const T* w, const T* g, T* keep, index_t n, bool prev_sum,
                   double* out) noexcept {
    if (prev_sum) {
        double* const sums[2] = {out, out + 3};
        health_runs<T, 2>(n, sums, [&](index_t i, T* v) {
            v[0] = g[i];
            v[1] = w[i];
        });
    } else {
        double* const sums[1] = {out};
        health_runs<T, 1>(n, sums, [&](index_t i, T* v) { v[0] = g[i]; });
    }
    if (keep) std::copy(w, w + n, keep);
}

template <class T>
void health_after(const T* w, T* p, index_t n, bool set_p, double* out) noexcept {
    double* const sums[2] = {out + 1, out + 2};
    health_runs<T, 2>(n, sums, [&](index_t i, T* v) {
        v[0] = w[i];
        v[1] = w[i] - p[i];
    });
    if (set_p) std::copy(w, w + n, p);
}

template <class T>
std::int64_t count_outside(const T* x, index_t n, T lo, T hi) noexcept {
    std::int64_t count = 0;
    for (index_t i = 0; i < n; ++i) count += (x[i] < lo || x[i] > hi) ? 1 : 0;
    return count;
}

template <class T>
std::int64_t dead_columns(const T* y, index_t rows, index_t cols) noexcept {
    std::int64_t dead = 0;
    for (index_t c = 0; c < cols; ++c) {
        index_t r = 0;
        while (r < rows && y[r * cols + c] <= T(0)) ++r;  // a NaN (or > 0) stops it: alive
        dead += r == rows ? 1 : 0;
    }
    return dead;
}

// A float's bits as an unsigned integer, and its exponent field: all ones in NaN and the
// infinities only.
template <class T>
struct FloatBits;
template <>
struct FloatBits<float> {
    using U = std::uint32_t;
    static constexpr U exponent = 0x7f800000u;
};
template <>
struct FloatBits<double> {
    using U = std::uint64_t;
    static constexpr U exponent = 0x7ff0000000000000ull;
};

// From the values' bits (by memcpy: x need not be aligned to T): compares and ors that
// the compiler vectorises at the baseline instruction set.
template <class T>
bool any_nonfinite(const T* x, index_t n) noexcept {
    using U = typename FloatBits<T>::U;
    U hit = 0;
    for (index_t i = 0; i < n; ++i) {
        U b;
        std::memcpy(&b, x + i, sizeof b);
        hit |= U(0) - U((b & FloatBits<T>::exponent) == FloatBits<T>::exponent);  // a lane's mask
    }
    return hit != 0;
}

template <class T>
void set_health_kernels(KernelSet<T>& k) noexcept {
    k.health_before = &health_before<T>;
    k.health_after = &health_after<T>;
    k.count_outside = &count_outside<T>;
    k.dead_columns = &dead_columns<T>;
    k.any_nonfinite = &any_nonfinite<T>;
}
