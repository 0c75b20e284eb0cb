// The elementwise and reduction kernels over a vector type V: activations and their
// backward (with non-temporal stores), add, max, exp-and-sum, scale-add, dot, MSE, BCE.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

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

// Activations whose vector maths is a long dependency chain (exp, division, polynomials):
// their loops run four vectors at a time (Multi<V, 4>).
constexpr bool long_chain(Act act) noexcept {
    return act == Act::sigmoid || act == Act::tanh || act_from_input(act);
}

// Calls f(std::integral_constant<Act, A>{}) for the A equal to act: the loops below
// are compiled once per activation, so that no switch on the activation runs per vector
// (at a few vectors a call, as in a small network's layers, the switch cost more than
// the maths).
template <class F>
NNCORE_VINLINE void with_act(Act act, const F& f) noexcept {
    switch (act) {
        case Act::identity: return f(std::integral_constant<Act, Act::identity>{});
        case Act::relu: return f(std::integral_constant<Act, Act::relu>{});
        case Act::sigmoid: return f(std::integral_constant<Act, Act::sigmoid>{});
        case Act::tanh: return f(std::integral_constant<Act, Act::tanh>{});
        case Act::leaky_relu: return f(std::integral_constant<Act, Act::leaky_relu>{});
        case Act::gelu: return f(std::integral_constant<Act, Act::gelu>{});
        case Act::gelu_tanh: return f(std::integral_constant<Act, Act::gelu_tanh>{});
        case Act::silu: return f(std::integral_constant<Act, Act::silu>{});
        case Act::softplus: return f(std::integral_constant<Act, Act::softplus>{});
    }
}

template <class V, bool NT, Act A>
void activation_run(const typename V::T* x, typename V::T* y, index_t n,
                    typename V::T slope) noexcept {
    constexpr int W = V::W;
    using P = Multi<V, 4>;
    const auto s = V::set1(slope);
    index_t i = 0;
    if constexpr (NT) {
        i = head_to_align<V>(y, n);
        if (i > 0) V::store_part(y, apply_act<V>(A, V::load_part(x, i), s), i);
    }
    if constexpr (long_chain(A)) {  // four at a time
        const auto s2 = P::set1(slope);
        for (; i + P::W <= n; i += P::W) put<NT, P>(y + i, apply_act<P>(A, P::loadu(x + i), s2));
    }
    for (; i + W <= n; i += W) put<NT, V>(y + i, apply_act<V>(A, V::loadu(x + i), s));
    if (i < n) V::store_part(y + i, apply_act<V>(A, V::load_part(x + i, n - i), s), n - i);
    if constexpr (NT) _mm_sfence();
}

template <class V>
void activation(Act act, const typename V::T* x, typename V::T* y, index_t n,
                typename V::T slope, bool stream) noexcept {
    const bool nt = stream && can_stream(y);
    with_act(act, [&](auto a) {
        if (nt) {
            activation_run<V, true, decltype(a)::value>(x, y, n, slope);
        } else {
            activation_run<V, false, decltype(a)::value>(x, y, n, slope);
        }
    });
}

template <class V, bool NT, Act A>
void activation_backward_run(const typename V::T* y, const typename V::T* gy,
                             typename V::T* gx, index_t n, typename V::T slope) noexcept {
    constexpr int W = V::W;
    const auto s = V::set1(slope);
    index_t i = 0;
    if constexpr (NT) {
        i = head_to_align<V>(gx, n);
        if (i > 0) {
            const auto d = apply_act_backward<V>(A, V::load_part(y, i), V::load_part(gy, i), s);
            V::store_part(gx, d, i);
        }
    }
    if constexpr (act_from_input(A)) {  // long chains: four at a time
        using P = Multi<V, 4>;
        const auto s2 = P::set1(slope);
        for (; i + P::W <= n; i += P::W) {
            put<NT, P>(gx + i, apply_act_backward<P>(A, P::loadu(y + i), P::loadu(gy + i), s2));
        }
    }
    for (; i + W <= n; i += W) {
        put<NT, V>(gx + i, apply_act_backward<V>(A, V::loadu(y + i), V::loadu(gy + i), s));
    }
    if (i < n) {
        const index_t t = n - i;
        V::store_part(gx + i,
                      apply_act_backward<V>(A, V::load_part(y + i, t), V::load_part(gy + i, t),
                                            s),
                      t);
    }
    if constexpr (NT) _mm_sfence();
}

template <class V>
void activation_backward(Act act, const typename V::T* y, const typename V::T* gy,
                         typename V::T* gx, index_t n, typename V::T slope,
                         bool stream) noexcept {
    const bool nt = stream && can_stream(gx);
    with_act(act, [&](auto a) {
        if (nt) {
            activation_backward_run<V, true, decltype(a)::value>(y, gy, gx, n, slope);
        } else {
            activation_backward_run<V, false, decltype(a)::value>(y, gy, gx, n, slope);
        }
    });
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

template <class V>
void softmax_backward(const typename V::T* y, const typename V::T* gy, typename V::T* gx,
                      index_t n, bool log) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    // The scalar sum in index order, as the specification adds it (exp dominates).
    T c = T(0);
    if (log) {
        for (index_t i = 0; i < n; ++i) c += gy[i];
    } else {
        c = dot<V>(gy, y, n);
    }
    const auto cv = V::set1(c);
    for (index_t i = 0; i < n; i += W) {
        const index_t k = n - i < W ? n - i : W;
        const auto yv = V::load_part(y + i, k), gv = V::load_part(gy + i, k);
        const auto r = log ? V::sub(gv, V::mul(vexp<V>(yv), cv)) : V::mul(yv, V::sub(gv, cv));
        V::store_part(gx + i, r, k);
    }
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
