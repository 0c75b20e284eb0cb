// Training metrics computed where the outputs are, not by a NumPy pass per step.
#pragma once

#include <cstdint>

#include "core/views.h"

namespace nncore {

// Correct predictions among `rows` rows of `cols` outputs (row-major):
// cols > 1: the row's argmax (the first maximum; a NaN counts as the maximum, as
// numpy.argmax) equals labels[r], or, with targets instead of labels, the argmax of the
// target row; cols == 1: (out > 0) == (target > 0.5). Exactly one of labels / targets
// is non-null.
template <class T>
std::int64_t count_correct(const T* out, index_t rows, index_t cols,
                           const std::int64_t* labels, const T* targets);

// Adds the confusion counts of `rows` rows of `cols` outputs (row-major) to `matrix`
// (classes x classes, row-major; rows the true class, columns the predicted one, as
// sklearn.metrics.confusion_matrix), each row weighing weights[r] (1 when weights is
// null). classes = cols for cols > 1: predicted = the row's argmax (count_correct's),
// true = labels[r] or the argmax of the target row. classes = 2 for cols == 1:
// predicted = out > threshold, true = labels[r] or target > 0.5. Exactly one of
// labels / targets is non-null; labels must already be checked (in [0, classes)).
// Rows are added in index order on the calling thread.
template <class T>
void confusion_matrix(const T* out, index_t rows, index_t cols, const std::int64_t* labels,
                      const T* targets, const double* weights, double threshold,
                      double* matrix);

// Areas under the ROC curve (sklearn.metrics.roc_auc_score) of `problems` problems over
// n rows: problems == 1: the scores score[r], positive where labels[r] == 1;
// problems >= 2 (one-vs-rest): problem c scores score[r * problems + c], positive where
// labels[r] == c. Rows weigh weights[r] (1 when weights is null). Tied scores count as
// sklearn's trapezoid over distinct thresholds does, which is the Mann-Whitney statistic
// with half a pair per tie:
//   auc = sum over positive i, negative j of w_i w_j ([s_i > s_j] + [s_i == s_j] / 2)
//         / (sum of positive w * sum of negative w)
// (-0 and +0 are one score). auc[c] is NaN when a score of the problem is NaN or its
// positive or negative weight is not > 0. labels must already be checked; n < 2^31.
// Each problem is sorted and summed by one thread, one fixed way (a radix sort on the
// score rounded to float, rounding being monotone, then the rows of a tied float in
// double order), so results are the same for any thread count.
template <class T>
void roc_auc(const T* score, index_t n, index_t problems, const std::int64_t* labels,
             const double* weights, double* auc, int nthreads);

}  // namespace nncore
