// CPU detection and the active kernel set.
//
// At first use the best set the CPU supports is chosen, or the one NNCORE_ISA names
// ("generic", "avx2", "avx512"), capped at what the CPU supports.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"

namespace nncore {

struct BlockSizes {
    int mr, nr, mc, kc, nc;
    // The k-block depth when B is never read in place (gemm.cpp): deeper than kc, so a
    // product with K up to kc_packed writes C once, with its epilogue.
    int kc_packed = 0;
};

struct Dispatch {
    const kernels::KernelTable* table = nullptr;
    std::string requested;                 // NNCORE_ISA, or "" when unset
    std::vector<std::string> supported;    // compiled in and supported by this CPU
    std::vector<std::string> compiled;     // compiled in
    std::vector<std::string> cpu_features; // what detection found
    BlockSizes f32{}, f64{};               // after fitting to the detected caches
    long l1d = 0, l2 = 0, l3 = 0;          // detected cache sizes in bytes (0: unknown)
};

// The process-wide selection. The first call reads NNCORE_ISA and throws
// std::invalid_argument for an unknown name; later calls return the same object.
const Dispatch& dispatch();

namespace detail {
// The active table once dispatch() has run (null before): kernel_set() is a load, not a
// call, on the paths that call it per step.
extern std::atomic<const kernels::KernelTable*> active_table;
const kernels::KernelTable* first_table();  // dispatch() and the store of active_table
}  // namespace detail

template <class T>
const kernels::KernelSet<T>& kernel_set();

template <>
inline const kernels::KernelSet<float>& kernel_set<float>() {
    const kernels::KernelTable* t = detail::active_table.load(std::memory_order_acquire);
    return (t ? t : detail::first_table())->f32;
}
template <>
inline const kernels::KernelSet<double>& kernel_set<double>() {
    const kernels::KernelTable* t = detail::active_table.load(std::memory_order_acquire);
    return (t ? t : detail::first_table())->f64;
}

template <class T>
const BlockSizes& block_sizes();

}  // namespace nncore
