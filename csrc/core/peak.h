// The machine's measured peak arithmetic rate, for benchmarks.
#pragma once

namespace nncore {

// GFLOP/s of independent vector FMAs in the active kernel set's widest registers, on
// `nthreads` threads at once, timed over about `seconds`.
double fma_peak_gflops(bool f32, int nthreads, double seconds);

}  // namespace nncore
