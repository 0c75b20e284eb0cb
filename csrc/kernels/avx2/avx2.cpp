// The avx2 kernel set: the templates of simd/kernels.h instantiated over avx2 vectors.
// Compiled with this set's instruction-set flags (CMakeLists.txt); chosen at run time
// only on CPUs that support it (csrc/core/dispatch.cpp).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "../kernel_table.h"

namespace nncore::kernels::avx2 {
namespace {

#include "../simd/vec_avx2.h"
#include "../simd/kernels.h"

}  // namespace

const KernelTable& table() noexcept {
    // 6 x 16 (float) and 6 x 8 (double) tiles: 12 accumulators + 2 B vectors + 1
    // broadcast of the 16 ymm registers.
    static const KernelTable t{"avx2", make_set<VecF32, 6, 2>(144, 256, 3072),
                               make_set<VecF64, 6, 2>(72, 256, 1536)};
    return t;
}

}  // namespace nncore::kernels::avx2
