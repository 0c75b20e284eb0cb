#!/usr/bin/env bash
# nncore's two builds of the parallel layer side by side on this machine (issue 21): the
# pool (the nncore installed in the current Python, built from this checkout) and OpenMP
# (built here, from this checkout, into build/omp/site), each in turn, twice:
# bench/interference.py (nncore next to NumPy and PyTorch, target <= 1.3x both ways) and
# the 2-thread training rows of python -m nncore bench (with JAX's scan as the same-run
# reference when it imports). OpenMP runs twice per round: with the runtime's default
# wait policy and with OMP_WAIT_POLICY=passive (which PyTorch's own OpenMP reads too).
#
#   bash bench/builds.sh                     # about 30 minutes on 2 quiet cores
#   WORKLOADS=tabular_20-64-64-1 REPEATS=5 bash bench/builds.sh
#   PYTHON=/path/to/venv/bin/python REBUILD=1 bash bench/builds.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python}
SITE=build/omp/site
WORKLOADS=${WORKLOADS:-xor_2-4-1,tabular_20-64-64-1,mnist_784-256-128-10,wide_1024-1024-1024-10}
REPEATS=${REPEATS:-9}
if [ ! -d "$SITE/nncore" ] || [ -n "${REBUILD:-}" ]; then
    "$PY" -m pip install --quiet --no-deps --no-build-isolation --upgrade --target "$SITE" \
        -Cbuild-dir=build/omp -Ccmake.define.NNCORE_OPENMP=ON .
fi

builds=("pool|env -u PYTHONPATH"
        "openmp|env PYTHONPATH=$SITE"
        "openmp, OMP_WAIT_POLICY=passive|env PYTHONPATH=$SITE OMP_WAIT_POLICY=passive")
for round in 1 2; do
    for b in "${builds[@]}"; do
        label=${b%%|*}
        read -r -a prefix <<< "${b#*|}"
        echo "=== round $round, $label: interference"
        "${prefix[@]}" "$PY" bench/interference.py --repeats "$REPEATS"
        echo "=== round $round, $label: 2-thread training rows"
        "${prefix[@]}" "$PY" -m nncore bench --no-kernels --threads 2 --workloads "$WORKLOADS" \
            --impls "JAX scan" --repeats 5
    done
done
