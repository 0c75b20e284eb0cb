// Cross-entropy with class labels, one row per vector lane (KernelSet::ce_labels), with
// ce_row (ce_row.h) for the rows it does not take in whole vectors.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

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

// ce_probs: ce_probs_row's rule (ce_row.h) one row at a time, the max and the
// exponentials (the terms before and after the first maximum, which is exactly 1) a
// vector at a time by this set's max and exp_shift_sum.
template <class V>
void ce_probs(const typename V::T* x, const typename V::T* t, const typename V::T* w,
              typename V::T denom, typename V::T* loss, typename V::T* g, index_t rows,
              index_t classes) noexcept {
    using T = typename V::T;
    for (index_t r = 0; r < rows; ++r) {
        const T* xr = x + r * classes;
        const T* tr = t + r * classes;
        T* gr = g ? g + r * classes : nullptr;
        const T m = max<V>(xr, classes);
        index_t a = 0;
        while (a < classes && !(xr[a] == m)) ++a;
        T rest, s;
        if (a < classes && std::isfinite(m)) {
            rest = exp_shift_sum<V>(xr, m, gr, a) +
                   exp_shift_sum<V>(xr + a + 1, m, gr ? gr + a + 1 : nullptr, classes - a - 1);
            if (gr) gr[a] = T(1);
            s = T(1) + rest;
        } else {  // NaN or infinite logits: the plain formula, which propagates them
            a = -1;
            s = exp_shift_sum<V>(xr, m, gr, classes);
            rest = s - T(1);
        }
        const T log_s = a >= 0 ? std::log1p(rest) : std::log(s);
        T l = T(0);
        for (index_t j = 0; j < classes; ++j) l += tr[j] * (log_s + (m - xr[j]));
        loss[r] = l;
        if (gr) {
            const T gscale = (w ? w[r] : T(1)) / denom;
            T st = T(0);
            for (index_t j = 0; j < classes; ++j) st += tr[j];
            const T c = gscale * st / s;
            for (index_t j = 0; j < classes; ++j) gr[j] = c * gr[j] - gscale * tr[j];
        }
    }
}
