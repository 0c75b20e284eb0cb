// Non-owning views of arrays: a pointer, sizes and element strides. The core works on
// these; it never sees a Python object.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nncore {

using index_t = std::int64_t;

// A rows x cols matrix: element (i, j) lives at data[i * rs + j * cs]. Strides are in
// elements and may be anything the caller vouches for (the bindings pass only
// positive strides; transposes are views with swapped strides).
template <class T>
struct MatView {
    T* data = nullptr;
    index_t rows = 0, cols = 0;
    index_t rs = 0, cs = 1;

    T& operator()(index_t i, index_t j) const noexcept { return data[i * rs + j * cs]; }
    MatView<T> t() const noexcept { return {data, cols, rows, cs, rs}; }
    bool row_major() const noexcept { return cs == 1 && (rs == cols || rows <= 1); }
    operator MatView<const T>() const noexcept { return {data, rows, cols, rs, cs}; }
};

// A dense C-contiguous row-major matrix.
template <class T>
MatView<T> row_major(T* data, index_t rows, index_t cols) noexcept {
    return {data, rows, cols, cols, 1};
}

}  // namespace nncore
