// NumPy's default generator (PCG64) and Generator.permutation, bit for bit, so the native
// training engine shuffles each epoch exactly as the Python engine's
// numpy.random.default_rng(seed).permutation(n) does, continuing the same stream.
#pragma once

#include <cstdint>
#include <vector>

namespace nncore {

// PCG64 (XSL-RR 128/64) in NumPy's layout: 128-bit state and increment, and the spare
// 32-bit half NumPy keeps for next_uint32 (numpy/random/src/pcg64).
struct Pcg64 {
    unsigned __int128 state = 0, inc = 0;
    bool has_uint32 = false;
    std::uint32_t uinteger = 0;

    std::uint64_t next64() noexcept {
        constexpr unsigned __int128 kMult =
            (static_cast<unsigned __int128>(0x2360ED051FC65DA4ULL) << 64) | 0x4385DF649FCCF645ULL;
        state = state * kMult + inc;
        const std::uint64_t x = static_cast<std::uint64_t>(state >> 64) ^
                                static_cast<std::uint64_t>(state);
        const unsigned rot = static_cast<unsigned>(state >> 122);
        return (x >> rot) | (x << ((64u - rot) & 63u));
    }

    std::uint32_t next32() noexcept {
        if (has_uint32) {
            has_uint32 = false;
            return uinteger;
        }
        const std::uint64_t v = next64();
        has_uint32 = true;
        uinteger = static_cast<std::uint32_t>(v >> 32);
        return static_cast<std::uint32_t>(v & 0xffffffffULL);
    }

    // NumPy's random_interval: uniform in [0, max] by masked rejection.
    std::uint64_t interval(std::uint64_t max) noexcept {
        if (max == 0) return 0;
        std::uint64_t mask = max;
        for (int s = 1; s < 64; s <<= 1) mask |= mask >> s;
        std::uint64_t v;
        if (max <= 0xffffffffULL) {
            while ((v = (next32() & mask)) > max) {}
        } else {
            while ((v = (next64() & mask)) > max) {}
        }
        return v;
    }

    // order = Generator.permutation(order.size()): arange then NumPy's Fisher-Yates
    // shuffle from the last element down.
    void permutation(std::vector<std::int64_t>& order) noexcept {
        const std::int64_t n = static_cast<std::int64_t>(order.size());
        for (std::int64_t i = 0; i < n; ++i) order[i] = i;
        for (std::int64_t i = n - 1; i >= 1; --i) {
            const auto j = static_cast<std::int64_t>(interval(static_cast<std::uint64_t>(i)));
            const std::int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
};

}  // namespace nncore
