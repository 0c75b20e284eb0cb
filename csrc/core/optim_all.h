// One optimiser step over all parameters: the batched driver that the Python
// optimisers call once per step (one native call instead of one per parameter).
// Each parameter is updated by the per-parameter function in core/optim.h, in order,
// so results are bitwise those of calling it parameter by parameter.
#pragma once

#include <cstddef>

#include "core/optim.h"

namespace nncore {

// One parameter's buffers, n values each. state1/state2/state3: SGD's velocity (nullptr
// when momentum == 0), unused, unused; Adam's m, v and max_v (amsgrad, else nullptr);
// RMSprop's square_avg, momentum buffer and grad_avg (nullptr when unused).
template <class T>
struct ParamSlot {
    T* param = nullptr;
    const T* grad = nullptr;
    T* state1 = nullptr;
    T* state2 = nullptr;
    T* state3 = nullptr;
    index_t n = 0;
    bool decay = true;  // false: weight_decay does not apply to this parameter
};

template <class T>
void sgd_step_all(const ParamSlot<T>* slots, std::size_t count, const SgdOptions& o,
                  int nthreads);

template <class T>
void adam_step_all(const ParamSlot<T>* slots, std::size_t count, const AdamOptions& o,
                   int nthreads);

template <class T>
void rmsprop_step_all(const ParamSlot<T>* slots, std::size_t count, const RmspropOptions& o,
                      int nthreads);

}  // namespace nncore
