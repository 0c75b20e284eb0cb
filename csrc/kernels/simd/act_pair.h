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
