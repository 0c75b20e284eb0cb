#include "../peak.h"

#include <immintrin.h>

namespace nncore::kernels::avx512 {
namespace {

// 12 independent accumulators: enough to cover 2 FMA ports x 4-cycle latency.
template <class V, class Set, class Fma, class Add, class Lanes>
double loop(std::int64_t iters, Set set1, Fma fma, Add add, Lanes lanes) noexcept {
    V acc[12];
    for (auto& v : acc) v = set1(1.0);
    const V a = set1(0.999999), b = set1(1e-7);
    for (std::int64_t i = 0; i < iters; ++i) {
        for (auto& v : acc) v = fma(v, a, b);
    }
    V s = acc[0];
    for (int c = 1; c < 12; ++c) s = add(s, acc[c]);
    volatile double sink = lanes(s);
    (void)sink;
    return 2.0 * 12.0 * double(iters);
}

}  // namespace

double fma_loop(std::int64_t iters, bool f32) noexcept {
    if (f32) {
        return 16 * loop<__m512>(
                   iters, [](double v) { return _mm512_set1_ps(float(v)); },
                   [](__m512 x, __m512 y, __m512 z) { return _mm512_fmadd_ps(x, y, z); },
                   [](__m512 x, __m512 y) { return _mm512_add_ps(x, y); },
                   [](__m512 x) { float t[16]; _mm512_storeu_ps(t, x); return double(t[0]); });
    }
    return 8 * loop<__m512d>(
               iters, [](double v) { return _mm512_set1_pd(v); },
               [](__m512d x, __m512d y, __m512d z) { return _mm512_fmadd_pd(x, y, z); },
               [](__m512d x, __m512d y) { return _mm512_add_pd(x, y); },
               [](__m512d x) { double t[8]; _mm512_storeu_pd(t, x); return t[0]; });
}

}  // namespace nncore::kernels::avx512
