// The optimiser updates (KernelSet::sgd / adam / rmsprop) over a vector type V: the operations of
// the generic set's loops, lane for lane in the same order, so every set gives the same
// bits (the kernels compile with -ffp-contract=off, and sqrt and division round
// correctly in every set).
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

// One vector of SGD: p, gr, vel -> new p, and the new velocity in vel.
template <class V>
NNCORE_VINLINE typename V::R sgd_lanes(typename V::R p, typename V::R gr, typename V::R& vel,
                                       const SgdHyper<typename V::T>& h) noexcept {
    const auto g = V::add(gr, V::mul(V::set1(h.weight_decay), p));
    auto step = g;
    if (h.momentum != typename V::T(0)) {
        const auto mu = V::set1(h.momentum);
        vel = h.first ? g : V::add(V::mul(mu, vel), V::mul(V::set1(h.keep), g));
        step = h.nesterov ? V::add(g, V::mul(mu, vel)) : vel;
    }
    return V::sub(p, V::mul(V::set1(h.lr), step));
}

template <class V>
void sgd(typename V::T* param, const typename V::T* grad, typename V::T* velocity, index_t n,
         const SgdHyper<typename V::T>& hyper) noexcept {
    // A local copy: param's stores may alias the caller's hyper-parameters as far as the
    // compiler knows, so it reloaded and re-tested them on every vector (16 instructions
    // per 8 floats at momentum 0 on avx2; the same operations per element, so the same bits)
    const SgdHyper<typename V::T> h = hyper;
    constexpr int W = V::W;
    const bool mom = h.momentum != typename V::T(0);
    const bool read_v = mom && !h.first;
    index_t i = 0;
    for (; i + W <= n; i += W) {
        auto vel = read_v ? V::loadu(velocity + i) : V::zero();
        V::storeu(param + i, sgd_lanes<V>(V::loadu(param + i), V::loadu(grad + i), vel, h));
        if (mom) V::storeu(velocity + i, vel);
    }
    if (i < n) {
        const index_t k = n - i;
        auto vel = read_v ? V::load_part(velocity + i, k) : V::zero();
        const auto p = sgd_lanes<V>(V::load_part(param + i, k), V::load_part(grad + i, k), vel, h);
        V::store_part(param + i, p, k);
        if (mom) V::store_part(velocity + i, vel, k);
    }
}

// One vector of Adam: p, gr, m, v (and vmax for amsgrad) -> new p, with the new moments in
// m, v and vmax.
template <class V>
NNCORE_VINLINE typename V::R adam_lanes(typename V::R p, typename V::R gr, typename V::R& m,
                                        typename V::R& v, typename V::R& vmax, bool ams,
                                        const AdamHyper<typename V::T>& h) noexcept {
    const auto g = V::add(gr, V::mul(V::set1(h.weight_decay), p));
    if (h.decoupled) p = V::mul(p, V::set1(h.decay_scale));
    m = V::add(V::mul(V::set1(h.beta1), m), V::mul(V::set1(h.one_b1), g));
    v = V::add(V::mul(V::set1(h.beta2), v), V::mul(V::mul(V::set1(h.one_b2), g), g));
    auto u = v;
    if (ams) {
        vmax = V::select(V::lt(vmax, v), v, vmax);
        u = vmax;
    }
    const auto denom = V::add(V::div(V::sqrt(u), V::set1(h.root_bc2)), V::set1(h.eps));
    return V::sub(p, V::div(V::mul(V::set1(h.step_size), m), denom));
}

template <class V>
void adam(typename V::T* param, const typename V::T* grad, typename V::T* m, typename V::T* v,
          typename V::T* vmax, index_t n, const AdamHyper<typename V::T>& hyper) noexcept {
    const AdamHyper<typename V::T> h = hyper;  // a local copy, as in sgd
    constexpr int W = V::W;
    const bool ams = vmax != nullptr;
    index_t i = 0;
    for (; i + W <= n; i += W) {
        auto mv = V::loadu(m + i), vv = V::loadu(v + i);
        auto xv = ams ? V::loadu(vmax + i) : V::zero();
        V::storeu(param + i,
                  adam_lanes<V>(V::loadu(param + i), V::loadu(grad + i), mv, vv, xv, ams, h));
        V::storeu(m + i, mv);
        V::storeu(v + i, vv);
        if (ams) V::storeu(vmax + i, xv);
    }
    if (i < n) {
        const index_t k = n - i;
        auto mv = V::load_part(m + i, k), vv = V::load_part(v + i, k);
        auto xv = ams ? V::load_part(vmax + i, k) : V::zero();
        const auto p = adam_lanes<V>(V::load_part(param + i, k), V::load_part(grad + i, k), mv,
                                     vv, xv, ams, h);
        V::store_part(param + i, p, k);
        V::store_part(m + i, mv, k);
        V::store_part(v + i, vv, k);
        if (ams) V::store_part(vmax + i, xv, k);
    }
}

// One vector of RMSprop: p, gr, sq (and buf, ga when used) -> new p, with the new state
// in sq, buf and ga.
template <class V>
NNCORE_VINLINE typename V::R rmsprop_lanes(typename V::R p, typename V::R gr, typename V::R& sq,
                                           typename V::R& buf, typename V::R& ga,
                                           const RmspropHyper<typename V::T>& h) noexcept {
    const auto g = V::add(gr, V::mul(V::set1(h.weight_decay), p));
    const auto alpha = V::set1(h.alpha), one_alpha = V::set1(h.one_alpha);
    sq = V::add(V::mul(alpha, sq), V::mul(V::mul(one_alpha, g), g));
    typename V::R a;
    if (h.centered) {
        ga = V::add(V::mul(alpha, ga), V::mul(one_alpha, g));
        a = V::add(V::sqrt(V::sub(sq, V::mul(ga, ga))), V::set1(h.eps));
    } else {
        a = V::add(V::sqrt(sq), V::set1(h.eps));
    }
    if (h.momentum != typename V::T(0)) {
        buf = V::add(V::mul(V::set1(h.momentum), buf), V::div(g, a));
        return V::sub(p, V::mul(V::set1(h.lr), buf));
    }
    return V::sub(p, V::mul(V::set1(h.lr), V::div(g, a)));
}

template <class V>
void rmsprop(typename V::T* param, const typename V::T* grad, typename V::T* sq,
             typename V::T* buf, typename V::T* ga, index_t n,
             const RmspropHyper<typename V::T>& hyper) noexcept {
    const RmspropHyper<typename V::T> h = hyper;  // a local copy, as in sgd
    constexpr int W = V::W;
    const bool mom = h.momentum != typename V::T(0);
    index_t i = 0;
    for (; i + W <= n; i += W) {
        auto sv = V::loadu(sq + i);
        auto bv = mom ? V::loadu(buf + i) : V::zero();
        auto cv = h.centered ? V::loadu(ga + i) : V::zero();
        V::storeu(param + i,
                  rmsprop_lanes<V>(V::loadu(param + i), V::loadu(grad + i), sv, bv, cv, h));
        V::storeu(sq + i, sv);
        if (mom) V::storeu(buf + i, bv);
        if (h.centered) V::storeu(ga + i, cv);
    }
    if (i < n) {
        const index_t k = n - i;
        auto sv = V::load_part(sq + i, k);
        auto bv = mom ? V::load_part(buf + i, k) : V::zero();
        auto cv = h.centered ? V::load_part(ga + i, k) : V::zero();
        const auto p = rmsprop_lanes<V>(V::load_part(param + i, k), V::load_part(grad + i, k),
                                        sv, bv, cv, h);
        V::store_part(param + i, p, k);
        V::store_part(sq + i, sv, k);
        if (mom) V::store_part(buf + i, bv, k);
        if (h.centered) V::store_part(ga + i, cv, k);
    }
}
