// Cross-entropy of one row of logits with a class label, in plain scalar C++: the
// specification of KernelSet::ce_labels (kernel_table.h), used by the generic set for
// every row and by the SIMD sets for rows they do not take in whole vectors (a block's
// last rows, or a block holding a non-finite logit). No namespace, no include guard, no
// #include: each kernel set's .cpp includes it inside its own anonymous namespace (after
// <cmath>, <cstdint> and kernel_table.h), so every set compiles its own private copy
// with its own flags and the linker can never merge one set's code into another.

// Returns the row's loss, log(sum_j exp(x_j)) - x_label, and when g is given stores
// g_j = gscale * (softmax(x)_j - [j == label]).
//
// With m = max_j x_j and a the first j where x_j = m, s = sum_j exp(x_j - m) = 1 + rest,
// rest summing the other terms in index order. log(s) = log1p(rest) and
// softmax_a - 1 = -rest / s avoid cancellation, so confident rows stay accurate; the
// loss is log(s) + (m - x_label), (m - x_label) exact near the max. NaN or infinite
// logits take the plain formula, which propagates them.
template <class T>
T ce_row(const T* x, std::int64_t label, index_t classes, T gscale, T* g) noexcept {
    T m = x[0];  // the first NaN, if there is one
    for (index_t j = 0; j < classes; ++j) {
        if (x[j] != x[j]) {
            m = x[j];
            break;
        }
        m = x[j] > m ? x[j] : m;
    }
    index_t a = 0;
    while (a < classes && !(x[a] == m)) ++a;
    T rest = T(0), s, log_s;
    if (a < classes && std::isfinite(m)) {
        for (index_t j = 0; j < classes; ++j) {
            if (j == a) continue;
            const T e = std::exp(x[j] - m);
            if (g) g[j] = e;
            rest += e;
        }
        if (g) g[a] = T(1);
        s = T(1) + rest;
        log_s = std::log1p(rest);
    } else {
        a = -1;
        s = T(0);
        for (index_t j = 0; j < classes; ++j) {
            const T e = std::exp(x[j] - m);
            if (g) g[j] = e;
            s += e;
        }
        rest = s - T(1);
        log_s = std::log(s);
    }
    if (g) {
        const T f = gscale / s;
        for (index_t j = 0; j < classes; ++j) g[j] *= f;
        g[label] = label == a ? -gscale * (rest / s) : g[label] - gscale;
    }
    return log_s + (m - x[label]);
}
