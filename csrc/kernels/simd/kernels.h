// The SIMD kernel set, written once over a vector type V (VecF32 / VecF64 from
// vec_avx2.h or vec_avx512.h). Each instruction set's .cpp includes the headers it needs,
// then this file inside its own anonymous namespace, so every instantiation is compiled
// with that set's flags and stays private to it. No include guards, no #includes: the
// including file provides <immintrin.h>, <cmath> and kernel_table.h.
//
// Every function implements the contract of the same entry in kernel_table.h; the
// generic set (csrc/kernels/generic/) is the readable specification.

// ----------------------------------------------------------------- vector maths

// The maths helpers are forced inline: called on Multi<V, U> (a struct of vectors) a
// separate function would pass its vectors through memory.
#if defined(__GNUC__)
#define NNCORE_VINLINE inline __attribute__((always_inline))
#else
#define NNCORE_VINLINE inline
#endif

template <class V>
struct Consts;

template <>
struct Consts<VecF32> {
    static constexpr float exp_lo = -104.0f, exp_hi = 89.0f;  // beyond: 0 and inf
    static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    static constexpr int exp_terms = 8;   // Taylor terms 1/k!, k < 8: |r| <= ln2/2
};

template <>
struct Consts<VecF64> {
    static constexpr double exp_lo = -746.0, exp_hi = 710.0;
    static constexpr double ln2_hi = 6.93147180369123816490e-01;
    static constexpr double ln2_lo = 1.90821492927058770002e-10;
    static constexpr int exp_terms = 14;
    static constexpr int log_terms = 12;
};

// Range reduction x = n*ln2 + r, |r| <= ln2/2, with x clamped so 2^n stays in range.
// NaN passes through the clamp (max/min return their second operand for NaN).
template <class V>
NNCORE_VINLINE void exp_reduce(typename V::R x, typename V::R& n, typename V::R& r) noexcept {
    using T = typename V::T;
    using C = Consts<V>;
    const auto xc = V::min(V::set1(T(C::exp_hi)), V::max(V::set1(T(C::exp_lo)), x));
    n = V::round(V::mul(xc, V::set1(T(1.44269504088896340736))));
    r = V::fmadd(n, V::set1(T(-C::ln2_hi)), xc);
    r = V::fmadd(n, V::set1(T(-C::ln2_lo)), r);
}

// r + r^2/2! + ... (the Taylor series of exp(r) - 1, to exp_terms terms)
template <class V>
NNCORE_VINLINE typename V::R expm1_poly(typename V::R r) noexcept {
    using T = typename V::T;
    constexpr int K = Consts<V>::exp_terms;
    T coef[K];
    T f = T(1);
    for (int k = 1; k < K; ++k) {
        f /= T(k);
        coef[k] = f;  // 1/k!
    }
    auto p = V::set1(coef[K - 1]);
    for (int k = K - 2; k >= 1; --k) p = V::fmadd(p, r, V::set1(coef[k]));
    return V::mul(p, r);
}

template <class V>
NNCORE_VINLINE typename V::R vexp(typename V::R x) noexcept {
    using T = typename V::T;
    typename V::R n, r;
    exp_reduce<V>(x, n, r);
    return V::scale2(V::add(expm1_poly<V>(r), V::set1(T(1))), n);
}

// exp(x) - 1 without cancellation near 0: 2^n * q + (2^n - 1) with q = expm1(r).
template <class V>
NNCORE_VINLINE typename V::R vexpm1(typename V::R x) noexcept {
    using T = typename V::T;
    typename V::R n, r;
    exp_reduce<V>(x, n, r);
    const auto q = expm1_poly<V>(r);
    const auto two_n = V::scale2(V::set1(T(1)), n);
    return V::add(V::mul(two_n, q), V::sub(two_n, V::set1(T(1))));
}

// log(u) for u in [1, 2]: u = 2^k f with k in {0, 1} and f in [sqrt(1/2), sqrt(2)].
// float: log f = x - x^2/2 + x^3 P(x), x = f - 1 (exact), P the Cephes logf minimax
// polynomial (no division). double: log f = 2 atanh(s), s = (f - 1) / (f + 1),
// |s| <= 0.1716, by its series.
template <class V>
NNCORE_VINLINE typename V::R vlog_1_2(typename V::R u) noexcept {
    using T = typename V::T;
    const auto one = V::set1(T(1));
    const auto big = V::gt(u, V::set1(T(1.41421356237309504880)));
    const auto f = V::select(big, V::mul(u, V::set1(T(0.5))), u);
    const auto k = V::select(big, one, V::zero());
    if constexpr (sizeof(T) == 4) {
        const auto x = V::sub(f, one);
        const auto x2 = V::mul(x, x);
        auto p = V::set1(7.0376836292e-2f);
        p = V::fmadd(p, x, V::set1(-1.1514610310e-1f));
        p = V::fmadd(p, x, V::set1(1.1676998740e-1f));
        p = V::fmadd(p, x, V::set1(-1.2420140846e-1f));
        p = V::fmadd(p, x, V::set1(1.4249322787e-1f));
        p = V::fmadd(p, x, V::set1(-1.6668057665e-1f));
        p = V::fmadd(p, x, V::set1(2.0000714765e-1f));
        p = V::fmadd(p, x, V::set1(-2.4999993993e-1f));
        p = V::fmadd(p, x, V::set1(3.3333331174e-1f));
        auto y = V::mul(V::mul(p, x), x2);
        y = V::fmadd(k, V::set1(-2.12194440e-4f), y);  // ln2 = 0.693359375 - 2.12194440e-4
        y = V::fmadd(x2, V::set1(-0.5f), y);
        return V::fmadd(k, V::set1(0.693359375f), V::add(x, y));
    } else {
        const auto s = V::div(V::sub(f, one), V::add(f, one));
        const auto s2 = V::mul(s, s);
        constexpr int K = Consts<V>::log_terms;
        auto p = V::set1(T(1) / T(2 * K - 1));
        for (int j = K - 2; j >= 0; --j) p = V::fmadd(p, s2, V::set1(T(1) / T(2 * j + 1)));
        const auto logf = V::mul(V::add(s, s), p);
        return V::fmadd(k, V::set1(T(0.69314718055994530942)), logf);
    }
}

// log1p(e) for e in [0, 1], given u = 1 + e (rounded) and r = 1 / u: with c = e - (u - 1),
// the rounding error of u (exact), log1p(e) = log(u) + c / u to within an ulp, and c / u
// is below an ulp of u, so c * r is accurate enough. e below half an ulp of 1 gives u = 1,
// c = e: the result is e.
template <class V>
NNCORE_VINLINE typename V::R vlog1p_01(typename V::R e, typename V::R u, typename V::R r) noexcept {
    const auto c = V::sub(e, V::sub(u, V::set1(typename V::T(1))));
    return V::fmadd(c, r, vlog_1_2<V>(u));
}

template <class V>
NNCORE_VINLINE typename V::R vsigmoid(typename V::R x) noexcept {
    using T = typename V::T;
    const auto e = vexp<V>(V::neg(V::abs(x)));
    const auto s = V::div(V::set1(T(1)), V::add(V::set1(T(1)), e));
    return V::select(V::ge(x, V::zero()), s, V::mul(e, s));
}

template <class V>
NNCORE_VINLINE typename V::R vtanh(typename V::R x) noexcept {
    using T = typename V::T;
    const auto a = V::abs(x);
    const auto e = vexpm1<V>(V::mul(a, V::set1(T(-2))));  // in [-1, 0]
    const auto t = V::div(V::neg(e), V::add(V::set1(T(2)), e));
    return V::copysign(t, x);
}

template <class V>
NNCORE_VINLINE typename V::R apply_act(Act act, typename V::R x, typename V::R slope) noexcept {
    switch (act) {
        // + 0 turns max's -0 into +0 as in the generic set; NaN passes through max.
        case Act::relu: return V::add(V::max(V::zero(), x), V::zero());
        case Act::leaky_relu: return V::select(V::gt(x, V::zero()), x, V::mul(x, slope));
        case Act::sigmoid: return vsigmoid<V>(x);
        case Act::tanh: return vtanh<V>(x);
        case Act::identity: break;
    }
    return x;
}

// gy * act'(from y)
template <class V>
NNCORE_VINLINE typename V::R apply_act_backward(Act act, typename V::R y, typename V::R gy,
                                        typename V::R slope) noexcept {
    using T = typename V::T;
    switch (act) {
        case Act::relu: return V::select(V::gt(y, V::zero()), gy, V::zero());
        case Act::leaky_relu: return V::select(V::gt(y, V::zero()), gy, V::mul(gy, slope));
        case Act::sigmoid: return V::mul(gy, V::mul(y, V::sub(V::set1(T(1)), y)));
        // 1 - y^2 in one rounding (fnmadd): it cancels near |y| = 1.
        case Act::tanh: return V::mul(gy, V::fmadd(V::neg(y), y, V::set1(T(1))));
        case Act::identity: break;
    }
    return gy;
}

// ------------------------------------------------------------------- packing

// Rows r[0..7] of an 8 x 8 float block -> its columns (AVX; both SIMD sets have it).
NNCORE_VINLINE void transpose8x8_ps(__m256 r[8]) noexcept {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
        u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    for (int q = 0; q < 4; ++q) {
        r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
        r[q + 4] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
    }
}

// Rows r[0..3] of a 4 x 4 double block -> its columns.
NNCORE_VINLINE void transpose4x4_pd(__m256d r[4]) noexcept {
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

// A B x B block that one set of 256-bit registers transposes: 8 x 8 float, 4 x 4 double.
template <class T>
struct Square;

template <>
struct Square<float> {
    static constexpr int B = 8;
    using R = __m256;
    static R load(const float* p) noexcept { return _mm256_loadu_ps(p); }
    static void store(float* p, R v) noexcept { _mm256_storeu_ps(p, v); }
    static void transpose(R r[8]) noexcept { transpose8x8_ps(r); }
};

template <>
struct Square<double> {
    static constexpr int B = 4;
    using R = __m256d;
    static R load(const double* p) noexcept { return _mm256_loadu_pd(p); }
    static void store(double* p, R v) noexcept { _mm256_storeu_pd(p, v); }
    static void transpose(R r[4]) noexcept { transpose4x4_pd(r); }
};

// dst[q * dst_stride + u] = src[u * src_stride + q] for q, u < B: one square through
// registers.
template <class T>
NNCORE_VINLINE void transpose_square(const T* src, index_t src_stride, T* dst,
                                     index_t dst_stride) noexcept {
    using S = Square<T>;
    typename S::R r[S::B];
    for (int q = 0; q < S::B; ++q) r[q] = S::load(src + q * src_stride);
    S::transpose(r);
    for (int q = 0; q < S::B; ++q) S::store(dst + q * dst_stride, r[q]);
}

// pack_a (kernel_table.h) for rows of A contiguous along k (cs == 1): 4 rows x 8 floats
// at a time transposed in registers when MR = 4 (float), B x B squares when MR is the
// square's size (double, MR = 4); everything else as pack_a_ref.
template <class V, int MR>
void pack_a_simd(const typename V::T* a, index_t rs, index_t cs, index_t m, index_t kc,
                 typename V::T* dst) noexcept {
    using T = typename V::T;
    constexpr int B = Square<T>::B;
    if (cs == 1 && m == MR && (MR == B || (sizeof(T) == 4 && MR == 4))) {
        index_t p = 0;
        if constexpr (MR == B) {
            for (; p + B <= kc; p += B) transpose_square(a + p, rs, dst + p * MR, MR);
        } else if constexpr (sizeof(T) == 4 && MR == 4) {
            for (; p + 8 <= kc; p += 8) {
                const __m256 r0 = _mm256_loadu_ps(a + p), r1 = _mm256_loadu_ps(a + rs + p);
                const __m256 r2 = _mm256_loadu_ps(a + 2 * rs + p);
                const __m256 r3 = _mm256_loadu_ps(a + 3 * rs + p);
                const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
                const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
                const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44);  // k 0 | 4
                const __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xEE);  // k 1 | 5
                const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44);  // k 2 | 6
                const __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE);  // k 3 | 7
                T* d = dst + p * MR;
                _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u1, 0x20));
                _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
                _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
                _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
            }
        }
        for (; p < kc; ++p) {
            for (int i = 0; i < MR; ++i) dst[p * MR + i] = a[i * rs + p];
        }
        return;
    }
    pack_a_ref<T, MR>(a, rs, cs, m, kc, dst);
}

// pack_b (kernel_table.h) for columns of B contiguous along k (rs == 1, a transposed
// operand): B columns x B k at a time through a square in registers; everything else as
// pack_b_ref.
template <class V, int NR>
void pack_b_simd(const typename V::T* b, index_t rs, index_t cs, index_t kc, index_t n,
                 typename V::T* dst) noexcept {
    using T = typename V::T;
    constexpr int B = Square<T>::B;
    if constexpr (NR % B == 0) {
        if (rs == 1 && cs != 1) {
            index_t j0 = 0;
            for (; j0 + B <= n; j0 += B) {
                index_t p = 0;
                for (; p + B <= kc; p += B) {
                    transpose_square(b + j0 * cs + p, cs, dst + p * NR + j0, NR);
                }
                for (; p < kc; ++p) {
                    for (int q = 0; q < B; ++q) dst[p * NR + j0 + q] = b[(j0 + q) * cs + p];
                }
            }
            for (index_t p = 0; p < kc; ++p) {
                for (index_t j = j0; j < NR; ++j) dst[p * NR + j] = j < n ? b[j * cs + p] : T(0);
            }
            return;
        }
    }
    pack_b_ref<T, NR>(b, rs, cs, kc, n, dst);
}

// ------------------------------------------------------------------- GEMM tile

// acc = A_panel * B_panel over kc for the first NA of the tile's NV column vectors
// (MR x NA accumulators, all in registers), then the epilogue while the values are still
// in registers; see kernel_table.h. Columns past NA * W are zero padding in B_panel
// (n <= NA * W), so they are neither computed nor stored.
template <class V, int MR, int NV, int NA>
void gemm_tile_cols(index_t m, index_t n, index_t kc, const typename V::T* a,
                    const typename V::T* b, typename V::T* c, index_t ldc,
                    const TileEpilogue<typename V::T>& ep) noexcept {
    using T = typename V::T;
    using R = typename V::R;
    constexpr int W = V::W;
    constexpr int NR = NV * W;
    R acc[MR][NA];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
        for (int v = 0; v < NA; ++v) acc[i][v] = V::zero();
    }
    // The C tile is read (accumulate) or written at the end: start fetching its rows
    // now, so that the epilogue does not wait on L2/L3 (C rows lie ldc apart, where the
    // hardware prefetcher does not look). The B panel needs no software prefetch: it is
    // in L1 after the first tile of a column panel and sequential before that.
    for (int i = 0; i < MR; ++i) {
        if (i >= m) break;
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + n - 1), _MM_HINT_T0);
    }
    // Unrolled by 8: the loop's pointer updates and branch are then a small share of
    // the front end's work (1.03-1.10x faster through nncore.matmul, avx2, one core).
#pragma GCC unroll 8
    for (index_t p = 0; p < kc; ++p) {
        const T* ap = a + p * MR;
        const T* bp = b + p * NR;
        R bv[NA];
#pragma GCC unroll 4
        for (int v = 0; v < NA; ++v) bv[v] = V::load(bp + v * W);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const R av = V::set1(ap[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NA; ++v) acc[i][v] = V::fmadd(av, bv[v], acc[i][v]);
        }
    }

    const R slope = V::set1(ep.slope);
    const bool full_cols = n == NA * W;
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        if (i >= m) break;
        T* ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NA; ++v) {
            const index_t cols = n - index_t(v) * W;
            if (cols <= 0) break;
            R r = acc[i][v];
            if (full_cols || cols >= W) {
                if (ep.accumulate) r = V::add(V::loadu(ci + v * W), r);
                if (ep.last) {
                    if (ep.bias) r = V::add(r, V::loadu(ep.bias + v * W));
                    r = apply_act<V>(ep.act, r, slope);
                }
                V::storeu(ci + v * W, r);
            } else {
                if (ep.accumulate) r = V::add(V::load_part(ci + v * W, cols), r);
                if (ep.last) {
                    if (ep.bias) r = V::add(r, V::load_part(ep.bias + v * W, cols));
                    r = apply_act<V>(ep.act, r, slope);
                }
                V::store_part(ci + v * W, r, cols);
            }
        }
    }
}

// The MR x (NV * W) tile: narrow edge tiles (a 10-column output layer in a 64-wide
// tile) run only the column vectors they need.
template <class V, int MR, int NV, int NA = NV>
void gemm_tile(index_t m, index_t n, index_t kc, const typename V::T* a,
               const typename V::T* b, typename V::T* c, index_t ldc,
               const TileEpilogue<typename V::T>& ep) noexcept {
    if constexpr (NA > 1) {
        if (n <= index_t(NA - 1) * V::W) {
            return gemm_tile<V, MR, NV, NA - 1>(m, n, kc, a, b, c, ldc, ep);
        }
    }
    gemm_tile_cols<V, MR, NV, NA>(m, n, kc, a, b, c, ldc, ep);
}

// ----------------------------------------------------------- interleaved vectors

// U vectors of V handled as one: every operation is applied to all U before the next
// operation starts, so the compiled code interleaves U independent dependency chains.
// The long chains of exp / log / division (~100 cycles from load to store) otherwise
// fill the scheduler with waiting work, one vector at a time; with U independent chains
// the core always has ready operations. Results are lane for lane those of V (the
// kernels compile with -ffp-contract=off, so no path fuses differently). U = 4 measured
// best for sigmoid, tanh and bce on one Zen 3 core (in-process A/B, 65,536 floats in
// L2, ns per element): sigmoid 1.22 / 0.92 / 0.80 / 0.90 / 0.99 for U = 1 / 2 / 4 / 6 / 8,
// bce 2.52 / 2.02 / 1.72 / 1.83 / 2.03 (more chains than registers spill).
template <class V, int U>
struct Multi {
    using T = typename V::T;
    struct R {
        typename V::R v[U];
    };
    struct M {
        typename V::M v[U];
    };
    static constexpr int W = V::W * U;
#define NNCORE_MULTI_1(name)                                     \
    static R name(R a) noexcept {                                \
        R r;                                                     \
        for (int u = 0; u < U; ++u) r.v[u] = V::name(a.v[u]);    \
        return r;                                                \
    }
#define NNCORE_MULTI_2(ret, name)                                        \
    static ret name(R a, R b) noexcept {                                 \
        ret r;                                                           \
        for (int u = 0; u < U; ++u) r.v[u] = V::name(a.v[u], b.v[u]);    \
        return r;                                                        \
    }
    NNCORE_MULTI_1(abs)
    NNCORE_MULTI_1(neg)
    NNCORE_MULTI_1(round)
    NNCORE_MULTI_2(R, add)
    NNCORE_MULTI_2(R, sub)
    NNCORE_MULTI_2(R, mul)
    NNCORE_MULTI_2(R, div)
    NNCORE_MULTI_2(R, max)
    NNCORE_MULTI_2(R, min)
    NNCORE_MULTI_2(R, scale2)
    NNCORE_MULTI_2(R, copysign)
    NNCORE_MULTI_2(M, gt)
    NNCORE_MULTI_2(M, ge)
    NNCORE_MULTI_2(M, lt)
    NNCORE_MULTI_2(M, eq)
#undef NNCORE_MULTI_1
#undef NNCORE_MULTI_2
    static R zero() noexcept { return set1(T(0)); }
    static R set1(T x) noexcept {
        R r;
        for (int u = 0; u < U; ++u) r.v[u] = V::set1(x);
        return r;
    }
    static R fmadd(R a, R b, R c) noexcept {
        R r;
        for (int u = 0; u < U; ++u) r.v[u] = V::fmadd(a.v[u], b.v[u], c.v[u]);
        return r;
    }
    static R select(M m, R a, R b) noexcept {
        R r;
        for (int u = 0; u < U; ++u) r.v[u] = V::select(m.v[u], a.v[u], b.v[u]);
        return r;
    }
    static R loadu(const T* p) noexcept {
        R r;
        for (int u = 0; u < U; ++u) r.v[u] = V::loadu(p + u * V::W);
        return r;
    }
    static void storeu(T* p, R a) noexcept {
        for (int u = 0; u < U; ++u) V::storeu(p + u * V::W, a.v[u]);
    }
    static void stream(T* p, R a) noexcept {
        for (int u = 0; u < U; ++u) V::stream(p + u * V::W, a.v[u]);
    }
    // The lanes' sum in V, added in a fixed order.
    static typename V::R fold(R a) noexcept {
        typename V::R r = a.v[0];
        for (int u = 1; u < U; ++u) r = V::add(r, a.v[u]);
        return r;
    }
};

template <class V, int U>
struct Consts<Multi<V, U>> : Consts<V> {};

// ------------------------------------------------------------- elementwise loops

// A whole vector to p: a non-temporal store when NT (p aligned to the vector).
template <bool NT, class VV>
NNCORE_VINLINE void put(typename VV::T* p, typename VV::R v) noexcept {
    if constexpr (NT) {
        VV::stream(p, v);
    } else {
        VV::storeu(p, v);
    }
}

// Elements before y + i is aligned to a whole vector (for non-temporal stores).
template <class V>
index_t head_to_align(const typename V::T* y, index_t n) noexcept {
    constexpr std::uintptr_t bytes = V::W * sizeof(typename V::T);
    const std::uintptr_t mis = reinterpret_cast<std::uintptr_t>(y) % bytes;
    const index_t h = mis == 0 ? 0 : index_t((bytes - mis) / sizeof(typename V::T));
    return h < n ? h : n;
}

// Non-temporal stores need y aligned to its element size (numpy's own arrays are).
template <class T>
bool can_stream(const T* y) noexcept {
    return reinterpret_cast<std::uintptr_t>(y) % sizeof(T) == 0;
}

template <class V, bool NT>
void activation_run(Act act, const typename V::T* x, typename V::T* y, index_t n,
                    typename V::T slope) noexcept {
    constexpr int W = V::W;
    using P = Multi<V, 4>;
    const auto s = V::set1(slope);
    index_t i = 0;
    if constexpr (NT) {
        i = head_to_align<V>(y, n);
        if (i > 0) V::store_part(y, apply_act<V>(act, V::load_part(x, i), s), i);
    }
    if (act == Act::sigmoid || act == Act::tanh) {  // long chains: four at a time
        const auto s2 = P::set1(slope);
        for (; i + P::W <= n; i += P::W) put<NT, P>(y + i, apply_act<P>(act, P::loadu(x + i), s2));
    }
    for (; i + W <= n; i += W) put<NT, V>(y + i, apply_act<V>(act, V::loadu(x + i), s));
    if (i < n) V::store_part(y + i, apply_act<V>(act, V::load_part(x + i, n - i), s), n - i);
    if constexpr (NT) _mm_sfence();
}

template <class V>
void activation(Act act, const typename V::T* x, typename V::T* y, index_t n,
                typename V::T slope, bool stream) noexcept {
    if (stream && can_stream(y)) {
        activation_run<V, true>(act, x, y, n, slope);
    } else {
        activation_run<V, false>(act, x, y, n, slope);
    }
}

template <class V, bool NT>
void activation_backward_run(Act act, const typename V::T* y, const typename V::T* gy,
                             typename V::T* gx, index_t n, typename V::T slope) noexcept {
    constexpr int W = V::W;
    const auto s = V::set1(slope);
    index_t i = 0;
    if constexpr (NT) {
        i = head_to_align<V>(gx, n);
        if (i > 0) {
            const auto d = apply_act_backward<V>(act, V::load_part(y, i), V::load_part(gy, i), s);
            V::store_part(gx, d, i);
        }
    }
    for (; i + W <= n; i += W) {
        put<NT, V>(gx + i, apply_act_backward<V>(act, V::loadu(y + i), V::loadu(gy + i), s));
    }
    if (i < n) {
        const index_t t = n - i;
        V::store_part(gx + i,
                      apply_act_backward<V>(act, V::load_part(y + i, t), V::load_part(gy + i, t),
                                            s),
                      t);
    }
    if constexpr (NT) _mm_sfence();
}

template <class V>
void activation_backward(Act act, const typename V::T* y, const typename V::T* gy,
                         typename V::T* gx, index_t n, typename V::T slope,
                         bool stream) noexcept {
    if (stream && can_stream(gx)) {
        activation_backward_run<V, true>(act, y, gy, gx, n, slope);
    } else {
        activation_backward_run<V, false>(act, y, gy, gx, n, slope);
    }
}

template <class V>
void add_inplace(typename V::T* acc, const typename V::T* x, index_t n) noexcept {
    constexpr int W = V::W;
    index_t i = 0;
    for (; i + W <= n; i += W) V::storeu(acc + i, V::add(V::loadu(acc + i), V::loadu(x + i)));
    if (i < n) {
        const index_t t = n - i;
        V::store_part(acc + i, V::add(V::load_part(acc + i, t), V::load_part(x + i, t)), t);
    }
}

template <class V>
typename V::T max(const typename V::T* x, index_t n) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    index_t i = 0;
    T m = x[0];
    if (n >= W) {
        auto mv = V::loadu(x);
        auto nan = V::isnan(mv);
        for (i = W; i + W <= n; i += W) {
            const auto v = V::loadu(x + i);
            nan = V::any(V::isnan(v)) ? V::isnan(v) : nan;
            if (V::any(nan)) return std::numeric_limits<T>::quiet_NaN();
            mv = V::max(mv, v);
        }
        if (V::any(nan)) return std::numeric_limits<T>::quiet_NaN();
        m = V::hmax(mv);
    }
    for (; i < n; ++i) {
        if (x[i] != x[i]) return x[i];
        m = x[i] > m ? x[i] : m;
    }
    return m;
}

template <class V>
typename V::T exp_shift_sum(const typename V::T* x, typename V::T shift, typename V::T* y,
                            index_t n) noexcept {
    constexpr int W = V::W;
    const auto sh = V::set1(shift);
    auto s0 = V::zero(), s1 = V::zero();
    index_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        const auto e0 = vexp<V>(V::sub(V::loadu(x + i), sh));
        const auto e1 = vexp<V>(V::sub(V::loadu(x + i + W), sh));
        if (y) {
            V::storeu(y + i, e0);
            V::storeu(y + i + W, e1);
        }
        s0 = V::add(s0, e0);
        s1 = V::add(s1, e1);
    }
    for (; i < n; i += W) {
        const index_t t = n - i < W ? n - i : W;
        const auto e = V::keep(vexp<V>(V::sub(V::load_part(x + i, t), sh)), t);
        if (y) V::store_part(y + i, e, t);
        s0 = V::add(s0, e);
    }
    return V::sum(V::add(s0, s1));
}

template <class V>
void scale_add(const typename V::T* x, typename V::T s, typename V::T c, typename V::T* y,
               index_t n) noexcept {
    constexpr int W = V::W;
    const auto sv = V::set1(s), cv = V::set1(c);
    index_t i = 0;
    for (; i + W <= n; i += W) V::storeu(y + i, V::fmadd(V::loadu(x + i), sv, cv));
    if (i < n) V::store_part(y + i, V::fmadd(V::load_part(x + i, n - i), sv, cv), n - i);
}

template <class V>
typename V::T dot(const typename V::T* x, const typename V::T* y, index_t n) noexcept {
    constexpr int W = V::W;
    auto s0 = V::zero(), s1 = V::zero();
    index_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        s0 = V::fmadd(V::loadu(x + i), V::loadu(y + i), s0);
        s1 = V::fmadd(V::loadu(x + i + W), V::loadu(y + i + W), s1);
    }
    for (; i < n; i += W) {
        const index_t t = n - i < W ? n - i : W;
        s0 = V::fmadd(V::load_part(x + i, t), V::load_part(y + i, t), s0);
    }
    return V::sum(V::add(s0, s1));
}

template <class V>
typename V::T mse(const typename V::T* p, const typename V::T* t, typename V::T* l,
                  typename V::T* g, index_t n, typename V::T gscale) noexcept {
    constexpr int W = V::W;
    const auto g2 = V::set1(gscale * typename V::T(2));
    auto s = V::zero();
    for (index_t i = 0; i < n; i += W) {
        const index_t k = n - i < W ? n - i : W;
        const auto d = V::sub(V::load_part(p + i, k), V::load_part(t + i, k));
        const auto d2 = V::mul(d, d);
        s = V::add(s, d2);
        if (l) V::store_part(l + i, d2, k);
        if (g) V::store_part(g + i, V::mul(g2, d), k);
    }
    return V::sum(s);
}

// One chunk of bce_logits in vector type VV (V, or Multi<V, U> for whole chunks):
// returns the losses; stores l and g when given.
template <class VV>
NNCORE_VINLINE typename VV::R bce_chunk(typename VV::R zv, typename VV::R tv, typename VV::R gs,
                                typename VV::T* g) noexcept {
    using T = typename VV::T;
    const auto one = VV::set1(T(1));
    const auto e = vexp<VV>(VV::neg(VV::abs(zv)));  // in (0, 1]: no overflow
    const auto u = VV::add(one, e);
    const auto r = VV::div(one, u);  // 1 / (1 + e): sigmoid(|z|), shared with log1p
    if (g) {
        const auto sig = VV::select(VV::ge(zv, VV::zero()), r, VV::mul(e, r));
        VV::storeu(g, VV::mul(gs, VV::sub(sig, tv)));
    }
    return VV::add(VV::sub(VV::max(VV::zero(), zv), VV::mul(zv, tv)), vlog1p_01<VV>(e, u, r));
}

template <class V>
typename V::T bce_logits(const typename V::T* z, const typename V::T* t, typename V::T* l,
                         typename V::T* g, index_t n, typename V::T gscale) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    using P = Multi<V, 4>;
    index_t i = 0;
    // Whole groups of four vectors, four dependency chains at a time.
    auto s2 = P::zero();
    const auto gs2 = P::set1(gscale);
    for (; i + P::W <= n; i += P::W) {
        const auto loss = bce_chunk<P>(P::loadu(z + i), P::loadu(t + i), gs2, g ? g + i : nullptr);
        s2 = P::add(s2, loss);
        if (l) P::storeu(l + i, loss);
    }
    auto s = P::fold(s2);
    const auto gs = V::set1(gscale);
    alignas(64) T gbuf[W];
    for (; i < n; i += W) {
        const index_t k = n - i < W ? n - i : W;
        const auto loss = bce_chunk<V>(V::load_part(z + i, k), V::load_part(t + i, k), gs,
                                       g ? gbuf : nullptr);
        s = V::add(s, V::keep(loss, k));
        if (l) V::store_part(l + i, loss, k);
        if (g) V::store_part(g + i, V::loadu(gbuf), k);
    }
    return V::sum(s);
}

// ----------------------------------------------------- cross-entropy with labels

// log1p(q) for 0 <= q < 63: u = 1 + q (rounded) halved k times into [1, 2), log u =
// k ln2 + log(u / 2^k), plus c / u for the rounding error c = q - (u - 1) (exact).
template <class V>
NNCORE_VINLINE typename V::R vlog1p_lt63(typename V::R q) noexcept {
    using T = typename V::T;
    const auto one = V::set1(T(1)), two = V::set1(T(2)), half = V::set1(T(0.5));
    const auto u = V::add(one, q);
    const auto c = V::sub(q, V::sub(u, one));
    auto f = u, k = V::zero();
    for (int h = 0; h < 6; ++h) {  // u < 64
        const auto big = V::ge(f, two);
        f = V::select(big, V::mul(f, half), f);
        k = V::select(big, V::add(k, one), k);
    }
    const auto log_u = V::fmadd(k, V::set1(T(0.69314718055994530942)), vlog_1_2<V>(f));
    return V::add(log_u, V::div(c, u));
}

// Between a block of W rows of `classes` values (row stride `classes`) and its transpose
// buf[j * W + lane]: B x B squares through registers (Square<T>), the last classes % B
// columns one value at a time. TO_BUF: in -> buf, else buf -> out.
template <class V, bool TO_BUF>
NNCORE_VINLINE void ce_transpose(const typename V::T* in, typename V::T* out, index_t classes,
                                 typename V::T* buf) noexcept {
    constexpr int W = V::W;
    constexpr int B = Square<typename V::T>::B;
    static_assert(W % B == 0, "a vector holds whole squares");
    index_t j0 = 0;
    for (; j0 + B <= classes; j0 += B) {
        for (int g = 0; g < W; g += B) {
            if (TO_BUF) {
                transpose_square(in + g * classes + j0, classes, buf + j0 * W + g, W);
            } else {
                transpose_square(buf + j0 * W + g, W, out + g * classes + j0, classes);
            }
        }
    }
    for (; j0 < classes; ++j0) {
        for (int lane = 0; lane < W; ++lane) {
            if (TO_BUF) {
                buf[j0 * W + lane] = in[lane * classes + j0];
            } else {
                out[lane * classes + j0] = buf[j0 * W + lane];
            }
        }
    }
}

// ce_labels: W rows at a time, one per lane, after transposing the W x classes block
// into a buffer (and the gradient back); the same steps as ce_row (ce_row.h), with rest
// summed in index order.
template <class V>
void ce_labels(const typename V::T* x, const std::int64_t* labels, const typename V::T* w,
               typename V::T denom, typename V::T* loss, typename V::T* g, index_t rows,
               index_t classes) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    alignas(64) T buf[kCeLaneClasses * W];
    alignas(64) T lab[W], xl[W];
    index_t r0 = 0;
    if (classes <= kCeLaneClasses) {
        const auto one = V::set1(T(1));
        for (; r0 + W <= rows; r0 += W) {
            const T* xb = x + r0 * classes;
            ce_transpose<V, true>(xb, nullptr, classes, buf);
            for (int lane = 0; lane < W; ++lane) {
                lab[lane] = T(labels[r0 + lane]);
                xl[lane] = xb[lane * classes + labels[r0 + lane]];
            }
            // m, and NaN in `bad` if any logit is NaN or infinite (x - x).
            auto m = V::loadu(buf);
            auto bad = V::sub(m, m);
            for (index_t j = 1; j < classes; ++j) {
                const auto xj = V::loadu(buf + j * W);
                m = V::max(m, xj);
                bad = V::add(bad, V::sub(xj, xj));
            }
            if (V::sum(bad) != T(0)) {  // NaN: the scalar rows, which propagate it
                for (int lane = 0; lane < W; ++lane) {
                    const index_t r = r0 + lane;
                    const T gscale = (w ? w[r] : T(1)) / denom;
                    loss[r] = ce_row(x + r * classes, labels[r], classes, gscale,
                                     g ? g + r * classes : nullptr);
                }
                continue;
            }
            auto a = V::zero();  // first j with x_j == m
            for (index_t j = classes - 1; j >= 0; --j) {
                a = V::select(V::eq(V::loadu(buf + j * W), m), V::set1(T(j)), a);
            }
            auto rest = V::zero();
            for (index_t j = 0; j < classes; ++j) {
                const auto is_a = V::eq(V::set1(T(j)), a);
                const auto e = vexp<V>(V::sub(V::loadu(buf + j * W), m));
                rest = V::add(rest, V::select(is_a, V::zero(), e));
                V::storeu(buf + j * W, V::select(is_a, one, e));  // softmax * s
            }
            const auto s = V::add(one, rest);
            const auto labv = V::loadu(lab);
            V::storeu(loss + r0, V::add(vlog1p_lt63<V>(rest), V::sub(m, V::loadu(xl))));
            if (!g) continue;
            const auto gs = V::div(w ? V::loadu(w + r0) : one, V::set1(denom));
            const auto f = V::div(gs, s);
            const auto at_a = V::neg(V::mul(gs, V::div(rest, s)));
            for (index_t j = 0; j < classes; ++j) {
                const auto jv = V::set1(T(j));
                const auto gj = V::mul(V::loadu(buf + j * W), f);
                const auto at_label = V::select(V::eq(jv, a), at_a, V::sub(gj, gs));
                V::storeu(buf + j * W, V::select(V::eq(jv, labv), at_label, gj));
            }
            ce_transpose<V, false>(nullptr, g + r0 * classes, classes, buf);
        }
    }
    for (; r0 < rows; ++r0) {
        const T gscale = (w ? w[r0] : T(1)) / denom;
        loss[r0] = ce_row(x + r0 * classes, labels[r0], classes, gscale,
                          g ? g + r0 * classes : nullptr);
    }
}

// The set for V: `base` (the generic set of the same dtype) with every entry this file
// implements overridden, so an entry it lacks falls back to generic instead of null.
template <class V, int MR, int NV>
KernelSet<typename V::T> make_set(const KernelSet<typename V::T>& base, int mc, int kc,
                                  int nc) noexcept {
    KernelSet<typename V::T> k = base;
    k.mr = MR;
    k.nr = NV * V::W;
    k.mc = mc;
    k.kc = kc;
    k.nc = nc;
    k.gemm_tile = &gemm_tile<V, MR, NV, NV>;
    k.pack_a = &pack_a_simd<V, MR>;
    k.pack_b = &pack_b_simd<V, NV * V::W>;
    k.activation = &activation<V>;
    k.activation_backward = &activation_backward<V>;
    k.add_inplace = &add_inplace<V>;
    k.max = &max<V>;
    k.exp_shift_sum = &exp_shift_sum<V>;
    k.scale_add = &scale_add<V>;
    k.dot = &dot<V>;
    k.mse = &mse<V>;
    k.bce_logits = &bce_logits<V>;
    k.ce_labels = &ce_labels<V>;
    k.fma_peak = &fma_peak_loop<V>;
    return k;
}
