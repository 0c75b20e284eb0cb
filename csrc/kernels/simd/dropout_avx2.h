// Dropout's generator (dropout_mix.h) over AVX2 lanes: four 64-bit counters per register,
// the 64-bit products from three 32 x 32 -> 64-bit ones (AVX2 has no 64-bit mullo).
// Included only from csrc/kernels/avx2/, inside that set's anonymous namespace, after
// vec_avx2.h and dropout_mix.h.

// a * b mod 2^64 in each lane: lo(a) lo(b) + ((hi(a) lo(b) + lo(a) hi(b)) << 32).
inline __m256i dropout_mul64(__m256i a, std::uint64_t b) noexcept {
    const __m256i blo = _mm256_set1_epi64x(static_cast<long long>(b & 0xFFFFFFFFu));
    const __m256i bhi = _mm256_set1_epi64x(static_cast<long long>(b >> 32));
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), blo),
                                           _mm256_mul_epu32(a, bhi));
    return _mm256_add_epi64(_mm256_mul_epu32(a, blo), _mm256_slli_epi64(cross, 32));
}

// All-ones in the lanes whose element is dropped: dropout_bits(z) < keep_from (both below
// 2^63, so the signed comparison is the unsigned one).
inline __m256i dropout_drop(__m256i z, __m256i keep_from) noexcept {
    z = dropout_mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), DropoutMix::m1);
    z = dropout_mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), DropoutMix::m2);
    z = _mm256_srli_epi64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 31)), 11);
    return _mm256_cmpgt_epi64(keep_from, z);
}

// The counters of lane j of the next vector: seed + (first + offset_j + 1) * golden.
inline __m256i dropout_counters(std::uint64_t seed, std::uint64_t first, int o0, int o1, int o2,
                                int o3) noexcept {
    const std::uint64_t g = DropoutMix::golden;
    const std::uint64_t b = seed + (first + 1) * g;
    return _mm256_setr_epi64x(static_cast<long long>(b + std::uint64_t(o0) * g),
                              static_cast<long long>(b + std::uint64_t(o1) * g),
                              static_cast<long long>(b + std::uint64_t(o2) * g),
                              static_cast<long long>(b + std::uint64_t(o3) * g));
}

template <class V>
struct DropoutLanes;

// Eight floats from two registers of counters: z0 holds elements 0, 1, 4, 5 and z1
// elements 2, 3, 6, 7, the order in which one shuffle packs the low halves of their masks.
template <>
struct DropoutLanes<VecF32> {
    __m256i z0, z1, step, keep_from;
    DropoutLanes(std::uint64_t seed, std::uint64_t first, std::uint64_t kf) noexcept
        : z0(dropout_counters(seed, first, 0, 1, 4, 5)),
          z1(dropout_counters(seed, first, 2, 3, 6, 7)),
          step(_mm256_set1_epi64x(static_cast<long long>(8 * DropoutMix::golden))),
          keep_from(_mm256_set1_epi64x(static_cast<long long>(kf))) {}
    // The mask of the next eight elements: scale where kept, 0 where dropped.
    __m256 next(__m256 scale) noexcept {
        const __m256 d = _mm256_shuffle_ps(_mm256_castsi256_ps(dropout_drop(z0, keep_from)),
                                           _mm256_castsi256_ps(dropout_drop(z1, keep_from)),
                                           _MM_SHUFFLE(2, 0, 2, 0));
        z0 = _mm256_add_epi64(z0, step);
        z1 = _mm256_add_epi64(z1, step);
        return _mm256_andnot_ps(d, scale);
    }
};

template <>
struct DropoutLanes<VecF64> {
    __m256i z, step, keep_from;
    DropoutLanes(std::uint64_t seed, std::uint64_t first, std::uint64_t kf) noexcept
        : z(dropout_counters(seed, first, 0, 1, 2, 3)),
          step(_mm256_set1_epi64x(static_cast<long long>(4 * DropoutMix::golden))),
          keep_from(_mm256_set1_epi64x(static_cast<long long>(kf))) {}
    __m256d next(__m256d scale) noexcept {
        const __m256d d = _mm256_castsi256_pd(dropout_drop(z, keep_from));
        z = _mm256_add_epi64(z, step);
        return _mm256_andnot_pd(d, scale);
    }
};
