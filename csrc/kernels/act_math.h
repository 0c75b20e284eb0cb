// The activations whose derivative needs the pre-activation x (gelu, gelu_tanh, silu,
// softplus), written once as scalar specifications that the generic set runs and the SIMD
// sets mirror lane for lane (simd/vec_math.h), with the constants both use. PyTorch's
// definitions (softplus with beta = 1, threshold = 20):
//   gelu(x)      = x Phi(x),  Phi(x) = erfc(-x / sqrt 2) / 2          (approximate="none")
//   gelu_tanh(x) = x (1 + tanh(u)) / 2 = x sigmoid(2u),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   silu(x)      = x sigmoid(x)
//   softplus(x)  = log1p(exp(x)), and x itself for x > 20
// Each is computed in a form that loses no accuracy in the tails (no 1 + erf, 1 + tanh or
// 1 - sigmoid that cancels), and gives the limits at +-inf (gelu(-inf) = -0, not NaN).
// No include guard, no #include and no namespace: each kernel set's .cpp includes it
// inside its own anonymous namespace (after <cmath>). Comparisons are written so that a
// NaN x falls through to x: NaN propagates.

// The lower tail of the normal distribution, Phi(-t) for t >= 0, as
//   Phi(-t) = exp(-t^2 / 2) h(Z) / (2 (1 + sqrt2 t)),   Z = (t - c) / (t + c) in [-1, 1),
// computed as phi(t) h(Z) / (sqrt(2/pi) + (2/sqrt(pi)) t), phi(t) = exp(-t^2/2) / sqrt(2 pi),
// where h(Z) = (1 + 2z) erfcx(z) with z = t / sqrt 2 (erfcx(z) = exp(z^2) erfc(z)) is
// smooth and flat (1 <= h < 1.13) over the whole half-line, and is fitted by one
// polynomial in Z: the Chebyshev interpolant of degree n - 1 (computed in 50-digit
// arithmetic), in monomial form. With the coefficients rounded to T and Horner's rule in T
// its error is about an ulp of T. scripts/fit_normal_tail.py computes the coefficients
// and that error. Beyond t_max, Phi(-t) underflows to 0.
template <class T>
struct NormalTail;

template <>
struct NormalTail<float> {
    static constexpr float c = 3.0f, t_max = 15.0f;
    static constexpr int n = 11;
    static constexpr float p[n] = {
        1.274107933e+00f, -1.020292267e-01f, -1.485605240e-01f, 1.660241634e-01f,
        -6.936190277e-02f, 8.951224154e-04f, 9.286062792e-03f, -7.706004544e-04f,
        -1.469304785e-03f, 7.012140850e-05f, 1.873416622e-04f};
};

template <>
struct NormalTail<double> {
    static constexpr double c = 4.25, t_max = 40.0;
    static constexpr int n = 25;
    static constexpr double p[n] = {
        1.2528904999283854, -0.13570314285873533, -0.04710813384083356, 0.12931369815600147,
        -0.11931367635547878, 0.06859720442182166, -0.02405134532750114,
        0.002666729856193174, 0.0018667953172788257, -0.0007937296761476039,
        -9.782665954390248e-05, 0.00012602295111552588, 3.525821305965704e-06,
        -2.0151702800347514e-05, -4.595498761655418e-07, 3.483856445415826e-06,
        3.0248538734963085e-07, -6.228268272548848e-07, -1.3076464014321078e-07,
        1.0419616723947777e-07, 3.985781305030102e-08, -1.387735708746023e-08,
        -8.2302453489984e-09, 1.051879444513825e-09, 8.657046325997498e-10};
};

// Constants of the four activations, rounded once to T.
template <class T>
struct ActConst {
    static constexpr T inv_sqrt_2pi = T(0.39894228040143267794);  // 1 / sqrt(2 pi)
    static constexpr T two_over_sqrt_pi = T(1.12837916709551257390);
    static constexpr T sqrt_2_over_pi = T(0.79788456080286535588);
    static constexpr T two_k = T(1.59576912160573071176);         // 2 sqrt(2 / pi)
    static constexpr T kappa = T(0.044715);
    static constexpr T three_kappa = T(0.134145);
    static constexpr T threshold = T(20);  // softplus: x itself above it (PyTorch's)
    // |x| beyond which exp(-|x|) and the sigmoid's tail are 0 in T: x is clamped to it
    // where it multiplies such a tail, so that inf * 0 never makes a NaN.
    static constexpr T x_clamp = T(1e4);
};

// q = Phi(-t) and phi = phi(t) = exp(-t^2 / 2) / sqrt(2 pi) for t = min(|x|, t_max).
// t^2 is carried as hi + lo (lo from a fused multiply-add, exact), so phi is accurate to
// an ulp or so for any t. (The SIMD sets reduce -t^2 / 2 = n ln2 + r with an fma, which
// needs no second word, and take exp(r) / sqrt(2 pi) as one polynomial: the same maths
// within an ulp or so, as their exp is within an ulp of std::exp.)
template <class T>
inline T normal_tail(T x, T& t, T& phi) noexcept {
    using P = NormalTail<T>;
    using C = ActConst<T>;
    const T a = std::fabs(x);
    t = a > P::t_max ? P::t_max : a;
    const T hi = t * t, lo = std::fma(t, t, -hi);
    phi = C::inv_sqrt_2pi * std::exp(T(-0.5) * hi);
    phi = std::fma(phi, T(-0.5) * lo, phi);  // exp(-(hi + lo) / 2) = exp(-hi / 2) (1 - lo / 2)
    const T z = (t - P::c) / (t + P::c);
    T h = P::p[P::n - 1];
    for (int k = P::n - 2; k >= 0; --k) h = std::fma(h, z, P::p[k]);
    return phi * h / std::fma(C::two_over_sqrt_pi, t, C::sqrt_2_over_pi);
}

// Phi(x) from q = Phi(-|x|): 1 - q for x >= 0, q below (NaN: q, a NaN).
template <class T>
inline T normal_cdf(T x, T q) noexcept {
    return x >= T(0) ? T(1) - q : q;
}

// x clamped below at -t_max (NaN falls through): where x is below, Phi(x) is 0, and
// -t_max * 0 is -0 where -inf * 0 would be NaN.
template <class T>
inline T clamp_below_t_max(T x) noexcept {
    const T m = -NormalTail<T>::t_max;
    return x < m ? m : x;
}

// gelu(x) = x Phi(x) (x clamped below: -inf gives -0).
template <class T>
inline T gelu(T x) noexcept {
    T t, phi;
    const T q = normal_tail(x, t, phi);
    return clamp_below_t_max(x) * normal_cdf(x, q);
}

// gelu'(x) = Phi(x) + x phi(x), x clamped to +-t_max (phi is 0 beyond it, and
// +-t_max * 0 is 0 where inf * 0 would be NaN).
template <class T>
inline T gelu_derivative(T x) noexcept {
    T t, phi;
    const T q = normal_tail(x, t, phi);
    const T m = NormalTail<T>::t_max, xm = clamp_below_t_max(x);
    return std::fma(xm > m ? m : xm, phi, normal_cdf(x, q));
}

// The sigmoid of v in two parts that never cancel: with e = exp(-|v|) and r = 1 / (1 + e),
// sigmoid(v) = v >= 0 ? r : e r and sigmoid(v) (1 - sigmoid(v)) = e r^2.
template <class T>
inline T sigmoid_parts(T v, T& e, T& r) noexcept {
    e = std::exp(-std::fabs(v));
    r = T(1) / (T(1) + e);
    return v >= T(0) ? r : e * r;
}

template <class T>
inline T clamp_x(T x) noexcept {
    const T c = ActConst<T>::x_clamp;
    return x < -c ? -c : (x > c ? c : x);
}

// v = 2u = 2 sqrt(2/pi) x (1 + 0.044715 x^2), from x clamped (the sigmoid is 0 or 1 there).
template <class T>
inline T gelu_tanh_arg(T xc) noexcept {
    using C = ActConst<T>;
    return (C::two_k * xc) * std::fma(C::kappa * xc, xc, T(1));
}

// gelu_tanh(x) = x sigmoid(v).
template <class T>
inline T gelu_tanh(T x) noexcept {
    const T xc = clamp_x(x);
    T e, r;
    const T s = sigmoid_parts(gelu_tanh_arg(xc), e, r);
    return x >= T(0) ? x * s : xc * s;
}

// gelu_tanh'(x) = s + x s (1 - s) v'(x), v' = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2).
template <class T>
inline T gelu_tanh_derivative(T x) noexcept {
    using C = ActConst<T>;
    const T xc = clamp_x(x);
    T e, r;
    const T s = sigmoid_parts(gelu_tanh_arg(xc), e, r);
    const T dv = C::two_k * std::fma(C::three_kappa * xc, xc, T(1));
    return s + (xc * (e * r * r)) * dv;
}

// silu(x) = x sigmoid(x).
template <class T>
inline T silu(T x) noexcept {
    const T xc = clamp_x(x);
    T e, r;
    const T s = sigmoid_parts(x, e, r);
    return x >= T(0) ? x * s : xc * s;
}

// silu'(x) = s + x s (1 - s).
template <class T>
inline T silu_derivative(T x) noexcept {
    T e, r;
    const T s = sigmoid_parts(x, e, r);
    return s + clamp_x(x) * (e * r * r);
}

// softplus(x) = max(x, 0) + log1p(exp(-|x|)) (no overflow), x itself above the threshold.
template <class T>
inline T softplus(T x) noexcept {
    if (x > ActConst<T>::threshold) return x;
    return (x < T(0) ? T(0) : x) + std::log1p(std::exp(-std::fabs(x)));
}

// softplus'(x) = sigmoid(x), 1 above the threshold.
template <class T>
inline T softplus_derivative(T x) noexcept {
    if (x > ActConst<T>::threshold) return T(1);
    T e, r;
    return sigmoid_parts(x, e, r);
}
