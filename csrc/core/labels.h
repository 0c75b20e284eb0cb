// Class labels: the one place they are checked. A label is a whole number in
// [0, classes), stored as int64, uint64 or a float (whole-number floats are labels too).
#pragma once

#include <cstdint>

#include "core/views.h"

namespace nncore {

// Why a label is not a class label.
enum class LabelFault { none, not_whole, out_of_range };

struct BadLabel {
    index_t index = -1;  // the first bad label, -1 when all are good
    LabelFault fault = LabelFault::none;
};

// The rule, without throwing: the first of n labels that is not a whole number (float L)
// or not in [0, classes); classes < 0 checks whole numbers only.
template <class L>
BadLabel first_bad_label(const L* labels, index_t n, index_t classes) noexcept;

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
