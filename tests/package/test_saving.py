import os
import subprocess
import sys
import zipfile

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
    assert path.endswith("m.npz")
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
