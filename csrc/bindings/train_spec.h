// The trainer's spec, read from the dict python/nncore/_native_fit.py builds: every array
// checked and pointed into, every option converted (bindings/trainer.cpp runs it).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>

#include "core/train.h"

namespace nncore::bindings {

namespace py = pybind11;

// An ndarray the engine reads or updates in place: exact dtype T, C-contiguous, `size`
// elements, writeable when `writeable`; appended to `keep`. Returns its data pointer.
template <class T>
T* buffer(py::handle obj, std::int64_t size, const char* name, bool writeable,
          py::list& keep);

// The whole spec, in the order the checks run; the arrays pointed into are appended to
// `keep`. An unknown or misspelt field (of the spec, a layer, the optimizer options or
// the schedule) is a ValueError. The grad hook is the trainer's (bindings/trainer.cpp).
template <class T>
TrainSpec<T> train_spec(const py::dict& a, py::list& keep);

// The optimiser's parameter groups ([{"options": {...}, "lr": float, "count": int}], in
// order), options of `kind`: the spec's "groups", and _Trainer.set_groups before each
// call (a schedule may change rates, momentum or betas between calls).
std::vector<OptimizerGroup> read_groups(py::handle groups, TrainOptimizer kind);

// `key` as an interned Python string (borrowed; made once per literal, the GIL held): a
// dict key that costs no string to make or hash per use.
PyObject* field_name(const char* key);

}  // namespace nncore::bindings
