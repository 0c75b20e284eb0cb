// The normalisation kernels of kernel_table.h over a vector type V. The column kernels
// (batch norm, LayerNorm's parameter gradients) keep one lane per column and add rows in
// index order with the generic set's operations, so they give the generic set's bits;
// the row kernels (LayerNorm) sum a row in lanes, within a few ulps of generic.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

// Columns a vector of a column block covers: the block starts at column j0 of n and has
// up to kNormVecs vectors; lanes[u] is how many columns vector u holds (0: none).
constexpr int kNormVecs = 4;

template <class V>
NNCORE_VINLINE int norm_block_lanes(index_t j0, index_t n, index_t (&lanes)[kNormVecs]) noexcept {
    int nv = 0;
    for (int u = 0; u < kNormVecs; ++u) {
        const index_t left = n - j0 - index_t(u) * V::W;
        lanes[u] = left <= 0 ? 0 : (left < V::W ? left : V::W);
        nv += lanes[u] > 0 ? 1 : 0;
    }
    return nv;
}

template <class V>
void layer_norm_row(const typename V::T* x, const typename V::T* w, const typename V::T* b,
                    typename V::T eps, typename V::T* y, typename V::T* mean_out,
                    typename V::T* rstd_out, index_t n) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    auto s0 = V::zero(), s1 = V::zero();
    index_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        s0 = V::add(s0, V::loadu(x + i));
        s1 = V::add(s1, V::loadu(x + i + W));
    }
    for (; i < n; i += W) s0 = V::add(s0, V::load_part(x + i, n - i));
    const T mean = V::sum(V::add(s0, s1)) / T(n);
    const auto mv = V::set1(mean);
    auto q0 = V::zero(), q1 = V::zero();
    for (i = 0; i + 2 * W <= n; i += 2 * W) {
        const auto d0 = V::sub(V::loadu(x + i), mv), d1 = V::sub(V::loadu(x + i + W), mv);
        q0 = V::add(q0, V::mul(d0, d0));
        q1 = V::add(q1, V::mul(d1, d1));
    }
    for (; i < n; i += W) {
        const auto d = V::keep(V::sub(V::load_part(x + i, n - i), mv), n - i);
        q0 = V::add(q0, V::mul(d, d));
    }
    const T rstd = T(1) / std::sqrt(V::sum(V::add(q0, q1)) / T(n) + eps);
    const auto rv = V::set1(rstd);
    for (i = 0; i < n; i += W) {
        const index_t t = n - i;
        auto v = V::mul(V::sub(V::load_part(x + i, t), mv), rv);
        if (w) v = V::mul(v, V::load_part(w + i, t));
        if (b) v = V::add(v, V::load_part(b + i, t));
        V::store_part(y + i, v, t);
    }
    *mean_out = mean;
    *rstd_out = rstd;
}

template <class V>
void layer_norm_row_backward(const typename V::T* x, typename V::T mean, typename V::T rstd,
                             const typename V::T* w, const typename V::T* gy,
                             typename V::T* gx, index_t n) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    const auto mv = V::set1(mean), rv = V::set1(rstd);
    auto sg = V::zero(), sgx = V::zero();
    for (index_t i = 0; i < n; i += W) {
        const index_t t = n - i;
        auto g = V::load_part(gy + i, t);  // lanes >= t are zero, so they add nothing
        if (w) g = V::mul(g, V::load_part(w + i, t));
        sg = V::add(sg, g);
        sgx = V::add(sgx, V::mul(g, V::mul(V::sub(V::load_part(x + i, t), mv), rv)));
    }
    const auto mg = V::set1(V::sum(sg) / T(n)), mgx = V::set1(V::sum(sgx) / T(n));
    for (index_t i = 0; i < n; i += W) {
        const index_t t = n - i;
        auto g = V::load_part(gy + i, t);
        if (w) g = V::mul(g, V::load_part(w + i, t));
        const auto xh = V::mul(V::sub(V::load_part(x + i, t), mv), rv);
        V::store_part(gx + i, V::mul(rv, V::sub(V::sub(g, mg), V::mul(xh, mgx))), t);
    }
}

template <class V>
void layer_norm_param_grads(const typename V::T* x, const typename V::T* gy, index_t ld,
                            index_t rows, index_t n, const typename V::T* mean,
                            const typename V::T* rstd, typename V::T* gw,
                            typename V::T* gb) noexcept {
    constexpr int W = V::W;
    for (index_t j0 = 0; j0 < n; j0 += kNormVecs * W) {
        index_t t[kNormVecs];
        const int nv = norm_block_lanes<V>(j0, n, t);
        typename V::R aw[kNormVecs], ab[kNormVecs];
        for (int u = 0; u < kNormVecs; ++u) aw[u] = ab[u] = V::zero();
        for (index_t i = 0; i < rows; ++i) {
            const auto mv = V::set1(mean[i]), rv = V::set1(rstd[i]);
            const index_t p = i * ld + j0;
            for (int u = 0; u < nv; ++u) {
                const auto g = V::load_part(gy + p + u * W, t[u]);
                const auto xh = V::mul(V::sub(V::load_part(x + p + u * W, t[u]), mv), rv);
                aw[u] = V::add(aw[u], V::mul(g, xh));
                ab[u] = V::add(ab[u], g);
            }
        }
        for (int u = 0; u < nv; ++u) {
            V::store_part(gw + j0 + u * W, aw[u], t[u]);
            V::store_part(gb + j0 + u * W, ab[u], t[u]);
        }
    }
}

template <class V>
void batch_norm_stats(const typename V::T* x, index_t ld, index_t rows, index_t n,
                      typename V::T* mean, typename V::T* m2) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    const auto count = V::set1(T(rows));
    for (index_t j0 = 0; j0 < n; j0 += kNormVecs * W) {
        index_t t[kNormVecs];
        const int nv = norm_block_lanes<V>(j0, n, t);
        typename V::R acc[kNormVecs];
        for (int u = 0; u < kNormVecs; ++u) acc[u] = V::zero();
        for (index_t i = 0; i < rows; ++i) {
            for (int u = 0; u < nv; ++u) {
                acc[u] = V::add(acc[u], V::load_part(x + i * ld + j0 + u * W, t[u]));
            }
        }
        typename V::R mu[kNormVecs];
        for (int u = 0; u < nv; ++u) {
            mu[u] = V::div(acc[u], count);
            V::store_part(mean + j0 + u * W, mu[u], t[u]);
            acc[u] = V::zero();
        }
        for (index_t i = 0; i < rows; ++i) {
            for (int u = 0; u < nv; ++u) {
                const auto d = V::sub(V::load_part(x + i * ld + j0 + u * W, t[u]), mu[u]);
                acc[u] = V::add(acc[u], V::mul(d, d));
            }
        }
        for (int u = 0; u < nv; ++u) V::store_part(m2 + j0 + u * W, acc[u], t[u]);
    }
}

template <class V>
void batch_norm_apply(const typename V::T* x, typename V::T* y, index_t ld, index_t rows,
                      index_t n, const typename V::T* m, const typename V::T* s,
                      const typename V::T* c) noexcept {
    constexpr int W = V::W;
    for (index_t i = 0; i < rows; ++i) {
        const index_t p = i * ld;
        for (index_t j = 0; j < n; j += W) {
            const index_t t = n - j;
            const auto v = V::add(V::mul(V::sub(V::load_part(x + p + j, t), V::load_part(m + j, t)),
                                         V::load_part(s + j, t)),
                                  V::load_part(c + j, t));
            V::store_part(y + p + j, v, t);
        }
    }
}

template <class V>
void batch_norm_grad_sums(const typename V::T* x, const typename V::T* gy, index_t ld,
                          index_t rows, index_t n, const typename V::T* m, typename V::T* sg,
                          typename V::T* sgd) noexcept {
    constexpr int W = V::W;
    for (index_t j0 = 0; j0 < n; j0 += kNormVecs * W) {
        index_t t[kNormVecs];
        const int nv = norm_block_lanes<V>(j0, n, t);
        typename V::R ag[kNormVecs], ad[kNormVecs], mu[kNormVecs];
        for (int u = 0; u < kNormVecs; ++u) ag[u] = ad[u] = mu[u] = V::zero();
        for (int u = 0; u < nv; ++u) mu[u] = V::load_part(m + j0 + u * W, t[u]);
        for (index_t i = 0; i < rows; ++i) {
            const index_t p = i * ld + j0;
            for (int u = 0; u < nv; ++u) {
                const auto g = V::load_part(gy + p + u * W, t[u]);
                ag[u] = V::add(ag[u], g);
                ad[u] = V::add(ad[u], V::mul(g, V::sub(V::load_part(x + p + u * W, t[u]), mu[u])));
            }
        }
        for (int u = 0; u < nv; ++u) {
            V::store_part(sg + j0 + u * W, ag[u], t[u]);
            V::store_part(sgd + j0 + u * W, ad[u], t[u]);
        }
    }
}

template <class V>
void batch_norm_backward_apply(const typename V::T* x, const typename V::T* gy,
                               typename V::T* gx, index_t ld, index_t rows, index_t n,
                               const typename V::T* m, const typename V::T* k,
                               const typename V::T* a, const typename V::T* b) noexcept {
    constexpr int W = V::W;
    for (index_t i = 0; i < rows; ++i) {
        const index_t p = i * ld;
        for (index_t j = 0; j < n; j += W) {
            const index_t t = n - j;
            const auto d = V::sub(V::load_part(x + p + j, t), V::load_part(m + j, t));
            const auto r = V::sub(V::sub(V::load_part(gy + p + j, t), V::load_part(a + j, t)),
                                  V::mul(d, V::load_part(b + j, t)));
            V::store_part(gx + p + j, V::mul(V::load_part(k + j, t), r), t);
        }
    }
}

// The table entries above, for make_set (kernels.h).
template <class V>
void set_norm_kernels(KernelSet<typename V::T>& k) noexcept {
    k.layer_norm_row = &layer_norm_row<V>;
    k.layer_norm_row_backward = &layer_norm_row_backward<V>;
    k.layer_norm_param_grads = &layer_norm_param_grads<V>;
    k.batch_norm_stats = &batch_norm_stats<V>;
    k.batch_norm_apply = &batch_norm_apply<V>;
    k.batch_norm_grad_sums = &batch_norm_grad_sums<V>;
    k.batch_norm_backward_apply = &batch_norm_backward_apply<V>;
}
