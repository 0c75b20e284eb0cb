// The gradient-health kernels of kernel_table.h over a vector type V, with the generic
// set's bits (generic/health.h is the specification). health_sums keeps a run's 16 lanes
// in T vectors and their 16 double sums in registers (2 x 8 with AVX-512, 4 x 4 with
// AVX2), converting a run's float sums to double there, and adds the lanes with the
// contract's tree; the counts use V's comparisons.
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

// The run sums of the 16 lanes in T: kHealthLanes / W vectors for each of the four sums.
template <class V>
struct HealthRun {
    static constexpr int U = kHealthLanes / V::W;
    typename V::R t[4][U];
};

// One group of 16 values into the run sums; p[0:16] = w[0:16] after p is read.
template <class V>
NNCORE_VINLINE void health_group(const typename V::T* w, typename V::T* p,
                                 const typename V::T* g, HealthRun<V>& r) noexcept {
    for (int u = 0; u < HealthRun<V>::U; ++u) {
        const auto gv = V::loadu(g + u * V::W), wv = V::loadu(w + u * V::W),
                   pv = V::loadu(p + u * V::W);
        const auto d = V::sub(wv, pv);
        r.t[0][u] = V::add(r.t[0][u], V::mul(gv, gv));
        r.t[1][u] = V::add(r.t[1][u], V::mul(wv, wv));
        r.t[2][u] = V::add(r.t[2][u], V::mul(d, d));
        r.t[3][u] = V::add(r.t[3][u], V::mul(pv, pv));
        V::storeu(p + u * V::W, wv);
    }
}

template <class V>
void health_sums(const typename V::T* w, typename V::T* p, const typename V::T* g, index_t n,
                 double* out) noexcept {
    using T = typename V::T;
    constexpr int L = kHealthLanes, U = HealthRun<V>::U;
    constexpr index_t run = index_t(L) * kHealthRun;
    HealthLanes s[4] = {HealthLanes::zero(), HealthLanes::zero(), HealthLanes::zero(),
                        HealthLanes::zero()};
    for (index_t r0 = 0; r0 < n; r0 += run) {
        const index_t r1 = n - r0 < run ? n : r0 + run;
        HealthRun<V> r;
        for (int k = 0; k < 4; ++k) {
            for (int u = 0; u < U; ++u) r.t[k][u] = V::zero();
        }
        index_t i = r0;
        for (; i + L <= r1; i += L) health_group<V>(w + i, p + i, g + i, r);
        if (i < r1) {  // the last values, zero-padded: a lane adds +0, which keeps its sum
            T tw[L] = {}, tp[L] = {}, tg[L] = {};
            for (index_t j = i; j < r1; ++j) {
                tw[j - i] = w[j];
                tp[j - i] = p[j];
                tg[j - i] = g[j];
            }
            health_group<V>(tw, tp, tg, r);
            for (index_t j = i; j < r1; ++j) p[j] = w[j];
        }
        T lanes[L];
        for (int k = 0; k < 4; ++k) {
            for (int u = 0; u < U; ++u) V::storeu(lanes + u * V::W, r.t[k][u]);
            s[k] = HealthLanes::add(s[k], HealthLanes::load(lanes));
        }
    }
    for (int k = 0; k < 4; ++k) out[k] = s[k].tree();
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

template <class V>
void set_health_kernels(KernelSet<typename V::T>& k) noexcept {
    k.health_sums = &health_sums<V>;
    k.count_outside = &count_outside<V>;
    k.dead_columns = &dead_columns<V>;
}
