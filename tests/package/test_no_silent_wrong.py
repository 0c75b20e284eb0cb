"""Issue 22: idioms Keras and PyTorch users write first either work or fail loudly.

One section per item of the issue; every test here fails on 184e23a."""
import math

import numpy as np
import pytest

import nncore as nc

ENGINES = ["python", "native", "auto"]


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


# ------------------------------------------- 2. a sigmoid head with binary cross-entropy

def binary(n=200, seed=0):
    """Imbalanced (70 / 30) and nearly separable, like breast_cancer."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10 >= 7).astype(np.float64)
    x = rng.standard_normal((n, 4)) + 2.5 * y[:, None] * np.array([1.0, -1.0, 0.5, 0.0])
    return x.astype(np.float32), y


SIGMOID_HEADS = {
    "dense_sigmoid": lambda: [nc.Dense(4, 8, "relu"), nc.Dense(8, 1, "sigmoid")],
    "sigmoid_layer": lambda: [nc.Dense(4, 8, "relu"), nc.Dense(8, 1), nc.Sigmoid()],
    "sigmoid_layer_unfused": lambda: [nc.Dense(4, 8, "relu"), nc.Dense(8, 1, "tanh"),
                                      nc.Sigmoid()],
}
LOGITS_TWINS = {
    "dense_sigmoid": lambda: [nc.Dense(4, 8, "relu"), nc.Dense(8, 1)],
    "sigmoid_layer": lambda: [nc.Dense(4, 8, "relu"), nc.Dense(8, 1)],
    "sigmoid_layer_unfused": lambda: [nc.Dense(4, 8, "relu"), nc.Dense(8, 1, "tanh")],
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("head", sorted(SIGMOID_HEADS))
def test_sigmoid_head_with_bce_trains_on_the_logits(head, engine, recwarn):
    x, y = binary()
    model = nc.Sequential(SIGMOID_HEADS[head](), seed=0)
    twin = nc.Sequential(LOGITS_TWINS[head](), seed=0)  # same weights, no sigmoid
    kw = dict(loss="binary_crossentropy", optimizer=nc.SGD(lr=0.5), epochs=3, batch_size=32,
              verbose=0, seed=1)
    h = model.fit(x, y, engine=engine, **kw)
    assert h.engine == ("python" if engine == "python" else "native")
    ht = twin.fit(x, y, engine="python", **{**kw, "optimizer": nc.SGD(lr=0.5)})
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    for p, q in zip(model.parameters(), twin.parameters()):  # the same training, exactly
        np.testing.assert_array_equal(p.data, q.data)
    assert h.history["loss"] == ht.history["loss"]
    assert h.history["accuracy"] == ht.history["accuracy"]
    prob = model.predict(x)  # probabilities
    assert prob.min() >= 0 and prob.max() <= 1
    np.testing.assert_allclose(prob, nc.functional.sigmoid(twin.predict(x)), rtol=1e-6)
    np.testing.assert_array_equal(model.predict_proba(x), prob)
    accuracy = float(np.mean((prob[:, 0] > 0.5) == (y > 0.5)))
    ev = model.evaluate(x, y)
    assert ev["accuracy"] == pytest.approx(accuracy) and accuracy > 0.9
    assert ev["loss"] == pytest.approx(
        nc.functional.binary_cross_entropy_with_logits(twin.predict(x), y[:, None]), rel=1e-5)


@pytest.mark.parametrize("head", sorted(SIGMOID_HEADS))
def test_sigmoid_head_train_on_batch_uses_the_logits(head):
    x, y = binary(64)
    model = nc.Sequential(SIGMOID_HEADS[head](), seed=0)
    twin = nc.Sequential(LOGITS_TWINS[head](), seed=0)
    for m in (model, twin):
        for _ in range(3):
            m.train_on_batch(x, y, loss="bce", optimizer=m.optimizer or nc.SGD(lr=0.5))
    assert model.batch_engine is not None  # the native step ran
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


# ------------------------------------------- 3. returned arrays belong to the caller

@pytest.mark.parametrize("layers", [
    lambda: [nc.Dense(3, 4, "relu"), nc.Dense(4, 2)],
    lambda: [nc.Dense(3, 4), nc.Tanh(), nc.Dense(4, 2, "softmax")],
    lambda: [nc.Dense(3, 4, "gelu"), nc.Dropout(0.3), nc.Dense(4, 2), nc.SiLU()],
    lambda: [nc.Dense(3, 4, "relu"), nc.Softplus(), nc.Dense(4, 2), nc.Sigmoid()],
])
def test_forward_and_backward_results_are_never_written_again(layers):
    rng = np.random.default_rng(0)
    model = nc.Sequential(layers(), seed=0)
    model.set_input_grad(True)
    loss = nc.MSELoss()
    batches = [rng.standard_normal((5, 3)) for _ in range(3)]
    outs, grads, inputs, layer_outs = [], [], [], []
    for xb in batches:
        out = model.forward(xb)
        loss(out, np.zeros_like(out))
        g = loss.backward()
        inputs.append(model.backward(g))
        outs.append(out)
        grads.append(g)
        layer_outs.append([layer.output for layer in model.layers])
    kept = [(o.copy(), g.copy(), i.copy()) for o, g, i in zip(outs, grads, inputs)]
    model.forward(batches[0] * 3)  # one more step writes nothing it returned before
    model.backward(np.ones((5, 2)))
    for (o, g, i), o2, g2, i2 in zip(kept, outs, grads, inputs):
        np.testing.assert_array_equal(o, o2)
        np.testing.assert_array_equal(g, g2)
        np.testing.assert_array_equal(i, i2)
    assert outs[0] is not outs[1] and grads[0] is not grads[1]
    assert not np.array_equal(outs[0], outs[1])


def test_layer_forward_results_in_a_list_are_each_batch():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, 3)) for _ in range(3)]
    for layer in (nc.Dense(3, 2, seed=0), nc.ReLU(), nc.GELU(), nc.Dropout(0.5, seed=1)):
        outs = [layer.forward(x) for x in xs]
        grads = [layer.backward(np.ones_like(o)) for o in outs]
        assert len({id(o) for o in outs}) == 3 and len({id(g) for g in grads}) == 3
        if not isinstance(layer, nc.Dropout):
            for x, o in zip(xs, outs):
                np.testing.assert_array_equal(o, layer.forward(x))


# ------------------------------------------- 4. gradient accumulation

def test_accumulated_micro_batches_give_the_full_batch_gradient():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 3)), rng.integers(0, 3, 32)
    model = nc.Sequential([nc.Dense(3, 8, "tanh"), nc.Dense(8, 3)], seed=0, dtype="float64")
    opt = nc.SGD(model.parameters(), lr=0.1)
    loss_fn = nc.CrossEntropyLoss()
    loss_fn(model.forward(x), y)
    model.backward(loss_fn.backward())
    full = [g.copy() for g in model.grads()]

    opt.zero_grad()
    for xb, yb in zip(np.split(x, 4), np.split(y, 4)):
        loss_fn(model.forward(xb), yb)
        model.backward(loss_fn.backward() / 4, accumulate=True)
    for a, b in zip(model.grads(), full):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)

    # without accumulate=True backward overwrites: the last micro-batch only
    model.zero_grad()
    for xb, yb in zip(np.split(x, 4), np.split(y, 4)):
        loss_fn(model.forward(xb), yb)
        model.backward(loss_fn.backward() / 4)
    assert not np.allclose(model.grads()[0], full[0])


def test_accumulate_adds_to_what_is_there():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3))
    model = nc.Sequential([nc.Dense(3, 2)], seed=0, dtype="float64")
    g = rng.standard_normal((6, 2))
    model.forward(x)
    model.backward(g)
    once = [p.grad.copy() for p in model.parameters()]
    model.forward(x)
    model.backward(g, accumulate=True)
    for p, a in zip(model.parameters(), once):
        np.testing.assert_array_equal(p.grad, 2 * a)


# ------------------------------------------- 6. gradcheck with Dropout

@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_with_dropout_checks_fixed_masks(mode, capsys):
    model = nc.Sequential([nc.Dense(3, 6, "tanh"), nc.Dropout(0.5), nc.Dense(6, 2)], seed=0)
    getattr(model, mode)()
    rng = np.random.default_rng(0)
    calls = model.layers[1].calls
    report = nc.gradcheck(model, rng.standard_normal((4, 3)), rng.standard_normal((4, 2)),
                          verbose=True)
    assert max(report.values()) < 1e-6, report
    assert model.layers[1].calls == calls  # the model itself is untouched
    printed = capsys.readouterr().out
    assert ("fixed mask" in printed) == (mode == "train")


# ------------------------------------------- 8. assigning weights, array-like Parameters

def test_assigning_an_array_of_the_wrong_shape_fails_at_once():
    layer = nc.Dense(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"Dense.w = ...: the new w: must have shape \(3, 2\); "
                                         r"got \(2, 3\)"):
        layer.w = np.ones((2, 3))
    with pytest.raises(TypeError, match="Dense.b = ...: the new b: must hold real numbers"):
        layer.b = np.ones(2, complex)
    with pytest.raises(ValueError, match=r"must have shape \(3, 2\) and dtype float32"):
        layer.w = nc.Parameter(np.ones((3, 2)))  # float64 into a float32 layer


@pytest.mark.parametrize("engine", ENGINES)
def test_assigning_an_array_copies_it_into_the_bound_parameter(engine):
    x, y = blobs()
    model = nc.Sequential([nc.Dense(4, 3)], seed=0)
    opt = nc.SGD(model.parameters(), lr=0.1)
    w = model.layers[0].w
    model.layers[0].w = np.ones((4, 3))  # float64 ones, cast into the float32 Parameter
    assert model.layers[0].w is w and w.dtype == np.float32
    np.testing.assert_array_equal(w.data, np.ones((4, 3)))
    model.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=1, verbose=0, engine=engine)
    assert not np.array_equal(w.data, np.ones((4, 3)))  # trained, by the bound optimiser


def test_parameter_is_array_like():
    p = nc.Dense(2, 3, seed=0).w
    values = p.data.copy()
    assert np.asarray(p) is p.data
    np.testing.assert_array_equal(p + 1, values + 1)
    np.testing.assert_array_equal(2 * p, 2 * values)
    np.testing.assert_array_equal(p @ np.ones(3), values @ np.ones(3))
    np.testing.assert_array_equal(np.exp(p), np.exp(values))
    assert p.T.shape == (3, 2) and p[1].shape == (3,) and p[0, 1] == values[0, 1]
    c = p.copy()
    c[0, 0] = 99
    assert p.data[0, 0] == values[0, 0]
    assert len(p) == 2 and p.ndim == 2
    q = p
    q -= 1  # in place, still the Parameter
    assert q is p and np.array_equal(p.data, values - 1)
    text = repr(p)
    assert text.startswith("Parameter containing (w):") and "dtype=float32" in text
    assert np.array2string(p.data[0, :1], precision=4)[1:-1].strip()[:4] in text
    assert p in [p] and len({p, p}) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_last_softmax_layer_with_cross_entropy_trains_on_the_logits(engine, recwarn):
    x, y = blobs()
    model = nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 3), nc.Softmax()], seed=0)
    twin = nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 3)], seed=0)
    for m, e in ((model, engine), (twin, "python")):
        h = m.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.1), epochs=2,
                  batch_size=16, verbose=0, seed=0, engine=e)
        assert h.engine == ("python" if e == "python" else "native")
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    np.testing.assert_allclose(model.predict(x).sum(axis=1), 1.0, rtol=1e-6)
