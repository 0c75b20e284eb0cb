// The binding families: each register_* adds one family's functions to nncore._core
// (module.cpp calls them in order). One file a family, named like the function below.
#pragma once

#include <pybind11/pybind11.h>

namespace nncore::bindings {

void register_dense(pybind11::module_& m);        // dense.cpp: matmul, dense_forward/backward
void register_activations(pybind11::module_& m);  // activations.cpp: elementwise (gelu, silu,
                                                  // softplus among them), softmax
void register_losses(pybind11::module_& m);       // losses.cpp: mse, bce with logits, ce,
                                                  // l1, huber
void register_optim(pybind11::module_& m);        // optim.cpp: sgd_step, adam_step
void register_runtime(pybind11::module_& m);      // runtime.cpp: threads, config, peak probe
void register_trainer(pybind11::module_& m);      // trainer.cpp: _Trainer (train_spec.cpp reads
                                                  // its spec)
void register_clip(pybind11::module_& m);         // clip.cpp: clip_grad_norm_, clip_grad_value_
void register_metrics(pybind11::module_& m);      // metrics.cpp: count_correct
void register_threads(pybind11::module_& m);      // threads.cpp: the pool, threadpoolctl
void register_dropout(pybind11::module_& m);      // dropout.cpp: dropout, dropout_backward
void register_norms(pybind11::module_& m);        // norms.cpp: layer_norm, batch_norm and
                                                  // their backward

}  // namespace nncore::bindings
