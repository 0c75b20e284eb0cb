"""Checks of scalar arguments shared by the optimisers and the schedules: a clear
TypeError / ValueError naming the function and the argument."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["check_real", "check_int_at_least"]


def check_real(fn, name, value, low=None, high=None, low_open=False, high_open=True):
    """``value`` as a float after checking it is a finite real number in the given range
    (TypeError / ValueError naming ``fn`` and ``name``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a real number; got {type(value).__name__}")
    v = float(value)
    bad = not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low)) \
        or (high is not None and (v >= high if high_open else v > high))
    if bad:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}, "
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        where = f" in {lo}{hi}" if lo and hi else (f" {'>' if low_open else '>='} {low:g}"
                                                   if lo else "")
        raise ValueError(f"{fn}: {name} must be a finite number{where}; got {value!r}")
    return v


def check_int_at_least(fn, name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{fn}: {name} must be an int >= {low}; got {value!r}")
    return int(value)
