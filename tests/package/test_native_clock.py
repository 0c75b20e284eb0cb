"""The native loop reads the clock every few steps (a read costs as much as a tiny
network's step), not after each: the epochs' seconds still share out the call's time, and
a call still stops when its time is up."""
import time

import numpy as np

import nncore as nc
from nncore import _core
from nncore.training import prepare, trainer_spec


def tiny_trainer(batch_size):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    model = nc.Sequential([nc.Dense(2, 4, "sigmoid"), nc.Dense(4, 1, "sigmoid")], seed=0)
    run = prepare(model=model, x=x, y=y, loss="mse", optimizer=nc.SGD(lr=0.5),
                  batch_size=batch_size)
    return _core._Trainer(trainer_spec(model, run, shuffle=False, stop_on_nonfinite=True))


def test_every_epoch_gets_its_share_of_the_time():
    trainer = tiny_trainer(4)  # one step an epoch: many epochs between two clock reads
    t0 = time.perf_counter()
    res = trainer.run(3000, 1e9, 0.5, None)
    wall = time.perf_counter() - t0
    seconds = np.asarray(res["seconds"])
    assert len(seconds) == 3000
    assert np.all(seconds > 0)
    # the shares add up to the time between the call's first and last clock reads,
    # inside the call
    assert seconds.sum() <= wall


def test_a_call_stops_when_its_time_is_up():
    trainer = tiny_trainer(1)  # four steps an epoch
    res = trainer.run(1, 0.0, 0.5, None)  # no time at all: it stops after a step or a few
    assert len(res["loss"]) == 0 and 1 <= res["step"] < 4
    res = trainer.run(10 ** 8, 0.01, 0.5, None)  # hours of epochs, stopped after 10 ms
    assert 0 < len(res["loss"]) < 10 ** 8
    assert np.all(np.asarray(res["seconds"]) > 0)
