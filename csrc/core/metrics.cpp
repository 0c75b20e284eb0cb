#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace nncore {
namespace {

// The first maximum of v[0:n], n >= 1 (a NaN, the first one, counts as the maximum, as
// numpy.argmax). The loop keeps the maximum by selects, not branches: random scores would
// mispredict a branch on every new maximum.
template <class T>
index_t argmax(const T* v, index_t n) noexcept {
    T best = v[0];
    index_t at = 0;
    bool nan = std::isnan(best);
    for (index_t j = 1; j < n; ++j) {
        const T x = v[j];
        nan |= std::isnan(x);
        const bool above = x > best;
        best = above ? x : best;
        at = above ? j : at;
    }
    if (nan) {
        for (index_t j = 0; j < n; ++j)
            if (std::isnan(v[j])) return j;
    }
    return at;
}

// ------------------------------------------------------------------- ROC AUC

// One row of a problem, as the sort moves it: the order key of its score in bits 32..63,
// whether it is positive in bit 31, its row in bits 0..30.
using Entry = std::uint64_t;
constexpr Entry kPositive = Entry(1) << 31;
constexpr Entry kRow = kPositive - 1;

inline index_t row_of(Entry e) noexcept { return static_cast<index_t>(e & kRow); }
inline std::uint32_t key_of(Entry e) noexcept { return static_cast<std::uint32_t>(e >> 32); }

// A key whose unsigned order is the order of the score rounded to float: rounding to
// nearest is monotone (s <= t gives float(s) <= float(t)), so rows sorted by key are
// sorted by score except among rows whose scores round to the same float. -0 and +0 are
// one score and share a key; keys of float scores are equal exactly when the scores are.
// (A double beyond float's range becomes an infinity first: converting it is undefined
// in C++; the order stays monotone, and the rows of an infinite key are ordered by score.)
template <class T>
std::uint32_t order_key(T score) noexcept {
    float f;
    if constexpr (std::is_same_v<T, float>) {
        f = score;
    } else {
        constexpr double kMax = std::numeric_limits<float>::max();
        constexpr float kInf = std::numeric_limits<float>::infinity();
        f = std::fabs(score) > kMax ? (score > 0 ? kInf : -kInf) : static_cast<float>(score);
    }
    if (f == 0.0f) f = 0.0f;
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// The radix sort's digit: kDigitBits bits a pass, kPasses passes over the 32-bit key
// (8, 11 and 16 bits measured within 5% of each other at 60000 rows; 11 keeps the
// histograms small).
constexpr int kDigitBits = 11;
constexpr int kPasses = (32 + kDigitBits - 1) / kDigitBits;
constexpr std::uint32_t kDigits = 1u << kDigitBits;
constexpr std::size_t kHistSize = std::size_t(kPasses) * kDigits;
// Rows of a problem below which std::sort beats the radix sort's histograms.
constexpr index_t kRadixMin = 1024;

// Sorts a[0:n] by key: LSD radix sort, kDigitBits bits a pass (every pass's histogram
// from one read), skipping a pass whose digit is the same in every entry; b: scratch of n
// entries, hist: scratch of kHistSize counts. Small problems go to std::sort (the whole
// entry compared: key, then sign, then row). Returns the buffer holding the sorted
// entries (a or b).
Entry* sort_by_key(Entry* a, Entry* b, std::uint32_t* hist, index_t n) noexcept {
    if (n < kRadixMin) {
        std::sort(a, a + n);
        return a;
    }
    constexpr Entry mask = kDigits - 1;
    std::fill(hist, hist + kHistSize, 0u);
    for (index_t i = 0; i < n; ++i) {
        const Entry key = a[i] >> 32;
        for (int p = 0; p < kPasses; ++p) ++hist[p * kDigits + ((key >> (p * kDigitBits)) & mask)];
    }
    for (int p = 0; p < kPasses; ++p) {
        const int shift = 32 + p * kDigitBits;
        std::uint32_t* c = hist + p * kDigits;
        if (c[(a[0] >> shift) & mask] == static_cast<std::uint32_t>(n)) continue;
        std::uint32_t start = 0;
        for (std::uint32_t d = 0; d < kDigits; ++d) {
            const std::uint32_t k = c[d];
            c[d] = start;
            start += k;
        }
        for (index_t i = 0; i < n; ++i) {
            const Entry e = a[i];
            b[c[(e >> shift) & mask]++] = e;
        }
        std::swap(a, b);
    }
    return a;
}

// Whether an order key is that of a NaN (above +inf's key or below -inf's).
inline bool nan_key(std::uint32_t key) noexcept { return key > 0xFF800000u || key < 0x007FFFFFu; }

// The area from the entries e[0:n] sorted by key. Ascending, each group of equal scores
// adds its positive weight times twice the negative weight below it plus its own
// negative weight (twice the trapezoid's count, whose tie rule is half a pair). W is
// std::int64_t for whole counts (weights null: exact, and no floating-point chain) or
// double. value(e): the score of an entry's row, to order rows whose scores round to one
// float (double scores only).
template <class T, class W, class Value>
double sorted_auc(Entry* e, index_t n, const double* weights, const Value& value) noexcept {
    W below = 0, positives = 0, twice = 0;
    const auto weight = [&](Entry x) -> W {
        if constexpr (std::is_same_v<W, double>) return weights[row_of(x)];
        else return 1;
    };
    const auto add = [&](W pos, W neg) {
        twice += pos * (2 * below + neg);
        below += neg;
        positives += pos;
    };
    for (index_t i = 0; i < n;) {
        const std::uint32_t key = key_of(e[i]);
        index_t j = i + 1;
        while (j < n && key_of(e[j]) == key) ++j;
        if (j - i == 1) {  // the common case: a score of its own
            const W w = weight(e[i]);
            if (e[i] & kPositive) add(w, 0); else add(0, w);
            i = j;
            continue;
        }
        if constexpr (!std::is_same_v<T, float>) {  // [i, j) round to one float: order them
            bool same = true;
            for (index_t k = i + 1; k < j && same; ++k) same = value(e[k]) == value(e[i]);
            if (!same)
                std::sort(e + i, e + j, [&](Entry x, Entry y) { return value(x) < value(y); });
        }
        for (index_t g = i; g < j;) {
            index_t h = g + 1;
            if constexpr (!std::is_same_v<T, float>) {
                while (h < j && value(e[h]) == value(e[g])) ++h;
            } else {
                h = j;
            }
            W pos = 0, neg = 0;
            for (index_t k = g; k < h; ++k) {
                if (e[k] & kPositive) pos += weight(e[k]); else neg += weight(e[k]);
            }
            add(pos, neg);
            g = h;
        }
        i = j;
    }
    if (!(positives > 0 && below > 0)) return std::numeric_limits<double>::quiet_NaN();
    return double(twice) / (2.0 * double(positives) * double(below));
}

// The calling thread's buffer of U, kept between calls up to kKeepBytes (an epoch of the
// shape of the last one then touches no new memory: 60000 rows of 10 classes are 5 MB,
// whose first touch costs more than the sort); a larger one is freed after its call.
constexpr std::size_t kKeepBytes = std::size_t(64) << 20;

template <class U>
std::vector<U>& kept_buffer() {
    thread_local std::vector<U> buffer;
    return buffer;
}

template <class U>
U* grow(std::vector<U>& buffer, std::size_t size) {
    if (buffer.size() < size) buffer.resize(size);
    return buffer.data();
}

template <class U>
void trim(std::vector<U>& buffer) {
    if (buffer.size() * sizeof(U) > kKeepBytes) std::vector<U>().swap(buffer);
}

// The area of one problem from its entries a[0:n] (sorted here; b and hist: the sort's
// scratch); NaN when a score is NaN. value(e) as for sorted_auc.
template <class T, class Value>
double problem_auc(Entry* a, Entry* b, std::uint32_t* hist, index_t n, const double* weights,
                   const Value& value) noexcept {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (n == 0) return nan;
    for (index_t i = 0; i < n; ++i)
        if (nan_key(key_of(a[i]))) return nan;
    Entry* e = sort_by_key(a, b, hist, n);
    return weights ? sorted_auc<T, double>(e, n, weights, value)
                   : sorted_auc<T, std::int64_t>(e, n, weights, value);
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

template <class T>
void confusion_matrix(const T* out, index_t rows, index_t cols, const std::int64_t* labels,
                      const T* targets, const double* weights, double threshold,
                      double* matrix) {
    const index_t classes = cols > 1 ? cols : 2;
    for (index_t r = 0; r < rows; ++r) {
        index_t truth, pred;
        if (cols > 1) {
            truth = labels ? labels[r] : argmax(targets + r * cols, cols);
            pred = argmax(out + r * cols, cols);
        } else {
            truth = labels ? labels[r] : index_t(targets[r] > T(0.5));
            pred = index_t(double(out[r]) > threshold);
        }
        matrix[truth * classes + pred] += weights ? weights[r] : 1.0;
    }
}

template <class T>
void roc_auc(const T* score, index_t n, index_t problems, const std::int64_t* labels,
             const double* weights, double* auc, int nthreads) {
    NNCORE_CHECK(n < (index_t(1) << 31), "roc_auc: at most 2^31 - 1 rows; got ", n);
    NNCORE_CHECK(problems >= 1, "roc_auc: problems must be >= 1; got ", problems);
    const std::size_t rows = static_cast<std::size_t>(n);
    // about 30 operations a row and a problem (the entry, the sort, the sums)
    const int nt = static_cast<int>(std::min<index_t>(
        problems, std::min(nthreads, threads_for(30.0 * double(n) * double(problems)))));
    // Every problem's entries, problem by problem, from one pass over the rows (which
    // reads the scores in their row-major order once); each block of rows writes its own.
    // Then each thread's scratch: n entries and the sort's histograms. All of it in the
    // calling thread's buffers, kept between calls.
    const std::size_t entries_size = static_cast<std::size_t>(problems + nt) * rows;
    std::vector<Entry>& entry_buffer = kept_buffer<Entry>();
    std::vector<std::uint32_t>& hist_buffer = kept_buffer<std::uint32_t>();
    Entry* const entries = grow(entry_buffer, entries_size);
    std::uint32_t* const hists = grow(hist_buffer, static_cast<std::size_t>(nt) * kHistSize);
    constexpr index_t kRowBlock = 4096;
    parallel_for((n + kRowBlock - 1) / kRowBlock, nt, [&](index_t block) {
        const index_t end = std::min(n, (block + 1) * kRowBlock);
        for (index_t r = block * kRowBlock; r < end; ++r) {
            const T* s = score + r * problems;
            // the problem (column) this row is positive in: its label, or column 0 for a
            // label of 1 in a binary problem
            const std::int64_t positive_in = problems == 1 ? labels[r] - 1 : labels[r];
            for (index_t c = 0; c < problems; ++c)
                entries[static_cast<std::size_t>(c) * rows + static_cast<std::size_t>(r)] =
                    (Entry(order_key(s[c])) << 32) | (positive_in == c ? kPositive : 0) |
                    Entry(r);
        }
    });
    parallel_for(problems, nt, [&](index_t c) {
        const std::size_t t = static_cast<std::size_t>(thread_id());
        Entry* b = entries + static_cast<std::size_t>(problems + t) * rows;
        std::uint32_t* hist = hists + t * kHistSize;
        const T* column = score + c;
        const auto value = [&](Entry e) { return column[row_of(e) * problems]; };
        auc[c] = problem_auc<T>(entries + static_cast<std::size_t>(c) * rows, b, hist, n,
                                weights, value);
    });
    trim(entry_buffer);
}

template std::int64_t count_correct<float>(const float*, index_t, index_t, const std::int64_t*,
                                           const float*);
template std::int64_t count_correct<double>(const double*, index_t, index_t,
                                            const std::int64_t*, const double*);
template void confusion_matrix<float>(const float*, index_t, index_t, const std::int64_t*,
                                      const float*, const double*, double, double*);
template void confusion_matrix<double>(const double*, index_t, index_t, const std::int64_t*,
                                       const double*, const double*, double, double*);
template void roc_auc<float>(const float*, index_t, index_t, const std::int64_t*, const double*,
                             double*, int);
template void roc_auc<double>(const double*, index_t, index_t, const std::int64_t*,
                              const double*, double*, int);

}  // namespace nncore
