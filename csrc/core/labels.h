// Class labels: the one place they are checked. A label is a whole number in
// [0, classes), stored as int64, uint64 or a float (whole-number floats are labels too).
#pragma once

#include <cstdint>

#include "core/views.h"

namespace nncore {

// Checks n labels and writes them as int64 to out (out may be nullptr to check only,
// or alias `labels` when L is int64). L is std::int64_t, std::uint64_t or double.
// A bad label throws std::invalid_argument naming fn and its index:
//   "<fn>: target[i] = v is not a whole number (class labels must be integers)"
//   "<fn>: target[i] = v is out of range for <classes> classes"
template <class L>
void to_labels(const L* labels, index_t n, index_t classes, std::int64_t* out, const char* fn);

// The check alone, for labels already stored as int64.
inline void check_labels(const std::int64_t* labels, index_t n, index_t classes,
                         const char* fn) {
    to_labels<std::int64_t>(labels, n, classes, nullptr, fn);
}

}  // namespace nncore
