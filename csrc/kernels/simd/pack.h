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

// pack_a (kernel_table.h) for rows of A contiguous along k (cs == 1): 4 rows x 8 floats
// at a time transposed in registers when MR = 4 (float), B x B squares when MR is the
// square's size (double, MR = 4); everything else as pack_a_ref.
template <class V, int MR>
void pack_a_simd(const typename V::T* a, index_t rs, index_t cs, index_t m, index_t kc,
                 typename V::T* dst) noexcept {
    using T = typename V::T;
    constexpr int B = Square<T>::B;
    if (cs == 1 && m == MR && (MR == B || (sizeof(T) == 4 && MR == 4))) {
        index_t p = 0;
        if constexpr (MR == B) {
            for (; p + B <= kc; p += B) transpose_square(a + p, rs, dst + p * MR, MR);
        } else if constexpr (sizeof(T) == 4 && MR == 4) {
            for (; p + 8 <= kc; p += 8) Square<T>::rows4_to_panel(a + p, rs, dst + p * MR);
        }
        for (; p < kc; ++p) {
            for (int i = 0; i < MR; ++i) dst[p * MR + i] = a[i * rs + p];
        }
        return;
    }
    pack_a_ref<T, MR>(a, rs, cs, m, kc, dst);
}

// pack_b (kernel_table.h) for columns of B contiguous along k (rs == 1, a transposed
// operand): B columns x B k at a time through a square in registers; everything else as
// pack_b_ref.
template <class V, int NR>
void pack_b_simd(const typename V::T* b, index_t rs, index_t cs, index_t kc, index_t n,
                 typename V::T* dst) noexcept {
    using T = typename V::T;
    constexpr int B = Square<T>::B;
    if constexpr (NR % B == 0) {
        if (rs == 1 && cs != 1) {
            index_t j0 = 0;
            for (; j0 + B <= n; j0 += B) {
                index_t p = 0;
                for (; p + B <= kc; p += B) {
                    transpose_square(b + j0 * cs + p, cs, dst + p * NR + j0, NR);
                }
                for (; p < kc; ++p) {
                    for (int q = 0; q < B; ++q) dst[p * NR + j0 + q] = b[(j0 + q) * cs + p];
                }
            }
            for (index_t p = 0; p < kc; ++p) {
                for (index_t j = j0; j < NR; ++j) dst[p * NR + j] = j < n ? b[j * cs + p] : T(0);
            }
            return;
        }
    }
    pack_b_ref<T, NR>(b, rs, cs, kc, n, dst);
}
