"""Issue 22: idioms Keras and PyTorch users write first either work or fail loudly.

One section per item of the issue; every test here fails on 184e23a."""
import math

import numpy as np
import pytest

import nncore as nc

ENGINES = ["python", "auto"]


def blobs(n=120, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.standard_normal((n, features)).astype(np.float32) + y[:, None].astype(np.float32)
    return x, y


# ------------------------------------------- 1. an optimiser bound to another model

@pytest.mark.parametrize("engine", ENGINES + ["native"])
def test_optimizer_of_another_model_is_refused(engine):
    x, y = blobs()
    old = nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 3)], seed=0)
    opt = nc.Adam(old.parameters(), lr=0.01)
    model = nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 3)], seed=1)  # re-run cell
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"fit: the optimizer Adam updates 4 of its 4 "
                                         r"parameters that are not this model's: "
                                         r"params\[0\] \(w, shape \(4, 8\)\)"):
        model.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=1, verbose=0,
                  engine=engine)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_optimizer_of_another_model_is_refused_by_train_on_batch():
    x, y = blobs()
    old = nc.Sequential([nc.Dense(4, 3)], seed=0)
    model = nc.Sequential([nc.Dense(4, 3)], seed=1)
    with pytest.raises(ValueError, match="train_on_batch: the optimizer SGD updates 2"):
        model.train_on_batch(x, y, loss="cross_entropy", optimizer=nc.SGD(old.parameters()))


@pytest.mark.parametrize("engine", ENGINES)
def test_optimizer_on_a_subset_of_the_parameters_freezes_the_rest(engine):
    x, y = blobs()
    model = nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 3)], seed=0)
    frozen = model.layers[0].w.data.copy()
    opt = nc.SGD(model.layers[1].parameters(), lr=0.1)
    model.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=2, verbose=0, engine=engine)
    np.testing.assert_array_equal(model.layers[0].w.data, frozen)
    assert not np.array_equal(model.layers[1].w.data, nc.Sequential(
        [nc.Dense(4, 8, "relu"), nc.Dense(8, 3)], seed=0).layers[1].w.data)


# ------------------------------------------- 5. a seeded model trains the same bits

def _train_readme(engine="auto", **fit):
    x, y = nc.spirals(n=60, classes=3, seed=0)
    model = nc.Sequential([nc.Dense(2, 16, "relu"), nc.Dense(16, 3)], seed=0)
    history = model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=3,
                        batch_size=16, validation_split=0.2, verbose=0, engine=engine, **fit)
    return model, history


@pytest.mark.parametrize("engine", ENGINES)
def test_a_seeded_model_trains_the_same_bits_every_time(engine):
    a, ha = _train_readme(engine)
    b, hb = _train_readme(engine)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert ha.history["val_loss"] == hb.history["val_loss"]


def test_second_fit_of_a_seeded_model_is_repeatable_and_fit_seed_overrides():
    x, y = nc.spirals(n=60, classes=3, seed=0)

    def two_fits(seed=None):
        m = nc.Sequential([nc.Dense(2, 8, "relu"), nc.Dense(8, 3)], seed=0)
        for _ in range(2):
            m.fit(x, y, loss="cross_entropy", epochs=1, batch_size=8, verbose=0, seed=seed)
        return m.get_weights()[0]

    np.testing.assert_array_equal(two_fits(), two_fits())
    # fit(seed=) overrides the model's stream: the same seed for both fits differs from
    # the derived stream and is itself repeatable
    assert not np.array_equal(two_fits(), two_fits(seed=5))
    np.testing.assert_array_equal(two_fits(seed=5), two_fits(seed=5))


def test_fit_seed_is_derived_from_the_model_seed_and_the_fit_count():
    m = nc.Sequential([nc.Dense(2, 3)], seed=0)
    first, second = m.fit_seed(), m.fit_seed()
    assert first != second and m.fits == 2
    assert nc.Sequential([nc.Dense(2, 3)], seed=0).fit_seed() == first
    assert nc.Sequential([nc.Dense(2, 3)], seed=1).fit_seed() != first
    assert m.fit_seed(seed=7) == 7


def test_manual_seed_makes_unseeded_models_repeatable():
    x, y = nc.spirals(n=60, classes=3, seed=0)

    def run():
        nc.manual_seed(123)
        m = nc.Sequential([nc.Dense(2, 8, "relu"), nc.Dropout(0.2), nc.Dense(8, 3)])
        m.fit(x, y, loss="cross_entropy", epochs=2, batch_size=8, verbose=0,
              validation_split=0.25)
        return m.get_weights()

    try:
        for a, b in zip(run(), run()):
            np.testing.assert_array_equal(a, b)
    finally:
        nc.manual_seed(None)
    with pytest.raises(ValueError, match="manual_seed: seed"):
        nc.manual_seed(-1)


# ------------------------------------------- 7. checks when built or when fit starts

@pytest.mark.parametrize("make, match", [
    (lambda: nc.StepLR(nc.SGD(), step_size=0), "StepLR: step_size must be an int >= 1"),
    (lambda: nc.CosineAnnealingLR(nc.SGD(), T_max=0), "CosineAnnealingLR: T_max"),
    (lambda: nc.ExponentialLR(nc.SGD(), gamma=float("nan")), "ExponentialLR: gamma"),
    (lambda: nc.SGD(clip_norm=-1), "SGD: clip_norm must be a finite number > 0; got -1"),
    (lambda: nc.SGD(clip_norm=float("nan")), "SGD: clip_norm .* got nan"),
    (lambda: nc.Adam(clip_value=-0.5), "Adam: clip_value .* got -0.5"),
    (lambda: nc.SGD(momentum=5), r"SGD: momentum must be a finite number in \[0, 1\]; got 5"),
    (lambda: nc.Adam(eps=0), "Adam: eps"),
    (lambda: nc.SGD(weight_decay=-1), "SGD: weight_decay"),
])
def test_bad_optimizer_and_schedule_arguments_fail_when_built(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_of_another_optimizer_fails_at_fit_start():
    x, y = blobs()
    model = nc.Sequential([nc.Dense(4, 3)], seed=0)
    other = nc.SGD(lr=0.5)
    sched = nc.StepLR(other, step_size=1, gamma=0.5)
    with pytest.raises(ValueError, match="fit: lr_scheduler was built on SGD"):
        model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.1), lr_scheduler=sched,
                  epochs=2, verbose=0)
    assert other.lr == 0.5  # untouched


@pytest.mark.parametrize("engine", ENGINES)
def test_bce_targets_outside_0_1_fail_at_fit_start(engine):
    x, y = blobs()  # labels 0, 1, 2
    model = nc.Sequential([nc.Dense(4, 1)], seed=0)
    with pytest.raises(ValueError, match=r"fit: y\[2\] = 2 is outside \[0, 1\]"):
        model.fit(x, y, loss="bce", epochs=1, verbose=0, engine=engine)
    with pytest.raises(ValueError, match=r"evaluate: y\[2\] = 2 is outside"):
        model.evaluate(x, y, loss="bce")


def test_class_weight_for_a_class_that_does_not_exist_fails():
    x, y = blobs()
    model = nc.Sequential([nc.Dense(4, 3)], seed=0)
    with pytest.raises(ValueError, match=r"fit: class_weight has class 5, but the model's "
                                         r"classes are 0..2"):
        model.fit(x, y, loss="cross_entropy", class_weight={5: 3.0}, epochs=1, verbose=0)


@pytest.mark.parametrize("engine", ENGINES)
def test_class_weight_balanced_is_sklearns_formula(engine):
    x, y = blobs(n=90)
    y = np.where(np.arange(90) < 60, 0, np.where(np.arange(90) < 80, 1, 2))  # 60 / 20 / 10
    expected = {0: 90 / (3 * 60), 1: 90 / (3 * 20), 2: 90 / (3 * 10)}

    def trained(cw):
        m = nc.Sequential([nc.Dense(4, 3)], seed=0, dtype="float64")
        m.fit(x, y, loss="cross_entropy", class_weight=cw, epochs=2, batch_size=16,
              verbose=0, shuffle=False, engine=engine)
        return m.get_weights()

    for a, b in zip(trained("balanced"), trained(expected)):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------- 9. save writes, load reads, the name given

@pytest.mark.parametrize("name", ["m.keras", "model2", "weights.bin"])
def test_save_writes_the_name_given_and_load_reads_it(tmp_path, name):
    x, y = blobs()
    model = nc.Sequential([nc.Dense(4, 3)], seed=0)
    model.fit(x, y, loss="cross_entropy", epochs=1, verbose=0)
    path = model.save(tmp_path / name)
    assert path == str(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    back = nc.load(tmp_path / name)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def test_load_still_reads_a_file_saved_with_npz_appended(tmp_path):
    model = nc.Sequential([nc.Dense(4, 3)], seed=0)
    model.save(tmp_path / "old.npz")  # what save("old") wrote before
    back = nc.load(tmp_path / "old")
    np.testing.assert_array_equal(back.get_weights()[0], model.get_weights()[0])


def test_a_loaded_seeded_model_continues_the_same_fit_stream(tmp_path):
    x, y = nc.spirals(n=60, classes=3, seed=0)
    a = nc.Sequential([nc.Dense(2, 8, "relu"), nc.Dense(8, 3)], seed=0)
    a.fit(x, y, loss="cross_entropy", epochs=1, batch_size=8, verbose=0)
    b = nc.load(a.save(tmp_path / "a"))
    for m in (a, b):
        m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


# ------------------------------------------- friction: saving messages

def test_a_small_text_file_is_not_called_python_objects(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello")
    with pytest.raises(nc.ModelFileError) as e:
        nc.load(path)
    msg = str(e.value)
    assert "notes.txt" in msg and "not an .npz archive" in msg and "b'hello'" in msg
    assert "Python objects" not in msg and "pickle" not in msg


def test_an_empty_file_and_an_npy_file_say_what_they_are(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(nc.ModelFileError, match="the file is empty"):
        nc.load(tmp_path / "empty")
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(nc.ModelFileError, match=r"single NumPy array \(\.npy\)"):
        nc.load(tmp_path / "a.npy")


def test_a_directory_is_not_called_truncated(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder, not a model file") as e:
        nc.load(tmp_path)
    assert "truncated" not in str(e.value)
    with pytest.raises(IsADirectoryError, match="nncore.save: cannot write .*: it is a folder"):
        nc.Sequential([nc.Dense(2, 1)], seed=0).save(tmp_path)


def test_save_into_a_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "no" / "such" / "m.npz"
    with pytest.raises(FileNotFoundError) as e:
        nc.Sequential([nc.Dense(2, 1)], seed=0).save(target)
    msg = str(e.value)
    assert str(target) in msg and "does not exist" in msg and ".nncore-" not in msg
    assert not (tmp_path / "no").exists()
