// The SIMD kernel set, written once over a vector type V (VecF32 / VecF64 from
// vec_avx2.h or vec_avx512.h): its parts in order, then make_set. Each instruction set's
// .cpp includes the headers it needs, then this file, inside its own anonymous namespace,
// so every instantiation is compiled with that set's flags and stays private to it. No
// include guards and no namespaces in any of these headers: the including file provides
// <immintrin.h>, <cmath>, kernel_table.h, ce_row.h, pack_impl.h, simd/peak.h, dropout_mix.h
// and the set's simd/dropout_<set>.h.
//
// Every function implements the contract of the same entry in kernel_table.h; the
// generic set (csrc/kernels/generic/) is the readable specification.

#include "../act_math.h"  // gelu, gelu_tanh, silu, softplus: scalar specification, constants
#include "vec_math.h"     // exp, log, sigmoid, tanh, activations over V
#include "square_avx.h"   // 8 x 8 float / 4 x 4 double transposes in 256-bit registers
#include "pack.h"         // pack_a / pack_b
#include "gemm_tile.h"    // the register tile and its epilogue
#include "multi.h"        // U vectors as one (independent chains)
#include "elementwise.h"  // activation loops, reductions, MSE, BCE
#include "dropout.h"      // inverted dropout, masks from the set's DropoutLanes
#include "act_pair.h"     // an activation and its derivative in one pass
#include "ce_lanes.h"     // cross-entropy with labels, one row per lane
#include "optim.h"        // SGD, Adam and RMSprop updates
#include "norms.h"        // layer and batch normalisation
#include "health.h"       // gradient-health sums and counts

// The set for V: `base` (the generic set of the same dtype) with every entry these headers
// implement overridden, so an entry it lacks falls back to generic instead of null.
template <class V, int MR, int NV>
KernelSet<typename V::T> make_set(const KernelSet<typename V::T>& base, int mc, int kc,
                                  int nc) noexcept {
    KernelSet<typename V::T> k = base;
    k.mr = MR;
    k.nr = NV * V::W;
    k.nr_part = V::W;
    k.mc = mc;
    k.kc = kc;
    // 4 kc for a packed B: one k-block over K up to 1024 (C written once) paid on avx512
    // and avx2 (128 x 784 x 512: 1.10-1.2x faster); the generic set's scalar tile took
    // 1.44x longer at that depth, so it keeps kc.
    k.kc_packed = 4 * kc;
    k.nc = nc;
    k.gemm_tile = &gemm_tile<V, MR, NV, NV>;
    k.gemm_tiles = &gemm_tiles<V, MR, NV, NV>;
    k.pack_a = &pack_a_simd<V, MR>;
    k.pack_b = &pack_b_simd<V, NV * V::W>;
    k.gemm_cols = &gemm_cols<V>;
    k.activation = &activation<V>;
    k.activation_backward = &activation_backward<V>;
    k.dropout = &dropout<V>;
    k.dropout_backward = &dropout_backward<V>;
    k.activation_pair = &activation_pair<V>;
    k.pair_backward = &pair_backward<V>;
    k.activation_backward_sums = &activation_backward_sums<V>;
    k.outer_backward_sums = &outer_backward_sums<V>;
    k.add_inplace = &add_inplace<V>;
    k.max = &max<V>;
    k.exp_shift_sum = &exp_shift_sum<V>;
    k.scale_add = &scale_add<V>;
    k.dot = &dot<V>;
    k.mse = &mse<V>;
    k.bce_logits = &bce_logits<V>;
    k.ce_labels = &ce_labels<V>;
    k.ce_probs = &ce_probs<V>;
    k.softmax_backward = &softmax_backward<V>;
    k.sgd = &sgd<V>;
    k.adam = &adam<V>;
    k.rmsprop = &rmsprop<V>;
    k.fma_peak = &fma_peak_loop<V>;
    set_norm_kernels<V>(k);
    set_health_kernels<V>(k);
    return k;
}
