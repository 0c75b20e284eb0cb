#include "core/peak.h"

#include <atomic>
#include <chrono>
#include <cstring>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "kernels/peak.h"

namespace nncore {

double fma_peak_gflops(bool f32, int nthreads, double seconds) {
    const char* isa = dispatch().table->name;
    double (*loop)(std::int64_t, bool) noexcept = &kernels::generic::fma_loop;
#ifdef NNCORE_HAVE_AVX2
    if (std::strcmp(isa, "avx2") == 0) loop = &kernels::avx2::fma_loop;
#endif
#ifdef NNCORE_HAVE_AVX512
    if (std::strcmp(isa, "avx512") == 0) loop = &kernels::avx512::fma_loop;
#endif
    (void)isa;
    using clock = std::chrono::steady_clock;
    std::int64_t iters = 1 << 16;
    for (;;) {
        std::atomic<double> flops{0.0};
        const auto t0 = clock::now();
        parallel_for(nthreads, nthreads, [&](index_t) {
            const double f = loop(iters, f32);
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
