// The avx512 kernel set: generic's table with the entries of simd/kernels.h
// instantiated over avx512 vectors.
// Compiled with this set's instruction-set flags (CMakeLists.txt); chosen at run time
// only on CPUs that support it (csrc/core/dispatch.cpp).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "../kernel_table.h"

namespace nncore::kernels::avx512 {
namespace {

#include "../ce_row.h"
#include "../pack_impl.h"
#include "../simd/vec_avx512.h"
#include "../dropout_mix.h"
#include "../simd/dropout_avx512.h"
#include "../simd/peak.h"
#include "../simd/kernels.h"

}  // namespace

const KernelTable& table() noexcept {
    // 6 x 64 (float) and 6 x 32 (double) tiles: 24 accumulators + 4 B vectors + 1
    // broadcast of the 32 zmm registers, 10 loads per 24 FMAs (12 x 32 needs 14; on the
    // development machine loads, not FMAs, limit the tile). Of 12x32, 14x32, 8x48 and 6x64
    // (and their double twins), timed on one core in blocked 128x784x256, 64x784x256 and
    // 512^3 products, 6 x 64 was fastest; through nncore.matmul, interleaved with the
    // 12 x 32 / 12 x 16 tiles, it is 7-19% faster in float and 9-15% in double from
    // 64x784x256 to 1024^3. kc = 128, 192 and 384 measured no better than 256.
    static const KernelTable t{"avx512", make_set<VecF32, 6, 4>(generic::table().f32, 240, 256, 3072),
                               make_set<VecF64, 6, 4>(generic::table().f64, 120, 256, 1536)};
    return t;
}

}  // namespace nncore::kernels::avx512
