// AVX2 + FMA vectors of float and double for the templates in kernels.h.
// Included only from csrc/kernels/avx2/, inside that set's anonymous namespace.
// Masks are vectors of all-ones / all-zeros lanes. For max/min the second operand is
// returned when either is NaN.

struct VecF32 {
    using T = float;
    using R = __m256;
    using M = __m256;
    static constexpr int W = 8;
    static R zero() noexcept { return _mm256_setzero_ps(); }
    static R set1(T v) noexcept { return _mm256_set1_ps(v); }
    static R load(const T* p) noexcept { return _mm256_load_ps(p); }
    static R loadu(const T* p) noexcept { return _mm256_loadu_ps(p); }
    static void storeu(T* p, R v) noexcept { _mm256_storeu_ps(p, v); }
    // non-temporal store; p aligned to the vector
    static void stream(T* p, R v) noexcept { _mm256_stream_ps(p, v); }
    static __m256i tail(index_t n) noexcept {
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < W ? n : W)), idx);
    }
    // Whole vectors take plain loads and stores: vmaskmov is slow on AMD cores (a masked
    // store is microcoded on Zen 2/3), and loops pass n >= W for all but their tail.
    static R load_part(const T* p, index_t n) noexcept {
        return n >= W ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail(n));
    }
    static void store_part(T* p, R v, index_t n) noexcept {
        if (n >= W) {
            _mm256_storeu_ps(p, v);
        } else {
            _mm256_maskstore_ps(p, tail(n), v);
        }
    }
    // lanes >= n set to zero
    static R keep(R v, index_t n) noexcept {
        return _mm256_and_ps(v, _mm256_castsi256_ps(tail(n)));
    }
    static R add(R a, R b) noexcept { return _mm256_add_ps(a, b); }
    static R sub(R a, R b) noexcept { return _mm256_sub_ps(a, b); }
    static R mul(R a, R b) noexcept { return _mm256_mul_ps(a, b); }
    static R div(R a, R b) noexcept { return _mm256_div_ps(a, b); }
    static R sqrt(R a) noexcept { return _mm256_sqrt_ps(a); }
    static R fmadd(R a, R b, R c) noexcept { return _mm256_fmadd_ps(a, b, c); }
    static R max(R a, R b) noexcept { return _mm256_max_ps(a, b); }
    static R min(R a, R b) noexcept { return _mm256_min_ps(a, b); }
    static R abs(R a) noexcept { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
    static R neg(R a) noexcept { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
    static M gt(R a, R b) noexcept { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static M ge(R a, R b) noexcept { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
    static M lt(R a, R b) noexcept { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static M eq(R a, R b) noexcept { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
    static M isnan(R a) noexcept { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
    static R select(M m, R a, R b) noexcept { return _mm256_blendv_ps(b, a, m); }
    static R round(R a) noexcept {
        return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    // a * 2^n for integral n in [-252, 254] (enough for the callers' clamped ranges):
    // split into two factors that are each a normal power of two.
    static R scale2(R a, R n) noexcept {
        const __m256i ni = _mm256_cvtps_epi32(n);
        const __m256i h = _mm256_srai_epi32(ni, 1);
        const __m256i bias = _mm256_set1_epi32(127);
        const R f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
        const R f2 = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
        return _mm256_mul_ps(_mm256_mul_ps(a, f1), f2);
    }
    static R copysign(R a, R s) noexcept {
        const R sign = _mm256_set1_ps(-0.0f);
        return _mm256_or_ps(_mm256_andnot_ps(sign, a), _mm256_and_ps(sign, s));
    }
    static T sum(R a) noexcept {
        const __m128 lo = _mm256_castps256_ps128(a), hi = _mm256_extractf128_ps(a, 1);
        __m128 s = _mm_add_ps(lo, hi);
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static T hmax(R a) noexcept {
        alignas(32) T t[W];
        _mm256_store_ps(t, a);
        T m = t[0];
        for (int i = 1; i < W; ++i) m = t[i] > m ? t[i] : m;
        return m;
    }
    static bool any(M m) noexcept { return _mm256_movemask_ps(m) != 0; }
};

struct VecF64 {
    using T = double;
    using R = __m256d;
    using M = __m256d;
    static constexpr int W = 4;
    static R zero() noexcept { return _mm256_setzero_pd(); }
    static R set1(T v) noexcept { return _mm256_set1_pd(v); }
    static R load(const T* p) noexcept { return _mm256_load_pd(p); }
    static R loadu(const T* p) noexcept { return _mm256_loadu_pd(p); }
    static void storeu(T* p, R v) noexcept { _mm256_storeu_pd(p, v); }
    // non-temporal store; p aligned to the vector
    static void stream(T* p, R v) noexcept { _mm256_stream_pd(p, v); }
    static __m256i tail(index_t n) noexcept {
        const __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3);
        return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n < W ? n : W), idx);
    }
    // Whole vectors take plain loads and stores: vmaskmov is slow on AMD cores (a masked
    // store is microcoded on Zen 2/3), and loops pass n >= W for all but their tail.
    static R load_part(const T* p, index_t n) noexcept {
        return n >= W ? _mm256_loadu_pd(p) : _mm256_maskload_pd(p, tail(n));
    }
    static void store_part(T* p, R v, index_t n) noexcept {
        if (n >= W) {
            _mm256_storeu_pd(p, v);
        } else {
            _mm256_maskstore_pd(p, tail(n), v);
        }
    }
    static R keep(R v, index_t n) noexcept {
        return _mm256_and_pd(v, _mm256_castsi256_pd(tail(n)));
    }
    static R add(R a, R b) noexcept { return _mm256_add_pd(a, b); }
    static R sub(R a, R b) noexcept { return _mm256_sub_pd(a, b); }
    static R mul(R a, R b) noexcept { return _mm256_mul_pd(a, b); }
    static R div(R a, R b) noexcept { return _mm256_div_pd(a, b); }
    static R sqrt(R a) noexcept { return _mm256_sqrt_pd(a); }
    static R fmadd(R a, R b, R c) noexcept { return _mm256_fmadd_pd(a, b, c); }
    static R max(R a, R b) noexcept { return _mm256_max_pd(a, b); }
    static R min(R a, R b) noexcept { return _mm256_min_pd(a, b); }
    static R abs(R a) noexcept { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
    static R neg(R a) noexcept { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
    static M gt(R a, R b) noexcept { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
    static M ge(R a, R b) noexcept { return _mm256_cmp_pd(a, b, _CMP_GE_OQ); }
    static M lt(R a, R b) noexcept { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
    static M eq(R a, R b) noexcept { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
    static M isnan(R a) noexcept { return _mm256_cmp_pd(a, a, _CMP_UNORD_Q); }
    static R select(M m, R a, R b) noexcept { return _mm256_blendv_pd(b, a, m); }
    static R round(R a) noexcept {
        return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    // a * 2^n for integral n in [-2044, 2046], as two normal powers of two.
    static R scale2(R a, R n) noexcept {
        const __m256i ni = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n));
        // arithmetic shift right by 1 of 64-bit lanes holding small values
        const __m256i h = _mm256_sub_epi64(
            _mm256_srli_epi64(_mm256_add_epi64(ni, _mm256_set1_epi64x(4096)), 1),
            _mm256_set1_epi64x(2048));
        const __m256i bias = _mm256_set1_epi64x(1023);
        const R f1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(h, bias), 52));
        const R f2 = _mm256_castsi256_pd(
            _mm256_slli_epi64(_mm256_add_epi64(_mm256_sub_epi64(ni, h), bias), 52));
        return _mm256_mul_pd(_mm256_mul_pd(a, f1), f2);
    }
    static R copysign(R a, R s) noexcept {
        const R sign = _mm256_set1_pd(-0.0);
        return _mm256_or_pd(_mm256_andnot_pd(sign, a), _mm256_and_pd(sign, s));
    }
    static T sum(R a) noexcept {
        const __m128d lo = _mm256_castpd256_pd128(a), hi = _mm256_extractf128_pd(a, 1);
        const __m128d s = _mm_add_pd(lo, hi);
        return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
    }
    static T hmax(R a) noexcept {
        alignas(32) T t[W];
        _mm256_store_pd(t, a);
        T m = t[0];
        for (int i = 1; i < W; ++i) m = t[i] > m ? t[i] : m;
        return m;
    }
    static bool any(M m) noexcept { return _mm256_movemask_pd(m) != 0; }
};
