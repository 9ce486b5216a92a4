"""NIR -> Lava: ``compile_plan`` (graph -> populations + Dense stages), ``quantize_plan``
(Loihi fixed point), ``run_lava`` (real Lava processes) and ``emulate`` (bit-exact numpy twin).

``build_plan(graph, precision)`` returns the float :class:`Plan` or the :class:`FixedPlan`."""
from __future__ import annotations

import nir

from exporters.lava.emulator import RunResult, emulate
from exporters.lava.plan import Plan, compile_plan
from exporters.lava.quantize import FixedPlan, check_fixed_sources, quantize_plan


def build_plan(graph: nir.NIRGraph, precision: str = "fixed", dt: float | None = None,
               input_frac_bits: int | None = None, calibrate=None) -> Plan | FixedPlan:
    """Compile ``graph``; ``precision`` is ``"fixed"`` (Loihi integers) or ``"float"``.
    ``input_frac_bits`` (fixed point, graded inputs): default from graph metadata, else 0 (spikes).
    ``calibrate``: inputs (B, T, ...) run once through the float emulator to bound the state of
    populations without a threshold (graded populations need it to choose their scale)."""
    if precision not in ("fixed", "float"):
        raise ValueError(f"precision must be 'fixed' or 'float', got {precision!r}")
    plan = compile_plan(graph, dt)
    if precision == "float":
        return plan
    check_fixed_sources(plan)
    if input_frac_bits is None:
        input_frac_bits = int((graph.metadata or {}).get("input_frac_bits", 0))
    calibration = emulate(plan, calibrate).state_max if calibrate is not None else None
    return quantize_plan(plan, input_frac_bits, calibration)


def run_lava(plan, inputs, record_v: bool = True, batch_size: int | None = None, lava_sinks: bool = False
             ) -> RunResult:
    """Run in the Lava CPU simulator (imports Lava lazily). ``batch_size``: samples side by side
    per Lava step (1: the one-sample network; None: as many as a byte budget allows, or env
    ``ZOO_LAVA_BATCH``); every batch size gives the same bits. ``lava_sinks``: record through
    Lava's RingBuffer (slow read-back) instead of shared-memory recorders."""
    from exporters.lava.build import run_lava as _run

    return _run(plan, inputs, record_v, batch_size, lava_sinks)


__all__ = ["FixedPlan", "Plan", "RunResult", "build_plan", "compile_plan", "emulate", "quantize_plan", "run_lava"]
