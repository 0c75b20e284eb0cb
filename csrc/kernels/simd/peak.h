// KernelSet::fma_peak (kernel_table.h) over a vector type V (VecF32 / VecF64), included
// by each instruction set's .cpp inside its own anonymous namespace.

// 12 independent accumulators: enough to cover 2 FMA ports x 4-cycle latency.
template <class V>
double fma_peak_loop(std::int64_t iters) noexcept {
    using T = typename V::T;
    typename V::R acc[12];
    for (auto& v : acc) v = V::set1(T(1));
    const auto a = V::set1(T(0.999999)), b = V::set1(T(1e-7));
    for (std::int64_t i = 0; i < iters; ++i) {
        for (auto& v : acc) v = V::fmadd(v, a, b);
    }
    auto s = acc[0];
    for (int c = 1; c < 12; ++c) s = V::add(s, acc[c]);
    volatile T sink = V::sum(s);
    (void)sink;
    return 2.0 * 12.0 * V::W * double(iters);
}
