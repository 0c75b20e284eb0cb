// The avx2 kernel set: generic's table with the entries of simd/kernels.h
// instantiated over avx2 vectors.
// Compiled with this set's instruction-set flags (CMakeLists.txt); chosen at run time
// only on CPUs that support it (csrc/core/dispatch.cpp).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "../kernel_table.h"

namespace nncore::kernels::avx2 {
namespace {

#include "../ce_row.h"
#include "../pack_impl.h"
#include "../simd/vec_avx2.h"
#include "../dropout_mix.h"
#include "../simd/dropout_avx2.h"
#include "../simd/peak.h"
#include "../simd/kernels.h"

}  // namespace

const KernelTable& table() noexcept {
    // 4 x 24 (float) and 4 x 12 (double) tiles: 12 accumulators + 3 B vectors + 1
    // broadcast of the 16 ymm registers, 7 loads per 12 FMAs (6 x 16 needs 8). Through
    // nncore.matmul on one core, interleaved with the 6 x 16 / 6 x 8 tiles: on an
    // AVX-512 Intel machine float 0-3% faster (a 10-column output 12% slower), double
    // 11-36% faster; on an AMD EPYC (Zen 3) float within 2% either way (noise).
    static const KernelTable t{"avx2", make_set<VecF32, 4, 3>(generic::table().f32, 144, 256, 3072),
                               make_set<VecF64, 4, 3>(generic::table().f64, 72, 256, 1536)};
    return t;
}

}  // namespace nncore::kernels::avx2
