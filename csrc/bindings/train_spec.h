// The trainer's spec, read from the dict python/nncore/_native_fit.py builds: every array
// checked and pointed into, every option converted (bindings/trainer.cpp runs it).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>

#include "core/random.h"
#include "core/train.h"

namespace nncore::bindings {

namespace py = pybind11;

// An ndarray the engine reads or updates in place: exact dtype T, C-contiguous, `size`
// elements, writeable when `writeable`; appended to `keep`. Returns its data pointer.
template <class T>
T* buffer(py::handle obj, std::int64_t size, const char* name, bool writeable,
          py::list& keep);

// Everything of the spec up to and including rank and world_size, in the order the
// checks run; the arrays pointed into are appended to `keep`. The grad hook and the
// generator state are the trainer's (bindings/trainer.cpp).
template <class T>
TrainSpec<T> train_spec(const py::dict& a, py::list& keep);

// The generator state as numpy's PCG64 state tuple (state hi, lo, inc hi, lo,
// has_uint32, uinteger), both ways.
Pcg64 rng_arg(const py::tuple& r);
py::tuple rng_tuple(const Pcg64& g);

}  // namespace nncore::bindings
