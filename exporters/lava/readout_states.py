"""The ``"lava-fixed"`` reader of TBPTT readout states (:data:`zoo.learning.tbptt.READOUT_STATES`).

The membrane states the model has in Loihi fixed point: the NIR export of the current weights,
inputs on the fixed-point grid, run through the emulator that is bit-exact with the Lava
fixed-point processes; the states are returned in float units (state / (64 S), or the graded
message unit), i.e. exactly what a membrane readout applied on the host receives.
"""
from __future__ import annotations

import numpy as np
import torch

from exporters.lava.emulator import emulate
from exporters.lava.quantize import quantize_inputs
from exporters.nir import to_nir
from zoo.learning.base import time_first
from zoo.learning.tbptt import READOUT_STATES

CALIBRATION_SAMPLES = 32  # leading samples of the batch used to bound graded populations


@torch.no_grad()
def fixed_point_states(model: torch.nn.Module, xs: torch.Tensor) -> torch.Tensor:
    """(T, B, H) fixed-point membrane states read by the host readout, for inputs ``xs`` (T, B, ...)."""
    from exporters.lava import build_plan

    was = model.training
    model.eval()
    try:
        graph = to_nir(model, dt=1.0, metadata={"reset": "subtract"}, input_shape=tuple(xs.shape[2:]))
    finally:
        model.train(was)
    x = time_first(xs).detach().cpu().numpy().astype(np.float64)  # (B, T, ...)
    xq, frac_bits, _ = quantize_inputs(x)
    cal = x[:CALIBRATION_SAMPLES]
    if frac_bits:
        cal = np.round(cal * 2 ** frac_bits) / 2 ** frac_bits
    plan = build_plan(graph, "fixed", input_frac_bits=frac_bits, calibrate=cal)
    if not plan.host_readout:
        raise ValueError("TBPTT readout_states = 'lava-fixed' needs a membrane readout applied on the host")
    src = next(d for d in plan.plan.denses if d.name == plan.host_readout).src
    v = emulate(plan, xq).voltages[src] * plan.msg_unit.get(src, 1.0 / (64.0 * plan.scale[src]))  # (B, T, H)
    return time_first(torch.from_numpy(np.ascontiguousarray(v)))


READOUT_STATES.register("lava-fixed", fixed_point_states)
