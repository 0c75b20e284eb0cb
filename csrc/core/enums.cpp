#include "core/enums.h"

#include "core/check.h"

namespace nncore {

Act parse_activation(const std::string& name, const char* fn) {
    if (name == "identity" || name == "linear") return Act::identity;
    if (name == "relu") return Act::relu;
    if (name == "sigmoid") return Act::sigmoid;
    if (name == "tanh") return Act::tanh;
    if (name == "leaky_relu") return Act::leaky_relu;
    if (name == "gelu") return Act::gelu;
    if (name == "gelu_tanh") return Act::gelu_tanh;
    if (name == "silu") return Act::silu;
    if (name == "softplus") return Act::softplus;
    fail(fn, ": activation must be one of 'identity', 'relu', 'sigmoid', 'tanh', "
             "'leaky_relu', 'gelu', 'gelu_tanh', 'silu', 'softplus' (or None); got '", name,
         "'");
}

Reduction parse_reduction(const std::string& name, const char* fn) {
    if (name == "mean") return Reduction::mean;
    if (name == "sum") return Reduction::sum;
    if (name == "none") return Reduction::none;
    fail(fn, ": reduction must be one of 'mean', 'sum', 'none'; got '", name, "'");
}

const char* activation_name(Act act) noexcept {
    switch (act) {
        case Act::relu: return "relu";
        case Act::sigmoid: return "sigmoid";
        case Act::tanh: return "tanh";
        case Act::leaky_relu: return "leaky_relu";
        case Act::gelu: return "gelu";
        case Act::gelu_tanh: return "gelu_tanh";
        case Act::silu: return "silu";
        case Act::softplus: return "softplus";
        case Act::identity: break;
    }
    return "identity";
}

}  // namespace nncore
