// AVX-512 vectors of float and double for the templates in kernels.h.
// Included only from csrc/kernels/avx512/, inside that set's anonymous namespace.
// Every operation takes its NaN-propagating operand order into account: for max/min
// the second operand is returned when either is NaN.

struct VecF32 {
    using T = float;
    using R = __m512;
    using M = __mmask16;
    static constexpr int W = 16;
    static R zero() noexcept { return _mm512_setzero_ps(); }
    static R set1(T v) noexcept { return _mm512_set1_ps(v); }
    static R load(const T* p) noexcept { return _mm512_load_ps(p); }
    static R loadu(const T* p) noexcept { return _mm512_loadu_ps(p); }
    static void storeu(T* p, R v) noexcept { _mm512_storeu_ps(p, v); }
    // non-temporal store; p aligned to the vector
    static void stream(T* p, R v) noexcept { _mm512_stream_ps(p, v); }
    static M tail(index_t n) noexcept {
        return n >= W ? M(0xFFFF) : M((1u << static_cast<unsigned>(n)) - 1u);
    }
    static R load_part(const T* p, index_t n) noexcept {
        return _mm512_maskz_loadu_ps(tail(n), p);
    }
    static void store_part(T* p, R v, index_t n) noexcept {
        _mm512_mask_storeu_ps(p, tail(n), v);
    }
    // lanes >= n set to zero
    static R keep(R v, index_t n) noexcept { return _mm512_maskz_mov_ps(tail(n), v); }
    static R add(R a, R b) noexcept { return _mm512_add_ps(a, b); }
    static R sub(R a, R b) noexcept { return _mm512_sub_ps(a, b); }
    static R mul(R a, R b) noexcept { return _mm512_mul_ps(a, b); }
    static R div(R a, R b) noexcept { return _mm512_div_ps(a, b); }
    static R sqrt(R a) noexcept { return _mm512_sqrt_ps(a); }
    static R fmadd(R a, R b, R c) noexcept { return _mm512_fmadd_ps(a, b, c); }
    static R max(R a, R b) noexcept { return _mm512_max_ps(a, b); }
    static R min(R a, R b) noexcept { return _mm512_min_ps(a, b); }
    static R abs(R a) noexcept { return _mm512_abs_ps(a); }
    // -a by flipping the sign bit (0 - a would turn -0 into +0 and +0 stay +0)
    static R neg(R a) noexcept {
        return _mm512_castsi512_ps(_mm512_xor_si512(
            _mm512_castps_si512(a), _mm512_set1_epi32(static_cast<int>(0x80000000u))));
    }
    static M gt(R a, R b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static M ge(R a, R b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
    static M lt(R a, R b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static M eq(R a, R b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
    static M isnan(R a) noexcept { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
    // m ? a : b
    static R select(M m, R a, R b) noexcept { return _mm512_mask_blend_ps(m, b, a); }
    static R round(R a) noexcept {
        return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    // a * 2^n for integral n, exact, saturating to 0 or inf.
    static R scale2(R a, R n) noexcept { return _mm512_scalef_ps(a, n); }
    // sign bit of s on the magnitude of a
    static R copysign(R a, R s) noexcept {
        const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
        return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
            _mm512_castps_si512(a), _mm512_castps_si512(s), sign, 0xD8));
    }
    static T sum(R a) noexcept { return _mm512_reduce_add_ps(a); }
    static T hmax(R a) noexcept { return _mm512_reduce_max_ps(a); }
    static bool any(M m) noexcept { return m != 0; }
};

struct VecF64 {
    using T = double;
    using R = __m512d;
    using M = __mmask8;
    static constexpr int W = 8;
    static R zero() noexcept { return _mm512_setzero_pd(); }
    static R set1(T v) noexcept { return _mm512_set1_pd(v); }
    static R load(const T* p) noexcept { return _mm512_load_pd(p); }
    static R loadu(const T* p) noexcept { return _mm512_loadu_pd(p); }
    static void storeu(T* p, R v) noexcept { _mm512_storeu_pd(p, v); }
    // non-temporal store; p aligned to the vector
    static void stream(T* p, R v) noexcept { _mm512_stream_pd(p, v); }
    static M tail(index_t n) noexcept {
        return n >= W ? M(0xFF) : M((1u << static_cast<unsigned>(n)) - 1u);
    }
    static R load_part(const T* p, index_t n) noexcept {
        return _mm512_maskz_loadu_pd(tail(n), p);
    }
    static void store_part(T* p, R v, index_t n) noexcept {
        _mm512_mask_storeu_pd(p, tail(n), v);
    }
    static R keep(R v, index_t n) noexcept { return _mm512_maskz_mov_pd(tail(n), v); }
    static R add(R a, R b) noexcept { return _mm512_add_pd(a, b); }
    static R sub(R a, R b) noexcept { return _mm512_sub_pd(a, b); }
    static R mul(R a, R b) noexcept { return _mm512_mul_pd(a, b); }
    static R div(R a, R b) noexcept { return _mm512_div_pd(a, b); }
    static R sqrt(R a) noexcept { return _mm512_sqrt_pd(a); }
    static R fmadd(R a, R b, R c) noexcept { return _mm512_fmadd_pd(a, b, c); }
    static R max(R a, R b) noexcept { return _mm512_max_pd(a, b); }
    static R min(R a, R b) noexcept { return _mm512_min_pd(a, b); }
    static R abs(R a) noexcept { return _mm512_abs_pd(a); }
    static R neg(R a) noexcept {
        return _mm512_castsi512_pd(_mm512_xor_si512(
            _mm512_castpd_si512(a),
            _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull))));
    }
    static M gt(R a, R b) noexcept { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
    static M ge(R a, R b) noexcept { return _mm512_cmp_pd_mask(a, b, _CMP_GE_OQ); }
    static M lt(R a, R b) noexcept { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
    static M eq(R a, R b) noexcept { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
    static M isnan(R a) noexcept { return _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q); }
    static R select(M m, R a, R b) noexcept { return _mm512_mask_blend_pd(m, b, a); }
    static R round(R a) noexcept {
        return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static R scale2(R a, R n) noexcept { return _mm512_scalef_pd(a, n); }
    static R copysign(R a, R s) noexcept {
        const __m512i sign = _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull));
        return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(
            _mm512_castpd_si512(a), _mm512_castpd_si512(s), sign, 0xD8));
    }
    static T sum(R a) noexcept { return _mm512_reduce_add_pd(a); }
    static T hmax(R a) noexcept { return _mm512_reduce_max_pd(a); }
    static bool any(M m) noexcept { return m != 0; }
};
