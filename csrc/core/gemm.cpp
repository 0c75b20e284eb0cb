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
    if (ep.block_done) ep.block_done(ep.block_ctx, 0, c.rows, 0, c.cols);
}

index_t ceil_div(index_t a, index_t b) noexcept { return (a + b - 1) / b; }

// One thread, one k-block, one chunk of rows and of columns (a small network's layer):
// the same panels and the same tile calls as the blocked driver below (so the same bits),
// in plain loops with nothing dispatched per task. A is read in place when a_fits (row-
// or column-major) or packed whole (it stays in L2), then each column panel of B is packed
// into one L1-hot buffer (or read in place, by the driver's rule) and swept over A's row
// panels by one gemm_tiles call. With ep.block_done, c is rows [row0,
// row0 + M) of the whole product: its block is handed over at the end (gemm_cols, A
// copied: NR rows at a time); B's panel at j0 is then packed at bpack + j0 * K, or found
// there when b_ready (packed by an earlier block of rows).
template <class T>
void small_gemm(MatView<const T> a, MatView<const T> b, MatView<T> c, const GemmEpilogue<T>& ep,
                bool b_in_place, bool a_fits, T* apack, T* bpack, index_t row0 = 0,
                bool b_ready = false) {
    const auto& kern = kernel_set<T>();
    const index_t M = c.rows, N = c.cols, K = a.cols;
    const index_t MR = kern.mr, NR = kern.nr;
    kernels::TileEpilogue<T> tile_ep;
    tile_ep.act = ep.act;
    tile_ep.slope = ep.slope;
    tile_ep.ldz = ep.ldz;
    tile_ep.accumulate = false;
    tile_ep.last = true;
    // A few columns from a column-major A (a weight gradient x^T @ g of a layer with a few
    // outputs): A read in place, many rows per FMA instead of one lane of each tile. A
    // row-major A with one column (a one-output layer's forward, where a tile would use one
    // lane) is copied column-major NR rows at a time, by pack_b as for a transposed B (the
    // same values, so the same bits); 2-4 columns keep the tiles (measured when gemm_cols
    // ran one column at a time: fewer FMA chains in flight on a small batch).
    // Up to one vector of columns (nr_part: 16 floats on avx512, 8 on avx2) from a
    // column-major A too large to read in place (not a_fits: it would be packed whole for
    // one sweep) go to gemm_cols as well: A read once in place, its columns in groups. One
    // core, loaded machine, us, tiles -> gemm_cols: avx512 float 1024 x 256 x 10 (a
    // 1024 -> 10 head's weight gradient, 256 rows) 132 -> 38, 2048 x 128 x 10 133 -> 43,
    // 1024 x 256 x 16 131 -> 74, 784 x 256 x 6 73 -> 29; avx2 1024 x 256 x 8 141 -> 128,
    // x 5 143 -> 83 (10-16 columns 1.03-1.6x slower there). An A that fits stays with the
    // tiles: gemm_cols was 1.1-1.26x slower at 8, 12 and 16 columns (avx512).
    constexpr index_t kColsMax = 4;
    const bool cols_a =
        a.rs == 1 && (N <= kColsMax || (!a_fits && N <= index_t(kern.nr_part)));
    if (kern.gemm_cols && (cols_a || (a.cs == 1 && N == 1))) {
        tile_ep.bias = ep.bias;
        tile_ep.z = ep.z;
        if (a.rs == 1) {
            kern.gemm_cols(M, N, K, a.data, a.cs, b.data, b.rs, b.cs, c.data, c.rs, tile_ep);
            if (ep.block_done) ep.block_done(ep.block_ctx, row0, row0 + M, 0, N);
            return;
        }
        for (index_t i0 = 0; i0 < M; i0 += NR) {
            const index_t rows = std::min(NR, M - i0);
            kern.pack_b(a.data + i0 * a.rs, 1, a.rs, K, rows, apack + i0 * K);
            if (ep.z) tile_ep.z = ep.z + i0 * ep.ldz;
            kern.gemm_cols(rows, N, K, apack + i0 * K, NR, b.data, b.rs, b.cs,
                           c.data + i0 * c.rs, c.rs, tile_ep);
            if (ep.block_done) ep.block_done(ep.block_ctx, row0 + i0, row0 + i0 + rows, 0, N);
        }
        return;
    }
    // A is read in place by the tiles when row-major or column-major (the same values in
    // the same FMAs, so the same bits as its packed panels) and at most a quarter of L2
    // (it is read again by every column strip): no copy of the activations of a small
    // batch. Else it is packed whole.
    const bool a_in_place = (a.cs == 1 || a.rs == 1) && a_fits;
    if (!a_in_place) {
        for (index_t i0 = 0; i0 < M; i0 += MR) {
            kern.pack_a(a.data + i0 * a.rs, a.rs, a.cs, std::min(MR, M - i0), K, apack + i0 * K);
        }
    }
    const T* const a_tiles = a_in_place ? a.data : apack;
    const index_t a_rs = a_in_place ? a.rs : 0, a_cs = a_in_place ? a.cs : 0;
    for (index_t j0 = 0; j0 < N; j0 += NR) {
        const index_t n = std::min(NR, N - j0);
        const T* bpanel = b.data + j0;
        index_t ldb = b.rs;
        T* const bpack_q = ep.block_done ? bpack + j0 * K : bpack;
        // A narrow panel (a one-column output layer) is packed `narrow` wide when that is
        // at most half the panel: the tile reads its first ceil(n / W) vectors of W lanes,
        // a vector at most 64 bytes, so whole 64-byte groups of columns hold them; the
        // NR-wide panel would write (avx512, float) 64 values per k for one.
        const index_t group = index_t(64 / sizeof(T));
        const index_t narrow = 2 * ceil_div(n, group) * group <= NR ? ceil_div(n, group) * group
                                                                    : NR;
        // in place: whole panels, and a last panel of whole vectors (kernel_table.h)
        const bool in_place = b_in_place &&
                              (n == NR || (kern.nr_part > 0 && n % kern.nr_part == 0));
        if (!in_place) {
            bpanel = bpack_q;
            ldb = narrow < NR ? narrow : NR;
            if (b_ready) {
                // packed for an earlier block of rows
            } else if (narrow < NR) {
                const T* src = b.data + j0 * b.cs;
                for (index_t p = 0; p < K; ++p) {
                    T* d = bpack_q + p * narrow;
                    const T* s = src + p * b.rs;
                    if (b.cs == 1) {
                        std::copy(s, s + n, d);
                    } else {
                        for (index_t j = 0; j < n; ++j) d[j] = s[j * b.cs];
                    }
                    std::fill(d + n, d + narrow, T(0));
                }
            } else {
                // A B with rows 4 KiB apart (a 1024-wide layer's weights in the forward
                // product of a 256-row batch) was also streamed: the next column panel
                // packed a chunk of its rows after each row panel's tiles of this one,
                // each chunk prefetched into L2 a row panel earlier; and pack_b prefetching
                // its rows 8, 16 or 32 ahead. Neither changed the wide workload's fit (one
                // core, avx512, loaded machine, min of 7: 197.0 -> 195.8 ms per 10 steps,
                // within the noise) nor pack_b's share of it (2.9% -> 3.5%): its loads
                // still wait, so not kept.
                kern.pack_b(b.data + j0 * b.cs, b.rs, b.cs, K, n, bpack_q);
            }
        }
        tile_ep.bias = ep.bias ? ep.bias + j0 : nullptr;
        if (ep.z) tile_ep.z = ep.z + j0;
        // the column strip's tiles over A's row panels, in one call
        kern.gemm_tiles(M, n, K, a_tiles, a_rs, a_cs, bpanel, ldb, c.data + j0, c.rs, tile_ep);
    }
    if (ep.block_done) ep.block_done(ep.block_ctx, row0, row0 + M, 0, N);
}

}  // namespace

int gemm_threads(index_t m, index_t n, index_t k, int nthreads) noexcept {
    // A second thread pays only when each gets at least kGemmWorkPerThread flops of the
    // product: below it, the serial packing and the other core's fetch of the panels packed
    // in this core's cache cost more than the split saves (bench/scaling.py, RESULTS.md
    // 2026-12-07: with threads from 2 MFLOP, MLPs of batch 16-128 ran up to 1.41x slower on
    // two threads than on one; from 16 MFLOP, at most 1.09x). Measured before each task
    // packed its own panels of the larger operand (below); to measure again on a quiet
    // machine (bench/scaling.py --products).
    constexpr double kGemmWorkPerThread = 8.0e6;
    const double flops = 2.0 * double(m) * double(n) * double(k);
    return std::max(1, std::min({nthreads, threads_for(flops),
                                 static_cast<int>(flops / kGemmWorkPerThread)}));
}

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
    const int nt = gemm_threads(M, N, K, nthreads);

    // Two parallel steps per chunk of C. The operand with the smaller packed copy is packed
    // first, by all threads, into a shared buffer. Then each task packs its own share of
    // the larger operand (B's column panels, or A's row panels) and computes the C tiles
    // that use it while those panels are hot in its core's cache: every panel of the
    // larger operand is packed and read by one thread. Each MR x NR micro-tile is computed
    // by the same kernel calls over the same k-blocks in order, whichever task holds it, so
    // the tasks (chosen for speed and thread count) and the schedule never change a bit.
    // Chunks bound the packed copies (a tall A or a wide B is never copied whole).
    constexpr index_t kPackLimit = index_t(1) << 21;  // elements per packed operand
    const index_t NB = std::min(N, std::max(NR, kPackLimit / K / NR * NR));
    const index_t MB = std::min(M, std::max(MR, kPackLimit / K / MR * MR));
    const index_t npan_max = ceil_div(NB, NR), mpan_max = ceil_div(MB, MR);
    Workspace& ws = Workspace::local();
    T* bpack = ws.get<T>(Slot::pack_b, static_cast<std::size_t>(K * npan_max * NR));
    T* apack = ws.get<T>(Slot::pack_a, static_cast<std::size_t>(
                                           K * std::max(mpan_max * MR, ceil_div(MB, NR) * NR)));
    // B's panels go with the tasks when B's packed chunk is at least A's (a layer's
    // weights in the forward and input-gradient products of a small batch); A's rows do
    // otherwise (the activations in a weight-gradient product).
    // With fewer column panels than 4 per thread, B is packed first with A instead and
    // the tasks are finer tiles: two or three large tasks leave a late worker's share to
    // wait for (the caller cannot take it over).
    const bool b_major = npan_max * NR >= mpan_max * MR;
    const bool tasks_pack_b = b_major && npan_max >= 4 * index_t(nt);
    // Column panels of B whose k-block stays in L3 across a sweep of the rows.
    const index_t cp_max = std::max<index_t>(1, bs.nc / NR);
    // A row-major B is read in place, its whole column panels without a packed copy (same
    // values, same products, so the same bits), when the copy would not pay: a panel's
    // k-block larger than 3/4 of L1 streams from L2 either way (a layer's weights in a
    // small batch's forward product: 784 x 256 at 64 rows reads each panel 11 times,
    // 1.16x faster in place), B stays in L2, and its rows lie at most 2 KiB apart. A panel
    // that fits L1 is packed: B's rows rs apart map to few L1 sets (the 64 x 64 panels of
    // a 64-row output gradient, read 33 times, took 1.08x longer in place). So is a B
    // larger than L2, or with rows 4 KiB apart or more (1024 floats): one row per page
    // leaves the hardware prefetchers nothing to follow (256 x 1024 x 1024's weight
    // gradient took 1.14x longer in place).
    const Dispatch& cpu = dispatch();
    const double l1 = cpu.l1d > 0 ? double(cpu.l1d) : 32768.0;
    const double l2 = cpu.l2 > 0 ? double(cpu.l2) : 262144.0;
    const double elem = double(sizeof(T));
    // A small row-major B (a small network's weights in the forward product, an output
    // gradient in a weight gradient) is read in place too, when few row panels read it:
    // at most half of L1 and 64 row panels, or 1.5 x L1 and 16 row panels. Packing it took
    // 3.4 M of the 60 M instructions of an epoch of tabular 20-64-64-1 b32 (callgrind,
    // avx2); in place, nncore.matmul on one core (loaded machine, us, packed -> in place):
    // 32 x 64 x 64 3.9 -> 3.2 (avx2), 2.5 -> 2.2 (avx512), 32 to 512 rows as fast or
    // faster; 32 x 128 x 128 14.3 -> 12.6 (avx2), 7.7 -> 7.1 (avx512), 64 rows 1.00-1.03x
    // faster, but 256 rows 1.04-1.08x slower (a 64 KiB B's rows, 512 bytes apart, share
    // L1 sets; the packed panel does not).
    const double b_bytes = double(K) * double(N) * elem;
    const index_t row_panels = ceil_div(M, MR);
    const bool b_small = b.cs == 1 && ((b_bytes <= l1 / 2 && row_panels <= 64) ||
                                       (b_bytes <= 1.5 * l1 && row_panels <= 16));
    // Up to all of L2 when few row panels read it (at most 16: the packed copy is then
    // read too few times to repay its making): a small batch's forward product through a
    // layer of 0.5-1 x L2 of weights. In-process A/B, avx512, loaded machine, us, packed
    // -> in place, 1 thread: 32 x 784 x 512 260 -> 162, 16 x 1024 x 512 260 -> 155,
    // 64 x 1024 x 400 364 -> 279, 96 x 784 x 512 482 -> 449; 2 threads 0.63-0.86x. A B
    // larger than L2 stays packed (32 x 2048 x 512 took 1.84x longer in place). Rows up
    // to 4 KiB apart when at most 4 row panels read B (a batch of up to 24 rows on avx512,
    // whose tiles prefetch such rows): 8 x 512 x 1024 200 -> 95 us, 16 x 256 x 1024
    // 58 -> 50 (1 and 2 threads); with 6 and more row panels the gain was 0.89-1.04x.
    // K in equal k-blocks (784 = 4 x 196, not 3 x 256 + 16: a 16-deep block would spend
    // as long storing C as multiplying) of at most bs.kc when B may be read in place
    // (below), of at most bs.kc_packed (1024; generic: 256) otherwise (B packed): a product with K up
    // to that writes C once, with its epilogue, not K / kc times (C += acc). In place, the
    // deeper block cost more: 64 x 784 x 256 (B's rows 1 KiB apart) in one 784-deep
    // block made an MNIST-shaped epoch 2.5% slower, 256 x 512 x 512 took 1.19x longer;
    // packed, it paid: wide 1024-1024-1024-10 b256's epoch 4.5% faster, 256 x 1024 x 1024
    // 1.08x, 128 x 784 x 512 1.2x, 512 x 768 x 512 1.09x faster (one core, avx512, loaded
    // machine, process CPU time; NNCORE_GEMM_BLOCKS sets one depth for both, to measure).
    // B is read in place only when it fits in half of L2, or in L2 for at most 16 row
    // panels (at most 96 rows with the largest tile's 6): the depth is shallow there, by
    // shapes, dtype and caches only, never by B's strides, the set's tiles, the thread
    // count or the tiling, so every sum keeps its order: the same product gives the same
    // bits whatever the layout of its operands, and the same on avx2 and avx512.
    constexpr index_t kInPlaceRows = 16 * 6;
    const bool may_be_in_place = b_bytes <= l2 / 2 || (b_bytes <= l2 && M <= kInPlaceRows);
    const index_t kc_max = may_be_in_place ? bs.kc : std::max(bs.kc, bs.kc_packed);
    const index_t KC = ceil_div(K, ceil_div(K, kc_max));
    const index_t kblocks = ceil_div(K, KC);
    // Row panels of A that stay in L2 across a sweep of B's column panels: bs.mc rows (an
    // mc x kc block of A in half of L2), fewer when the k-blocks are deeper than kc and
    // such a block would not fit (a 2 MiB L2 holds 240 rows of 1024 floats in its half;
    // a 512 KiB L2, 60). This shapes the tasks only, never the bits.
    const index_t rp_max = std::max<index_t>(
        1, std::min<index_t>(bs.mc, static_cast<index_t>(l2 / 2 / (elem * double(KC)))) / MR);
    const double b_row = double(b.rs) * elem;
    const bool b_in_place =
        may_be_in_place &&
        (b_small || (b.cs == 1 && (b_row <= 2048.0 || (b_row <= 4096.0 && row_panels <= 4)) &&
                     double(KC) * double(NR) * elem > 0.75 * l1 &&
                     (b_bytes <= l2 / 2 || (b_bytes <= l2 && row_panels <= 16))));

    // small_gemm may read A in place (its rows or columns at most 4 KiB apart)
    const double a_lead = a.cs == 1 ? double(a.rs) : double(a.cs);
    const bool a_fits = double(M) * double(K) * elem <= l2 / 4 && a_lead * elem <= 4096.0;
    // With one column panel (N <= NR: a narrow layer, an output head), the blocked driver
    // reads a row- or column-major A in place too, whatever its size: each k-block of A
    // is read once, so a packed copy is pure overhead. The tiles of the panel over a
    // task's row panels in one gemm_tiles call, as small_gemm makes them (the same bits as
    // on packed panels). In-process A/B, one core, loaded machine, us, packed -> in place:
    // avx512 float 256 x 1024 x 10 (wide's head forward) 123 -> 70, 256 x 1024 x 64
    // 199 -> 145, 64 x 784 x 10 25 -> 20, 64 x 784 x 64 34 -> 29, (1024 x 512)^T x 10
    // 402 -> 210; avx2 0.58-0.84x. With more column panels A is read again by each:
    // 64 x 784 x 256 in place took 1.09x longer (its 2-row-panel tasks), so it is packed.
    const bool a_direct = N <= NR && MB == M && a.rs > 0 && a.cs > 0 &&
                          (a.cs == 1 || a.rs == 1);
    if (nt == 1 && kblocks == 1 && NB == N && MB == M) {
        if (!ep.block_done) {
            small_gemm(a, b, c, ep, b_in_place, a_fits, apack, bpack);
            return;
        }
        // With a hook: blocks of whole row panels, each of at most a quarter of L2 of C,
        // handed over while it is there; B's panels packed by the first block are kept
        // for the others (the same tiles on the same panels, so the same bits).
        const index_t rb =
            std::max(MR, index_t(l2 / 4 / elem / double(N) / double(MR)) * MR);
        for (index_t i0 = 0; i0 < M; i0 += rb) {
            const index_t m = std::min(rb, M - i0);
            GemmEpilogue<T> part = ep;
            if (ep.z) part.z = ep.z + i0 * ep.ldz;
            small_gemm(MatView<const T>{a.data + i0 * a.rs, m, K, a.rs, a.cs}, b,
                       MatView<T>{c.data + i0 * c.rs, m, N, c.rs, c.cs}, part, b_in_place,
                       a_fits, apack, bpack, i0, i0 > 0);
        }
        return;
    }

    for (index_t jb = 0; jb < N; jb += NB) {
        const index_t nb = std::min(NB, N - jb);
        const index_t npan = ceil_div(nb, NR), npad = npan * NR;
        for (index_t ib = 0; ib < M; ib += MB) {
            const index_t mb = std::min(MB, M - ib);
            const index_t mpan = ceil_div(mb, MR), mpad = mpan * MR;
            // B is packed for the first row chunk and kept for the others.
            const bool pack_b_now = ib == 0;

            // Panels of k-block pc start at pc * (padded width). A column-major A (the
            // activations' transpose in a weight gradient: each k's MR values of a panel
            // lie in a row of x, rows far apart) is packed kAColChunk values of k at a time
            // over all the panels, so that each row's lines are read from L2 once, while
            // they are in L1 (a panel at a time, rows 4 KiB apart share their L1 sets and
            // are evicted before the next panel reads the same lines); the same panels.
            // avx512, a 1024 x 256 x^T in tasks of 9 panels, one core: 72 -> 55 us.
            const auto pack_a_panels = [&](index_t p0, index_t p1, index_t pc, index_t kc) {
                if (a_direct) return;  // read in place by the tiles
                constexpr index_t kAColChunk = 8;
                const index_t chunk = a.rs == 1 && p1 - p0 > 1 ? kAColChunk : kc;
                for (index_t k0 = 0; k0 < kc; k0 += chunk) {
                    const index_t kk = std::min(chunk, kc - k0);
                    for (index_t p = p0; p < p1; ++p) {
                        const index_t i0 = p * MR;
                        kern.pack_a(a.data + (ib + i0) * a.rs + (pc + k0) * a.cs, a.rs, a.cs,
                                    std::min(MR, mb - i0), kk,
                                    apack + pc * mpad + i0 * kc + k0 * MR);
                    }
                }
            };
            // Column panel q of B is read in place (whole panels of a B read in place).
            const auto in_place = [&](index_t q) { return b_in_place && (q + 1) * NR <= nb; };
            const auto pack_b_panels = [&](index_t q0, index_t q1, index_t pc, index_t kc) {
                for (index_t q = q0; q < q1; ++q) {
                    if (in_place(q)) continue;
                    const index_t j0 = q * NR;
                    kern.pack_b(b.data + pc * b.rs + (jb + j0) * b.cs, b.rs, b.cs, kc,
                                std::min(NR, nb - j0), bpack + pc * npad + j0 * kc);
                }
            };
            // C's micro-tiles in row panels [p0, p1) x column panels [q0, q1), k-blocks
            // in order.
            const auto tiles = [&](index_t p0, index_t p1, index_t q0, index_t q1) {
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
                        const bool direct = in_place(q);
                        const T* bpanel = direct ? b.data + pc * b.rs + jb + j0
                                                 : bpack + pc * npad + j0 * kc;
                        const index_t ldb = direct ? b.rs : NR;
                        if (a_direct) {
                            const index_t i0 = p0 * MR, rows = std::min(mb, p1 * MR) - i0;
                            if (ep.z) tile_ep.z = ep.z + (ib + i0) * ep.ldz + jb + j0;
                            kern.gemm_tiles(rows, n, kc, a.data + (ib + i0) * a.rs + pc * a.cs,
                                            a.rs, a.cs, bpanel, ldb,
                                            c.data + (ib + i0) * c.rs + jb + j0, c.rs, tile_ep);
                            continue;
                        }
                        for (index_t p = p0; p < p1; ++p) {
                            const index_t i0 = p * MR;
                            if (ep.z) tile_ep.z = ep.z + (ib + i0) * ep.ldz + jb + j0;
                            const T* apanel = apack + pc * mpad + i0 * kc;
                            T* ctile = c.data + (ib + i0) * c.rs + jb + j0;
                            kern.gemm_tile(std::min(MR, mb - i0), n, kc, apanel, bpanel, ldb, ctile,
                                           c.rs, tile_ep);
                        }
                    }
                }
                // every k-block of these tiles is behind: the block is final
                if (ep.block_done) {
                    ep.block_done(ep.block_ctx, ib + p0 * MR, ib + std::min(mb, p1 * MR),
                                  jb + q0 * NR, jb + std::min(nb, q1 * NR));
                }
            };

            // Step 1: the other operand (A, or B's panels not read in place), in groups of
            // panels per k-block, over the threads when it is large enough: groups of at
            // most 16 panels, and at least two tasks per thread (a weight gradient's output
            // gradient of 1024 columns and 256 rows is one k-block of 16 panels: one task
            // packed its 1 MiB while the other thread waited).
            constexpr index_t kPanelsPerPackTask = 16;
            const bool b_packed = !b_in_place || nb % NR != 0;  // some panel is packed
            if (tasks_pack_b ? !a_direct : pack_b_now && b_packed) {
                const index_t pan = tasks_pack_b ? mpan : npan;
                const double pack_work = 8.0 * double(K) * double(tasks_pack_b ? mpad : npad);
                const int pack_threads = std::min(nt, threads_for(pack_work));
                const index_t per =
                    pack_threads == 1
                        ? kPanelsPerPackTask
                        : std::min(kPanelsPerPackTask,
                                   ceil_div(pan, ceil_div(2 * index_t(pack_threads), kblocks)));
                const index_t groups = ceil_div(pan, per);
                parallel_for(kblocks * groups, pack_threads, [&](index_t t) {
                    const index_t pc = (t / groups) * KC, kc = std::min(KC, K - pc);
                    const index_t g = t % groups;
                    const index_t g0 = g * per;
                    const index_t g1 = std::min(pan, g0 + per);
                    if (tasks_pack_b) pack_a_panels(g0, g1, pc, kc);
                    else pack_b_panels(g0, g1, pc, kc);
                });
            }

            // Step 2: tasks that pack their panels of the larger operand, then compute. About
            // `want` tasks of kTaskWork flops or more (at most 64): a worker the OS has
            // descheduled then delays only the small share it holds (core/parallel.h).
            constexpr double kTaskWork = 1.0e6;
            const double work = 2.0 * double(mb) * double(nb) * double(K);
            const index_t want =
                std::max<index_t>(1, std::min<index_t>(64, index_t(work / kTaskWork)));
            // Panels per block for `count` even blocks of `panels` (43 panels: 22 + 21, not
            // 40 + 3); for tasks, as many as a multiple of the threads when they are few
            // (131 panels on 2 threads: 4 x 33, not 3 x 44).
            const auto even = [&](index_t panels, index_t count, bool tasks) {
                count = std::min(panels, std::max<index_t>(1, count));
                if (tasks && nt > 1 && count < 4 * nt) {
                    count = std::min(panels, ceil_div(count, index_t(nt)) * nt);
                }
                return ceil_div(panels, count);
            };
            if (tasks_pack_b && pack_b_now && b_packed) {
                // One column panel per task, its B panel packed by the task, over all rows
                // in even blocks of at most rp_max panels.
                const index_t rp = even(mpan, ceil_div(mpan, rp_max), false);
                parallel_for(npan, nt, [&](index_t q) {
                    for (index_t pc = 0; pc < K; pc += KC) {
                        pack_b_panels(q, q + 1, pc, std::min(KC, K - pc));
                    }
                    for (index_t p0 = 0; p0 < mpan; p0 += rp) {
                        tiles(p0, std::min(mpan, p0 + rp), q, q + 1);
                    }
                });
            } else if (tasks_pack_b) {
                // B read in place (or packed by the first row chunk's tasks), A packed:
                // nothing for a task to pack. Tiles of one column panel and an even row
                // block, about `want` of them.
                const index_t rp = std::min(rp_max, even(mpan, ceil_div(want, npan), true));
                const index_t rt = ceil_div(mpan, rp);
                parallel_for(rt * npan, nt, [&](index_t t) {
                    const index_t p0 = (t / npan) * rp, q = t % npan;
                    tiles(p0, std::min(mpan, p0 + rp), q, q + 1);
                });
            } else {
                // Row blocks of at most rp_max panels, about `want` of them but of at least
                // kMinRows panels (B's panels, read again by every task, are reused by that
                // many tiles) unless that leaves fewer than 4 per thread, each over all
                // columns in blocks of cp_max panels.
                constexpr index_t kMinRows = 8;
                const index_t count =
                    std::max(ceil_div(mpan, rp_max),
                             std::min(want, std::max(mpan / kMinRows, 4 * index_t(nt))));
                const index_t rp = even(mpan, count, true);
                const index_t tasks = ceil_div(mpan, rp);
                parallel_for(tasks, nt, [&](index_t t) {
                    const index_t p0 = t * rp, p1 = std::min(mpan, p0 + rp);
                    for (index_t pc = 0; pc < K; pc += KC) {
                        pack_a_panels(p0, p1, pc, std::min(KC, K - pc));
                    }
                    for (index_t q0 = 0; q0 < npan; q0 += cp_max) {
                        tiles(p0, p1, q0, std::min(npan, q0 + cp_max));
                    }
                });
            }
        }
    }
}

template void gemm<float>(MatView<const float>, MatView<const float>, MatView<float>,
                          const GemmEpilogue<float>&, int);
template void gemm<double>(MatView<const double>, MatView<const double>, MatView<double>,
                           const GemmEpilogue<double>&, int);

}  // namespace nncore
