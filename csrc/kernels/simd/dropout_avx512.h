// Dropout's generator (dropout_mix.h) over AVX-512 lanes: eight 64-bit counters per
// register, multiplied with AVX-512DQ's 64-bit mullo.
// Included only from csrc/kernels/avx512/, inside that set's anonymous namespace, after
// vec_avx512.h and dropout_mix.h.

// Bit j set where lane j's element is kept: dropout_bits(z) >= keep_from.
inline __mmask8 dropout_keep(__m512i z, __m512i keep_from) noexcept {
    const __m512i m1 = _mm512_set1_epi64(static_cast<long long>(DropoutMix::m1));
    const __m512i m2 = _mm512_set1_epi64(static_cast<long long>(DropoutMix::m2));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), m1);
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), m2);
    z = _mm512_srli_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 31)), 11);
    return _mm512_cmpge_epu64_mask(z, keep_from);
}

// The counters of lanes 0..7 from element first + o: seed + (first + o + j + 1) * golden.
inline __m512i dropout_counters(std::uint64_t seed, std::uint64_t first, int o) noexcept {
    const std::uint64_t g = DropoutMix::golden;
    const std::uint64_t b = seed + (first + std::uint64_t(o) + 1) * g;
    auto at = [&](int j) { return static_cast<long long>(b + std::uint64_t(j) * g); };
    return _mm512_setr_epi64(at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7));
}

template <class V>
struct DropoutLanes;

// Sixteen floats from two registers of counters (elements 0-7 and 8-15).
template <>
struct DropoutLanes<VecF32> {
    __m512i z0, z1, step, keep_from;
    DropoutLanes(std::uint64_t seed, std::uint64_t first, std::uint64_t kf) noexcept
        : z0(dropout_counters(seed, first, 0)),
          z1(dropout_counters(seed, first, 8)),
          step(_mm512_set1_epi64(static_cast<long long>(16 * DropoutMix::golden))),
          keep_from(_mm512_set1_epi64(static_cast<long long>(kf))) {}
    // The mask of the next sixteen elements: scale where kept, 0 where dropped.
    __m512 next(__m512 scale) noexcept {
        const __mmask16 k = static_cast<__mmask16>(
            dropout_keep(z0, keep_from) | (unsigned(dropout_keep(z1, keep_from)) << 8));
        z0 = _mm512_add_epi64(z0, step);
        z1 = _mm512_add_epi64(z1, step);
        return _mm512_maskz_mov_ps(k, scale);
    }
};

template <>
struct DropoutLanes<VecF64> {
    __m512i z, step, keep_from;
    DropoutLanes(std::uint64_t seed, std::uint64_t first, std::uint64_t kf) noexcept
        : z(dropout_counters(seed, first, 0)),
          step(_mm512_set1_epi64(static_cast<long long>(8 * DropoutMix::golden))),
          keep_from(_mm512_set1_epi64(static_cast<long long>(kf))) {}
    __m512d next(__m512d scale) noexcept {
        const __mmask8 k = dropout_keep(z, keep_from);
        z = _mm512_add_epi64(z, step);
        return _mm512_maskz_mov_pd(k, scale);
    }
};
