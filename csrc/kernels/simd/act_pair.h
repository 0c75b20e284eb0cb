// KernelSet::activation_pair over a vector type V: an activation of act_from_input and its
// derivative in one pass (apply_act_pair of vec_math.h), several vectors at a time as the
// activation loops run these long chains: eight with 32 zmm registers (gelu's pair 3%
// faster than four), four with 16 ymm registers (eight spill). The lanes' operations are
// the same whichever loop (or the tail) runs them.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

template <class V>
void activation_pair(Act act, const typename V::T* x, typename V::T* y, typename V::T* d,
                     index_t n, typename V::T slope) noexcept {
    constexpr int W = V::W;
    using P = Multi<V, sizeof(typename V::R) >= 64 ? 8 : 4>;
    index_t i = 0;
    const auto s4 = P::set1(slope);
    for (; i + P::W <= n; i += P::W) {
        typename P::R yv, dv;
        apply_act_pair<P>(act, P::loadu(x + i), s4, yv, dv);
        P::storeu(y + i, yv);
        P::storeu(d + i, dv);
    }
    const auto s = V::set1(slope);
    for (; i + W <= n; i += W) {
        typename V::R yv, dv;
        apply_act_pair<V>(act, V::loadu(x + i), s, yv, dv);
        V::storeu(y + i, yv);
        V::storeu(d + i, dv);
    }
    if (i < n) {
        const index_t t = n - i;
        typename V::R yv, dv;
        apply_act_pair<V>(act, V::load_part(x + i, t), s, yv, dv);
        V::store_part(y + i, yv, t);
        V::store_part(d + i, dv, t);
    }
}

// KernelSet::pair_backward: columns in blocks of four vectors, each block's bias sums in
// registers while the rows go by in order (from +0, as zeroing and add_inplace give).
template <class V>
void pair_backward(const typename V::T* gy, typename V::T* d, index_t rows, index_t n,
                   typename V::T* bias) noexcept {
    constexpr int W = V::W, U = 4;
    index_t j = 0;
    for (; j + U * W <= n; j += U * W) {
        typename V::R acc[U];
        for (int u = 0; u < U; ++u) acc[u] = V::zero();
        for (index_t r = 0; r < rows; ++r) {
            typename V::T* row = d + r * n + j;
            const typename V::T* g = gy + r * n + j;
            for (int u = 0; u < U; ++u) {
                const auto v = V::mul(V::loadu(g + u * W), V::loadu(row + u * W));
                V::storeu(row + u * W, v);
                acc[u] = V::add(acc[u], v);
            }
        }
        if (bias) {
            for (int u = 0; u < U; ++u) V::storeu(bias + j + u * W, acc[u]);
        }
    }
    for (; j < n; j += W) {
        const index_t t = n - j < W ? n - j : W;
        auto acc = V::zero();
        for (index_t r = 0; r < rows; ++r) {
            typename V::T* row = d + r * n + j;
            const auto v = V::mul(V::load_part(gy + r * n + j, t), V::load_part(row, t));
            V::store_part(row, v, t);
            acc = V::add(acc, v);
        }
        if (bias) V::store_part(bias + j, acc, t);
    }
}

// KernelSet::activation_backward_sums: columns in blocks of four vectors, each block's
// bias sums in registers while the rows go by in order (from +0, as zeroing and
// add_inplace give); every element through apply_act_backward as activation_backward
// takes it (lane by lane, so the same bits whichever vector holds it).
template <class V, Act A>
void activation_backward_sums_run(const typename V::T* v, const typename V::T* gy,
                                  typename V::T* gx, index_t rows, index_t n,
                                  typename V::T slope, typename V::T* bias) noexcept {
    constexpr int W = V::W, U = 4;
    const auto s = V::set1(slope);
    index_t j = 0;
    for (; j + U * W <= n; j += U * W) {
        typename V::R acc[U];
        for (int u = 0; u < U; ++u) acc[u] = V::zero();
        for (index_t r = 0; r < rows; ++r) {
            const index_t o = r * n + j;
            for (int u = 0; u < U; ++u) {
                const auto d = apply_act_backward<V>(A, V::loadu(v + o + u * W),
                                                     V::loadu(gy + o + u * W), s);
                V::storeu(gx + o + u * W, d);
                acc[u] = V::add(acc[u], d);
            }
        }
        if (bias) {
            for (int u = 0; u < U; ++u) V::storeu(bias + j + u * W, acc[u]);
        }
    }
    for (; j < n; j += W) {
        const index_t t = n - j < W ? n - j : W;
        auto acc = V::zero();
        for (index_t r = 0; r < rows; ++r) {
            const index_t o = r * n + j;
            const auto d =
                apply_act_backward<V>(A, V::load_part(v + o, t), V::load_part(gy + o, t), s);
            V::store_part(gx + o, d, t);
            acc = V::add(acc, d);
        }
        if (bias) V::store_part(bias + j, acc, t);
    }
}

template <class V>
void activation_backward_sums(Act act, const typename V::T* v, const typename V::T* gy,
                              typename V::T* gx, index_t rows, index_t n, typename V::T slope,
                              typename V::T* bias) noexcept {
    with_act(act, [&](auto a) {
        activation_backward_sums_run<V, decltype(a)::value>(v, gy, gx, rows, n, slope, bias);
    });
}

// KernelSet::outer_backward_sums: activation_backward_sums_run over the one-deep products
// g[r] w[j], each made as the tile makes it (a fused multiply-add onto +0), in registers.
template <class V, Act A>
void outer_backward_sums_run(const typename V::T* v, const typename V::T* g,
                             const typename V::T* w, typename V::T* gx, index_t rows,
                             index_t n, typename V::T slope, typename V::T* bias) noexcept {
    constexpr int W = V::W, U = 4;
    const auto s = V::set1(slope);
    index_t j = 0;
    for (; j + U * W <= n; j += U * W) {
        typename V::R acc[U], wv[U];
        for (int u = 0; u < U; ++u) {
            acc[u] = V::zero();
            wv[u] = V::loadu(w + j + u * W);
        }
        for (index_t r = 0; r < rows; ++r) {
            const index_t o = r * n + j;
            const auto gr = V::set1(g[r]);
            for (int u = 0; u < U; ++u) {
                const auto d = apply_act_backward<V>(A, V::loadu(v + o + u * W),
                                                     V::fmadd(gr, wv[u], V::zero()), s);
                V::storeu(gx + o + u * W, d);
                acc[u] = V::add(acc[u], d);
            }
        }
        if (bias) {
            for (int u = 0; u < U; ++u) V::storeu(bias + j + u * W, acc[u]);
        }
    }
    for (; j < n; j += W) {
        const index_t t = n - j < W ? n - j : W;
        auto acc = V::zero();
        const auto wv = V::load_part(w + j, t);
        for (index_t r = 0; r < rows; ++r) {
            const index_t o = r * n + j;
            const auto d = apply_act_backward<V>(A, V::load_part(v + o, t),
                                                 V::fmadd(V::set1(g[r]), wv, V::zero()), s);
            V::store_part(gx + o, d, t);
            acc = V::add(acc, d);
        }
        if (bias) V::store_part(bias + j, acc, t);
    }
}

template <class V>
void outer_backward_sums(Act act, const typename V::T* v, const typename V::T* g,
                         const typename V::T* w, typename V::T* gx, index_t rows, index_t n,
                         typename V::T slope, typename V::T* bias) noexcept {
    with_act(act, [&](auto a) {
        outer_backward_sums_run<V, decltype(a)::value>(v, g, w, gx, rows, n, slope, bias);
    });
}
