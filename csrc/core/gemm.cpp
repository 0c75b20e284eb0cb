// Blocked GEMM driver: loops jc (nc columns of B/C), pc (kc of the shared dimension),
// ic (mc rows of A/C), jr (nr columns), ir (mr rows), calling the active kernel set's
// tile kernel on packed panels.
#include "core/gemm.h"

#include <algorithm>

#include "core/dispatch.h"
#include "core/gemm_direct.h"
#include "core/parallel.h"
#include "core/workspace.h"

namespace nncore {
namespace {

template <class T>
void fill_bias_only(MatView<T> c, const GemmEpilogue<T>& ep) {
    const auto& k = kernel_set<T>();
    for (index_t i = 0; i < c.rows; ++i) {
        T* row = c.data + i * c.rs;
        for (index_t j = 0; j < c.cols; ++j) row[j] = ep.bias ? ep.bias[j] : T(0);
        if (ep.z) std::copy(row, row + c.cols, ep.z + i * ep.ldz);
        k.activation(ep.act, row, row, c.cols, ep.slope, false);
    }
}

index_t ceil_div(index_t a, index_t b) noexcept { return (a + b - 1) / b; }

}  // namespace

template <class T>
void gemm(MatView<const T> a, MatView<const T> b, MatView<T> c, const GemmEpilogue<T>& ep,
          int nthreads) {
    const index_t M = c.rows, N = c.cols, K = a.cols;
    if (M == 0 || N == 0) return;
    if (K == 0) {
        fill_bias_only(c, ep);
        return;
    }
    if (double(M) * double(N) * double(K) <= kDirectGemmWork) {
        gemm_direct(a, b, c, ep);
        return;
    }
    const auto& kern = kernel_set<T>();
    const BlockSizes& bs = block_sizes<T>();
    const index_t MR = bs.mr, NR = bs.nr;
    // K in equal k-blocks of at most bs.kc (784 = 4 x 196, not 3 x 256 + 16: a 16-deep
    // block would spend as long storing C as multiplying). The blocking depends on K only,
    // never on the thread count or the tiling, so every sum keeps its order.
    const index_t KC = ceil_div(K, ceil_div(K, index_t(bs.kc)));
    const index_t kblocks = ceil_div(K, KC);
    // A second thread pays only when each gets at least kGemmWorkPerThread flops of the
    // product: below it, the serial packing and the other core's fetch of the panels packed
    // in this core's cache cost more than the split saves (bench/scaling.py, RESULTS.md
    // 2026-12-07: with threads from 2 MFLOP, MLPs of batch 16-128 ran up to 1.41x slower on
    // two threads than on one; from 16 MFLOP, at most 1.09x).
    constexpr double kGemmWorkPerThread = 8.0e6;
    const double flops = 2.0 * double(M) * double(N) * double(K);
    const int nt = std::max(1, std::min({nthreads, threads_for(flops),
                                         static_cast<int>(flops / kGemmWorkPerThread)}));

    // Two parallel steps per chunk of C: pack the chunk's A rows and B columns (every
    // k-block) into shared panels, then compute C in tiles that read only packed panels.
    // A tile is a set of MR x NR micro-tiles, each computed by the same kernel calls over
    // the same k-blocks whoever runs it, so the tiling (fixed by the sizes alone) and the
    // schedule never change a bit. Chunks bound the packed copies (a tall A or a wide B
    // is never copied whole).
    constexpr index_t kPackLimit = index_t(1) << 21;  // elements per packed operand
    const index_t NB = std::min(N, std::max(NR, kPackLimit / K / NR * NR));
    const index_t MB = std::min(M, std::max(MR, kPackLimit / K / MR * MR));
    const index_t npan_max = ceil_div(NB, NR), mpan_max = ceil_div(MB, MR);
    Workspace& ws = Workspace::local();
    T* bpack = ws.get<T>(Slot::pack_b, static_cast<std::size_t>(K * npan_max * NR));
    T* apack = ws.get<T>(Slot::pack_a, static_cast<std::size_t>(K * mpan_max * MR));

    constexpr index_t kPanelsPerPackTask = 16;
    for (index_t jb = 0; jb < N; jb += NB) {
        const index_t nb = std::min(NB, N - jb);
        const index_t npan = ceil_div(nb, NR), npad = npan * NR;
        for (index_t ib = 0; ib < M; ib += MB) {
            const index_t mb = std::min(MB, M - ib);
            const index_t mpan = ceil_div(mb, MR), mpad = mpan * MR;

            // Step 1: packing. Panels of k-block pc start at pc * (padded width).
            const index_t ag = ceil_div(mpan, kPanelsPerPackTask);
            const index_t bg = ib == 0 ? ceil_div(npan, kPanelsPerPackTask) : 0;
            const double pack_work = 8.0 * double(K) * double(mpad + (ib == 0 ? npad : 0));
            parallel_for(kblocks * (ag + bg), std::min(nt, threads_for(pack_work)), [&](index_t t) {
                const index_t pc = (t / (ag + bg)) * KC, kc = std::min(KC, K - pc);
                index_t g = t % (ag + bg);
                if (g < ag) {
                    const index_t p1 = std::min(mpan, (g + 1) * kPanelsPerPackTask);
                    for (index_t p = g * kPanelsPerPackTask; p < p1; ++p) {
                        const index_t i0 = p * MR;
                        kern.pack_a(a.data + (ib + i0) * a.rs + pc * a.cs, a.rs, a.cs,
                                    std::min(MR, mb - i0), kc, apack + pc * mpad + i0 * kc);
                    }
                } else {
                    g -= ag;
                    const index_t q1 = std::min(npan, (g + 1) * kPanelsPerPackTask);
                    for (index_t q = g * kPanelsPerPackTask; q < q1; ++q) {
                        const index_t j0 = q * NR;
                        kern.pack_b(b.data + pc * b.rs + (jb + j0) * b.cs, b.rs, b.cs, kc,
                                    std::min(NR, nb - j0), bpack + pc * npad + j0 * kc);
                    }
                }
            });

            // Step 2: tiles of rp x cp micro-tile panels, about kTileWork flops each at
            // most 64 of them, rows first in blocks of MC (A's block stays in L2).
            constexpr double kTileWork = 1.0e6;
            const double work = 2.0 * double(mb) * double(nb) * double(K);
            const index_t want = std::max<index_t>(1, std::min<index_t>(64, index_t(work / kTileWork)));
            index_t rp = std::max<index_t>(1, bs.mc / MR), cp = npan;
            index_t rt = ceil_div(mpan, rp), ct = 1;
            rp = ceil_div(mpan, rt);  // even row blocks (43 panels: 22 + 21, not 40 + 3)
            if (rt * ct < want) {
                ct = std::min(npan, ceil_div(want, rt));
                cp = ceil_div(npan, ct);
                ct = ceil_div(npan, cp);
            }
            if (rt * ct < want) {
                rt = std::min(mpan, ceil_div(want, ct));
                rp = ceil_div(mpan, rt);
                rt = ceil_div(mpan, rp);
            }
            parallel_for(rt * ct, nt, [&](index_t t) {
                const index_t p0 = (t / ct) * rp, p1 = std::min(mpan, p0 + rp);
                const index_t q0 = (t % ct) * cp, q1 = std::min(npan, q0 + cp);
                kernels::TileEpilogue<T> tile_ep;
                tile_ep.act = ep.act;
                tile_ep.slope = ep.slope;
                tile_ep.ldz = ep.ldz;
                for (index_t pc = 0; pc < K; pc += KC) {
                    const index_t kc = std::min(KC, K - pc);
                    tile_ep.accumulate = pc > 0;
                    tile_ep.last = pc + kc >= K;
                    for (index_t q = q0; q < q1; ++q) {
                        const index_t j0 = q * NR;
                        const index_t n = std::min(NR, nb - j0);
                        tile_ep.bias = ep.bias ? ep.bias + jb + j0 : nullptr;
                        const T* bpanel = bpack + pc * npad + j0 * kc;
                        for (index_t p = p0; p < p1; ++p) {
                            const index_t i0 = p * MR;
                            if (ep.z) tile_ep.z = ep.z + (ib + i0) * ep.ldz + jb + j0;
                            kern.gemm_tile(std::min(MR, mb - i0), n, kc, apack + pc * mpad + i0 * kc,
                                           bpanel, c.data + (ib + i0) * c.rs + jb + j0, c.rs,
                                           tile_ep);
                        }
                    }
                }
            });
        }
    }
}

template void gemm<float>(MatView<const float>, MatView<const float>, MatView<float>,
                          const GemmEpilogue<float>&, int);
template void gemm<double>(MatView<const double>, MatView<const double>, MatView<double>,
                           const GemmEpilogue<double>&, int);

}  // namespace nncore
