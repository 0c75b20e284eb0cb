// Argument checks: C++ throws std::invalid_argument (the bindings raise ValueError).
// Never used inside a parallel region: validate first, then compute.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace nncore {

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    throw std::invalid_argument(os.str());
}

#define NNCORE_CHECK(cond, ...)                 \
    do {                                        \
        if (!(cond)) ::nncore::fail(__VA_ARGS__); \
    } while (0)

}  // namespace nncore
