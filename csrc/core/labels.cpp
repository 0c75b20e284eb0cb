#include "core/labels.h"

#include <cmath>
#include <type_traits>

#include "core/check.h"

namespace nncore {

template <class L>
void to_labels(const L* labels, index_t n, index_t classes, std::int64_t* out, const char* fn) {
    for (index_t i = 0; i < n; ++i) {
        const L v = labels[i];
        if constexpr (std::is_floating_point_v<L>) {
            NNCORE_CHECK(std::isfinite(v) && std::floor(v) == v, fn, ": target[", i, "] = ", v,
                         " is not a whole number (class labels must be integers)");
            NNCORE_CHECK(v >= 0 && v < double(classes), fn, ": target[", i, "] = ", v,
                         " is out of range for ", classes, " classes");
        } else if constexpr (std::is_unsigned_v<L>) {
            // Unsigned labels too large for int64 would wrap: compare unsigned.
            NNCORE_CHECK(classes > 0 && v < static_cast<std::uint64_t>(classes), fn,
                         ": target[", i, "] = ", v, " is out of range for ", classes,
                         " classes");
        } else {
            NNCORE_CHECK(v >= 0 && v < classes, fn, ": target[", i, "] = ", v,
                         " is out of range for ", classes, " classes");
        }
        if (out) out[i] = static_cast<std::int64_t>(v);
    }
}

template void to_labels<std::int64_t>(const std::int64_t*, index_t, index_t, std::int64_t*,
                                      const char*);
template void to_labels<std::uint64_t>(const std::uint64_t*, index_t, index_t, std::int64_t*,
                                       const char*);
template void to_labels<double>(const double*, index_t, index_t, std::int64_t*, const char*);

}  // namespace nncore
