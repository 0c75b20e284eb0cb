// Per-thread scratch buffers, 64-byte aligned, grown on demand and reused across
// calls: a steady-state call allocates nothing.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace nncore {

// A std::vector allocator whose storage starts on a 64-byte boundary (a cache line and an
// AVX-512 vector), so that a buffer's rows of whole vectors never straddle two lines.
template <class T>
struct CacheAligned {
    using value_type = T;
    CacheAligned() noexcept = default;
    template <class U>
    CacheAligned(const CacheAligned<U>&) noexcept {}
    T* allocate(std::size_t n) {
        return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
    }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(64)); }
    template <class U>
    bool operator==(const CacheAligned<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const CacheAligned<U>&) const noexcept { return false; }
};
template <class T>
using AlignedVector = std::vector<T, CacheAligned<T>>;

enum class Slot : int { pack_a = 0, pack_b = 1, grad_z = 2, row = 3, count = 4 };

class Workspace {
public:
    ~Workspace() {
        for (auto& b : bufs_) std::free(b.ptr);
    }
    // At least `count` elements of T in `slot`; contents are unspecified. Throws
    // std::bad_alloc when memory runs out (never inside a parallel region: callers
    // reserve before they start threads).
    template <class T>
    T* get(Slot slot, std::size_t count) {
        Buf& b = bufs_[static_cast<int>(slot)];
        const std::size_t bytes = ((count * sizeof(T) + 63) / 64) * 64;
        if (bytes > b.bytes) {
            void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
            if (!p) throw std::bad_alloc();
            std::free(b.ptr);
            b.ptr = p;
            b.bytes = bytes;
        }
        return static_cast<T*>(b.ptr);
    }

    // The calling thread's workspace.
    static Workspace& local() {
        thread_local Workspace ws;
        return ws;
    }

private:
    struct Buf {
        void* ptr = nullptr;
        std::size_t bytes = 0;
    };
    Buf bufs_[static_cast<int>(Slot::count)];
};

}  // namespace nncore
