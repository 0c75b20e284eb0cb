#include "../peak.h"

namespace nncore::kernels::generic {
namespace {

template <class T>
double loop(std::int64_t iters) noexcept {
    // 8 independent chains hide the FMA latency; volatile keeps the result alive.
    T acc[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    const T a = T(0.999999), b = T(1e-7);
    for (std::int64_t i = 0; i < iters; ++i) {
        for (int c = 0; c < 8; ++c) acc[c] = acc[c] * a + b;
    }
    volatile T sink = acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
    (void)sink;
    return 16.0 * double(iters);
}

}  // namespace

double fma_loop(std::int64_t iters, bool f32) noexcept {
    return f32 ? loop<float>(iters) : loop<double>(iters);
}

}  // namespace nncore::kernels::generic
