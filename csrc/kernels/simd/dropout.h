// Inverted dropout over a vector type V, its masks drawn a vector at a time by
// DropoutLanes<V> (simd/dropout_avx2.h or simd/dropout_avx512.h, included by the set's
// .cpp): the same bits as the generic set for every element.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

template <class V>
void dropout(const typename V::T* x, typename V::T* y, typename V::T* mask, index_t n,
             std::uint64_t seed, std::uint64_t first, std::uint64_t keep_from,
             typename V::T scale) noexcept {
    constexpr int W = V::W;
    DropoutLanes<V> lanes(seed, first, keep_from);
    const auto s = V::set1(scale);
    index_t i = 0;
    for (; i + W <= n; i += W) {
        const auto m = lanes.next(s);
        V::storeu(mask + i, m);
        V::storeu(y + i, V::mul(V::loadu(x + i), m));
    }
    if (i < n) {
        const index_t t = n - i;
        const auto m = lanes.next(s);
        V::store_part(mask + i, m, t);
        V::store_part(y + i, V::mul(V::load_part(x + i, t), m), t);
    }
}

template <class V>
void dropout_backward(const typename V::T* mask, const typename V::T* gy, typename V::T* gx,
                      index_t n) noexcept {
    constexpr int W = V::W;
    index_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        for (int u = 0; u < 4; ++u) {
            const index_t j = i + u * W;
            V::storeu(gx + j, V::mul(V::loadu(gy + j), V::loadu(mask + j)));
        }
    }
    for (; i < n; i += W) {
        const index_t t = n - i < W ? n - i : W;
        V::store_part(gx + i, V::mul(V::load_part(gy + i, t), V::load_part(mask + i, t)), t);
    }
}
