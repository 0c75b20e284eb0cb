// The normalisation kernels of kernel_table.h in plain loops: the readable specification
// the SIMD sets (simd/norms.h) follow. Every sum runs in index order (rows in order for the
// column sums), so a result depends only on its inputs, never on how the core splits work.
// No include guard, no #include and no namespace: generic.cpp includes it inside its own
// anonymous namespace.

template <class T>
void layer_norm_row(const T* x, const T* w, const T* b, T eps, T* y, T* mean_out,
                    T* rstd_out, index_t n) noexcept {
    T s = T(0);
    for (index_t j = 0; j < n; ++j) s += x[j];
    const T mean = s / T(n);
    T q = T(0);
    for (index_t j = 0; j < n; ++j) {
        const T d = x[j] - mean;
        q += d * d;
    }
    const T rstd = T(1) / std::sqrt(q / T(n) + eps);
    for (index_t j = 0; j < n; ++j) {
        T v = (x[j] - mean) * rstd;
        if (w) v = v * w[j];
        if (b) v = v + b[j];
        y[j] = v;
    }
    *mean_out = mean;
    *rstd_out = rstd;
}

template <class T>
void layer_norm_row_backward(const T* x, T mean, T rstd, const T* w, const T* gy, T* gx,
                             index_t n) noexcept {
    T sg = T(0), sgx = T(0);
    for (index_t j = 0; j < n; ++j) {
        const T g = w ? gy[j] * w[j] : gy[j];
        sg += g;
        sgx += g * ((x[j] - mean) * rstd);
    }
    const T mg = sg / T(n), mgx = sgx / T(n);
    for (index_t j = 0; j < n; ++j) {
        const T g = w ? gy[j] * w[j] : gy[j];
        const T xh = (x[j] - mean) * rstd;
        gx[j] = rstd * ((g - mg) - xh * mgx);
    }
}

template <class T>
void layer_norm_param_grads(const T* x, const T* gy, index_t ld, index_t rows, index_t n,
                            const T* mean, const T* rstd, T* gw, T* gb) noexcept {
    for (index_t j = 0; j < n; ++j) gw[j] = gb[j] = T(0);
    for (index_t i = 0; i < rows; ++i) {
        const T* xi = x + i * ld;
        const T* gi = gy + i * ld;
        for (index_t j = 0; j < n; ++j) {
            gw[j] += gi[j] * ((xi[j] - mean[i]) * rstd[i]);
            gb[j] += gi[j];
        }
    }
}

template <class T>
void batch_norm_stats(const T* x, index_t ld, index_t rows, index_t n, T* mean,
                      T* m2) noexcept {
    for (index_t j = 0; j < n; ++j) mean[j] = m2[j] = T(0);
    for (index_t i = 0; i < rows; ++i) {
        for (index_t j = 0; j < n; ++j) mean[j] += x[i * ld + j];
    }
    for (index_t j = 0; j < n; ++j) mean[j] = mean[j] / T(rows);
    for (index_t i = 0; i < rows; ++i) {
        for (index_t j = 0; j < n; ++j) {
            const T d = x[i * ld + j] - mean[j];
            m2[j] += d * d;
        }
    }
}

template <class T>
void batch_norm_apply(const T* x, T* y, index_t ld, index_t rows, index_t n, const T* m,
                      const T* s, const T* c) noexcept {
    for (index_t i = 0; i < rows; ++i) {
        for (index_t j = 0; j < n; ++j) y[i * ld + j] = (x[i * ld + j] - m[j]) * s[j] + c[j];
    }
}

template <class T>
void batch_norm_grad_sums(const T* x, const T* gy, index_t ld, index_t rows, index_t n,
                          const T* m, T* sg, T* sgd) noexcept {
    for (index_t j = 0; j < n; ++j) sg[j] = sgd[j] = T(0);
    for (index_t i = 0; i < rows; ++i) {
        for (index_t j = 0; j < n; ++j) {
            const T g = gy[i * ld + j];
            sg[j] += g;
            sgd[j] += g * (x[i * ld + j] - m[j]);
        }
    }
}

template <class T>
void batch_norm_backward_apply(const T* x, const T* gy, T* gx, index_t ld, index_t rows,
                               index_t n, const T* m, const T* k, const T* a,
                               const T* b) noexcept {
    for (index_t i = 0; i < rows; ++i) {
        for (index_t j = 0; j < n; ++j) {
            const index_t p = i * ld + j;
            gx[p] = k[j] * ((gy[p] - a[j]) - (x[p] - m[j]) * b[j]);
        }
    }
}

// The table entries above, for generic's make_set.
template <class T>
void set_norm_kernels(KernelSet<T>& k) noexcept {
    k.layer_norm_row = &layer_norm_row<T>;
    k.layer_norm_row_backward = &layer_norm_row_backward<T>;
    k.layer_norm_param_grads = &layer_norm_param_grads<T>;
    k.batch_norm_stats = &batch_norm_stats<T>;
    k.batch_norm_apply = &batch_norm_apply<T>;
    k.batch_norm_grad_sums = &batch_norm_grad_sums<T>;
    k.batch_norm_backward_apply = &batch_norm_backward_apply<T>;
}
