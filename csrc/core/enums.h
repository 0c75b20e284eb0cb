// Names shared by the core and the bindings.
#pragma once

#include <string>

#include "kernels/kernel_table.h"

namespace nncore {

using kernels::Act;

enum class Reduction : int { none = 0, mean = 1, sum = 2 };

// "identity"/"linear"/"" -> identity, "relu", "sigmoid", "tanh", "leaky_relu", "gelu",
// "gelu_tanh" (gelu with approximate="tanh"), "silu", "softplus".
// Throws std::invalid_argument naming fn and listing the valid names.
Act parse_activation(const std::string& name, const char* fn);
Reduction parse_reduction(const std::string& name, const char* fn);
const char* activation_name(Act act) noexcept;

}  // namespace nncore
