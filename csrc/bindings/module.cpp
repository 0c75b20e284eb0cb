// nncore._core: the module. Each family of functions lives in its own file
// (bindings/families.h); this file only puts them together.
#include <pybind11/pybind11.h>

#include "bindings/families.h"
#include "core/build_info.h"
#include "core/dispatch.h"

PYBIND11_MODULE(_core, m) {
    using namespace nncore::bindings;
    m.doc() = "nncore's native kernels. Use nncore.functional, which documents each function.";
    m.attr("__version__") = nncore::version();
    nncore::dispatch();  // reads NNCORE_ISA now: an unknown value fails the import
    register_trainer(m);
    register_clip(m);
    register_metrics(m);
    register_dense(m);
    register_activations(m);
    register_losses(m);
    register_optim(m);
    register_runtime(m);
    register_threads(m);
    register_dropout(m);
    register_norms(m);
}
