"""The optimiser kernels give every element the same bits wherever a call starts and ends.

The native trainer updates a layer's weights block by block inside the weight-gradient
product (core/gemm.h, GemmEpilogue::block_done): rows of the weights, or rows cut into
column panels, each one kernel call. That is the whole-array update only if an element's
arithmetic does not depend on whether it falls in a call's vector body, its tail, or a
masked tail starting at any alignment. Here each optimiser, with every option, updates an
array in one call and a copy in pieces of random lengths (1 to a few vectors, so that most
elements go through tails), for three steps; param and state must agree bit for bit, under
every kernel set, in float32 and float64. Each kernel set runs in a subprocess."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    import nncore.functional as F

    rng = np.random.default_rng(3)
    N = 1000

    SGD = {"plain": dict(lr=0.1),
           "momentum": dict(lr=0.1, momentum=0.9),
           "nesterov_wd": dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.01),
           "dampening_wd": dict(lr=0.1, momentum=0.5, dampening=0.3, weight_decay=0.02)}
    ADAM = {"adam": dict(lr=0.01),
            "adam_wd": dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
            "adamw_amsgrad": dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True),
            "amsgrad": dict(lr=0.01, weight_decay=0.01)}
    RMS = {"rmsprop": dict(lr=0.005),
           "momentum_centered_wd": dict(lr=0.005, momentum=0.9, centered=True,
                                        weight_decay=0.01),
           "centered": dict(lr=0.005, alpha=0.9, centered=True)}
    AMS = {"adamw_amsgrad", "amsgrad"}

    def pieces(n):
        # random cut points: pieces of 1 to 40 elements (up to 2.5 vectors of 16)
        cuts, i = [0], 0
        while i < n:
            i = min(n, i + int(rng.integers(1, 41)))
            cuts.append(i)
        return list(zip(cuts[:-1], cuts[1:]))

    def run(update, arrays, whole):
        # three steps of `update` over `arrays` (param first, then the state buffers)
        for step in range(1, 4):
            g = grad[step - 1]
            if whole:
                update(*arrays, g, step)
            else:
                for b, e in pieces(N):
                    update(*(a[b:e] for a in arrays), g[b:e], step)
        return arrays

    out = {"isa": np.array(nncore.config()["isa"])}
    for dtype in ("float32", "float64"):
        p0 = rng.standard_normal(N).astype(dtype)
        grad = [rng.standard_normal(N).astype(dtype) for _ in range(3)]
        out[dtype + "_start"] = p0
        cases = {}
        for name, o in SGD.items():
            def sgd(p, v, g, step, o=o):
                F.sgd_step(p, g, v, first=step == 1, **o)
            cases["sgd_" + name] = (sgd, 2)
        for name, o in ADAM.items():
            def adam(p, m, v, x, g, step, o=o, ams=name in AMS):
                F.adam_step(p, g, m, v, x if ams else None, step=step, **o)
            cases["adam_" + name] = (adam, 4)
        for name, o in RMS.items():
            def rms(p, sq, buf, ga, g, step, o=o):
                F.rmsprop_step(p, g, sq, buf if o.get("momentum") else None,
                               ga if o.get("centered") else None, **o)
            cases["rmsprop_" + name] = (rms, 4)
        for name, (update, count) in cases.items():
            for whole in (True, False):
                arrays = [p0.copy()] + [np.zeros(N, dtype) for _ in range(count - 1)]
                for i, a in enumerate(run(update, arrays, whole)):
                    out[f"{dtype}_{name}_{i}_{'whole' if whole else 'pieces'}"] = a
    np.savez(sys.argv[1], **out)
""")

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]


@pytest.mark.parametrize("isa", ISAS)
def test_update_in_pieces_is_the_whole_update(isa, tmp_path):
    res = arrays_under_isa(SCRIPT, isa, tmp_path)
    assert str(res.pop("isa")) == isa
    names = sorted(k[:-len("_whole")] for k in res if k.endswith("_whole"))
    assert len(names) == 2 * (2 * 4 + 4 * 4 + 3 * 4)  # dtypes x (optimiser cases x arrays)
    for name in names:
        whole, cut = res[name + "_whole"], res[name + "_pieces"]
        assert whole.tobytes() == cut.tobytes(), (
            f"{isa} {name}: {np.count_nonzero(whole != cut)} elements differ "
            "when updated in pieces")
    # the steps moved every parameter (the comparison is not of untouched arrays)
    for name in names:
        if name.endswith("_0"):
            start = res[name.split("_")[0] + "_start"]
            assert np.all(res[name + "_whole"] != start), name
