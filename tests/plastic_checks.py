"""Shared checks of the plastic-layer tests (exporters/lava/plastic)."""
from __future__ import annotations

import numpy as np

from exporters.lava.plastic.run import Schedule, emulate, run_lava


def check_lava_equals_emulator(layers: list, sched: Schedule, checkpoint: int, fixed: bool) -> None:
    """The same layers in Lava and in the emulator: fixed point bit-exact (final parameters, the
    parameters read at ``checkpoint`` and the outputs), float equal to 1e-12; and the
    parameters moved between the checkpoint and the end (the run learned)."""
    emu = emulate(layers, sched, checkpoints=(checkpoint,))
    lava = run_lava(layers, sched, checkpoints=(checkpoint,))
    for k in emu.params:
        if fixed:
            np.testing.assert_array_equal(lava.params[k], emu.params[k], err_msg=k)
            np.testing.assert_array_equal(lava.checkpoints[checkpoint][k], emu.checkpoints[checkpoint][k], err_msg=k)
        else:
            np.testing.assert_allclose(lava.params[k], emu.params[k], atol=1e-12, rtol=0, err_msg=k)
    (np.testing.assert_array_equal if fixed else np.testing.assert_allclose)(lava.outputs, emu.outputs)
    assert any(not np.array_equal(emu.params[k], emu.checkpoints[checkpoint][k]) for k in emu.params)
