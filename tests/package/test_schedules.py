"""Where the schedules live (nncore.lr_scheduler, re-exported by nncore.optim) and the
type checks of a schedule's optimiser (no torch needed)."""
import numpy as np
import pytest

import nncore as nc


def test_schedules_live_in_lr_scheduler_and_optim_reexports_them():
    import nncore.lr_scheduler as lrs
    for name in [n for n in lrs.__all__ if n != "step_schedule"]:
        assert getattr(nc.optim, name) is getattr(lrs, name), name
    assert issubclass(nc.OneCycleLR, lrs.LRScheduler)


def test_a_schedule_refuses_what_is_not_an_optimizer():
    with pytest.raises(TypeError, match="StepLR: optimizer must be an nncore optimizer; "
                                        "got list"):
        nc.StepLR([1.0], step_size=2)
    model = nc.Sequential([nc.Dense(2, 1)])
    with pytest.raises(TypeError, match="lr_scheduler must be a schedule of "
                                        "nncore.lr_scheduler .*got str"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), optimizer=nc.SGD(lr=0.1),
                  lr_scheduler="cosine", verbose=0)
