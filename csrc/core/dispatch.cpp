#include "core/dispatch.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/check.h"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace nncore {
namespace {

bool cpu_has(const char* feature) noexcept {
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    const std::string f = feature;
    // __builtin_cpu_supports also checks that the OS saves the wider registers.
    if (f == "avx2") return __builtin_cpu_supports("avx2");
    if (f == "fma") return __builtin_cpu_supports("fma");
    if (f == "avx512f") return __builtin_cpu_supports("avx512f");
    if (f == "avx512dq") return __builtin_cpu_supports("avx512dq");
    if (f == "avx512bw") return __builtin_cpu_supports("avx512bw");
    if (f == "avx512vl") return __builtin_cpu_supports("avx512vl");
    if (f == "avx") return __builtin_cpu_supports("avx");
    if (f == "sse4.2") return __builtin_cpu_supports("sse4.2");
#endif
    (void)feature;
    return false;
}

// Size in bytes of the level-`level` data (or unified) cache of CPU 0, from Linux's sysfs
// when it is there. glibc's sysconf reports some AMD L3s as the whole socket's or worse
// (256 MiB on a 32 MiB EPYC VM), so it is only the fallback.
long sysfs_cache_size(int level) noexcept {
#if defined(__linux__)
    for (int index = 0; index < 8; ++index) {
        const std::string dir =
            "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
        std::FILE* f = std::fopen((dir + "level").c_str(), "r");
        if (!f) break;
        int lv = 0;
        const bool ok = std::fscanf(f, "%d", &lv) == 1;
        std::fclose(f);
        if (!ok || lv != level) continue;
        char type[32] = {0};
        if ((f = std::fopen((dir + "type").c_str(), "r"))) {
            if (std::fscanf(f, "%31s", type) != 1) type[0] = 0;
            std::fclose(f);
        }
        if (std::string(type) == "Instruction") continue;
        long size = 0;
        char unit = 0;
        if ((f = std::fopen((dir + "size").c_str(), "r"))) {
            const int n = std::fscanf(f, "%ld%c", &size, &unit);
            std::fclose(f);
            if (n >= 1 && size > 0) {
                if (unit == 'K') size <<= 10;
                if (unit == 'M') size <<= 20;
                return size;
            }
        }
    }
#endif
    (void)level;
    return 0;
}

long cache_size(int level) noexcept {
    if (const long v = sysfs_cache_size(level); v > 0) return v;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    const int name = level == 1 ? _SC_LEVEL1_DCACHE_SIZE
                     : level == 2 ? _SC_LEVEL2_CACHE_SIZE
                                  : _SC_LEVEL3_CACHE_SIZE;
    const long v = sysconf(name);
    return v > 0 ? v : 0;
#else
    return 0;
#endif
}

// The kernel set's defaults, shrunk (never grown) so that an mc x kc block of A fits
// in half the L2 and a kc x nc block of B in half the L3, when those are known. The
// k-block depth for a B never read in place (gemm.cpp) is the set's, or kc.
template <class T>
BlockSizes fit_blocks(const kernels::KernelSet<T>& k, long l2, long l3) noexcept {
    BlockSizes b{k.mr, k.nr, k.mc, k.kc, k.nc, k.kc_packed > 0 ? k.kc_packed : k.kc};
    const long elem = static_cast<long>(sizeof(T));
    if (l2 > 0) {
        const long mc = (l2 / 2) / (elem * b.kc);
        b.mc = static_cast<int>(std::max<long>(b.mr, std::min<long>(b.mc, mc / b.mr * b.mr)));
    }
    if (l3 > 0) {
        const long nc = (l3 / 2) / (elem * b.kc);
        b.nc = static_cast<int>(std::max<long>(b.nr, std::min<long>(b.nc, nc / b.nr * b.nr)));
    }
    return b;
}

Dispatch detect() {
    Dispatch d;
    for (const char* f : {"sse4.2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw",
                          "avx512vl"}) {
        if (cpu_has(f)) d.cpu_features.emplace_back(f);
    }
    struct Candidate {
        const char* name;
        const kernels::KernelTable* (*get)();
        bool cpu_ok;
    };
    std::vector<Candidate> candidates;
    candidates.push_back({"generic", [] { return &kernels::generic::table(); }, true});
#ifdef NNCORE_HAVE_AVX2
    candidates.push_back({"avx2", [] { return &kernels::avx2::table(); },
                          cpu_has("avx2") && cpu_has("fma")});
#endif
#ifdef NNCORE_HAVE_AVX512
    candidates.push_back({"avx512", [] { return &kernels::avx512::table(); },
                          cpu_has("avx512f") && cpu_has("avx512dq") && cpu_has("avx512bw") &&
                              cpu_has("avx512vl") && cpu_has("avx2") && cpu_has("fma")});
#endif
    for (const auto& c : candidates) {
        d.compiled.emplace_back(c.name);
        if (c.cpu_ok) d.supported.emplace_back(c.name);
    }

    const char* env = std::getenv("NNCORE_ISA");
    d.requested = env ? env : "";
    int rank = -1;  // the requested set's place in generic < avx2 < avx512
    if (!d.requested.empty()) {
        const std::string order[] = {"generic", "avx2", "avx512"};
        for (int i = 0; i < 3; ++i) {
            if (d.requested == order[i]) rank = i;
        }
        NNCORE_CHECK(rank >= 0, "NNCORE_ISA must be one of 'generic', 'avx2', 'avx512'; got '",
                     d.requested, "'");
    }
    // Best supported set no higher than the request.
    for (const auto& c : candidates) {
        if (!c.cpu_ok) continue;
        const std::string name = c.name;
        const int r = name == "generic" ? 0 : name == "avx2" ? 1 : 2;
        if (rank >= 0 && r > rank) continue;
        d.table = c.get();
    }

    d.l1d = cache_size(1);
    d.l2 = cache_size(2);
    d.l3 = cache_size(3);
    d.f32 = fit_blocks(d.table->f32, d.l2, d.l3);
    d.f64 = fit_blocks(d.table->f64, d.l2, d.l3);
    if (const char* blocks = std::getenv("NNCORE_GEMM_BLOCKS")) {
        // Tuning knob: "MC,KC,NC" for both dtypes, rounded to whole register tiles; KC is
        // then the k-block depth whether B is packed or read in place.
        long mc = 0, kc = 0, nc = 0;
        NNCORE_CHECK(std::sscanf(blocks, "%ld,%ld,%ld", &mc, &kc, &nc) == 3 && mc > 0 &&
                         kc > 0 && nc > 0 && mc <= (1 << 16) && kc <= (1 << 16) &&
                         nc <= (1 << 20),
                     "NNCORE_GEMM_BLOCKS must be 'MC,KC,NC' with positive values; got '",
                     blocks, "'");
        for (BlockSizes* b : {&d.f32, &d.f64}) {
            b->mc = static_cast<int>(std::max<long>(b->mr, mc / b->mr * b->mr));
            b->kc = b->kc_packed = static_cast<int>(kc);  // one depth, packed B or not
            b->nc = static_cast<int>(std::max<long>(b->nr, nc / b->nr * b->nr));
        }
    }
    return d;
}

}  // namespace

const Dispatch& dispatch() {
    static const Dispatch d = detect();
    return d;
}

namespace detail {
std::atomic<const kernels::KernelTable*> active_table{nullptr};

const kernels::KernelTable* first_table() {
    const kernels::KernelTable* t = dispatch().table;  // throws for a bad NNCORE_ISA
    active_table.store(t, std::memory_order_release);
    return t;
}
}  // namespace detail
template <>
const BlockSizes& block_sizes<float>() {
    return dispatch().f32;
}
template <>
const BlockSizes& block_sizes<double>() {
    return dispatch().f64;
}

}  // namespace nncore
