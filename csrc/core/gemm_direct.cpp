#include "core/gemm_direct.h"

#include "core/dispatch.h"

namespace nncore {

// Scalar on purpose: at these sizes (rows and columns of a few elements) vector loops
// set-up and remainder handling cost more than the arithmetic.
template <class T>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
void gemm_direct(MatView<const T> a, MatView<const T> b, MatView<T> c, const GemmEpilogue<T>& ep) {
    const index_t M = c.rows, N = c.cols, K = a.cols;
    const index_t ars = a.rs, acs = a.cs, brs = b.rs, bcs = b.cs;
    for (index_t i = 0; i < M; ++i) {
        T* row = c.data + i * c.rs;
        const T* ai = a.data + i * ars;
        for (index_t j = 0; j < N; ++j) {
            // c(i, j) = sum over p, in p order from zero, of a(i, p) * b(p, j); + bias.
            const T* bj = b.data + j * bcs;
            T acc = T(0);
            for (index_t p = 0; p < K; ++p) acc += ai[p * acs] * bj[p * brs];
            row[j] = ep.bias ? acc + ep.bias[j] : acc;
        }
        if (ep.z) {
            for (index_t j = 0; j < N; ++j) ep.z[i * ep.ldz + j] = row[j];
        }
    }
    if (ep.act == kernels::Act::identity) return;
    const auto& k = kernel_set<T>();
    if (c.rs == N) {
        k.activation(ep.act, c.data, c.data, M * N, ep.slope, false);  // one contiguous pass
    } else {
        for (index_t i = 0; i < M; ++i)
            k.activation(ep.act, c.data + i * c.rs, c.data + i * c.rs, N, ep.slope, false);
    }
}

template void gemm_direct<float>(MatView<const float>, MatView<const float>, MatView<float>,
                                 const GemmEpilogue<float>&);
template void gemm_direct<double>(MatView<const double>, MatView<const double>, MatView<double>,
                                  const GemmEpilogue<double>&);

}  // namespace nncore
