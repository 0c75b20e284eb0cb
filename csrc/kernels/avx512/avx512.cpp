// The avx512 kernel set: the templates of simd/kernels.h instantiated over avx512 vectors.
// Compiled with this set's instruction-set flags (CMakeLists.txt); chosen at run time
// only on CPUs that support it (csrc/core/dispatch.cpp).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "../kernel_table.h"

namespace nncore::kernels::avx512 {
namespace {

#include "../simd/vec_avx512.h"
#include "../simd/kernels.h"

}  // namespace

const KernelTable& table() noexcept {
    // 12 x 32 (float) and 12 x 16 (double) tiles: 24 accumulators + 2 B vectors + 1
    // broadcast of the 32 zmm registers. Blocks: see docs/gemm.md.
    static const KernelTable t{"avx512", make_set<VecF32, 12, 2>(240, 256, 3072),
                               make_set<VecF64, 12, 2>(120, 256, 1536)};
    return t;
}

}  // namespace nncore::kernels::avx512
