// The counter-based generator of dropout's masks (csrc/core/dropout.h states it), as the
// kernel sets compute it: element i of a call with seed s is kept when
//   splitmix64(s + (i + 1) * golden) >> 11  >=  keep_from,  keep_from = ceil(p * 2^53),
// which is the specification's u(s, i) = (splitmix64(...) >> 11) * 2^-53 >= p in integers
// (u is a 53-bit integer times 2^-53, so the two comparisons agree for every p in [0, 1]).
// No include guard, no #include and no namespace: each kernel set's .cpp includes it
// inside its own anonymous namespace (after <cstdint>).

struct DropoutMix {
    static constexpr std::uint64_t golden = 0x9E3779B97F4A7C15ULL;
    static constexpr std::uint64_t m1 = 0xBF58476D1CE4E5B9ULL;
    static constexpr std::uint64_t m2 = 0x94D049BB133111EBULL;
};

// splitmix64's finaliser of z = s + (i + 1) * golden, shifted to its top 53 bits.
inline std::uint64_t dropout_bits(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * DropoutMix::m1;
    z = (z ^ (z >> 27)) * DropoutMix::m2;
    return (z ^ (z >> 31)) >> 11;
}
