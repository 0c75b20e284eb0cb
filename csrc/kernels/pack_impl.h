// Packing GEMM operands into the panels the tile kernels read (kernel_table.h), in
// plain C++ with the tile's MR / NR as compile-time constants: the specification of
// KernelSet::pack_a / pack_b, used as is by the generic set and for the layouts the SIMD
// sets do not special-case. No namespace, no include guard, no #include: each kernel
// set's .cpp includes it inside its own anonymous namespace (after kernel_table.h), so
// the instantiations stay private to that set (see ce_row.h).

// A(i, p) = a[i*rs + p*cs] for i < m <= MR, p < kc  ->  dst[p*MR + i]; rows m.. are 0.
template <class T, int MR>
void pack_a_ref(const T* a, index_t rs, index_t cs, index_t m, index_t kc, T* dst) noexcept {
    if (rs == 1 && m == MR) {  // column-major A (a transposed operand): columns contiguous
        for (index_t p = 0; p < kc; ++p) {
            const T* s = a + p * cs;
            for (int i = 0; i < MR; ++i) dst[p * MR + i] = s[i];
        }
        return;
    }
    for (index_t p = 0; p < kc; ++p) {
        const T* s = a + p * cs;
        for (int i = 0; i < MR; ++i) dst[p * MR + i] = i < m ? s[i * rs] : T(0);
    }
}

// B(p, j) = b[p*rs + j*cs] for p < kc, j < n <= NR  ->  dst[p*NR + j]; columns n.. are 0.
template <class T, int NR>
void pack_b_ref(const T* b, index_t rs, index_t cs, index_t kc, index_t n, T* dst) noexcept {
    if (cs == 1 && n == NR) {  // row-major B, a whole panel: NR contiguous values per row
        for (index_t p = 0; p < kc; ++p) {
            const T* s = b + p * rs;
            for (int j = 0; j < NR; ++j) dst[p * NR + j] = s[j];
        }
        return;
    }
    if (rs == 1) {  // column-major B (a transposed operand): read down each column
        for (index_t j = 0; j < n; ++j) {
            const T* s = b + j * cs;
            for (index_t p = 0; p < kc; ++p) dst[p * NR + j] = s[p];
        }
        for (index_t p = 0; p < kc; ++p) {
            for (int j = static_cast<int>(n); j < NR; ++j) dst[p * NR + j] = T(0);
        }
        return;
    }
    for (index_t p = 0; p < kc; ++p) {
        const T* s = b + p * rs;
        for (int j = 0; j < NR; ++j) dst[p * NR + j] = j < n ? s[j * cs] : T(0);
    }
}
