// The GEMM register tile (KernelSet::gemm_tile) over a vector type V, with its epilogue.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

// The common store of a small network's layer, apart so that it holds no branch per
// vector: C = acc (+ bias) (then relu) over whole column vectors, on the only k-block, no
// pre-activation kept. The same operations as the general epilogue below.
// Acc: C = C + acc (+ bias) (then relu), C holding an earlier k-block's sum (a k-block
// before the last one has neither Bias nor Relu).
template <class V, int MRows, int NA, bool Bias, bool Relu, bool Acc = false>
NNCORE_VINLINE void store_simple(const typename V::R (&acc)[MRows][NA], index_t m,
                                 const typename V::T* bias, typename V::T* c,
                                 index_t ldc) noexcept {
    using R = typename V::R;
    constexpr int W = V::W;
    R bv[NA];
#pragma GCC unroll 4
    for (int v = 0; v < NA; ++v) bv[v] = Bias ? V::loadu(bias + v * W) : V::zero();
#pragma GCC unroll 16
    for (int i = 0; i < MRows; ++i) {
        if (i >= m) break;
#pragma GCC unroll 4
        for (int v = 0; v < NA; ++v) {
            R r = acc[i][v];
            if (Acc) r = V::add(V::loadu(c + i * ldc + v * W), r);
            if (Bias) r = V::add(r, bv[v]);
            // relu as apply_act: + 0 turns max's -0 into +0
            if (Relu) r = V::add(V::max(V::zero(), r), V::zero());
            V::storeu(c + i * ldc + v * W, r);
        }
    }
}

// Where a tile reads A(i, p): a packed panel (a[p * MR + i]), or A in place, row-major
// (a[i * lda + p]) or column-major (a[p * lda + i]); see KernelSet::gemm_tiles.
enum class ALay { packed, rows, cols };

// How many rows ahead a B read in place is prefetched (gemm_tile_cols).
constexpr index_t kPrefetchRows = 4;

// acc = A_panel * B_panel over kc for the first NA of the tile's NV column vectors
// (MR x NA accumulators, all in registers), then the epilogue while the values are still
// in registers; see kernel_table.h. Columns past NA * W are zero padding in B_panel
// (n <= NA * W), so they are neither computed nor stored. Only the first MRows rows of the
// panel (groups of MR values per k) are computed: the zero rows of a panel's last m < MR
// rows are skipped (a 32-row batch on 6-row tiles: 32 rows computed, not 36); every
// computed element has the same operations whatever MRows is. PrefetchB: B read in place,
// its rows fetched kPrefetchRows ahead (see gemm_tile_cols).
template <class V, int MR, int NV, int NA, int MRows = MR, ALay L = ALay::packed,
          bool PrefetchB = false>
NNCORE_VINLINE void tile_body(index_t m, index_t n, index_t kc, const typename V::T* a,
                              index_t lda, const typename V::T* b, index_t ldb,
                              typename V::T* c, index_t ldc,
                              const TileEpilogue<typename V::T>& ep) noexcept {
    using T = typename V::T;
    using R = typename V::R;
    constexpr int W = V::W;
    R acc[MRows][NA];
#pragma GCC unroll 16
    for (int i = 0; i < MRows; ++i) {
#pragma GCC unroll 4
        for (int v = 0; v < NA; ++v) acc[i][v] = V::zero();
    }
    // The C tile is read (accumulate) or written at the end: its rows are fetched ahead,
    // so that the epilogue does not wait on L2/L3 (C rows lie ldc apart, where the
    // hardware prefetcher does not look): every line of each row (the first and the last
    // element only, before: the middle lines of a 64-float row then missed at the store;
    // wide 1024-1024-1024-10 b256, one core, avx512, loaded machine: 138.1 -> 137.3 ms per
    // 10 steps). A packed B panel needs no software prefetch: it is sequential. A
    // row-major B read in place does on avx512 (PrefetchB, see gemm_tile_cols).
    // On a packed B panel, row i of C is fetched at k = i inside the loop (the start of
    // each of the NA vectors and the row's last element; the rows left after the loop
    // when kc < m), not the whole tile before it: there, 24 prefetches of lines not in L2
    // (a weight gradient's C, 784 x 256 floats, written once per step) filled the
    // line-fill buffers and stalled the tile until they came (the 64-deep weight-gradient
    // tiles of an MNIST-shaped epoch spent 8% of their time on that loop, perf, avx512).
    // In-process products, one core, loaded machine, min of 6 x 1500 calls, us, old ->
    // new: 784 x 64 x 256 (x^T @ g) 165.0 -> 157.8, 256 x 64 x 128 30.7 -> 28.6, 64 x 128
    // x 256 (g @ W^T) 33.7 -> 32.3 (with a B in place fetched as below). With PrefetchB the
    // loop's registers are all taken (there, the in-loop fetch spilled and 64 x 784 x 256
    // took 1.04x longer): the tile is fetched before the loop, as before.
    constexpr bool kFetchCInLoop = !PrefetchB;
    constexpr index_t kLine = index_t(64 / sizeof(T));
    const index_t c_rows = m < index_t(MRows) ? m : index_t(MRows);
    if constexpr (!kFetchCInLoop) {
        for (index_t i = 0; i < c_rows; ++i) {
            const T* ci = c + i * ldc;
            for (index_t e = 0; e < n - 1; e += kLine) {
                _mm_prefetch(reinterpret_cast<const char*>(ci + e), _MM_HINT_T0);
            }
            _mm_prefetch(reinterpret_cast<const char*>(ci + n - 1), _MM_HINT_T0);
        }
    }
    // A row-major A in place: a pointer per row, so each broadcast is one load from its
    // row at p (no multiple of lda to keep per row).
    const T* arow[L == ALay::rows ? MRows : 1];
    if constexpr (L == ALay::rows) {
#pragma GCC unroll 16
        for (int i = 0; i < MRows; ++i) arow[i] = a + i * lda;
    }
    // Unrolled by 8: the loop's pointer updates and branch are then a small share of
    // the front end's work (1.03-1.10x faster through nncore.matmul, avx2, one core).
#pragma GCC unroll 8
    for (index_t p = 0; p < kc; ++p) {
        const T* ap = L == ALay::packed ? a + p * MR : L == ALay::rows ? a + p : a + p * lda;
        const T* bp = b + p * ldb;
        if (kFetchCInLoop && p < c_rows) {
            const T* ci = c + p * ldc;
#pragma GCC unroll 4
            for (int v = 0; v < NA; ++v) {
                _mm_prefetch(reinterpret_cast<const char*>(ci + v * W), _MM_HINT_T0);
            }
            _mm_prefetch(reinterpret_cast<const char*>(ci + n - 1), _MM_HINT_T0);
        }
        R bv[NA];
#pragma GCC unroll 4
        for (int v = 0; v < NA; ++v) bv[v] = V::loadu(bp + v * W);
        if constexpr (PrefetchB) {
#pragma GCC unroll 4
            for (int v = 0; v < NA; ++v) {
                _mm_prefetch(reinterpret_cast<const char*>(bp + kPrefetchRows * ldb + v * W),
                             _MM_HINT_T0);
            }
        }
#pragma GCC unroll 16
        for (int i = 0; i < MRows; ++i) {
            R av;
            if constexpr (L == ALay::rows) av = V::set1(arow[i][p]);
            else av = V::set1(ap[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NA; ++v) acc[i][v] = V::fmadd(av, bv[v], acc[i][v]);
        }
    }
    if constexpr (kFetchCInLoop) {
        for (index_t i = kc; i < c_rows; ++i) {  // a k loop shorter than the tile's rows
            const T* ci = c + i * ldc;
            for (int v = 0; v < NA; ++v) {
                _mm_prefetch(reinterpret_cast<const char*>(ci + v * W), _MM_HINT_T0);
            }
            _mm_prefetch(reinterpret_cast<const char*>(ci + n - 1), _MM_HINT_T0);
        }
    }

    const R slope = V::set1(ep.slope);
    const bool full_cols = n == NA * W;
    // The epilogue's fields in locals: the stores to C and z could alias ep as far as the
    // compiler knows, so reading ep in the loop reloads it at every vector.
    const bool accumulate = ep.accumulate, last = ep.last;
    const T* const bias = ep.bias;
    T* const z = ep.z;
    const index_t ldz = ep.ldz;
    const Act act = ep.act;
    if (full_cols && !accumulate && last && !z &&
        (act == Act::identity || act == Act::relu)) {
        const bool relu = act == Act::relu;
        if (bias && relu) store_simple<V, MRows, NA, true, true>(acc, m, bias, c, ldc);
        else if (bias) store_simple<V, MRows, NA, true, false>(acc, m, bias, c, ldc);
        else if (relu) store_simple<V, MRows, NA, false, true>(acc, m, bias, c, ldc);
        else store_simple<V, MRows, NA, false, false>(acc, m, bias, c, ldc);
        return;
    }
    // The k-blocks of a deeper product (K > kc: 1024-wide layers), full tiles: C = acc on
    // the first, C = C + acc on the next ones, C = C + acc (+ bias) (then relu) on the
    // last, without the general loop's tests per vector below (avx512, one core, a 6 x 64
    // tile on L1-hot panels, kc = 256: 230 -> 240 GFLOP/s with C += acc). The same
    // operations as the general loop.
    if constexpr (MRows == MR) {
        if (full_cols && !z && (!last || act == Act::identity || act == Act::relu)) {
            const bool relu = last && act == Act::relu;
            const bool add_bias = last && bias;
            if (!accumulate) store_simple<V, MRows, NA, false, false>(acc, m, bias, c, ldc);
            else if (add_bias && relu) store_simple<V, MRows, NA, true, true, true>(acc, m, bias, c, ldc);
            else if (add_bias) store_simple<V, MRows, NA, true, false, true>(acc, m, bias, c, ldc);
            else if (relu) store_simple<V, MRows, NA, false, true, true>(acc, m, bias, c, ldc);
            else store_simple<V, MRows, NA, false, false, true>(acc, m, bias, c, ldc);
            return;
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MRows; ++i) {
        if (i >= m) break;
        T* ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NA; ++v) {
            const index_t cols = n - index_t(v) * W;
            if (cols <= 0) break;
            R r = acc[i][v];
            if (full_cols || cols >= W) {
                if (accumulate) r = V::add(V::loadu(ci + v * W), r);
                if (last) {
                    if (bias) r = V::add(r, V::loadu(bias + v * W));
                    if (z) V::storeu(z + i * ldz + v * W, r);
                    r = apply_act<V>(act, r, slope);
                }
                V::storeu(ci + v * W, r);
            } else {
                if (accumulate) r = V::add(V::load_part(ci + v * W, cols), r);
                if (last) {
                    if (bias) r = V::add(r, V::load_part(bias + v * W, cols));
                    if (z) V::store_part(z + i * ldz + v * W, r, cols);
                    r = apply_act<V>(act, r, slope);
                }
                V::store_part(ci + v * W, r, cols);
            }
        }
    }
}

// Out of line and never cloned for its callers' constants: the k loop then keeps its
// 12-16 accumulators and B vectors in registers (a clone specialised for gemm_tiles_na's
// m = MR spilled one accumulator per k).
// With 64-byte vectors (avx512), a B not packed NR wide (ldb != NR: a row-major B read in
// place, a layer's weights in a small batch's forward product) has its rows fetched into
// L1 kPrefetchRows rows ahead: a k-block of rows about 1 KiB apart maps to few L1 sets
// and streams from L2 for every tile (64 x 784 x 256's 196-row k-blocks of 256 bytes per
// column panel). Distances of 2, 4, 8 and 16 rows, timed over that product's tiles on
// pre-packed A panels (one core, loaded machine, GFLOP/s, medians of 5): 211 without,
// 215, 217, 214, 210. A packed panel (sequential, ldb == NR) gained nothing and lost
// about 1% (a load slot per vector): not prefetched; nor on avx2 (4 x 24 tiles: no gain
// measured). Prefetching changes no value.
template <class V, int MR, int NV, int NA, int MRows = MR, ALay L = ALay::packed>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline, noclone))
#endif
void gemm_tile_cols(index_t m, index_t n, index_t kc, const typename V::T* a, index_t lda,
                    const typename V::T* b, index_t ldb, typename V::T* c, index_t ldc,
                    const TileEpilogue<typename V::T>& ep) noexcept {
    if constexpr (sizeof(typename V::R) == 64) {
        if (ldb != index_t(NV) * V::W) {
            return tile_body<V, MR, NV, NA, MRows, L, true>(m, n, kc, a, lda, b, ldb, c, ldc,
                                                            ep);
        }
    }
    tile_body<V, MR, NV, NA, MRows, L>(m, n, kc, a, lda, b, ldb, c, ldc, ep);
}

// The first MRows >= m rows of the tile: a tile of the last m < MR rows computes m rows.
template <class V, int MR, int NV, int NA, int MRows, ALay L = ALay::packed>
void gemm_tile_rows(index_t m, index_t n, index_t kc, const typename V::T* a, index_t lda,
                    const typename V::T* b, index_t ldb, typename V::T* c, index_t ldc,
                    const TileEpilogue<typename V::T>& ep) noexcept {
    if constexpr (MRows > 1) {
        if (m < MRows) {
            return gemm_tile_rows<V, MR, NV, NA, MRows - 1, L>(m, n, kc, a, lda, b, ldb, c, ldc,
                                                               ep);
        }
    }
    gemm_tile_cols<V, MR, NV, NA, MRows, L>(m, n, kc, a, lda, b, ldb, c, ldc, ep);
}

// The MR x (NV * W) tile: narrow edge tiles (a 10-column output layer in a 64-wide
// tile) run only the column vectors they need, short edge tiles only their rows.
template <class V, int MR, int NV, int NA = NV>
void gemm_tile(index_t m, index_t n, index_t kc, const typename V::T* a,
               const typename V::T* b, index_t ldb, typename V::T* c, index_t ldc,
               const TileEpilogue<typename V::T>& ep) noexcept {
    if constexpr (NA > 1) {
        if (n <= index_t(NA - 1) * V::W) {
            return gemm_tile<V, MR, NV, NA - 1>(m, n, kc, a, b, ldb, c, ldc, ep);
        }
    }
    if (m >= MR) return gemm_tile_cols<V, MR, NV, NA>(m, n, kc, a, 0, b, ldb, c, ldc, ep);
    gemm_tile_rows<V, MR, NV, NA, MR - 1>(m, n, kc, a, 0, b, ldb, c, ldc, ep);
}

// gemm_tiles (kernel_table.h) for tiles of NA column vectors and A laid out as L: the
// whole row panels, then the last m % MR rows as gemm_tile computes them.
template <class V, int MR, int NV, int NA, ALay L>
void gemm_tiles_na(index_t m, index_t n, index_t kc, const typename V::T* a, index_t lda,
                   const typename V::T* b, index_t ldb, typename V::T* c, index_t ldc,
                   const TileEpilogue<typename V::T>& ep) noexcept {
    TileEpilogue<typename V::T> tile = ep;
    const index_t ldz = ep.ldz;
    // a row panel's first value: MR rows down A
    const index_t step = L == ALay::packed ? MR * kc : L == ALay::rows ? MR * lda : MR;
    index_t i0 = 0;
    for (; i0 + MR <= m; i0 += MR) {
        // a call per tile, not the body inlined here: inlined, the compiler keeps the
        // epilogue's constants live across the k loop and spills an accumulator per k
        gemm_tile_cols<V, MR, NV, NA, MR, L>(MR, n, kc, a, lda, b, ldb, c + i0 * ldc, ldc, tile);
        a += step;
        if (tile.z) tile.z += MR * ldz;
    }
    if (i0 < m) {
        gemm_tile_rows<V, MR, NV, NA, MR - 1, L>(m - i0, n, kc, a, lda, b, ldb, c + i0 * ldc,
                                                 ldc, tile);
    }
}

template <class V, int MR, int NV, int NA>
void gemm_tiles_lay(index_t m, index_t n, index_t kc, const typename V::T* a, index_t a_rs,
                    index_t a_cs, const typename V::T* b, index_t ldb, typename V::T* c,
                    index_t ldc, const TileEpilogue<typename V::T>& ep) noexcept {
    if (a_rs == 0) return gemm_tiles_na<V, MR, NV, NA, ALay::packed>(m, n, kc, a, 0, b, ldb, c, ldc, ep);
    if (a_cs == 1) return gemm_tiles_na<V, MR, NV, NA, ALay::rows>(m, n, kc, a, a_rs, b, ldb, c, ldc, ep);
    gemm_tiles_na<V, MR, NV, NA, ALay::cols>(m, n, kc, a, a_cs, b, ldb, c, ldc, ep);
}

// gemm_tiles (kernel_table.h): the column vectors chosen once for the strip, as gemm_tile
// chooses them for each tile.
template <class V, int MR, int NV, int NA = NV>
void gemm_tiles(index_t m, index_t n, index_t kc, const typename V::T* a, index_t a_rs,
                index_t a_cs, const typename V::T* b, index_t ldb, typename V::T* c,
                index_t ldc, const TileEpilogue<typename V::T>& ep) noexcept {
    if constexpr (NA > 1) {
        if (n <= index_t(NA - 1) * V::W) {
            return gemm_tiles<V, MR, NV, NA - 1>(m, n, kc, a, a_rs, a_cs, b, ldb, c, ldc, ep);
        }
    }
    gemm_tiles_lay<V, MR, NV, NA>(m, n, kc, a, a_rs, a_cs, b, ldb, c, ldc, ep);
}

// Columns [j0, j0 + J) of C from a column-major A (gemm_cols below), U vectors of rows at
// a time: the U vectors of A at each p are loaded once for the J columns (J x U chains of
// FMAs in flight, U + J loads per J x U FMAs), each element's operations those of a tile:
// fmadd(A(i, p), B(p, j), acc) from zero in p order, then + bias[j], z, the activation.
template <class V, int U, int J>
void gemm_cols_group(index_t m, index_t kc, const typename V::T* a, index_t lda,
                     const typename V::T* b, index_t brs, index_t bcs, index_t j0,
                     typename V::T* c, index_t ldc, const TileEpilogue<typename V::T>& ep,
                     typename V::R slope) noexcept {
    using T = typename V::T;
    using R = typename V::R;
    constexpr int W = V::W;
    const T* bj[J];
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j) bj[j] = b + (j0 + j) * bcs;
    for (index_t i0 = 0; i0 < m; i0 += U * W) {
        const index_t rows = m - i0 < index_t(U * W) ? m - i0 : index_t(U * W);
        const int nv = static_cast<int>((rows + W - 1) / W);
        const index_t tail = rows - index_t(nv - 1) * W;  // lanes of the last vector
        R acc[J][U];
#pragma GCC unroll 8
        for (int j = 0; j < J; ++j) {
#pragma GCC unroll 4
            for (int u = 0; u < U; ++u) acc[j][u] = V::zero();
        }
        const T* ai = a + i0;
        if (nv == U && tail == W) {
            for (index_t p = 0; p < kc; ++p) {
                const T* ap = ai + p * lda;
                R av[U];
#pragma GCC unroll 4
                for (int u = 0; u < U; ++u) av[u] = V::loadu(ap + u * W);
#pragma GCC unroll 8
                for (int j = 0; j < J; ++j) {
                    const R bp = V::set1(bj[j][p * brs]);
#pragma GCC unroll 4
                    for (int u = 0; u < U; ++u) acc[j][u] = V::fmadd(av[u], bp, acc[j][u]);
                }
            }
        } else {
            for (index_t p = 0; p < kc; ++p) {
                const T* ap = ai + p * lda;
                R av[U];
#pragma GCC unroll 4
                for (int u = 0; u < U; ++u) {
                    av[u] = u + 1 < nv ? V::loadu(ap + u * W)
                                       : u + 1 == nv ? V::load_part(ap + u * W, tail)
                                                     : V::zero();
                }
#pragma GCC unroll 8
                for (int j = 0; j < J; ++j) {
                    const R bp = V::set1(bj[j][p * brs]);
#pragma GCC unroll 4
                    for (int u = 0; u < U; ++u) acc[j][u] = V::fmadd(av[u], bp, acc[j][u]);
                }
            }
        }
        for (int j = 0; j < J; ++j) {
            const index_t col = j0 + j;
            for (int u = 0; u < nv; ++u) {
                const index_t lanes = u + 1 < nv ? index_t(W) : tail;
                const index_t r0 = i0 + index_t(u) * W;
                R r = acc[j][u];
                if (ep.bias) r = V::add(r, V::set1(ep.bias[col]));
                alignas(64) T buf[W];
                if (ep.z) {
                    V::storeu(buf, r);
                    for (index_t l = 0; l < lanes; ++l) ep.z[(r0 + l) * ep.ldz + col] = buf[l];
                }
                r = apply_act<V>(ep.act, r, slope);
                if (ldc == 1) {
                    V::store_part(c + r0 + col, r, lanes);
                } else {
                    V::storeu(buf, r);
                    for (index_t l = 0; l < lanes; ++l) c[(r0 + l) * ldc + col] = buf[l];
                }
            }
        }
    }
}

// gemm_cols (kernel_table.h): the columns of C from a column-major A in groups of J
// (gemm_cols_group: many rows per FMA instead of one lane of an MR-row tile per k), J as
// many as the registers hold with U = 4 vectors of rows: J x U accumulators, U vectors of
// A and a broadcast (avx512: 5 x 4 + 5 of 32; avx2: 2 x 4 + 5 of 16). Each element's
// operations do not depend on the group it is in (the same bits as one column at a time).
template <class V>
void gemm_cols(index_t m, index_t n, index_t kc, const typename V::T* a, index_t lda,
               const typename V::T* b, index_t brs, index_t bcs, typename V::T* c,
               index_t ldc, const TileEpilogue<typename V::T>& ep) noexcept {
    constexpr int U = 4;
    constexpr int J = sizeof(typename V::R) == 64 ? 5 : 2;
    const typename V::R slope = V::set1(ep.slope);
    index_t j0 = 0;
    for (; j0 + J <= n; j0 += J) {
        gemm_cols_group<V, U, J>(m, kc, a, lda, b, brs, bcs, j0, c, ldc, ep, slope);
    }
    switch (n - j0) {
        case 0: break;
        case 1: gemm_cols_group<V, U, 1>(m, kc, a, lda, b, brs, bcs, j0, c, ldc, ep, slope); break;
        case 2:
            if constexpr (J > 2) {
                gemm_cols_group<V, U, 2>(m, kc, a, lda, b, brs, bcs, j0, c, ldc, ep, slope);
            }
            break;
        case 3:
            if constexpr (J > 3) {
                gemm_cols_group<V, U, 3>(m, kc, a, lda, b, brs, bcs, j0, c, ldc, ep, slope);
            }
            break;
        default:
            if constexpr (J > 4) {
                gemm_cols_group<V, U, 4>(m, kc, a, lda, b, brs, bcs, j0, c, ldc, ep, slope);
            }
            break;
    }
}
