// Packing GEMM panels (KernelSet::pack_a / pack_b) over a vector type V, written once
// with the squares of square_avx.h; layouts it does not special-case go to pack_impl.h.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

// dst[q * dst_stride + u] = src[u * src_stride + q] for q, u < B: one square through
// registers.
template <class T>
NNCORE_VINLINE void transpose_square(const T* src, index_t src_stride, T* dst,
                                     index_t dst_stride) noexcept {
    using S = Square<T>;
    typename S::R r[S::B];
    for (int q = 0; q < S::B; ++q) r[q] = S::load(src + q * src_stride);
    S::transpose(r);
    for (int q = 0; q < S::B; ++q) S::store(dst + q * dst_stride, r[q]);
}

#if defined(__AVX512F__)
// Lane tables of rows6_to_panel for W lanes: output vector q of the panel takes its lane l
// (element e = q * W + l) from row i = e % 6 at k = e / 6. A two-source permute reads
// the rows of pair j = i / 2 (rows 2j, 2j + 1) as lanes k and W + k; mask[q][j] marks the
// lanes of output q that pair j supplies. I: the permute's index type (32 / 64 bits).
template <int W, class I>
struct Rows6Lanes {
    I idx[6][3][W];
    unsigned mask[6][3];
    constexpr Rows6Lanes() : idx{}, mask{} {
        for (int q = 0; q < 6; ++q) {
            for (int l = 0; l < W; ++l) {
                const int e = q * W + l, k = e / 6, i = e % 6;
                idx[q][i / 2][l] = static_cast<I>(k + (i % 2) * W);
                mask[q][i / 2] |= 1u << l;
            }
        }
    }
};

// 6 rows of 16 floats (row stride rs) -> 16 groups of 6: d[k * 6 + i] = a[i * rs + k], the
// A panel of an MR = 6 tile for 16 values of k: 3 permutes and 2 blends per output vector.
NNCORE_VINLINE void rows6_to_panel(const float* a, index_t rs, float* d) noexcept {
    static constexpr Rows6Lanes<16, int> t{};
    __m512 r[6];
    for (int i = 0; i < 6; ++i) r[i] = _mm512_loadu_ps(a + i * rs);
    for (int q = 0; q < 6; ++q) {
        __m512 o = _mm512_permutex2var_ps(r[0], _mm512_loadu_si512(t.idx[q][0]), r[1]);
        o = _mm512_mask_blend_ps(
            static_cast<__mmask16>(t.mask[q][1]), o,
            _mm512_permutex2var_ps(r[2], _mm512_loadu_si512(t.idx[q][1]), r[3]));
        o = _mm512_mask_blend_ps(
            static_cast<__mmask16>(t.mask[q][2]), o,
            _mm512_permutex2var_ps(r[4], _mm512_loadu_si512(t.idx[q][2]), r[5]));
        _mm512_storeu_ps(d + q * 16, o);
    }
}

// The same for 6 rows of 8 doubles.
NNCORE_VINLINE void rows6_to_panel(const double* a, index_t rs, double* d) noexcept {
    static constexpr Rows6Lanes<8, long long> t{};
    __m512d r[6];
    for (int i = 0; i < 6; ++i) r[i] = _mm512_loadu_pd(a + i * rs);
    for (int q = 0; q < 6; ++q) {
        __m512d o = _mm512_permutex2var_pd(r[0], _mm512_loadu_si512(t.idx[q][0]), r[1]);
        o = _mm512_mask_blend_pd(
            static_cast<__mmask8>(t.mask[q][1]), o,
            _mm512_permutex2var_pd(r[2], _mm512_loadu_si512(t.idx[q][1]), r[3]));
        o = _mm512_mask_blend_pd(
            static_cast<__mmask8>(t.mask[q][2]), o,
            _mm512_permutex2var_pd(r[4], _mm512_loadu_si512(t.idx[q][2]), r[5]));
        _mm512_storeu_pd(d + q * 8, o);
    }
}
#endif

// One block of a row-major A's panel, W values of k (one vector) of MR rows rs apart
// transposed in registers: 6 rows through permutes (MR = 6, avx512), 4 rows of 8 floats
// (MR = 4, float), a B x B square (MR = B = W: double on avx2). kRowBlock: the set has one.
template <class V, int MR>
constexpr bool kRowBlock =
#if defined(__AVX512F__)
    (MR == 6 && V::W * sizeof(typename V::T) == 64) ||
#endif
    (sizeof(typename V::T) == 4 && MR == 4 && V::W == 8) ||
    (MR == Square<typename V::T>::B && V::W == MR);

template <class V, int MR>
NNCORE_VINLINE void row_block(const typename V::T* a, index_t rs, typename V::T* d) noexcept {
    using T = typename V::T;
#if defined(__AVX512F__)
    if constexpr (MR == 6 && V::W * sizeof(T) == 64) {
        rows6_to_panel(a, rs, d);
        return;
    }
#endif
    if constexpr (sizeof(T) == 4 && MR == 4 && V::W == 8) {
        Square<T>::rows4_to_panel(a, rs, d);
    } else if constexpr (MR == Square<T>::B && V::W == MR) {
        transpose_square(a, rs, d, MR);
    }
}

// pack_a (kernel_table.h). Rows of A contiguous along k (cs == 1: a batch's activations
// in a forward product, an output gradient in an input gradient): W values of k at a
// time through row_block (a batch's activations in a forward product; avx512, 64 x 784 x
// 256 took 5-6 us less of 126, one core). A panel's last m < MR rows (a 32-row batch on
// 6-row tiles ends in a 2-row panel) and the last kc % W values of k (kc = 20: a
// 20-input layer) go through a zeroed block on the stack, by whole and masked vector
// loads, instead of a test and a strided copy per element. Column-major A (rs == 1,
// avx512): each k's m values by one masked load and an MR-wide store. Everything else as
// pack_a_ref.
template <class V, int MR>
void pack_a_simd(const typename V::T* a, index_t rs, index_t cs, index_t m, index_t kc,
                 typename V::T* dst) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
#if defined(__AVX512F__)
    if constexpr (MR <= V::W && V::W * sizeof(T) == 64) {
        // Column-major A (the activations' transpose in a weight-gradient product): the
        // m values of each k are contiguous, one masked load (zeros past m) and store
        // instead of MR element copies (64 x 784 x 256's weight gradient: 3-6 us less of
        // 155-160, one core).
        if (rs == 1) {
            for (index_t p = 0; p < kc; ++p) {
                V::store_part(dst + p * MR, V::load_part(a + p * cs, m), MR);
            }
            return;
        }
    }
#endif
    if constexpr (kRowBlock<V, MR>) {
        if (cs == 1) {
            T rows[MR * W];  // a block of MR rows of W values of k, zero past m (unaligned)
            index_t p = 0;
            if (m == MR) {
                for (; p + W <= kc; p += W) row_block<V, MR>(a + p, rs, dst + p * MR);
            } else {
                for (index_t i = m; i < MR; ++i) V::storeu(rows + i * W, V::zero());
                for (; p + W <= kc; p += W) {
                    for (index_t i = 0; i < m; ++i) {
                        V::storeu(rows + i * W, V::loadu(a + i * rs + p));
                    }
                    row_block<V, MR>(rows, W, dst + p * MR);
                }
            }
            if (p < kc) {
                const index_t rem = kc - p;
                T block[MR * W];
                for (index_t i = 0; i < MR; ++i) {
                    V::storeu(rows + i * W, i < m ? V::load_part(a + i * rs + p, rem) : V::zero());
                }
                row_block<V, MR>(rows, W, block);
                const index_t count = rem * MR;
                T* d = dst + p * MR;
                index_t e = 0;
                for (; e + W <= count; e += W) V::storeu(d + e, V::loadu(block + e));
                for (; e < count; ++e) d[e] = block[e];
            }
            return;
        }
    }
    pack_a_ref<T, MR>(a, rs, cs, m, kc, dst);
}

// pack_b (kernel_table.h). Rows of B contiguous along n (cs == 1: a layer's weights in the
// forward product, an output gradient in a weight gradient): each row's n values as
// whole vectors, the last part-vector by a zero-filling masked load, the padding as zero
// vectors (an n < NR tail panel of a 64-wide layer took a scalar copy with a test per
// element). Columns of B contiguous along k (rs == 1, a transposed operand): B columns x
// B k at a time through a square in registers; the last n % B columns element by element
// over zero vectors. Everything else as pack_b_ref.
template <class V, int NR>
void pack_b_simd(const typename V::T* b, index_t rs, index_t cs, index_t kc, index_t n,
                 typename V::T* dst) noexcept {
    using T = typename V::T;
    constexpr int W = V::W;
    constexpr int B = Square<T>::B;
    if constexpr (NR % W == 0) {
        if (cs == 1 && n == NR) {
            for (index_t p = 0; p < kc; ++p) {
#pragma GCC unroll 8
                for (int j = 0; j < NR; j += W) {
                    V::storeu(dst + p * NR + j, V::loadu(b + p * rs + j));
                }
            }
            return;
        }
        if (cs == 1) {
            for (index_t p = 0; p < kc; ++p) {
                const T* s = b + p * rs;
                T* d = dst + p * NR;
                index_t j = 0;
                for (; j + W <= n; j += W) V::storeu(d + j, V::loadu(s + j));
                if (j < n) {
                    V::storeu(d + j, V::load_part(s + j, n - j));
                    j += W;
                }
                for (; j < NR; j += W) V::storeu(d + j, V::zero());
            }
            return;
        }
    }
    if constexpr (NR % B == 0 && NR % W == 0) {
        if (rs == 1) {
            index_t j0 = 0;
            if (n == NR) {
                // A whole panel (a transposed weight matrix in an input-gradient product):
                // B values of k at a time over all NR columns, so that the stores fill
                // whole rows of the panel (whole cache lines) instead of B-column strips of
                // all kc rows (half lines of a panel larger than L1, each written B / W
                // times). avx512 float, the 16 panels of a 1024 x 1024 W^T from L3, one
                // core: 241 -> 210 us (a row-major B of that size: 204 us).
                const index_t kb = kc / B * B;
                for (index_t p = 0; p < kb; p += B) {
#pragma GCC unroll 8
                    for (int j = 0; j < NR; j += B) {
                        transpose_square(b + j * cs + p, cs, dst + p * NR + j, NR);
                    }
                }
                for (index_t p = kb; p < kc; ++p) {
                    for (int j = 0; j < NR; ++j) dst[p * NR + j] = b[j * cs + p];
                }
                return;
            }
            for (; j0 + B <= n; j0 += B) {
                index_t p = 0;
                for (; p + B <= kc; p += B) {
                    transpose_square(b + j0 * cs + p, cs, dst + p * NR + j0, NR);
                }
                for (; p < kc; ++p) {
                    for (int q = 0; q < B; ++q) dst[p * NR + j0 + q] = b[(j0 + q) * cs + p];
                }
            }
            if (j0 < NR) {
                // [j0, NR): whole vectors of W, then a part of one (j0 is a multiple of B,
                // B < W: avx512 float, B = 8, W = 16)
                const index_t whole = (NR - j0) / W, part = (NR - j0) % W;
                for (index_t p = 0; p < kc; ++p) {
                    T* d = dst + p * NR + j0;
                    for (index_t v = 0; v < whole; ++v) V::storeu(d + v * W, V::zero());
                    if (part) V::store_part(d + whole * W, V::zero(), part);
                }
                for (index_t j = j0; j < n; ++j) {
                    for (index_t p = 0; p < kc; ++p) dst[p * NR + j] = b[j * cs + p];
                }
            }
            return;
        }
    }
    pack_b_ref<T, NR>(b, rs, cs, kc, n, dst);
}
