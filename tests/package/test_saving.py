import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nncore as nc


def trained(rng):
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    model = nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 8), nc.Tanh(), nc.Dense(8, 3)],
                          seed=0)
    model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=2, verbose=0)
    return model, x, y


def test_round_trip_is_exact(tmp_path, rng):
    model, x, y = trained(rng)
    path = model.save(tmp_path / "m")
    assert path == str(tmp_path / "m")  # the name given, nothing appended
    loaded = nc.load(path)
    for a, b in zip(model.parameters(), loaded.parameters()):
        assert a.dtype == b.dtype and np.array_equal(a.data, b.data)
    assert np.array_equal(model.predict(x), loaded.predict(x))
    assert type(loaded.optimizer) is nc.Adam and loaded.optimizer.steps == model.optimizer.steps
    assert type(loaded.loss) is nc.CrossEntropyLoss
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    for k, v in model.optimizer.state_arrays().items():
        assert np.array_equal(v, loaded.optimizer.state_arrays()[k])
    # training continues identically from the file
    model.fit(x, y, loss="cross_entropy", epochs=1, seed=1, verbose=0)
    loaded.fit(x, y, loss="cross_entropy", epochs=1, seed=1, verbose=0)
    for a, b in zip(model.parameters(), loaded.parameters()):
        assert np.array_equal(a.data, b.data)


def test_float64_round_trip(tmp_path):
    model = nc.Sequential([nc.Dense(3, 2, "sigmoid")], seed=1, dtype="float64")
    loaded = nc.load(model.save(tmp_path / "f64.npz"))
    assert loaded.dtype == np.float64
    assert np.array_equal(loaded.parameters()[0].data, model.parameters()[0].data)


def corrupt_files(tmp_path, good):
    raw = open(good, "rb").read()
    files = {}
    files["truncated"] = raw[: len(raw) // 2]
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF
    files["bitflip"] = bytes(flipped)
    files["text"] = b"hello, I am not a model\n"
    files["empty"] = b""
    out = {}
    for name, data in files.items():
        p = tmp_path / f"{name}.npz"
        p.write_bytes(data)
        out[name] = p
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    out["foreign"] = foreign
    newer = tmp_path / "newer.npz"
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["__nncore__"] = np.array(str(arrays["__nncore__"]).replace(
        '"format_version": 1', '"format_version": 99'))
    np.savez(newer, **arrays)
    out["newer"] = newer
    return out


def test_bad_files_raise_clear_errors(tmp_path, rng):
    model, _, _ = trained(rng)
    good = model.save(tmp_path / "good.npz")
    for name, path in corrupt_files(tmp_path, good).items():
        with pytest.raises(nc.ModelFileError) as info:
            nc.load(path)
        assert str(path) in str(info.value), name
        if name == "newer":
            assert "newer" in str(info.value)
        if name == "foreign":
            assert "foreign" in str(info.value)
    with pytest.raises(FileNotFoundError):
        nc.load(tmp_path / "missing.npz")


def test_pickle_payload_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, __nncore__=np.array([Evil()], dtype=object))
    with pytest.raises(nc.ModelFileError):
        nc.load(path)
    assert not marker.exists()


def test_failed_save_leaves_previous_file(tmp_path, rng, monkeypatch):
    model, _, _ = trained(rng)
    path = model.save(tmp_path / "keep.npz")
    before = open(path, "rb").read()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert open(path, "rb").read() == before
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


def test_sigkill_during_save_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "k.npz"
    script = f"""
import numpy as np, nncore as nc
m = nc.Sequential([nc.Dense(200, 300), nc.Dense(300, 10)], seed=0)
i = 0
while True:
    for p in m.parameters():
        p.data[...] = i
    m.save({str(path)!r})
    i += 1
    print(i, flush=True)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    try:
        for _ in range(5):
            proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
    model = nc.load(path)
    values = {float(p.data.flat[0]) for p in model.parameters()}
    assert len(values) == 1  # one consistent save, not a mix of two


def rewrite(path, out, change_meta=None, change_arrays=None):
    """Copy the model file at ``path`` to ``out`` with its description or arrays edited."""
    import json
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("__nncore__")))
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    np.savez(out, __nncore__=np.array(json.dumps(meta)), **arrays)
    return out


@pytest.mark.parametrize("case, words", [
    ("wrong_shape", "'layer0.w' should be (4, 8)"),
    ("wrong_dtype", "'layer0.w' should be (4, 8) float32"),
    ("missing_array", "'layer3.b'"),
    ("unknown_layer", "unknown layer type 'Conv2D'"),
    ("optimizer_state_shape", "optimizer state"),
    ("not_json", "not valid JSON"),
    ("no_format", "not an nncore model"),
])
def test_description_and_arrays_are_validated(tmp_path, rng, case, words):
    model, _, _ = trained(rng)
    good = model.save(tmp_path / "good.npz")
    out = tmp_path / f"{case}.npz"
    if case == "wrong_shape":
        rewrite(good, out, change_arrays=lambda a: a.update({"layer0.w": np.zeros((8, 4),
                                                                                  np.float32)}))
    elif case == "wrong_dtype":
        rewrite(good, out, change_arrays=lambda a: a.update({"layer0.w": np.zeros((4, 8))}))
    elif case == "missing_array":
        rewrite(good, out, change_arrays=lambda a: a.pop("layer3.b"))
    elif case == "unknown_layer":
        rewrite(good, out, change_meta=lambda m: m["layers"][1].update({"type": "Conv2D"}))
    elif case == "optimizer_state_shape":
        rewrite(good, out, change_arrays=lambda a: a.update({"optim.0.m": np.zeros(3,
                                                                                   np.float32)}))
    elif case == "not_json":
        with np.load(good) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["__nncore__"] = np.array("{not json")
        np.savez(out, **arrays)
    elif case == "no_format":
        rewrite(good, out, change_meta=lambda m: m.pop("format"))
    with pytest.raises(nc.ModelFileError, match=re.escape(words)):
        nc.load(out)


def test_sgd_momentum_state_round_trip(tmp_path, rng):
    x = rng.standard_normal((16, 3))
    y = rng.standard_normal((16, 2))
    model = nc.Sequential([nc.Dense(3, 5), nc.LeakyReLU(0.3), nc.Dense(5, 2, use_bias=False)],
                          seed=2, dtype="float64")
    opt = nc.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    model.fit(x, y, loss="mse", optimizer=opt, epochs=2, batch_size=4, seed=0, verbose=0)
    loaded = nc.load(model.save(tmp_path / "sgd.npz"))
    assert loaded.optimizer.get_config() == opt.get_config()
    assert loaded.layers[1].slope == 0.3 and loaded.layers[2].b is None
    assert loaded._skip == model._skip
    for k, v in opt.state_arrays().items():
        assert np.array_equal(v, loaded.optimizer.state_arrays()[k])
    model.fit(x, y, loss="mse", epochs=2, batch_size=4, seed=1, verbose=0)
    loaded.fit(x, y, loss="mse", epochs=2, batch_size=4, seed=1, verbose=0)
    for a, b in zip(model.parameters(), loaded.parameters()):
        assert np.array_equal(a.data, b.data)


def test_untrained_model_and_names_round_trip(tmp_path):
    model = nc.Sequential([nc.Dense(2, 3, "tanh", name="hidden"), nc.Dense(3, 1, name="out")],
                          seed=0)
    loaded = nc.load(model.save(str(tmp_path / "plain.npz")))
    assert loaded.optimizer is None and loaded.loss is None
    assert [n for n, _ in loaded.named_parameters()] == ["hidden.w", "hidden.b", "out.w", "out.b"]
    assert repr(loaded) == repr(model)
