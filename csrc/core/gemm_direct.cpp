#include "core/gemm_direct.h"

#include "core/dispatch.h"

#if defined(__GNUC__)
#define NNCORE_DIRECT_INLINE inline __attribute__((always_inline))
#else
#define NNCORE_DIRECT_INLINE inline
#endif

namespace nncore {

namespace {

// Rows of c, four columns at a time with their sums in registers (then one column at a
// time): every c(i, j) is still 0 + a(i, 0) * b(0, j) + ... in p order, then + bias[j],
// so the blocking changes no bit. UnitB: b's columns adjacent (bcs == 1), which lets
// the compiler run the four sums in one vector (a packed multiply, then a packed add:
// the same roundings as four scalar ones).
template <class T, bool UnitB>
NNCORE_DIRECT_INLINE void direct_rows(const T* __restrict a, index_t ars, index_t acs,
                                      const T* __restrict b, index_t brs, index_t bcs_,
                                      T* __restrict c, index_t ldc, index_t M, index_t N,
                                      index_t K, const T* __restrict bias) noexcept {
    const index_t bcs = UnitB ? 1 : bcs_;
    for (index_t i = 0; i < M; ++i) {
        T* row = c + i * ldc;
        const T* ai = a + i * ars;
        index_t j = 0;
        for (; j + 4 <= N; j += 4) {
            const T* bj = b + j * bcs;
            T c0 = T(0), c1 = T(0), c2 = T(0), c3 = T(0);
            for (index_t p = 0; p < K; ++p) {
                const T ap = ai[p * acs];
                const T* bp = bj + p * brs;
                c0 += ap * bp[0];
                c1 += ap * bp[bcs];
                c2 += ap * bp[2 * bcs];
                c3 += ap * bp[3 * bcs];
            }
            if (bias) {
                c0 += bias[j];
                c1 += bias[j + 1];
                c2 += bias[j + 2];
                c3 += bias[j + 3];
            }
            row[j] = c0;
            row[j + 1] = c1;
            row[j + 2] = c2;
            row[j + 3] = c3;
        }
        for (; j < N; ++j) {
            const T* bj = b + j * bcs;
            T acc = T(0);
            for (index_t p = 0; p < K; ++p) acc += ai[p * acs] * bj[p * brs];
            row[j] = bias ? acc + bias[j] : acc;
        }
    }
}

// The first N16 (a multiple of 16) columns of c when b's columns are adjacent: sixteen
// at a time (four vectors of sums), the same sums as direct_rows. Apart from
// direct_rows so that its registers do not weigh on the narrow products' loops.
template <class T>
#if defined(__GNUC__)
__attribute__((noinline))
#endif
void direct_cols16(const T* __restrict a, index_t ars, index_t acs, const T* __restrict b,
                   index_t brs, T* __restrict c, index_t ldc, index_t M, index_t N16,
                   index_t K, const T* __restrict bias) noexcept {
    for (index_t i = 0; i < M; ++i) {
        T* row = c + i * ldc;
        const T* ai = a + i * ars;
        for (index_t j = 0; j < N16; j += 16) {
            const T* bj = b + j;
            T acc[16];
            for (int u = 0; u < 16; ++u) acc[u] = T(0);
            for (index_t p = 0; p < K; ++p) {
                const T ap = ai[p * acs];
                const T* bp = bj + p * brs;
                for (int u = 0; u < 16; ++u) acc[u] += ap * bp[u];
            }
            if (bias) {
                for (int u = 0; u < 16; ++u) acc[u] += bias[j + u];
            }
            for (int u = 0; u < 16; ++u) row[j + u] = acc[u];
        }
    }
}

}  // namespace

template <class T>
void direct_mul(const T* a, index_t ars, index_t acs, const T* b, index_t brs, index_t bcs,
                T* c, index_t ldc, index_t M, index_t N, index_t K, const T* bias) noexcept {
    if (bcs == 1) {
        const index_t n16 = N / 16 * 16;
        if (n16 > 0) direct_cols16(a, ars, acs, b, brs, c, ldc, M, n16, K, bias);
        if (n16 < N) {
            direct_rows<T, true>(a, ars, acs, b + n16, brs, bcs, c + n16, ldc, M, N - n16, K,
                                 bias ? bias + n16 : nullptr);
        }
    }
    else direct_rows<T, false>(a, ars, acs, b, brs, bcs, c, ldc, M, N, K, bias);
}

template <class T>
void gemm_direct(MatView<const T> a, MatView<const T> b, MatView<T> c, const GemmEpilogue<T>& ep) {
    const index_t M = c.rows, N = c.cols, K = a.cols;
    direct_mul(a.data, a.rs, a.cs, b.data, b.rs, b.cs, c.data, c.rs, M, N, K, ep.bias);
    if (ep.z) {
        for (index_t i = 0; i < M; ++i) {
            for (index_t j = 0; j < N; ++j) ep.z[i * ep.ldz + j] = c.data[i * c.rs + j];
        }
    }
    if (ep.act != kernels::Act::identity) {
        const auto& k = kernel_set<T>();
        if (c.rs == N) {
            k.activation(ep.act, c.data, c.data, M * N, ep.slope, false);  // one contiguous pass
        } else {
            for (index_t i = 0; i < M; ++i)
                k.activation(ep.act, c.data + i * c.rs, c.data + i * c.rs, N, ep.slope, false);
        }
    }
    if (ep.block_done && M > 0 && N > 0) ep.block_done(ep.block_ctx, 0, M, 0, N);  // one block
}

template void direct_mul<float>(const float*, index_t, index_t, const float*, index_t, index_t,
                                float*, index_t, index_t, index_t, index_t,
                                const float*) noexcept;
template void direct_mul<double>(const double*, index_t, index_t, const double*, index_t,
                                 index_t, double*, index_t, index_t, index_t, index_t,
                                 const double*) noexcept;
template void gemm_direct<float>(MatView<const float>, MatView<const float>, MatView<float>,
                                 const GemmEpilogue<float>&);
template void gemm_direct<double>(MatView<const double>, MatView<const double>, MatView<double>,
                                  const GemmEpilogue<double>&);

}  // namespace nncore
