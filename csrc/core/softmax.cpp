#include "core/softmax.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "core/workspace.h"

namespace nncore {
namespace {

// One contiguous row of length n.
template <class T>
void softmax_row(const T* x, T* y, index_t n, bool log) noexcept {
    const auto& k = kernel_set<T>();
    const T m = k.max(x, n);
    if (log) {
        const T s = k.exp_shift_sum(x, m, nullptr, n);
        k.scale_add(x, T(1), -(m + std::log(s)), y, n);
    } else {
        const T s = k.exp_shift_sum(x, m, y, n);
        k.scale_add(y, T(1) / s, T(0), y, n);
    }
}

// Runs f(row_in..., row_out, tmp) over every (outer, inner) line; lines with inner > 1
// are gathered into contiguous per-thread buffers and scattered back.
template <class T, class F>
void for_lines(AxisShape s, int n_in, const T* const* in, T* out, int nthreads, const F& f) {
    const index_t lines = s.outer * s.inner;
    const int nt = std::min(nthreads, threads_for(double(lines) * double(s.len) * 10.0));
    if (s.inner == 1) {
        // Temporary row buffer for each thread, reserved before threads start.
        T* tmp = Workspace::local().get<T>(Slot::row, static_cast<std::size_t>(s.len * nt));
        parallel_for(s.outer, nt, [&](index_t o) {
            const T* rows[3] = {nullptr, nullptr, nullptr};
            for (int a = 0; a < n_in; ++a) rows[a] = in[a] + o * s.len;
            f(rows, out + o * s.len, tmp + thread_id() * s.len);
        });
        return;
    }
    // Per thread: n_in input lines, one output line, one temporary.
    const index_t per = s.len * (n_in + 2);
    T* buf = Workspace::local().get<T>(Slot::row, static_cast<std::size_t>(per * nt));
    parallel_for(lines, nt, [&](index_t line) {
        const index_t o = line / s.inner, i = line % s.inner;
        const index_t base = o * s.len * s.inner + i;
        T* mine = buf + thread_id() * per;
        const T* rows[3] = {nullptr, nullptr, nullptr};
        for (int a = 0; a < n_in; ++a) {
            T* r = mine + a * s.len;
            for (index_t l = 0; l < s.len; ++l) r[l] = in[a][base + l * s.inner];
            rows[a] = r;
        }
        T* r_out = mine + n_in * s.len;
        f(rows, r_out, mine + (n_in + 1) * s.len);
        for (index_t l = 0; l < s.len; ++l) out[base + l * s.inner] = r_out[l];
    });
}

}  // namespace

template <class T>
void softmax(const T* x, T* y, AxisShape s, bool log, int nthreads) {
    if (s.len == 0 || s.outer == 0 || s.inner == 0) return;
    const T* in[1] = {x};
    for_lines<T>(s, 1, in, y, nthreads, [&](const T* const* rows, T* o, T*) {
        softmax_row(rows[0], o, s.len, log);
    });
}

template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, AxisShape s, bool log, int nthreads) {
    if (s.len == 0 || s.outer == 0 || s.inner == 0) return;
    const T* in[2] = {y, gy};
    const auto& k = kernel_set<T>();
    for_lines<T>(s, 2, in, gx, nthreads, [&](const T* const* rows, T* o, T*) {
        k.softmax_backward(rows[0], rows[1], o, s.len, log);
    });
}

template void softmax<float>(const float*, float*, AxisShape, bool, int);
template void softmax<double>(const double*, double*, AxisShape, bool, int);
template void softmax_backward<float>(const float*, const float*, float*, AxisShape, bool, int);
template void softmax_backward<double>(const double*, const double*, double*, AxisShape, bool,
                                       int);

}  // namespace nncore
