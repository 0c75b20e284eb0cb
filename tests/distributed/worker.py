"""Runs under mpiexec: the scenarios of scenarios.py (or a fault) on every rank, each
rank pickling its weights, History and per-step parameter checksums to OUT/<name>.<rank>.

    mpiexec -n P python worker.py OUT scenario [scenario ...]
    mpiexec -n P python worker.py OUT fault:<raise|kill|mismatch|mismatch_optimizer>
"""
import os
import pickle
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import nncore as nc  # noqa: E402
import nncore.distributed as dist  # noqa: E402
from nncore.training import data_parallel  # noqa: E402
from scenarios import readme_loop, scenario  # noqa: E402

out_dir, names = sys.argv[1], sys.argv[2:]
checksums = []


def _params_crc(model):
    return zlib.crc32(b"".join(p.data.tobytes() for p in model.parameters()))


def _recording(reduce):
    # Before each step's reduction the parameters are the previous step's result.
    def wrapped(self, *scalars):
        checksums.append(_params_crc(self._model))
        return reduce(self, *scalars)
    return wrapped


_attach = data_parallel.DataParallel.attach


def _attach_keep(self, model, *a, **k):
    self._model = model
    return _attach(self, model, *a, **k)


data_parallel.DataParallel.attach = _attach_keep
data_parallel.DataParallel.reduce = _recording(data_parallel.DataParallel.reduce)  # python engine
data_parallel.DataParallel.native_hook = _recording(data_parallel.DataParallel.native_hook)


def dump(name, model, history=None):
    checksums.append(_params_crc(model))
    rec = {"weights": [p.data.copy() for p in model.parameters()],
           "history": None if history is None else history.history,
           "engine": None if history is None else history.engine,
           "checksums": list(checksums), "rank": dist.rank(), "size": dist.world_size()}
    with open(os.path.join(out_dir, f"{name}.{dist.rank()}"), "wb") as f:
        pickle.dump(rec, f)
    checksums.clear()


def fault(kind):
    model, x, y, kw = scenario("sgd64_native")
    kw["epochs"] = 50
    kw["verbose"] = 0
    if kind == "raise":
        class Boom(nc.Callback):
            def on_epoch_end(self, epoch, logs):
                if dist.rank() == 1 and epoch == 1:
                    raise RuntimeError("boom on rank 1")
        kw["callbacks"] = [Boom()]
    elif kind == "kill":
        class Die(nc.Callback):
            def on_epoch_end(self, epoch, logs):
                if dist.rank() == dist.world_size() - 1 and epoch == 1:
                    os.kill(os.getpid(), 9)
        kw["callbacks"] = [Die()]
    elif kind == "mismatch" and dist.rank() == 1:
        model = nc.Sequential([nc.Dense(6, 17, "relu"), nc.Dense(17, 3)], seed=3,
                              dtype=np.float64)
    elif kind == "mismatch_optimizer" and dist.rank() == 1:
        kw["optimizer"] = nc.SGD(lr=0.05, momentum=0.8)
    elif kind == "hang_in_step":
        class Stall(nc.Callback):
            def on_epoch_end(self, epoch, logs):
                if dist.rank() == 1 and epoch == 1:
                    import time
                    time.sleep(600)  # the others wait in the next step's allreduce
        kw["callbacks"] = [Stall()]
    elif kind == "hang" and dist.rank() == 1:
        import time
        time.sleep(600)  # never joins: the others must time out
    model.fit(x, y, distributed=True, **kw)
    print(f"rank {dist.rank()} finished", flush=True)


for name in names:
    if name.startswith("fault:"):
        fault(name.split(":", 1)[1])
        continue
    if name == "readme_loop":
        x, y = scenario("sgd64_native")[1:3]
        x, y = x[:96], y[:96]
        model = nc.Sequential([nc.Dense(6, 16, "relu"), nc.Dense(16, 3)], seed=dist.rank(),
                              dtype=np.float64)
        dist.broadcast_parameters(model)
        readme_loop(model, x, y, shard=dist.shard, allreduce=dist.allreduce_gradients)
        dist.save(model, os.path.join(out_dir, "readme_loop.npz"))  # rank 0 writes it
        dump(name, model)
        continue
    model, x, y, kw = scenario(name)
    if name.startswith("sharded"):
        # each rank holds only its part of the training, weights and validation data
        x, y, w = dist.shard(x, y, kw["sample_weight"])
        kw["sample_weight"] = w
        if "validation_data" in kw:
            kw["validation_data"] = dist.shard(*kw["validation_data"])
        mode = "sharded"
    else:
        mode = True
    if dist.rank() != 0:  # rank 0's initial weights must reach every rank
        for p in model.parameters():
            p.data[...] = np.random.default_rng(dist.rank()).standard_normal(p.shape)
    history = model.fit(x, y, verbose=1, distributed=mode, **kw)
    dump(name, model, history)
