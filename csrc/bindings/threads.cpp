// Bindings of the thread pool's facts and debug knobs (core/parallel.h), and the C
// symbols threadpoolctl calls (python/nncore/runtime.py registers its controller).
#include <pybind11/pybind11.h>

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
        return py::dict("workers"_a = s.workers, "sleeping"_a = s.sleeping, "jobs"_a = s.jobs,
                        "serial"_a = s.serial, "wakeups"_a = s.wakeups, "spin_us"_a = s.spin_us);
    }, "The pool's worker count, sleepers now, and counters since import.");
    m.def("_set_spin_us", [](double us) {
        NNCORE_CHECK(us >= 0 && us <= 1e6, "_set_spin_us: us must be in [0, 1e6]; got ", us);
        set_spin_us(us);
    }, "us"_a, "Grace period a worker spins after a call before it sleeps (benchmarks).");
    m.def("_set_debug_schedule", [](const std::string& mode) {
        int v = -1;
        if (mode == "normal") v = 0;
        if (mode == "shuffle") v = 1;
        if (mode == "caller_only") v = 2;
        if (mode == "slow_worker") v = 3;
        NNCORE_CHECK(v >= 0, "_set_debug_schedule: mode must be 'normal', 'shuffle', "
                     "'caller_only' or 'slow_worker'; got '", mode, "'");
        set_debug_schedule(v);
    }, "mode"_a, "Tests: change how tasks are handed out (results must not change).");
    m.def("_debug_schedule", [] {
        static const char* names[] = {"normal", "shuffle", "caller_only", "slow_worker"};
        return std::string(names[debug_schedule()]);
    });
}

}  // namespace nncore::bindings
