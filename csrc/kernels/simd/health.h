// The gradient-health kernels of kernel_table.h over a vector type V, with the generic
// set's bits (generic/health.h is the specification). The sums keep a run's 16 lanes in T
// vectors and their 16 double sums in registers (2 x 8 with AVX-512, 4 x 4 with AVX2),
// converting a run's float sums to double there, and add the lanes with the contract's
// tree; the counts use V's comparisons.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

// The kHealthLanes (16) double lanes of one sum.
#if defined(__AVX512F__)
struct HealthLanes {
    __m512d v[2];
    static NNCORE_VINLINE HealthLanes zero() noexcept {
        return {{_mm512_setzero_pd(), _mm512_setzero_pd()}};
    }
    static NNCORE_VINLINE HealthLanes load(const float* p) noexcept {
        return {{_mm512_cvtps_pd(_mm256_loadu_ps(p)), _mm512_cvtps_pd(_mm256_loadu_ps(p + 8))}};
    }
    static NNCORE_VINLINE HealthLanes load(const double* p) noexcept {
        return {{_mm512_loadu_pd(p), _mm512_loadu_pd(p + 8)}};
    }
    static NNCORE_VINLINE HealthLanes add(const HealthLanes& a, const HealthLanes& b) noexcept {
        return {{_mm512_add_pd(a.v[0], b.v[0]), _mm512_add_pd(a.v[1], b.v[1])}};
    }
    // lane l + lane l + 8, then l + l + 4, l + l + 2, l + l + 1
    NNCORE_VINLINE double tree() const noexcept {
        const __m512d a = _mm512_add_pd(v[0], v[1]);
        const __m256d b = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
        const __m128d c = _mm_add_pd(_mm256_castpd256_pd128(b), _mm256_extractf128_pd(b, 1));
        return _mm_cvtsd_f64(_mm_add_sd(c, _mm_unpackhi_pd(c, c)));
    }
};
#else
struct HealthLanes {
    __m256d v[4];
    static NNCORE_VINLINE HealthLanes zero() noexcept {
        const __m256d z = _mm256_setzero_pd();
        return {{z, z, z, z}};
    }
    static NNCORE_VINLINE HealthLanes load(const float* p) noexcept {
        return {{_mm256_cvtps_pd(_mm_loadu_ps(p)), _mm256_cvtps_pd(_mm_loadu_ps(p + 4)),
                 _mm256_cvtps_pd(_mm_loadu_ps(p + 8)), _mm256_cvtps_pd(_mm_loadu_ps(p + 12))}};
    }
    static NNCORE_VINLINE HealthLanes load(const double* p) noexcept {
        return {{_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4), _mm256_loadu_pd(p + 8),
                 _mm256_loadu_pd(p + 12)}};
    }
    static NNCORE_VINLINE HealthLanes add(const HealthLanes& a, const HealthLanes& b) noexcept {
        HealthLanes r;
        for (int u = 0; u < 4; ++u) r.v[u] = _mm256_add_pd(a.v[u], b.v[u]);
        return r;
    }
    // lane l + lane l + 8, then l + l + 4, l + l + 2, l + l + 1
    NNCORE_VINLINE double tree() const noexcept {
        const __m256d b = _mm256_add_pd(_mm256_add_pd(v[0], v[2]), _mm256_add_pd(v[1], v[3]));
        const __m128d c = _mm_add_pd(_mm256_castpd256_pd128(b), _mm256_extractf128_pd(b, 1));
        return _mm_cvtsd_f64(_mm_add_sd(c, _mm_unpackhi_pd(c, c)));
    }
};
#endif

// A vector of the group of 16 values at p with m of them left: vector u, zero-padded.
template <class V>
NNCORE_VINLINE typename V::R health_load(const typename V::T* p, index_t m, int u) noexcept {
    const index_t c = m - index_t(u) * V::W;
    return c >= V::W ? V::loadu(p + u * V::W) : c > 0 ? V::load_part(p + u * V::W, c) : V::zero();
}

template <class V>
NNCORE_VINLINE void health_store(typename V::T* p, typename V::R v, index_t m, int u) noexcept {
    const index_t c = m - index_t(u) * V::W;
    if (c > 0) V::store_part(p + u * V::W, v, c);
}

// The runs of health_before / health_after: group(i, m, t) adds the squares of the group
// of 16 values at i (m >= 16 of them left: a whole group; else m, the rest zero) to the
// run sums t[k][u] (vector u of the lanes of sum k), which go to *out[k].
template <class V, int K, class Group>
NNCORE_VINLINE void health_runs(index_t n, double* const* out, const Group& group) noexcept {
    using T = typename V::T;
    constexpr int L = kHealthLanes, U = L / V::W;
    constexpr index_t run = index_t(L) * kHealthRun;
    HealthLanes s[K];
    for (int k = 0; k < K; ++k) s[k] = HealthLanes::zero();
    for (index_t r0 = 0; r0 < n; r0 += run) {
        const index_t r1 = n - r0 < run ? n : r0 + run;
        typename V::R t[K][U];
        for (int k = 0; k < K; ++k) {
            for (int u = 0; u < U; ++u) t[k][u] = V::zero();
        }
        index_t i = r0;
        for (; i + L <= r1; i += L) group(i, index_t(L), t);
        if (i < r1) group(i, r1 - i, t);  // padded lanes add +0, which keeps their sums
        T lanes[L];
        for (int k = 0; k < K; ++k) {
            for (int u = 0; u < U; ++u) V::storeu(lanes + u * V::W, t[k][u]);
            s[k] = HealthLanes::add(s[k], HealthLanes::load(lanes));
        }
    }
    for (int k = 0; k < K; ++k) *out[k] = s[k].tree();
}

template <class V, bool P>
void health_before_of(const typename V::T* w, const typename V::T* g, typename V::T* keep,
                      index_t n, double* out) noexcept {
    constexpr int U = kHealthLanes / V::W, K = P ? 2 : 1;
    double* const sums[2] = {out, out + 3};  // the first K
    health_runs<V, K>(n, sums, [&](index_t i, index_t m, typename V::R(&t)[K][U]) {
        for (int u = 0; u < U; ++u) {
            const auto gv = health_load<V>(g + i, m, u);
            t[0][u] = V::fmadd(gv, gv, t[0][u]);
            if (P || keep) {
                const auto wv = health_load<V>(w + i, m, u);
                if constexpr (P) t[K - 1][u] = V::fmadd(wv, wv, t[K - 1][u]);
                if (keep) health_store<V>(keep + i, wv, m, u);
            }
        }
    });
}

template <class V>
void health_before(const typename V::T* w, const typename V::T* g, typename V::T* keep,
                   index_t n, bool prev_sum, double* out) noexcept {
    if (prev_sum) {
        health_before_of<V, true>(w, g, keep, n, out);
    } else {
        health_before_of<V, false>(w, g, keep, n, out);
    }
}

template <class V>
void health_after(const typename V::T* w, typename V::T* p, index_t n, bool set_p,
                  double* out) noexcept {
    constexpr int U = kHealthLanes / V::W;
    double* const sums[2] = {out + 1, out + 2};
    health_runs<V, 2>(n, sums, [&](index_t i, index_t m, typename V::R(&t)[2][U]) {
        for (int u = 0; u < U; ++u) {
            const auto wv = health_load<V>(w + i, m, u), pv = health_load<V>(p + i, m, u);
            const auto d = V::sub(wv, pv);
            t[0][u] = V::fmadd(wv, wv, t[0][u]);
            t[1][u] = V::fmadd(d, d, t[1][u]);
            if (set_p) health_store<V>(p + i, wv, m, u);
        }
    });
}

// health_before, sgd and health_after in one pass over the block: each group's gradient
// and old weights are loaded once, stepped by sgd_lanes (the sgd kernel's lanes) and their
// squares added to the same run sums, in the same order, as the three calls add them.
template <class V, bool P>
void sgd_health_of(typename V::T* w, const typename V::T* g, typename V::T* vel, index_t n,
                   const SgdHyper<typename V::T>& h, double* out) noexcept {
    constexpr int U = kHealthLanes / V::W, K = P ? 4 : 3;
    const bool mom = h.momentum != typename V::T(0);
    const bool read_v = mom && !h.first;
    double* const sums[4] = {out, out + 1, out + 2, out + 3};  // the first K
    health_runs<V, K>(n, sums, [&](index_t i, index_t m, typename V::R(&t)[K][U]) {
        for (int u = 0; u < U; ++u) {
            const auto gv = health_load<V>(g + i, m, u), wv = health_load<V>(w + i, m, u);
            t[0][u] = V::fmadd(gv, gv, t[0][u]);
            if constexpr (P) t[3][u] = V::fmadd(wv, wv, t[3][u]);
            auto vv = read_v ? health_load<V>(vel + i, m, u) : V::zero();
            const auto nw = sgd_lanes<V>(wv, gv, vv, h);
            health_store<V>(w + i, nw, m, u);
            if (mom) health_store<V>(vel + i, vv, m, u);
            const auto d = V::sub(nw, wv);
            t[1][u] = V::fmadd(nw, nw, t[1][u]);
            t[2][u] = V::fmadd(d, d, t[2][u]);
        }
    });
}

template <class V>
void sgd_health(typename V::T* w, const typename V::T* g, typename V::T* vel, index_t n,
                const SgdHyper<typename V::T>& h, bool prev_sum, double* out) noexcept {
    if (prev_sum) {
        sgd_health_of<V, true>(w, g, vel, n, h, out);
    } else {
        sgd_health_of<V, false>(w, g, vel, n, h, out);
    }
}

// Counts in T lanes (whole numbers, exact below 2^24 in float): flushed to an integer
// every kCountChunk vectors, so a lane holds at most kCountChunk and a lane sum W times it.
constexpr index_t kCountChunk = index_t(1) << 18;

template <class V>
std::int64_t count_outside(const typename V::T* x, index_t n, typename V::T lo,
                           typename V::T hi) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    const auto lv = V::set1(lo), hv = V::set1(hi), one = V::set1(T(1)), zero = V::zero();
    std::int64_t count = 0;
    for (index_t c0 = 0; c0 < n; c0 += kCountChunk * W) {
        const index_t c1 = n - c0 < kCountChunk * W ? n : c0 + kCountChunk * W;
        auto a0 = V::zero(), a1 = V::zero();
        index_t i = c0;
        // x < lo and x > hi never hold together (lo <= hi): two counts add to the count
        for (; i + W <= c1; i += W) {
            const auto v = V::loadu(x + i);
            a0 = V::add(a0, V::select(V::lt(v, lv), one, zero));
            a1 = V::add(a1, V::select(V::gt(v, hv), one, zero));
        }
        if (i < c1) {
            const auto v = V::load_part(x + i, c1 - i);
            a0 = V::add(a0, V::keep(V::select(V::lt(v, lv), one, zero), c1 - i));
            a1 = V::add(a1, V::keep(V::select(V::gt(v, hv), one, zero), c1 - i));
        }
        count += static_cast<std::int64_t>(V::sum(V::add(a0, a1)));
    }
    return count;
}

template <class V>
std::int64_t dead_columns(const typename V::T* y, index_t rows, index_t cols) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    const auto one = V::set1(T(1)), zero = V::zero();
    std::int64_t dead = 0;
    for (index_t c = 0; c < cols; c += W) {
        const index_t t = cols - c < W ? cols - c : W;
        auto alive = V::sub(one, V::keep(one, t));  // lanes >= t: no column, never dead
        for (index_t r = 0; r < rows; ++r) {
            const auto v = V::load_part(y + r * cols + c, t);
            alive = V::select(V::gt(v, zero), one, alive);
            alive = V::select(V::isnan(v), one, alive);
            if (!V::any(V::lt(alive, one))) break;  // every column alive
        }
        dead += W - static_cast<std::int64_t>(V::sum(alive));
    }
    return dead;
}

// x - x is +0 for a finite x and NaN for NaN and the infinities; sums of those stay 0
// until a NaN comes, which they keep: four independent sums, one test at the end (a
// whole-vector load may read past no value: the tail is a masked load). The same answer
// as the generic set's test of the exponent bits.
template <class V>
bool any_nonfinite(const typename V::T* x, index_t n) noexcept {
    constexpr int W = V::W;
    auto a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
    index_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        const auto v0 = V::loadu(x + i), v1 = V::loadu(x + i + W);
        const auto v2 = V::loadu(x + i + 2 * W), v3 = V::loadu(x + i + 3 * W);
        a0 = V::add(a0, V::sub(v0, v0));
        a1 = V::add(a1, V::sub(v1, v1));
        a2 = V::add(a2, V::sub(v2, v2));
        a3 = V::add(a3, V::sub(v3, v3));
    }
    for (; i + W <= n; i += W) {
        const auto v = V::loadu(x + i);
        a0 = V::add(a0, V::sub(v, v));
    }
    if (i < n) {
        const auto v = V::load_part(x + i, n - i);  // the lanes past n read as 0
        a1 = V::add(a1, V::sub(v, v));
    }
    return V::any(V::isnan(V::add(V::add(a0, a1), V::add(a2, a3))));
}

template <class V>
void set_health_kernels(KernelSet<typename V::T>& k) noexcept {
    k.health_before = &health_before<V>;
    k.health_after = &health_after<V>;
    k.sgd_health = &sgd_health<V>;
    k.count_outside = &count_outside<V>;
    k.dead_columns = &dead_columns<V>;
    k.any_nonfinite = &any_nonfinite<V>;
}
