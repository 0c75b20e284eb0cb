#!/usr/bin/env bash
# Build nncore with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan and
# run the test suite against that build (the ASan runtime preloaded into Python).
# Any sanitizer report aborts the process, which fails the run.
#
#   bash scripts/sanitize.sh                 # whole suite
#   bash scripts/sanitize.sh tests/native    # a part of it (arguments go to pytest)
#
# Needs a C++ compiler with the sanitizer runtimes (GCC's libasan/libubsan) and, in the
# current Python, cmake, ninja, pybind11 (installed here if missing), numpy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
BUILD=build/asan
PKG=$BUILD/pkg

"$PY" -m pip install --quiet cmake ninja pybind11 >/dev/null
PYBIND11_DIR=$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')
CMAKE=$("$PY" -c 'import cmake, os; print(os.path.join(cmake.CMAKE_BIN_DIR, "cmake"))')
NINJA_DIR=$("$PY" -c 'import ninja, os; print(ninja.BIN_DIR)')
export PATH="$NINJA_DIR:$PATH"

# The sanitized build compiles at -O1 (CMakeLists.txt says why).
"$CMAKE" -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DNNCORE_SANITIZE=address,undefined -Dpybind11_DIR="$PYBIND11_DIR" \
    -DPython_EXECUTABLE="$(command -v "$PY")" >/dev/null
"$CMAKE" --build "$BUILD"

# A package tree of its own: the sanitized module never replaces another build.
rm -rf "$PKG"
mkdir -p "$PKG/nncore"
cp -r python/nncore/. "$PKG/nncore/"
rm -f "$PKG"/nncore/_core*.so
cp "$BUILD"/_core*.so "$PKG/nncore/"

LIBASAN=$(${CXX:-g++} -print-file-name=libasan.so)
# libstdc++ too: Python is not linked to it, and ASan must see its __cxa_throw at start-up.
LIBSTDCXX=$(${CXX:-g++} -print-file-name=libstdc++.so)
export LD_PRELOAD="$LIBASAN $LIBSTDCXX"
# Python's own allocations are never freed at exit: leak reports would be noise.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:detect_odr_violation=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PYTHONPATH="$PWD/$PKG${PYTHONPATH:+:$PYTHONPATH}"

"$PY" -c 'import nncore, sys; assert "build/asan" in nncore.__file__, nncore.__file__; print("sanitized nncore:", nncore.__file__, nncore.config()["isa"])'
# The RSS-based leak test is left to the normal run: ASan's quarantine keeps freed
# memory resident on purpose (to catch use-after-free), so RSS growth means nothing here.
# The default run covers every test that drives native code directly; tests/ecosystem
# (scikit-learn's estimator checks, ONNX, PyTorch), tests/distributed (mpiexec
# subprocesses) and the benchmark smoke runs (subprocesses, PyTorch when installed) are
# Python built on the same native calls, and slow under ASan: pass them to include them.
if [ "$#" -eq 0 ]; then
    set -- tests --ignore=tests/ecosystem --ignore=tests/distributed \
        --ignore=tests/test_bench.py --ignore=tests/package/test_bench_cli.py \
        --deselect tests/reliability/test_resources.py::test_no_leaks_over_100000_calls
fi
"$PY" -m pytest -q -p no:cacheprovider "$@"
