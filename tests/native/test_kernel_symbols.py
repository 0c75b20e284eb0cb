"""Kernel sets stay apart: each set's objects export only nncore::kernels::<set>::table().

The check itself runs in every build (cmake/NncoreKernelSymbols.cmake: the build fails
naming the symbol). These tests show that it can fail, on a leak made with the real
shared header ce_row.h, that it passes the pattern the kernel sets use, and that the
project wires every kernel set into it. They need cmake (in the test extra) and a C++
compiler with nm (the same ones that build nncore); a missing tool is a failure, not a
skip.
"""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
if not (ROOT / "cmake" / "NncoreKernelSymbols.cmake").is_file():  # pragma: no cover
    pytest.fail(f"cmake/NncoreKernelSymbols.cmake not found under {ROOT}", pytrace=False)


def cmake_exe():
    try:
        import cmake  # the PyPI package (test extra) puts its binary beside the module
        exe = pathlib.Path(cmake.CMAKE_BIN_DIR) / "cmake"
        if exe.is_file():
            return str(exe)
    except ImportError:
        pass
    exe = shutil.which("cmake")
    if exe is None:
        pytest.fail("cmake not found: install the test extra (pip install '.[test]')",
                    pytrace=False)
    return exe


def generator_args():
    try:
        import ninja
        return ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={pathlib.Path(ninja.BIN_DIR) / 'ninja'}"]
    except ImportError:
        return []


def run(args, cwd=None):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


# A kernel set as the real ones are written: shared header inside the set's anonymous
# namespace, one exported table(). LEAK puts the header in the named namespace, as
# ce_row.h and pack_impl.h were before: ce_row<float> is then a weak global symbol.
SET_SOURCE = r"""
#include <cmath>
#include <cstdint>
#include "kernels/kernel_table.h"
{before}
namespace nncore::kernels::{name} {{
namespace {{
{inside}
// Its address is taken, as a table entry's is: the instantiation is emitted out of line.
float (*const row)(const float*, std::int64_t, index_t, float, float*) noexcept = &ce_row<float>;
}}  // namespace
const KernelTable& table() noexcept {{
    static KernelTable t;
    static const float x[3] = {{1, 2, 3}};
    float (*volatile f)(const float*, std::int64_t, index_t, float, float*) noexcept = row;
    t.name = f(x, 0, 3, 1.0f, nullptr) > 0 ? "{name}" : "";
    return t;
}}
}}  // namespace nncore::kernels::{name}
"""

PROJECT = """
cmake_minimum_required(VERSION 3.18)
project(symcheck LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
include({module})
add_library(nncore_kernels_{name} OBJECT set.cpp)
target_include_directories(nncore_kernels_{name} PRIVATE {csrc})
nncore_check_kernel_symbols(check SETS {name})
"""


def build_set(tmp_path, name, leak):
    header = '#include "kernels/ce_row.h"'
    if leak:
        before = "namespace nncore::kernels {\n" + header + "\n}"
        inside = ""
    else:
        before, inside = "", header
    src = tmp_path / "src"
    src.mkdir()
    (src / "set.cpp").write_text(SET_SOURCE.format(name=name, before=before, inside=inside))
    (src / "CMakeLists.txt").write_text(PROJECT.format(
        name=name, module=(ROOT / "cmake" / "NncoreKernelSymbols.cmake").as_posix(),
        csrc=(ROOT / "csrc").as_posix()))
    cmake = cmake_exe()
    build = tmp_path / "build"
    # Release, as nncore builds: at -O0 even std::exp(float) is a weak out-of-line copy.
    conf = run([cmake, "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                *generator_args()])
    assert conf.returncode == 0, conf.stdout + conf.stderr
    return run([cmake, "--build", str(build)])


def test_check_fails_on_a_shared_header_outside_the_anonymous_namespace(tmp_path):
    proc = build_set(tmp_path, "leaky", leak=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "must export only" in out and "ce_row" in out, out


def test_check_passes_the_kernel_set_pattern(tmp_path):
    proc = build_set(tmp_path, "tidy", leak=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kernel objects export only table()" in (tmp_path / "build" / "check.ok").read_text()


def test_every_kernel_set_is_checked_before_the_core_links(tmp_path):
    """Configure the project (kernels only) and read the build plan: the check depends on
    every kernel set's objects, so a leaking set fails the build."""
    cmake = cmake_exe()
    build = tmp_path / "build"
    gen = generator_args()
    if not gen:
        pytest.fail("ninja not found: install the test extra (pip install '.[test]')",
                    pytrace=False)
    conf = run([cmake, "-S", str(ROOT), "-B", str(build), "-DNNCORE_KERNELS_ONLY=ON", *gen])
    assert conf.returncode == 0, conf.stdout + conf.stderr
    plan = (build / "build.ninja").read_text()
    check = [line for line in plan.splitlines() if "check_kernel_symbols.cmake" in line]
    assert check, "no kernel symbol check in the build"
    sets = ["generic"]
    if any(m in os.uname().machine for m in ("x86_64", "AMD64", "amd64")):
        sets += ["avx2", "avx512"]
    for name in sets:
        assert any(f"-DOBJECTS_{name}=" in line and f"{name}.cpp" in line for line in check), \
            (name, check)
