#include "../peak.h"

#include <immintrin.h>

#include <cstdint>

namespace nncore::kernels::avx512 {
namespace {

using index_t = std::int64_t;
#include "../simd/vec_avx512.h"
#include "../simd/peak.h"

}  // namespace

double fma_loop(std::int64_t iters, bool f32) noexcept {
    return f32 ? fma_peak_loop<VecF32>(iters) : fma_peak_loop<VecF64>(iters);
}

}  // namespace nncore::kernels::avx512
