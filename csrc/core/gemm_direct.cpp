#include "core/gemm_direct.h"

#include "core/dispatch.h"

namespace nncore {

template <class T>
void gemm_direct(MatView<const T> a, MatView<const T> b, MatView<T> c, const GemmEpilogue<T>& ep) {
    const auto& k = kernel_set<T>();
    const index_t M = c.rows, N = c.cols, K = a.cols;
    for (index_t i = 0; i < M; ++i) {
        T* row = c.data + i * c.rs;
        for (index_t j = 0; j < N; ++j) {
            T acc = T(0);
            for (index_t p = 0; p < K; ++p) acc += a(i, p) * b(p, j);
            row[j] = ep.bias ? acc + ep.bias[j] : acc;
        }
        if (ep.act != kernels::Act::identity) k.activation(ep.act, row, row, N, ep.slope, false);
    }
}

template void gemm_direct<float>(MatView<const float>, MatView<const float>, MatView<float>,
                                 const GemmEpilogue<float>&);
template void gemm_direct<double>(MatView<const double>, MatView<const double>, MatView<double>,
                                  const GemmEpilogue<double>&);

}  // namespace nncore
