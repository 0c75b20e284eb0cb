// Vector maths over a vector type V (VecF32 / VecF64): exp, expm1, log near 1,
// sigmoid, tanh, the normal distribution's tail (gelu) and the activations with their
// backward, as the SIMD kernels use them.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

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

// The activations whose derivative needs the pre-activation, lane for lane as their
// scalar specifications in act_math.h (same operations in the same order; only exp and
// log1p differ by an ulp or so from std::exp / std::log1p).

// exp(r) / sqrt(2 pi) for |r| <= ln2 / 2: the Chebyshev interpolant (degree 6 for float,
// 11 for double; the exp's Taylor series needs 8 and 14 terms), in monomial form for
// Horner's rule, with Horner's error in T about an ulp (scripts/fit_normal_tail.py phi).
template <class T>
struct PhiPoly;

template <>
struct PhiPoly<float> {
    static constexpr int n = 7;
    static constexpr float p[n] = {3.989422917e-01f, 3.989422917e-01f, 1.994711459e-01f,
                                   6.648937613e-02f, 1.662247069e-02f, 3.341195406e-03f,
                                   5.561701837e-04f};
};

template <>
struct PhiPoly<double> {
    static constexpr int n = 12;
    static constexpr double p[n] = {
        0.3989422804014327, 0.3989422804014327, 0.19947114020071707, 0.0664903800669055,
        0.016622595016655067, 0.0033245190033397896, 0.0005540865030893916,
        7.915521456007363e-05, 9.894361159399403e-06, 1.0993748521123084e-06,
        1.1023834288550655e-07, 1.0017460290762537e-08};
};

// phi(t) = exp(-t^2 / 2) / sqrt(2 pi) for t in [0, t_max]: vexp's reduction
// -t^2 / 2 = n ln2 + r, with r = fma(-t / 2, t, -n ln2_hi) (n ln2_hi is exact: the product
// t^2 needs no second word), n rounded to nearest by a magic constant, and no clamp (-t_max^2 / 2 is within scale2's range, and the
// result underflows to 0 there as act_math.h's std::exp does), then PhiPoly.
template <class V>
NNCORE_VINLINE typename V::R vnormal_density(typename V::R t) noexcept {
    using T = typename V::T;
    using C = Consts<V>;
    using P = PhiPoly<T>;
    // n = round(-t^2 / (2 ln2)) by adding and taking away 1.5 * 2^(digits - 1), whose ulp
    // is 1 (an fma and a subtraction: cheaper than a multiplication and V::round)
    const auto magic = V::set1(T(1.5) * T(sizeof(T) == 4 ? 8388608.0 : 4503599627370496.0));
    const auto u = V::mul(V::set1(T(-0.5)), t);  // exact
    const auto n = V::sub(V::fmadd(u, V::mul(t, V::set1(T(1.44269504088896340736))), magic),
                          magic);
    auto r = V::fmadd(u, t, V::mul(n, V::set1(T(-C::ln2_hi))));
    r = V::fmadd(n, V::set1(T(-C::ln2_lo)), r);
    auto p = V::set1(P::p[P::n - 1]);
    for (int k = P::n - 2; k >= 0; --k) p = V::fmadd(p, r, V::set1(P::p[k]));
    return V::scale2(p, n);
}

// act_math.h's normal_tail: q = Phi(-t), phi = phi(t), t = min(|x|, t_max).
template <class V>
NNCORE_VINLINE typename V::R vnormal_tail(typename V::R x, typename V::R& t,
                                          typename V::R& phi) noexcept {
    using T = typename V::T;
    using P = NormalTail<T>;
    using C = ActConst<T>;
    t = V::min(V::set1(P::t_max), V::abs(x));  // NaN passes (min returns its second operand)
    phi = vnormal_density<V>(t);
    const auto z = V::div(V::sub(t, V::set1(P::c)), V::add(t, V::set1(P::c)));
    auto h = V::set1(P::p[P::n - 1]);
    for (int k = P::n - 2; k >= 0; --k) h = V::fmadd(h, z, V::set1(P::p[k]));
    return V::div(V::mul(phi, h),
                  V::fmadd(V::set1(C::two_over_sqrt_pi), t, V::set1(C::sqrt_2_over_pi)));
}

// act_math.h's normal_cdf and clamp_below_t_max (NaN passes: max returns its second
// operand)
template <class V>
NNCORE_VINLINE typename V::R vnormal_cdf(typename V::R x, typename V::R q) noexcept {
    using T = typename V::T;
    return V::select(V::ge(x, V::zero()), V::sub(V::set1(T(1)), q), q);
}

template <class V>
NNCORE_VINLINE typename V::R vclamp_below_t_max(typename V::R x) noexcept {
    using T = typename V::T;
    return V::max(V::set1(-NormalTail<T>::t_max), x);
}

template <class V>
NNCORE_VINLINE typename V::R vgelu(typename V::R x) noexcept {
    typename V::R t, phi;
    const auto q = vnormal_tail<V>(x, t, phi);
    return V::mul(vclamp_below_t_max<V>(x), vnormal_cdf<V>(x, q));
}

template <class V>
NNCORE_VINLINE typename V::R vgelu_derivative(typename V::R x) noexcept {
    using T = typename V::T;
    typename V::R t, phi;
    const auto q = vnormal_tail<V>(x, t, phi);
    const auto xc = V::min(V::set1(NormalTail<T>::t_max), vclamp_below_t_max<V>(x));
    return V::fmadd(xc, phi, vnormal_cdf<V>(x, q));
}

// act_math.h's sigmoid_parts: e = exp(-|v|), r = 1 / (1 + e); returns sigmoid(v).
template <class V>
NNCORE_VINLINE typename V::R vsigmoid_parts(typename V::R v, typename V::R& e,
                                            typename V::R& r) noexcept {
    using T = typename V::T;
    e = vexp<V>(V::neg(V::abs(v)));
    r = V::div(V::set1(T(1)), V::add(V::set1(T(1)), e));
    return V::select(V::ge(v, V::zero()), r, V::mul(e, r));
}

template <class V>
NNCORE_VINLINE typename V::R vclamp_x(typename V::R x) noexcept {
    using T = typename V::T;
    const T c = ActConst<T>::x_clamp;
    return V::min(V::set1(c), V::max(V::set1(-c), x));  // NaN passes
}

template <class V>
NNCORE_VINLINE typename V::R vgelu_tanh_arg(typename V::R xc) noexcept {
    using T = typename V::T;
    using C = ActConst<T>;
    return V::mul(V::mul(V::set1(C::two_k), xc),
                  V::fmadd(V::mul(V::set1(C::kappa), xc), xc, V::set1(T(1))));
}

template <class V>
NNCORE_VINLINE typename V::R vgelu_tanh(typename V::R x) noexcept {
    const auto xc = vclamp_x<V>(x);
    typename V::R e, r;
    const auto s = vsigmoid_parts<V>(vgelu_tanh_arg<V>(xc), e, r);
    return V::select(V::ge(x, V::zero()), V::mul(x, s), V::mul(xc, s));
}

template <class V>
NNCORE_VINLINE typename V::R vgelu_tanh_derivative(typename V::R x) noexcept {
    using T = typename V::T;
    using C = ActConst<T>;
    const auto xc = vclamp_x<V>(x);
    typename V::R e, r;
    const auto s = vsigmoid_parts<V>(vgelu_tanh_arg<V>(xc), e, r);
    const auto dv = V::mul(V::set1(C::two_k),
                           V::fmadd(V::mul(V::set1(C::three_kappa), xc), xc, V::set1(T(1))));
    return V::add(s, V::mul(V::mul(xc, V::mul(V::mul(e, r), r)), dv));
}

template <class V>
NNCORE_VINLINE typename V::R vsilu(typename V::R x) noexcept {
    const auto xc = vclamp_x<V>(x);
    typename V::R e, r;
    const auto s = vsigmoid_parts<V>(x, e, r);
    return V::select(V::ge(x, V::zero()), V::mul(x, s), V::mul(xc, s));
}

template <class V>
NNCORE_VINLINE typename V::R vsilu_derivative(typename V::R x) noexcept {
    typename V::R e, r;
    const auto s = vsigmoid_parts<V>(x, e, r);
    return V::add(s, V::mul(vclamp_x<V>(x), V::mul(V::mul(e, r), r)));
}

template <class V>
NNCORE_VINLINE typename V::R vsoftplus(typename V::R x) noexcept {
    using T = typename V::T;
    const auto e = vexp<V>(V::neg(V::abs(x)));
    const auto u = V::add(V::set1(T(1)), e);
    const auto r = V::div(V::set1(T(1)), u);
    const auto y = V::add(V::max(V::zero(), x), vlog1p_01<V>(e, u, r));
    return V::select(V::gt(x, V::set1(ActConst<T>::threshold)), x, y);
}

template <class V>
NNCORE_VINLINE typename V::R vsoftplus_derivative(typename V::R x) noexcept {
    using T = typename V::T;
    typename V::R e, r;
    const auto s = vsigmoid_parts<V>(x, e, r);
    return V::select(V::gt(x, V::set1(ActConst<T>::threshold)), V::set1(T(1)), s);
}

template <class V>
NNCORE_VINLINE typename V::R apply_act(Act act, typename V::R x, typename V::R slope) noexcept {
    switch (act) {
        // + 0 turns max's -0 into +0 as in the generic set; NaN passes through max.
        case Act::relu: return V::add(V::max(V::zero(), x), V::zero());
        case Act::leaky_relu: return V::select(V::gt(x, V::zero()), x, V::mul(x, slope));
        case Act::sigmoid: return vsigmoid<V>(x);
        case Act::tanh: return vtanh<V>(x);
        case Act::gelu: return vgelu<V>(x);
        case Act::gelu_tanh: return vgelu_tanh<V>(x);
        case Act::silu: return vsilu<V>(x);
        case Act::softplus: return vsoftplus<V>(x);
        case Act::identity: break;
    }
    return x;
}

// gy * act'(from y, or from the pre-activation where act_from_input(act))
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
        case Act::gelu: return V::mul(gy, vgelu_derivative<V>(y));
        case Act::gelu_tanh: return V::mul(gy, vgelu_tanh_derivative<V>(y));
        case Act::silu: return V::mul(gy, vsilu_derivative<V>(y));
        case Act::softplus: return V::mul(gy, vsoftplus_derivative<V>(y));
        case Act::identity: break;
    }
    return gy;
}

// y = act(x) and d = act'(x) for act_from_input(act), lane for lane what apply_act and
// apply_act_backward (with gy = 1) give, the maths both need computed once (gelu's normal
// tail, silu's and gelu_tanh's sigmoid, softplus's exp(-|x|) and 1 / (1 + exp(-|x|))).
template <class V>
NNCORE_VINLINE void apply_act_pair(Act act, typename V::R x, typename V::R slope,
                                   typename V::R& y, typename V::R& d) noexcept {
    using T = typename V::T;
    if (act == Act::gelu) {  // vgelu and vgelu_derivative, sharing q, phi and Phi(x)
        typename V::R t, phi;
        const auto q = vnormal_tail<V>(x, t, phi);
        const auto cdf = vnormal_cdf<V>(x, q);
        const auto xm = vclamp_below_t_max<V>(x);
        y = V::mul(xm, cdf);
        d = V::fmadd(V::min(V::set1(NormalTail<T>::t_max), xm), phi, cdf);
        return;
    }
    if (act == Act::silu || act == Act::gelu_tanh) {  // one sigmoid for both
        const auto xc = vclamp_x<V>(x);
        typename V::R e, r;
        const auto s = vsigmoid_parts<V>(act == Act::silu ? x : vgelu_tanh_arg<V>(xc), e, r);
        y = V::select(V::ge(x, V::zero()), V::mul(x, s), V::mul(xc, s));
        const auto er2 = V::mul(V::mul(e, r), r);
        if (act == Act::silu) {
            d = V::add(s, V::mul(xc, er2));
        } else {
            using C = ActConst<T>;
            const auto dv = V::mul(V::set1(C::two_k),
                                   V::fmadd(V::mul(V::set1(C::three_kappa), xc), xc, V::set1(T(1))));
            d = V::add(s, V::mul(V::mul(xc, er2), dv));
        }
        return;
    }
    if (act == Act::softplus) {  // exp(-|x|) and 1 / (1 + exp(-|x|)) once for both
        const auto e = vexp<V>(V::neg(V::abs(x)));
        const auto u = V::add(V::set1(T(1)), e);
        const auto r = V::div(V::set1(T(1)), u);
        const auto above = V::gt(x, V::set1(ActConst<T>::threshold));
        y = V::select(above, x, V::add(V::max(V::zero(), x), vlog1p_01<V>(e, u, r)));
        d = V::select(above, V::set1(T(1)), V::select(V::ge(x, V::zero()), r, V::mul(e, r)));
        return;
    }
    y = apply_act<V>(act, x, slope);
    d = apply_act_backward<V>(act, x, V::set1(T(1)), slope);
}
