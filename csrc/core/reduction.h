// The one weighted-mean rule of the losses (core/losses.cpp):
// the denominator a loss's reduced sum is divided by.
#pragma once

#include "core/check.h"
#include "core/enums.h"
#include "core/views.h"

namespace nncore {

// rows * per for a mean (sum of the weights times per when w is given); 1 for sum and
// none. Throws for a mean over no element or over weights summing to 0.
template <class T>
T mean_denominator(const char* fn, const T* w, index_t rows, index_t per, Reduction red) {
    if (red != Reduction::mean) return T(1);
    NNCORE_CHECK(rows * per > 0, fn, ": reduction='mean' of an empty input is undefined; "
                 "use reduction='sum' or 'none'");
    if (!w) return T(rows) * T(per);
    T sw = T(0);
    for (index_t i = 0; i < rows; ++i) sw += w[i];
    NNCORE_CHECK(sw != T(0), fn, ": reduction='mean' with sample_weight summing to 0 is "
                 "undefined");
    return sw * T(per);
}

}  // namespace nncore
