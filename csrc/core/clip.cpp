#include "core/clip.h"

#include <cmath>

#include "core/dispatch.h"

namespace nncore {

template <class T>
void clip_grad_value(T* const* grads, const index_t* sizes, index_t count, double clip_value) {
    const T hi = static_cast<T>(clip_value), lo = static_cast<T>(-clip_value);
    for (index_t a = 0; a < count; ++a) {
        T* g = grads[a];
        for (index_t i = 0; i < sizes[a]; ++i) {
            const T v = g[i] < lo ? lo : g[i];  // NaN compares false: stays NaN
            g[i] = v > hi ? hi : v;
        }
    }
}

template <class T>
double grad_norm(const T* const* grads, const index_t* sizes, index_t count) {
    const auto& k = kernel_set<T>();
    double total = 0.0;
    for (index_t a = 0; a < count; ++a) {
        if (sizes[a] > 0) total += double(k.dot(grads[a], grads[a], sizes[a]));
    }
    return std::sqrt(total);
}

template <class T>
double clip_grad_norm(T* const* grads, const index_t* sizes, index_t count, double max_norm) {
    const double total = grad_norm<T>(const_cast<const T* const*>(grads), sizes, count);
    if (total > max_norm && total > 0) {
        const T scale = static_cast<T>(max_norm / (total + 1e-6));
        for (index_t a = 0; a < count; ++a) {
            T* g = grads[a];
            for (index_t i = 0; i < sizes[a]; ++i) g[i] = g[i] * scale;
        }
    }
    return total;
}

template void clip_grad_value<float>(float* const*, const index_t*, index_t, double);
template void clip_grad_value<double>(double* const*, const index_t*, index_t, double);
template double grad_norm<float>(const float* const*, const index_t*, index_t);
template double grad_norm<double>(const double* const*, const index_t*, index_t);
template double clip_grad_norm<float>(float* const*, const index_t*, index_t, double);
template double clip_grad_norm<double>(double* const*, const index_t*, index_t, double);

}  // namespace nncore
