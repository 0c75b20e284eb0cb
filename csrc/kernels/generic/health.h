// The gradient-health kernels of kernel_table.h in plain loops: the readable specification
// the SIMD sets (simd/health.h) follow. health_sums gives the same bits in every set: its
// lanes, their order and the tree that adds them are part of the contract, and every
// operation rounds in double without fusing (the kernels compile with -ffp-contract=off).
// The counts are whole numbers, the same in any order.
// No include guard, no #include and no namespace: generic.cpp includes it inside its own
// anonymous namespace.

// The kHealthLanes (16) lanes of one sum added as health_sums' tree: lane l + lane l + 8,
// then l + l + 4, l + l + 2, l + l + 1.
inline double health_lane_tree(const double* s) noexcept {
    double a[8], b[4];
    for (int l = 0; l < 8; ++l) a[l] = s[l] + s[l + 8];
    for (int l = 0; l < 4; ++l) b[l] = a[l] + a[l + 4];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

template <class T>
void health_sums(const T* w, T* p, const T* g, index_t n, double* out) noexcept {
    constexpr int L = kHealthLanes;
    constexpr index_t run = index_t(L) * kHealthRun;  // values one run of every lane covers
    double s[4][L] = {};
    for (index_t r0 = 0; r0 < n; r0 += run) {
        const index_t r1 = n - r0 < run ? n : r0 + run;
        T t[4][L] = {};  // the run's sums in T; lanes without a value add +0 below
        for (index_t i = r0; i < r1; i += L) {
            const int m = r1 - i < L ? static_cast<int>(r1 - i) : L;
            for (int l = 0; l < m; ++l) {  // value i + l: lane l
                const T gi = g[i + l], wi = w[i + l], pi = p[i + l];
                const T d = wi - pi;
                t[0][l] = t[0][l] + gi * gi;
                t[1][l] = t[1][l] + wi * wi;
                t[2][l] = t[2][l] + d * d;
                t[3][l] = t[3][l] + pi * pi;
                p[i + l] = wi;
            }
        }
        for (int k = 0; k < 4; ++k) {
            for (int l = 0; l < L; ++l) s[k][l] = s[k][l] + double(t[k][l]);
        }
    }
    for (int k = 0; k < 4; ++k) out[k] = health_lane_tree(s[k]);
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

template <class T>
void set_health_kernels(KernelSet<T>& k) noexcept {
    k.health_sums = &health_sums<T>;
    k.count_outside = &count_outside<T>;
    k.dead_columns = &dead_columns<T>;
}
