// Bindings of the runtime: threads, config(), the FMA peak probe.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/families.h"
#include "core/build_info.h"
#include "core/check.h"
#include "core/dispatch.h"
#include "core/enums.h"
#include "core/parallel.h"
#include "core/peak.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace nncore::bindings {
namespace {

// -------------------------------------------------------------------------- runtime

void set_threads(py::handle n) {
    if (!py::isinstance<py::int_>(n) || py::isinstance<py::bool_>(n)) {
        type_error("set_num_threads: n must be an int; got " + type_name(n));
    }
    const auto v = n.cast<long long>();
    NNCORE_CHECK(v >= 1 && v <= 4096, "set_num_threads: n must be between 1 and 4096; got ", v);
    set_num_threads(static_cast<int>(v));
}

py::dict config() {
    const Dispatch& d = dispatch();
    py::dict c;
    c["version"] = nncore::version();
    c["compiler"] = nncore::compiler();
    c["openmp"] = openmp_enabled();
    c["max_threads"] = max_threads();
    c["num_threads"] = get_num_threads();
    c["cpu_features"] = d.cpu_features;
    c["isa"] = d.table->name;
    c["isa_supported"] = d.supported;
    c["isa_compiled"] = d.compiled;
    c["isa_requested"] = d.requested.empty() ? py::object(py::none()) : py::str(d.requested);
    auto blocks = [](const BlockSizes& b) {
        py::dict r;
        r["MR"] = b.mr; r["NR"] = b.nr; r["MC"] = b.mc; r["KC"] = b.kc; r["NC"] = b.nc;
        r["KC_PACKED"] = b.kc_packed;
        return r;
    };
    c["gemm_blocks"] = py::dict("float32"_a = blocks(d.f32), "float64"_a = blocks(d.f64));
    py::dict caches;
    caches["L1d"] = d.l1d; caches["L2"] = d.l2; caches["L3"] = d.l3;
    c["caches"] = caches;
    return c;
}

// The active kernel set's pack_a ("a") or pack_b ("b") of src (flat, element strides rs,
// cs; m rows of A or n columns of B, kc deep) into a 64-byte aligned panel, returned as
// kc x mr or kc x nr: for the tests of the packing kernels against NumPy.
template <class T>
py::array_t<T> pack_panel(const py::array_t<T>& src, const std::string& which, long long rs,
                          long long cs, long long mn, long long kc) {
    const auto& k = kernel_set<T>();
    const bool a = which == "a";
    NNCORE_CHECK(a || which == "b", "_pack_panel: which must be 'a' or 'b'; got '", which, "'");
    const long long r = a ? k.mr : k.nr;
    NNCORE_CHECK(src.ndim() == 1 && (src.flags() & py::array::c_style),
                 "_pack_panel: src must be a contiguous 1-d array");
    NNCORE_CHECK(rs >= 0 && cs >= 0 && mn >= 1 && mn <= r && kc >= 1,
                 "_pack_panel: need rs, cs >= 0, 1 <= m/n <= ", r, ", kc >= 1");
    const long long last = a ? (mn - 1) * rs + (kc - 1) * cs : (kc - 1) * rs + (mn - 1) * cs;
    NNCORE_CHECK(last < static_cast<long long>(src.size()),
                 "_pack_panel: the strides reach element ", last, " of ", src.size());
    const std::size_t count = static_cast<std::size_t>(kc * r);
    std::vector<T> buf(count + 64 / sizeof(T));
    T* dst = buf.data();
    while (reinterpret_cast<std::uintptr_t>(dst) % 64 != 0) ++dst;
    if (a) k.pack_a(src.data(), rs, cs, mn, kc, dst);
    else k.pack_b(src.data(), rs, cs, kc, mn, dst);
    py::array_t<T> out({static_cast<py::ssize_t>(kc), static_cast<py::ssize_t>(r)});
    std::copy(dst, dst + count, out.mutable_data());
    return out;
}

// The active kernel set's tiles over a column strip of C = op(a @ b) (a: m x kc, b:
// kc x n with n <= nr, c: m x n, all C-contiguous): A packed by pack_a into row panels,
// B packed by pack_b (ldb = nr) or read in place (in_place: ldb = n, a whole panel or
// whole vectors), then one gemm_tiles call (sweep) or one gemm_tile call per row panel,
// with the epilogue's accumulate / last / bias / act / slope and the pre-activation into
// z when given (m x n). c (and z) are written in place: for the tests of gemm_tiles
// against the per-tile calls.
template <class T>
void tile_strip(const py::array_t<T>& a, const py::array_t<T>& b, py::array_t<T>& c,
                py::object bias, py::object z, const std::string& act, double slope,
                bool accumulate, bool last, bool in_place, bool sweep, const std::string& a_mode) {
    const auto& k = kernel_set<T>();
    const auto flags = py::array::c_style;
    NNCORE_CHECK(a.ndim() == 2 && b.ndim() == 2 && c.ndim() == 2 && (a.flags() & flags) &&
                     (b.flags() & flags) && (c.flags() & flags),
                 "_tile_strip: a, b, c must be C-contiguous 2-d arrays");
    const long long m = a.shape(0), kc = a.shape(1), n = b.shape(1);
    NNCORE_CHECK(m >= 1 && kc >= 1 && n >= 1 && n <= k.nr && b.shape(0) == kc &&
                     c.shape(0) == m && c.shape(1) == n,
                 "_tile_strip: need a (m, kc), b (kc, n <= ", k.nr, "), c (m, n)");
    NNCORE_CHECK(!in_place || n == k.nr || (k.nr_part > 0 && n % k.nr_part == 0),
                 "_tile_strip: in place needs n = nr or a multiple of nr_part");
    const long long mr = k.mr, panels = (m + mr - 1) / mr;
    std::vector<T> buf(static_cast<std::size_t>(panels * mr * kc + kc * k.nr) + 128 / sizeof(T));
    T* apack = buf.data();
    while (reinterpret_cast<std::uintptr_t>(apack) % 64 != 0) ++apack;
    T* bpack = apack + panels * mr * kc;
    for (long long i0 = 0; i0 < m; i0 += mr) {
        k.pack_a(a.data() + i0 * kc, kc, 1, std::min(mr, m - i0), kc, apack + i0 * kc);
    }
    const T* bp = b.data();
    long long ldb = n;
    if (!in_place) {
        k.pack_b(b.data(), n, 1, kc, n, bpack);
        bp = bpack;
        ldb = k.nr;
    }
    kernels::TileEpilogue<T> ep;
    ep.accumulate = accumulate;
    ep.last = last;
    ep.act = parse_activation(act, "_tile_strip");
    ep.slope = static_cast<T>(slope);
    py::array_t<T> bias_arr, z_arr;
    if (!bias.is_none()) {
        bias_arr = bias.cast<py::array_t<T>>();
        NNCORE_CHECK(bias_arr.ndim() == 1 && bias_arr.shape(0) == n, "_tile_strip: bias (n,)");
        ep.bias = bias_arr.data();
    }
    if (!z.is_none()) {
        z_arr = z.cast<py::array_t<T>>();
        NNCORE_CHECK(z_arr.ndim() == 2 && z_arr.shape(0) == m && z_arr.shape(1) == n &&
                         (z_arr.flags() & flags),
                     "_tile_strip: z (m, n) C-contiguous");
        ep.z = z_arr.mutable_data();
        ep.ldz = n;
    }
    T* cp = c.mutable_data();
    if (sweep) {
        // A packed, or read in place from a (row-major) or from a column-major copy
        NNCORE_CHECK(a_mode == "packed" || a_mode == "rows" || a_mode == "cols",
                     "_tile_strip: a_mode must be 'packed', 'rows' or 'cols'");
        std::vector<T> at;
        const T* ap = apack;
        long long rs = 0, cs = 0;
        if (a_mode == "rows") {
            ap = a.data();
            rs = kc;
            cs = 1;
        } else if (a_mode == "cols") {
            at.resize(static_cast<std::size_t>(m * kc));
            for (long long i = 0; i < m; ++i)
                for (long long p = 0; p < kc; ++p) at[p * m + i] = a.data()[i * kc + p];
            ap = at.data();
            rs = 1;
            cs = m;
        }
        k.gemm_tiles(m, n, kc, ap, rs, cs, bp, ldb, cp, n, ep);
        return;
    }
    T* z0 = ep.z;
    for (long long i0 = 0; i0 < m; i0 += mr) {
        if (z0) ep.z = z0 + i0 * n;
        k.gemm_tile(std::min(mr, m - i0), n, kc, apack + i0 * kc, bp, ldb, cp + i0 * n, n, ep);
    }
}

}  // namespace

void register_runtime(py::module_& m) {
    m.def("set_num_threads", &set_threads, "n"_a,
          "Threads for the native kernels from now on (1 to 4096).");
    m.def("get_num_threads", &nncore::get_num_threads, "Threads the native kernels use.");
    m.def("config", &config,
          "Build and run-time facts: version, compiler, threads, CPU features, kernel set.");
    m.def("_fma_peak_gflops", [](int bits, int nthreads, double seconds) {
        NNCORE_CHECK(bits == 32 || bits == 64, "_fma_peak_gflops: bits must be 32 or 64");
        NNCORE_CHECK(nthreads >= 1, "_fma_peak_gflops: nthreads must be >= 1");
        py::gil_scoped_release nogil;
        return nncore::fma_peak_gflops(bits == 32, nthreads, seconds);
    }, "bits"_a, "nthreads"_a, "seconds"_a = 0.2,
       "Measured peak GFLOP/s of the active kernel set (for benchmarks).");
    m.def("_pack_panel", &pack_panel<float>, "src"_a.noconvert(), "which"_a, "rs"_a, "cs"_a,
          "mn"_a, "kc"_a, "The active kernel set's GEMM packing (for tests).");
    m.def("_pack_panel", &pack_panel<double>, "src"_a.noconvert(), "which"_a, "rs"_a, "cs"_a,
          "mn"_a, "kc"_a);
    m.def("_tile_strip", &tile_strip<float>, "a"_a.noconvert(), "b"_a.noconvert(),
          "c"_a.noconvert(), "bias"_a, "z"_a, "act"_a, "slope"_a, "accumulate"_a, "last"_a,
          "in_place"_a, "sweep"_a, "a_mode"_a = "packed",
          "The active kernel set's tiles over a column strip, swept or per tile (for tests).");
    m.def("_tile_strip", &tile_strip<double>, "a"_a.noconvert(), "b"_a.noconvert(),
          "c"_a.noconvert(), "bias"_a, "z"_a, "act"_a, "slope"_a, "accumulate"_a, "last"_a,
          "in_place"_a, "sweep"_a, "a_mode"_a = "packed");
}

}  // namespace nncore::bindings
