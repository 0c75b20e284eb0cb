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
    // never on the thread count, so every sum keeps its order.
    const index_t KC = ceil_div(K, ceil_div(K, index_t(bs.kc)));
    const index_t NC = bs.nc;

    int nt = std::min(nthreads, threads_for(2.0 * double(M) * double(N) * double(K)));
    nt = std::max(nt, 1);
    // Row blocks share out evenly when their count is a multiple of the thread count and
    // their sizes are alike: shrink MC to make it so (the k-blocking, and so every sum's
    // order, is unchanged).
    index_t MC = bs.mc;
    if (nt > 1 && M >= 2 * nt * MR) {
        const index_t blocks = nt * ceil_div(ceil_div(M, MC), nt);
        MC = ceil_div(ceil_div(M, blocks), MR) * MR;
    }

    // Shared B block and one A block per thread, reserved before any thread starts.
    const index_t kc_max = std::min(KC, K);
    const index_t nc_max = std::min(NC, ceil_div(N, NR) * NR);
    const index_t mc_max = std::min(MC, ceil_div(M, MR) * MR);
    Workspace& ws = Workspace::local();
    T* bbuf = ws.get<T>(Slot::pack_b, static_cast<std::size_t>(kc_max * nc_max));
    T* abuf_all = ws.get<T>(Slot::pack_a, static_cast<std::size_t>(nt * mc_max * kc_max));

    const index_t m_blocks = ceil_div(M, MC);
    // Row blocks that do not share out evenly: split each block's columns among the
    // threads too (each thread packs the A blocks it touches).
    const index_t n_chunks = m_blocks % nt == 0 ? 1 : nt;

    auto body = [&](int tid) {
        T* abuf = abuf_all + tid * mc_max * kc_max;
        for (index_t jc = 0; jc < N; jc += NC) {
            const index_t nc = std::min(NC, N - jc);
            const index_t n_panels = ceil_div(nc, NR);
            for (index_t pc = 0; pc < K; pc += KC) {
                const index_t kc = std::min(KC, K - pc);
                kernels::TileEpilogue<T> tile_ep;
                tile_ep.accumulate = pc > 0;
                tile_ep.last = pc + kc >= K;
                tile_ep.act = ep.act;
                tile_ep.slope = ep.slope;

                const MatView<const T> bblock{b.data + pc * b.rs + jc * b.cs, kc, nc, b.rs, b.cs};
#ifdef NNCORE_OPENMP
#pragma omp for schedule(static)
#endif
                for (index_t jp = 0; jp < n_panels; ++jp) {
                    const index_t j0 = jp * NR;
                    kern.pack_b(bblock.data + j0 * b.cs, b.rs, b.cs, kc, std::min(NR, nc - j0),
                                bbuf + jp * NR * kc);
                }
                // (implicit barrier: B is packed before anyone reads it)

                index_t packed_ic = -1;
#ifdef NNCORE_OPENMP
#pragma omp for schedule(static)
#endif
                for (index_t item = 0; item < m_blocks * n_chunks; ++item) {
                    const index_t ic = (item / n_chunks) * MC;
                    const index_t chunk = item % n_chunks;
                    const index_t mc = std::min(MC, M - ic);
                    if (packed_ic != ic) {
                        for (index_t ir = 0; ir < mc; ir += MR) {
                            kern.pack_a(a.data + (ic + ir) * a.rs + pc * a.cs, a.rs, a.cs,
                                        std::min(MR, mc - ir), kc, abuf + ir * kc);
                        }
                        packed_ic = ic;
                    }
                    const index_t jp0 = n_panels * chunk / n_chunks;
                    const index_t jp1 = n_panels * (chunk + 1) / n_chunks;
                    for (index_t jp = jp0; jp < jp1; ++jp) {
                        const index_t j0 = jp * NR;
                        const index_t n = std::min(NR, nc - j0);
                        tile_ep.bias = ep.bias ? ep.bias + jc + j0 : nullptr;
                        for (index_t ir = 0; ir < mc; ir += MR) {
                            T* ctile = c.data + (ic + ir) * c.rs + jc + j0;
                            kern.gemm_tile(std::min(MR, mc - ir), n, kc, abuf + ir * kc,
                                           bbuf + jp * NR * kc, ctile, c.rs, tile_ep);
                        }
                    }
                }
                // (implicit barrier: nobody still reads B when it is repacked)
            }
        }
    };

#ifdef NNCORE_OPENMP
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        body(thread_id());
        return;
    }
#endif
    body(0);
}

template void gemm<float>(MatView<const float>, MatView<const float>, MatView<float>,
                          const GemmEpilogue<float>&, int);
template void gemm<double>(MatView<const double>, MatView<const double>, MatView<double>,
                           const GemmEpilogue<double>&, int);

}  // namespace nncore
