// Square blocks of float (8 x 8) and double (4 x 4) transposed in 256-bit registers,
// the building block of packing (pack.h) and of the cross-entropy lanes (ce_lanes.h).
// AVX intrinsics: both SIMD sets have AVX.
// No include guard, no #include and no namespace: each instruction set's .cpp includes it
// (through simd/kernels.h) inside its own anonymous namespace.

// Rows r[0..7] of an 8 x 8 float block -> its columns (AVX; both SIMD sets have it).
NNCORE_VINLINE void transpose8x8_ps(__m256 r[8]) noexcept {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
        u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    for (int q = 0; q < 4; ++q) {
        r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
        r[q + 4] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
    }
}

// Rows r[0..3] of a 4 x 4 double block -> its columns.
NNCORE_VINLINE void transpose4x4_pd(__m256d r[4]) noexcept {
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

// 4 rows of 8 floats (row stride rs) -> 8 groups of 4: d[k * 4 + i] = a[i * rs + k], the
// A panel of an MR = 4 float tile for 8 values of k.
NNCORE_VINLINE void rows4_to_panel_ps(const float* a, index_t rs, float* d) noexcept {
    const __m256 r0 = _mm256_loadu_ps(a), r1 = _mm256_loadu_ps(a + rs);
    const __m256 r2 = _mm256_loadu_ps(a + 2 * rs);
    const __m256 r3 = _mm256_loadu_ps(a + 3 * rs);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44);  // k 0 | 4
    const __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xEE);  // k 1 | 5
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44);  // k 2 | 6
    const __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE);  // k 3 | 7
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u1, 0x20));
    _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
    _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
    _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
}

// A B x B block that one set of 256-bit registers transposes: 8 x 8 float, 4 x 4 double.
template <class T>
struct Square;

template <>
struct Square<float> {
    static constexpr int B = 8;
    using R = __m256;
    static R load(const float* p) noexcept { return _mm256_loadu_ps(p); }
    static void store(float* p, R v) noexcept { _mm256_storeu_ps(p, v); }
    static void transpose(R r[8]) noexcept { transpose8x8_ps(r); }
    static void rows4_to_panel(const float* a, index_t rs, float* d) noexcept {
        rows4_to_panel_ps(a, rs, d);
    }
};

template <>
struct Square<double> {
    static constexpr int B = 4;
    using R = __m256d;
    static R load(const double* p) noexcept { return _mm256_loadu_pd(p); }
    static void store(double* p, R v) noexcept { _mm256_storeu_pd(p, v); }
    static void transpose(R r[4]) noexcept { transpose4x4_pd(r); }
};

