// The optimiser updates (KernelSet::sgd / adam) over a vector type V: the operations of
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
         const SgdHyper<typename V::T>& h) noexcept {
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

// One vector of Adam: p, gr, m, v -> new p, with the new moments in m and v.
template <class V>
NNCORE_VINLINE typename V::R adam_lanes(typename V::R p, typename V::R gr, typename V::R& m,
                                        typename V::R& v,
                                        const AdamHyper<typename V::T>& h) noexcept {
    const auto g = V::add(gr, V::mul(V::set1(h.weight_decay), p));
    m = V::add(V::mul(V::set1(h.beta1), m), V::mul(V::set1(h.one_b1), g));
    v = V::add(V::mul(V::set1(h.beta2), v), V::mul(V::mul(V::set1(h.one_b2), g), g));
    const auto denom = V::add(V::div(V::sqrt(v), V::set1(h.root_bc2)), V::set1(h.eps));
    return V::sub(p, V::div(V::mul(V::set1(h.step_size), m), denom));
}

template <class V>
void adam(typename V::T* param, const typename V::T* grad, typename V::T* m, typename V::T* v,
          index_t n, const AdamHyper<typename V::T>& h) noexcept {
    constexpr int W = V::W;
    index_t i = 0;
    for (; i + W <= n; i += W) {
        auto mv = V::loadu(m + i), vv = V::loadu(v + i);
        V::storeu(param + i, adam_lanes<V>(V::loadu(param + i), V::loadu(grad + i), mv, vv, h));
        V::storeu(m + i, mv);
        V::storeu(v + i, vv);
    }
    if (i < n) {
        const index_t k = n - i;
        auto mv = V::load_part(m + i, k), vv = V::load_part(v + i, k);
        const auto p = adam_lanes<V>(V::load_part(param + i, k), V::load_part(grad + i, k), mv,
                                     vv, h);
        V::store_part(param + i, p, k);
        V::store_part(m + i, mv, k);
        V::store_part(v + i, vv, k);
    }
}
