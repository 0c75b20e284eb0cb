// A loop of independent fused multiply-adds that runs at the core's peak arithmetic
// rate, so benchmarks can state GEMM speed as a fraction of a peak they measured.
#pragma once

#include <cstdint>

namespace nncore::kernels {

// Runs `iters` rounds of independent vector FMAs in registers and returns the number
// of floating-point operations done (2 per lane per FMA). Float when f32, else double.
namespace generic { double fma_loop(std::int64_t iters, bool f32) noexcept; }
namespace avx2 { double fma_loop(std::int64_t iters, bool f32) noexcept; }
namespace avx512 { double fma_loop(std::int64_t iters, bool f32) noexcept; }

}  // namespace nncore::kernels
