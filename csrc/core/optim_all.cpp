#include "core/optim_all.h"

namespace nncore {

namespace {

// step(slot, options) for each parameter in order, with weight_decay 0 where the
// parameter does not decay.
template <class T, class Options, class Step>
void step_all(const ParamSlot<T>* slots, std::size_t count, const Options& o,
              const Step& step) {
    Options no_decay = o;
    no_decay.weight_decay = 0;
    for (std::size_t i = 0; i < count; ++i) step(slots[i], slots[i].decay ? o : no_decay);
}

}  // namespace

template <class T>
void sgd_step_all(const ParamSlot<T>* slots, std::size_t count, const SgdOptions& o,
                  int nthreads) {
    step_all(slots, count, o, [&](const ParamSlot<T>& s, const SgdOptions& so) {
        sgd_step(s.param, s.grad, s.state1, s.n, so, nthreads);
    });
}

template <class T>
void adam_step_all(const ParamSlot<T>* slots, std::size_t count, const AdamOptions& o,
                   int nthreads) {
    step_all(slots, count, o, [&](const ParamSlot<T>& s, const AdamOptions& ao) {
        adam_step(s.param, s.grad, s.state1, s.state2, s.n, ao, nthreads, s.state3);
    });
}

template <class T>
void rmsprop_step_all(const ParamSlot<T>* slots, std::size_t count, const RmspropOptions& o,
                      int nthreads) {
    step_all(slots, count, o, [&](const ParamSlot<T>& s, const RmspropOptions& ro) {
        rmsprop_step(s.param, s.grad, s.state1, s.state2, s.state3, s.n, ro, nthreads);
    });
}

template void sgd_step_all<float>(const ParamSlot<float>*, std::size_t, const SgdOptions&, int);
template void sgd_step_all<double>(const ParamSlot<double>*, std::size_t, const SgdOptions&,
                                   int);
template void adam_step_all<float>(const ParamSlot<float>*, std::size_t, const AdamOptions&,
                                   int);
template void adam_step_all<double>(const ParamSlot<double>*, std::size_t, const AdamOptions&,
                                    int);

template void rmsprop_step_all<float>(const ParamSlot<float>*, std::size_t,
                                      const RmspropOptions&, int);
template void rmsprop_step_all<double>(const ParamSlot<double>*, std::size_t,
                                       const RmspropOptions&, int);

}  // namespace nncore
