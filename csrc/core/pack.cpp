#include "core/pack.h"

#include <cstring>

namespace nncore {

template <class T>
void pack_a_panel(MatView<const T> a, index_t m, index_t kc, int mr, T* dst) noexcept {
    if (a.rs == 1) {
        // Column-major A (a transposed row-major operand): each column is contiguous.
        for (index_t p = 0; p < kc; ++p) {
            const T* src = a.data + p * a.cs;
            T* d = dst + p * mr;
            index_t i = 0;
            for (; i < m; ++i) d[i] = src[i];
            for (; i < mr; ++i) d[i] = T(0);
        }
        return;
    }
    for (index_t i = 0; i < m; ++i) {
        const T* src = a.data + i * a.rs;
        T* d = dst + i;
        if (a.cs == 1) {
            for (index_t p = 0; p < kc; ++p) d[p * mr] = src[p];
        } else {
            for (index_t p = 0; p < kc; ++p) d[p * mr] = src[p * a.cs];
        }
    }
    for (index_t i = m; i < mr; ++i) {
        for (index_t p = 0; p < kc; ++p) dst[p * mr + i] = T(0);
    }
}

template <class T>
void pack_b_panel(MatView<const T> b, index_t kc, index_t n, int nr, T* dst) noexcept {
    if (b.cs == 1) {
        // Row-major B: each row of the panel is a contiguous run.
        for (index_t p = 0; p < kc; ++p) {
            T* d = dst + p * nr;
            std::memcpy(d, b.data + p * b.rs, static_cast<std::size_t>(n) * sizeof(T));
            for (index_t j = n; j < nr; ++j) d[j] = T(0);
        }
        return;
    }
    for (index_t j = 0; j < n; ++j) {
        const T* src = b.data + j * b.cs;
        T* d = dst + j;
        if (b.rs == 1) {
            for (index_t p = 0; p < kc; ++p) d[p * nr] = src[p];
        } else {
            for (index_t p = 0; p < kc; ++p) d[p * nr] = src[p * b.rs];
        }
    }
    for (index_t j = n; j < nr; ++j) {
        for (index_t p = 0; p < kc; ++p) dst[p * nr + j] = T(0);
    }
}

template void pack_a_panel<float>(MatView<const float>, index_t, index_t, int, float*) noexcept;
template void pack_a_panel<double>(MatView<const double>, index_t, index_t, int, double*) noexcept;
template void pack_b_panel<float>(MatView<const float>, index_t, index_t, int, float*) noexcept;
template void pack_b_panel<double>(MatView<const double>, index_t, index_t, int, double*) noexcept;

}  // namespace nncore
