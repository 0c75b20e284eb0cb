#include "core/labels.h"

#include <cmath>
#include <type_traits>

#include "core/check.h"

namespace nncore {

template <class L>
BadLabel first_bad_label(const L* labels, index_t n, index_t classes) noexcept {
    for (index_t i = 0; i < n; ++i) {
        const L v = labels[i];
        bool in_range;
        if constexpr (std::is_floating_point_v<L>) {
            if (!(std::isfinite(v) && std::floor(v) == v)) return {i, LabelFault::not_whole};
            in_range = v >= 0 && v < double(classes);
        } else if constexpr (std::is_unsigned_v<L>) {
            // Unsigned labels too large for int64 would wrap: compare unsigned.
            in_range = classes > 0 && v < static_cast<std::uint64_t>(classes);
        } else {
            in_range = v >= 0 && v < classes;
        }
        if (classes >= 0 && !in_range) return {i, LabelFault::out_of_range};
    }
    return {};
}

template <class L>
void to_labels(const L* labels, index_t n, index_t classes, std::int64_t* out, const char* fn) {
    NNCORE_CHECK(classes >= 0, fn, ": classes must be >= 0; got ", classes);
    const BadLabel bad = first_bad_label(labels, n, classes);
    if (bad.fault != LabelFault::none) {
        const L v = labels[bad.index];
        NNCORE_CHECK(bad.fault != LabelFault::not_whole, fn, ": target[", bad.index, "] = ", v,
                     " is not a whole number (class labels must be integers)");
        NNCORE_CHECK(false, fn, ": target[", bad.index, "] = ", v, " is out of range for ",
                     classes, " classes");
    }
    if (out)
        for (index_t i = 0; i < n; ++i) out[i] = static_cast<std::int64_t>(labels[i]);
}

template void to_labels<std::int64_t>(const std::int64_t*, index_t, index_t, std::int64_t*,
                                      const char*);
template void to_labels<std::uint64_t>(const std::uint64_t*, index_t, index_t, std::int64_t*,
                                       const char*);
template void to_labels<double>(const double*, index_t, index_t, std::int64_t*, const char*);

template BadLabel first_bad_label<std::int64_t>(const std::int64_t*, index_t, index_t) noexcept;
template BadLabel first_bad_label<std::uint64_t>(const std::uint64_t*, index_t,
                                                 index_t) noexcept;
template BadLabel first_bad_label<double>(const double*, index_t, index_t) noexcept;

}  // namespace nncore
