// Bindings of the thread pool's facts and debug knobs (core/parallel.h), and the C
// symbols threadpoolctl calls (python/nncore/runtime.py registers its controller).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace py = pybind11;
using namespace pybind11::literals;

// threadpoolctl's controller for nncore reads and sets the thread count through these
// (by ctypes on the loaded _core module), as it does for OpenBLAS or libgomp.
extern "C" {
__attribute__((visibility("default"))) int nncore_threadpool_get_num_threads(void) {
    return nncore::get_num_threads();
}
__attribute__((visibility("default"))) void nncore_threadpool_set_num_threads(int n) {
    nncore::set_num_threads(n < 1 ? 1 : (n > 4096 ? 4096 : n));
}
}

namespace nncore::bindings {

void register_threads(py::module_& m) {
    m.def("_usable_cpus", &nncore::usable_cpus,
          "CPUs this process may use (affinity mask, cgroup cpu.max quota).");
    m.def("_pool_stats", [] {
        const PoolStats s = pool_stats();
        // The OpenMP build cannot see its runtime's sleepers, wake-ups or spin: None.
        auto known = [](auto v) { return v < 0 ? py::object(py::none()) : py::cast(v); };
        return py::dict("workers"_a = s.workers, "sleeping"_a = known(s.sleeping),
                        "jobs"_a = s.jobs, "serial"_a = s.serial,
                        "wakeups"_a = known(s.wakeups), "spin_us"_a = known(s.spin_us),
                        "hot"_a = s.hot, "hot_guards"_a = s.hot_guards,
                        "moves"_a = known(s.moves), "move"_a = s.move);
    }, "The pool's worker count, sleepers now, and counters since import.");
    m.def("_set_spin_us", [](double us) {
        NNCORE_CHECK(us >= 0 && us <= 1e6, "_set_spin_us: us must be in [0, 1e6]; got ", us);
        if (!set_spin_us(us)) {
            throw std::runtime_error(
                "_set_spin_us: this nncore is built with OpenMP (NNCORE_OPENMP=ON), whose "
                "threads wait between calls as OMP_WAIT_POLICY and GOMP_SPINCOUNT say when "
                "the process starts; the grace period belongs to nncore's own pool");
        }
    }, "us"_a, "Grace period a worker spins after a call before it sleeps (benchmarks).");
    m.def("_set_move_workers", [](bool on) {
        if (!set_move_workers(on)) {
            throw std::runtime_error(
                "_set_move_workers: this nncore is built with OpenMP (NNCORE_OPENMP=ON), whose "
                "runtime places its threads; moving a woken worker off its caller's CPU "
                "belongs to nncore's own pool");
        }
    }, "on"_a, "Whether a worker woken on its caller's CPU moves off it (benchmarks).");
    m.def("_set_debug_schedule", [](const std::string& mode) {
        int v = -1;
        if (mode == "normal") v = 0;
        if (mode == "shuffle") v = 1;
        if (mode == "caller_only") v = 2;
        if (mode == "slow_worker") v = 3;
        if (mode == "always_move") v = 4;
        NNCORE_CHECK(v >= 0, "_set_debug_schedule: mode must be 'normal', 'shuffle', "
                     "'caller_only', 'slow_worker' or 'always_move'; got '", mode, "'");
        set_debug_schedule(v);
    }, "mode"_a, "Tests: change how tasks are handed out (results must not change).");
    m.def("_parallel_probe", [](long long n, int nthreads, long long throw_at, bool nested,
                                bool hot) {
        NNCORE_CHECK(n >= 0 && n <= 1000000, "_parallel_probe: n must be in [0, 1e6]; got ", n);
        NNCORE_CHECK(nthreads >= 1, "_parallel_probe: nthreads must be >= 1; got ", nthreads);
        // Item i records thread_id() (and, nested, the ids inside a parallel_for of its
        // own: 0, as a nested call runs alone); item throw_at throws.
        std::vector<int> ids(static_cast<std::size_t>(n)), inner(static_cast<std::size_t>(n));
        {
            py::gil_scoped_release nogil;
            std::unique_ptr<HotPool> guard;  // hot: as the native trainer's chunks run
            if (hot) guard = std::make_unique<HotPool>(nthreads);
            parallel_for(n, nthreads, [&](index_t i) {
                ids[i] = thread_id();
                if (i == throw_at) NNCORE_CHECK(false, "_parallel_probe: item ", i, " threw");
                int most = 0;
                if (nested) {
                    parallel_for(64, nthreads, [&](index_t) { most = std::max(most, thread_id()); });
                }
                inner[i] = most;
            });
        }
        return py::make_tuple(ids, inner);
    }, "n"_a, "nthreads"_a, "throw_at"_a = -1, "nested"_a = false, "hot"_a = false,
       "Tests: which thread ran each item of a parallel_for; item throw_at throws.");
    m.def("_debug_schedule", [] {
        static const char* names[] = {"normal", "shuffle", "caller_only", "slow_worker",
                                      "always_move"};
        return std::string(names[debug_schedule()]);
    });
}

}  // namespace nncore::bindings
