// Multi<V, U>: U vectors of V handled as one, so the long exp / log chains of the
// elementwise loops run U independent dependency chains at a time.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

// U vectors of V handled as one: every operation is applied to all U before the next
// operation starts, so the compiled code interleaves U independent dependency chains.
// The long chains of exp / log / division (~100 cycles from load to store) otherwise
// fill the scheduler with waiting work, one vector at a time; with U independent chains
// the core always has ready operations. Results are lane for lane those of V (the
// kernels compile with -ffp-contract=off, so no path fuses differently). U = 4 measured
// best for sigmoid, tanh and bce on one Zen 3 core (in-process A/B, 65,536 floats in
// L2, ns per element): sigmoid 1.22 / 0.92 / 0.80 / 0.90 / 0.99 for U = 1 / 2 / 4 / 6 / 8,
// bce 2.52 / 2.02 / 1.72 / 1.83 / 2.03 (more chains than registers spill).
template <class V, int U>
struct Multi {
    using T = typename V::T;
    struct R {
        typename V::R v[U];
    };
    struct M {
        typename V::M v[U];
    };
    static constexpr int W = V::W * U;
#define NNCORE_MULTI_1(name)                                     \
    static R name(R a) noexcept {                                \
        R r;                                                     \
        for (int u = 0; u < U; ++u) r.v[u] = V::name(a.v[u]);    \
        return r;                                                \
    }
#define NNCORE_MULTI_2(ret, name)                                        \
    static ret name(R a, R b) noexcept {                                 \
        ret r;                                                           \
        for (int u = 0; u < U; ++u) r.v[u] = V::name(a.v[u], b.v[u]);    \
        return r;                                                        \
    }
    NNCORE_MULTI_1(abs)
    NNCORE_MULTI_1(neg)
    NNCORE_MULTI_1(round)
    NNCORE_MULTI_2(R, add)
    NNCORE_MULTI_2(R, sub)
    NNCORE_MULTI_2(R, mul)
    NNCORE_MULTI_2(R, div)
    NNCORE_MULTI_2(R, max)
    NNCORE_MULTI_2(R, min)
    NNCORE_MULTI_2(R, scale2)
    NNCORE_MULTI_2(R, copysign)
    NNCORE_MULTI_2(M, gt)
    NNCORE_MULTI_2(M, ge)
    NNCORE_MULTI_2(M, lt)
    NNCORE_MULTI_2(M, eq)
#undef NNCORE_MULTI_1
#undef NNCORE_MULTI_2
    static R zero() noexcept { return set1(T(0)); }
    static R set1(T x) noexcept {
        R r;
        for (int u = 0; u < U; ++u) r.v[u] = V::set1(x);
        return r;
    }
    static R fmadd(R a, R b, R c) noexcept {
        R r;
        for (int u = 0; u < U; ++u) r.v[u] = V::fmadd(a.v[u], b.v[u], c.v[u]);
        return r;
    }
    static R select(M m, R a, R b) noexcept {
        R r;
        for (int u = 0; u < U; ++u) r.v[u] = V::select(m.v[u], a.v[u], b.v[u]);
        return r;
    }
    static R loadu(const T* p) noexcept {
        R r;
        for (int u = 0; u < U; ++u) r.v[u] = V::loadu(p + u * V::W);
        return r;
    }
    static void storeu(T* p, R a) noexcept {
        for (int u = 0; u < U; ++u) V::storeu(p + u * V::W, a.v[u]);
    }
    static void stream(T* p, R a) noexcept {
        for (int u = 0; u < U; ++u) V::stream(p + u * V::W, a.v[u]);
    }
    // The lanes' sum in V, added in a fixed order.
    static typename V::R fold(R a) noexcept {
        typename V::R r = a.v[0];
        for (int u = 1; u < U; ++u) r = V::add(r, a.v[u]);
        return r;
    }
};

template <class V, int U>
struct Consts<Multi<V, U>> : Consts<V> {};
