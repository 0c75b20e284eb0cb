#include "core/metrics.h"

#include <cmath>

namespace nncore {
namespace {

template <class T>
index_t argmax(const T* v, index_t n) noexcept {
    index_t best = 0;
    for (index_t j = 0; j < n; ++j) {
        if (std::isnan(v[j])) return j;
        if (v[j] > v[best]) best = j;
    }
    return best;
}

}  // namespace

template <class T>
std::int64_t count_correct(const T* out, index_t rows, index_t cols,
                           const std::int64_t* labels, const T* targets) {
    std::int64_t correct = 0;
    for (index_t r = 0; r < rows; ++r) {
        const T* o = out + r * cols;
        if (cols > 1) {
            const index_t truth = labels ? labels[r] : argmax(targets + r * cols, cols);
            correct += argmax(o, cols) == truth;
        } else {
            const bool truth = labels ? double(labels[r]) > 0.5 : targets[r] > T(0.5);
            correct += (o[0] > T(0)) == truth;
        }
    }
    return correct;
}

template std::int64_t count_correct<float>(const float*, index_t, index_t, const std::int64_t*,
                                           const float*);
template std::int64_t count_correct<double>(const double*, index_t, index_t,
                                            const std::int64_t*, const double*);

}  // namespace nncore
