#include "core/optim_all.h"

namespace nncore {

template <class T>
void sgd_step_all(const ParamSlot<T>* slots, std::size_t count, const SgdOptions& o,
                  int nthreads) {
    SgdOptions no_decay = o;
    no_decay.weight_decay = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const ParamSlot<T>& s = slots[i];
        sgd_step(s.param, s.grad, s.state1, s.n, s.decay ? o : no_decay, nthreads);
    }
}

template <class T>
void adam_step_all(const ParamSlot<T>* slots, std::size_t count, const AdamOptions& o,
                   int nthreads) {
    AdamOptions no_decay = o;
    no_decay.weight_decay = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const ParamSlot<T>& s = slots[i];
        adam_step(s.param, s.grad, s.state1, s.state2, s.n, s.decay ? o : no_decay, nthreads);
    }
}

template void sgd_step_all<float>(const ParamSlot<float>*, std::size_t, const SgdOptions&, int);
template void sgd_step_all<double>(const ParamSlot<double>*, std::size_t, const SgdOptions&,
                                   int);
template void adam_step_all<float>(const ParamSlot<float>*, std::size_t, const AdamOptions&,
                                   int);
template void adam_step_all<double>(const ParamSlot<double>*, std::size_t, const AdamOptions&,
                                    int);

}  // namespace nncore
