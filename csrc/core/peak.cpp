#include "core/peak.h"

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/dispatch.h"
#include "core/parallel.h"

namespace nncore {

double fma_peak_gflops(bool f32, int nthreads, double seconds) {
    // The active kernel set's loop: the one dispatcher chose it.
    const auto& table = *dispatch().table;
    double (*loop)(std::int64_t) noexcept = f32 ? table.f32.fma_peak : table.f64.fma_peak;
    using clock = std::chrono::steady_clock;
    std::int64_t iters = 1 << 16;
    for (;;) {
        std::atomic<double> flops{0.0};
        const auto t0 = clock::now();
        parallel_for(nthreads, nthreads, [&](index_t) {
            const double f = loop(iters);
            double cur = flops.load();
            while (!flops.compare_exchange_weak(cur, cur + f)) {
            }
        });
        const double dt = std::chrono::duration<double>(clock::now() - t0).count();
        if (dt >= seconds || iters > (std::int64_t(1) << 40)) return flops.load() / dt * 1e-9;
        iters *= 2;
    }
}

}  // namespace nncore
