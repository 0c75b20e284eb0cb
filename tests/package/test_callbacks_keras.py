"""ModelCheckpoint, CSVLogger, LambdaCallback and LearningRateScheduler: Keras's names,
arguments and behaviour; a checkpoint resumes with the same bits on both engines."""
import csv

import numpy as np
import pytest

import nncore as nc


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 5))
    return x, (x[:, 0] - x[:, 2] > 0).astype(np.int64)


def _model():
    return nc.Sequential([nc.Dense(5, 12, "tanh"), nc.Dense(12, 2)], seed=1)


FIT = dict(loss="cross_entropy", batch_size=16, shuffle=False, verbose=0)


@pytest.mark.parametrize("engine", ["native", "python"])
@pytest.mark.parametrize("make_opt", [lambda: nc.Adam(lr=0.01),
                                      lambda: nc.SGD(lr=0.05, momentum=0.9)])
def test_checkpoint_resume_gives_the_bits_of_the_uninterrupted_run(engine, make_opt, tmp_path):
    x, y = _data()
    whole = _model()
    ckpt = nc.ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.npz")
    h = whole.fit(x, y, optimizer=make_opt(), epochs=5, callbacks=[ckpt], engine=engine,
                  **FIT)
    assert h.engine == engine
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ckpt-0{i}.npz" for i in range(1, 6)]
    resumed = nc.load(tmp_path / "ckpt-02.npz")
    assert resumed.optimizer.steps == 2 * 6
    resumed.fit(x, y, epochs=3, engine=engine, **FIT)
    for a, b in zip(whole.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_checkpoint_best_only_follows_the_monitored_value(tmp_path, capsys):
    x, y = _data()
    model = _model()
    ckpt = nc.ModelCheckpoint(tmp_path / "best.npz", monitor="val_accuracy",
                              save_best_only=True, verbose=1)
    assert ckpt.mode == "max"
    h = model.fit(x, y, optimizer=nc.SGD(lr=0.2), epochs=6, validation_split=0.25,
                  callbacks=[ckpt], seed=0, **FIT)
    acc = h.history["val_accuracy"]
    assert ckpt.best == max(acc)
    saves = capsys.readouterr().out.count("saving model to")
    expected = sum(a > max(acc[:i], default=-1) for i, a in enumerate(acc))
    assert saves == expected
    best = nc.load(tmp_path / "best.npz")
    best_epoch = acc.index(max(acc))
    assert best.optimizer.steps == (best_epoch + 1) * 5  # 72 training rows, batches of 16
    with pytest.warns(RuntimeWarning, match="can save best model only with 'val_f1'"):
        model.fit(x, y, epochs=1, callbacks=[nc.ModelCheckpoint(tmp_path / "b.npz",
                                                                 monitor="val_f1",
                                                                 save_best_only=True)],
                  **FIT)


def test_checkpoint_weights_only_leaves_out_the_optimizer(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, optimizer=nc.Adam(), epochs=1, **FIT, callbacks=[
        nc.ModelCheckpoint(tmp_path / "w", save_weights_only=True)])
    assert nc.load(tmp_path / "w").optimizer is None
    assert model.optimizer is not None


def test_csv_logger_writes_keras_layout(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    h = _model().fit(x, y, epochs=3, callbacks=[nc.CSVLogger(path)], metrics=["f1"],
                     validation_split=0.25, seed=0, **FIT)
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch"] + sorted(h.history)
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    col = rows[0].index("val_f1")
    assert [float(r[col]) for r in rows[1:]] == h.history["val_f1"]
    _model().fit(x, y, epochs=2, callbacks=[nc.CSVLogger(path, append=True)],
                 metrics=["f1"], validation_split=0.25, seed=0, **FIT)
    rows = list(csv.reader(open(path)))
    assert len(rows) == 1 + 3 + 2


def test_lambda_callback_calls_and_engine_choice():
    x, y = _data()
    seen = []
    cb = nc.LambdaCallback(on_epoch_end=lambda e, logs: seen.append((e, logs["loss"])),
                           on_train_begin=lambda logs: seen.append("begin"))
    h = _model().fit(x, y, epochs=2, callbacks=[cb], **FIT)
    assert h.engine == "native" and seen[0] == "begin" and [s[0] for s in seen[1:]] == [0, 1]
    steps = []
    h = _model().fit(x, y, epochs=1, callbacks=[
        nc.LambdaCallback(on_batch_end=lambda b, logs: steps.append(b))], **FIT)
    assert h.engine == "python" and steps == list(range(6))


@pytest.mark.parametrize("engine", ["native", "python"])
def test_learning_rate_scheduler_sets_each_epochs_rate(engine):
    x, y = _data()
    sched = nc.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    opt = nc.SGD(lr=0.1)
    model = _model()
    h = model.fit(x, y, optimizer=opt, epochs=4, callbacks=[sched], engine=engine, **FIT)
    assert h.history["learning_rate"] == [0.1, 0.05, 0.025, 0.0125]
    # the same bits as setting the rate by hand between one-epoch fits
    m = _model()
    opt2 = nc.SGD(lr=0.1)
    for lr in [0.1, 0.05, 0.025, 0.0125]:
        opt2.lr = lr
        m.fit(x, y, optimizer=opt2, epochs=1, engine=engine, **FIT)
    for a, b in zip(model.parameters(), m.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    h = _model().fit(x, y, optimizer=nc.SGD(lr=0.3), epochs=2, engine=engine, **FIT,
                     callbacks=[nc.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    assert h.history["learning_rate"] == [0.1, 0.05]  # the one-argument form
    with pytest.raises(TypeError, match="schedule must be callable"):
        nc.LearningRateScheduler(0.1)
