"""Saving and loading models: one ``.npz`` file with a JSON description and the arrays.

The file holds ``__nncore__`` (JSON: format name and version, nncore version, dtype,
layers with their configurations, optimiser type, configuration and step count) and
one array per parameter and optimiser-state buffer. It is written to a temporary file
in the same folder and renamed over the target, so a crash or kill mid-save leaves the
previous file intact. Loading uses ``allow_pickle=False``: nothing in a file is
executed.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from . import layers as L
from . import losses as losses_mod
from .blocks import Flatten, Residual, input_width
from .dropout import Dropout
from .norms import NORM_LAYERS
from .optim import OPTIMIZERS

__all__ = ["save", "load", "FORMAT_VERSION", "ModelFileError"]

FORMAT = "nncore.model"
FORMAT_VERSION = 1
_LAYERS = {"Dense": L.Dense, "Dropout": Dropout, "Residual": Residual, "Flatten": Flatten,
           **NORM_LAYERS,
           **{cls.__name__: cls for cls in L.ACTIVATION_LAYERS.values()}}


class ModelFileError(ValueError):
    """A file that is not a readable nncore model (truncated, corrupt, foreign, newer)."""


def save(model, path):
    """Write a model, its loss and its optimiser state to one ``.npz`` file, atomically.

    Parameters
    ----------
    model : Sequential
    path : str or os.PathLike
        The file to write, under exactly this name (``"m.keras"``, ``"model2"``: no
        suffix is added, and :func:`load` reads the same name). The file is written to a
        temporary file in the same folder and renamed over ``path``: a crash leaves the
        previous file intact.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    FileNotFoundError
        When the folder of ``path`` does not exist.
    IsADirectoryError
        When ``path`` is a folder.
    """
    from . import __version__
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"nncore.save: cannot write {path}: the folder {folder} does "
                                "not exist (create it first)")
    if os.path.isdir(path):
        raise IsADirectoryError(f"nncore.save: cannot write {path}: it is a folder; give a "
                                "file name")
    arrays = {}
    layers = [_layer_spec(layer, f"layer{i}", arrays) for i, layer in enumerate(model.layers)]
    opt = None
    if model.optimizer is not None and model.optimizer.bound:
        state = {}
        for key, value in model.optimizer.state_arrays().items():
            state[key] = f"optim.{key}"
            arrays[f"optim.{key}"] = value
        opt = {"type": type(model.optimizer).__name__, "config": model.optimizer.get_config(),
               "steps": model.optimizer.steps, "state": state}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "nncore_version": __version__,
            "dtype": model.dtype.name, "layers": layers, "optimizer": opt,
            "loss": type(model.loss).__name__ if model.loss is not None else None,
            "loss_config": model.loss.get_config() if model.loss is not None else None,
            "seed": model.seed if isinstance(model.seed, (int, np.integer)) and
            not isinstance(model.seed, bool) else None,
            "fits": int(getattr(model, "fits", 0))}
    if model.input_shape is not None and input_width(model.layers) is None:
        meta["input_shape"] = model.input_shape  # one the layers cannot tell (Flatten first)
    arrays["__nncore__"] = np.array(json.dumps(meta))
    fd, tmp = tempfile.mkstemp(prefix=".nncore-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _layer_spec(layer, key, arrays):
    """A layer's description (type, name, config, the keys of its arrays, which go into
    ``arrays``); a Residual's layers are described inside it (``"layers"``, keys
    ``layer1.0.w``). A ``Dense(units)`` not built yet is saved with ``in_features``
    None and no arrays, and is loaded the same."""
    spec = {"type": type(layer).__name__, "name": layer.name, "config": layer.get_config(),
            "params": []}
    if isinstance(layer, Residual):
        spec["layers"] = [_layer_spec(child, f"{key}.{j}", arrays)
                          for j, child in enumerate(layer.layers)]
        return spec
    if isinstance(layer, L.Dense) and layer.in_features is None:
        return spec
    for p in layer.parameters():
        arrays[f"{key}.{p.name}"] = p.data
        spec["params"].append(f"{key}.{p.name}")
    if hasattr(layer, "buffers"):  # running statistics (BatchNorm1d)
        spec["buffers"] = {k: f"{key}.{k}" for k in layer.buffers()}
        arrays.update({f"{key}.{k}": v for k, v in layer.buffers().items()})
    return spec


def _layer_from_spec(spec, data, dtype, path):
    """The layer a :func:`_layer_spec` describes, with its arrays from ``data``."""
    cls = _LAYERS.get(spec["type"])
    if cls is None:
        _fail(path, f"unknown layer type {spec['type']!r}")
    config = dict(spec["config"])
    if cls is L.Dense or cls in NORM_LAYERS.values():
        config["dtype"] = dtype
    if cls is Residual:
        return Residual(*[_layer_from_spec(child, data, dtype, path)
                          for child in spec["layers"]], name=spec.get("name"))
    layer = cls(**config, name=spec.get("name"))
    params = [] if isinstance(layer, L.Dense) and layer.in_features is None else \
        layer.parameters()
    if len(params) != len(spec["params"]):
        _fail(path, f"layer {spec['type']} lists {len(spec['params'])} arrays; "
                    f"expected {len(params)}")
    for p, key in zip(params, spec["params"]):
        arr = data.get(key)
        if arr is None or arr.shape != p.shape or arr.dtype != p.dtype:
            got = None if arr is None else (arr.shape, str(arr.dtype))
            _fail(path, f"array {key!r} should be {p.shape} {p.dtype}; got {got}")
        p.data[...] = arr
    if spec.get("buffers"):
        layer.load_buffers({k: data[k2] for k, k2 in spec["buffers"].items()})
    return layer


def _fail(path, why):
    raise ModelFileError(f"nncore.load: {path} is not a readable nncore model: {why}")


def load(path, model_class):
    """Read a model written by :meth:`Sequential.save` (``nncore.load`` is this with
    ``model_class=Sequential``: the model module passes its class in, so this module
    does not import it back).

    The file is read with ``allow_pickle=False``; every array's shape and dtype is checked
    against the description. The result predicts and trains on exactly as the saved
    model did (same weights, optimiser state and step count, loss).

    Parameters
    ----------
    path : str or os.PathLike
    model_class : type
        Called as ``model_class(layers, dtype=...)`` to make the model.

    Returns
    -------
    model_class

    Raises
    ------
    ModelFileError
        (a ValueError) for a truncated, corrupt, foreign or newer-format file.
    FileNotFoundError
        When there is no file.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.isfile(path + ".npz"):
        path += ".npz"  # written by an nncore that appended .npz to the name
    if not os.path.exists(path):
        raise FileNotFoundError(f"nncore.load: no such file: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"nncore.load: {path} is a folder, not a model file")
    with open(path, "rb") as f:
        head = f.read(64)
    if not head.startswith(b"PK"):
        _fail(path, _not_an_archive(head))
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "__nncore__" not in npz.files:
                _fail(path, "it has no nncore description (a foreign .npz file)")
            data = {k: npz[k] for k in npz.files}
    except ModelFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e):  # object arrays: never in a file nncore wrote
            _fail(path, "it holds Python objects, which nncore model files never do (it was "
                        "not written by nncore's save; nothing in it was run)")
        _fail(path, "the file is truncated or corrupt (an array in it cannot be read)")
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zlib_error()):
        _fail(path, "the file is truncated or corrupt (not a complete .npz archive)")
    try:
        meta = json.loads(str(data.pop("__nncore__")))
    except (ValueError, TypeError) as e:
        _fail(path, f"its description is not valid JSON ({e})")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, "its description is not an nncore model")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        _fail(path, f"it was written in format version {version!r} by a newer nncore; this "
                    f"version reads up to {FORMAT_VERSION}")
    try:
        layers = [_layer_from_spec(spec, data, meta["dtype"], path) for spec in meta["layers"]]
        model = model_class(layers, dtype=meta["dtype"], input_shape=meta.get("input_shape"))
        # the seed and fit count go on the model after it is built (a seed given to
        # the constructor would re-initialise the weights): its next fit is the one the
        # saved model would have run
        if meta.get("seed") is not None:
            model.seed = int(meta["seed"])
        model.fits = int(meta.get("fits", 0))
        opt = meta.get("optimizer")
        if opt:
            cls = OPTIMIZERS.get(opt["type"])
            if cls is None:
                _fail(path, f"unknown optimizer type {opt['type']!r}")
            config = dict(opt["config"])
            if "betas" in config:
                config["betas"] = tuple(config["betas"])
            optimizer = cls(model.parameters(), **config)
            state = {key: data[name] for key, name in opt["state"].items()}
            optimizer.load_state_arrays(state, opt.get("steps", 0))
            model.optimizer = optimizer
        loss_name = meta.get("loss")
        if loss_name is not None:
            loss_cls = getattr(losses_mod, loss_name, None)
            if not (isinstance(loss_cls, type) and issubclass(loss_cls, losses_mod.Loss)):
                _fail(path, f"unknown loss type {loss_name!r}")
            model.loss = loss_cls(**(meta.get("loss_config") or {}))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        _fail(path, f"its description does not match its arrays ({type(e).__name__}: {e})")
    return model


def _not_an_archive(head):
    """Why a file that does not start as a zip archive (.npz) is not a model."""
    if not head:
        return "the file is empty"
    if head.startswith(b"\x93NUMPY"):
        return "it is a single NumPy array (.npy), not a model (.npz archive)"
    if head.startswith(b"\x80"):
        return ("it is a Python pickle, which nncore model files never are (nothing in it "
                "was run)")
    return f"it is not an .npz archive (it starts with {head[:16]!r})"


def zlib_error():
    import zlib
    return zlib.error
