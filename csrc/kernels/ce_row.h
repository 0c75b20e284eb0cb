// Cross-entropy of one row of logits, in plain scalar C++: the specification of
// KernelSet::ce_labels and ce_probs (kernel_table.h), used by the generic set for every
// row and by the SIMD sets for rows they do not take in whole vectors (a block's
// last rows, or a block holding a non-finite logit). No namespace, no include guard, no
// #include: each kernel set's .cpp includes it inside its own anonymous namespace (after
// <cmath>, <cstdint> and kernel_table.h), so every set compiles its own private copy
// with its own flags and the linker can never merge one set's code into another.

// The log-sum-exp rule of every cross-entropy kernel. With m = max_j x_j and a the first
// j where x_j = m, s = sum_j exp(x_j - m) = 1 + rest, rest summing the other terms in
// index order. log(s) = log1p(rest) and softmax_a - 1 = -rest / s avoid cancellation, so
// confident rows stay accurate; the loss then uses (m - x_j), exact near the max. NaN or
// infinite logits take the plain formula, which propagates them (a = -1).
// When e is given, e[j] = exp(x_j - m) (e[a] = 1 exactly).
template <class T>
struct Lse {
    T m, rest, s, log_s;
    index_t a;
};

template <class T>
Lse<T> ce_lse(const T* x, index_t classes, T* e) noexcept {
    Lse<T> r;
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
    T rest = T(0);
    if (a < classes && std::isfinite(m)) {
        for (index_t j = 0; j < classes; ++j) {
            if (j == a) continue;
            const T v = std::exp(x[j] - m);
            if (e) e[j] = v;
            rest += v;
        }
        if (e) e[a] = T(1);
        r.s = T(1) + rest;
        r.log_s = std::log1p(rest);
    } else {
        a = -1;
        T s = T(0);
        for (index_t j = 0; j < classes; ++j) {
            const T v = std::exp(x[j] - m);
            if (e) e[j] = v;
            s += v;
        }
        rest = s - T(1);
        r.s = s;
        r.log_s = std::log(s);
    }
    r.m = m;
    r.rest = rest;
    r.a = a;
    return r;
}

// Cross-entropy of one row with a class label: returns log(s) + (m - x_label) and, when g
// is given, stores g_j = gscale * (softmax(x)_j - [j == label]).
template <class T>
T ce_row(const T* x, std::int64_t label, index_t classes, T gscale, T* g) noexcept {
    const Lse<T> r = ce_lse(x, classes, g);
    if (g) {
        const T f = gscale / r.s;
        for (index_t j = 0; j < classes; ++j) g[j] *= f;
        g[label] = label == r.a ? -gscale * (r.rest / r.s) : g[label] - gscale;
    }
    return r.log_s + (r.m - x[label]);
}

// Cross-entropy of one row with probability targets t: returns
// sum_j t_j * (log(s) + (m - x_j)) and, when g is given, stores
// g_j = gscale * (sum(t) * softmax(x)_j - t_j) (sum(t) in index order).
template <class T>
T ce_probs_row(const T* x, const T* t, index_t classes, T gscale, T* g) noexcept {
    const Lse<T> r = ce_lse(x, classes, g);
    T loss = T(0);
    for (index_t j = 0; j < classes; ++j) loss += t[j] * (r.log_s + (r.m - x[j]));
    if (g) {
        T st = T(0);
        for (index_t j = 0; j < classes; ++j) st += t[j];
        const T c = gscale * st / r.s;
        for (index_t j = 0; j < classes; ++j) g[j] = c * g[j] - gscale * t[j];
    }
    return loss;
}
