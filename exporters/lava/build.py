"""Plan -> real Lava processes, and running many samples in one Lava run.

Samples are laid end to end in windows of ``T + latency`` steps; ``ZooNeuron`` clears its
state at every window start (see :mod:`exporters.lava.procs.zoo_neuron`), so one runtime serves all
samples. Every population's spikes (and optionally voltages) and the output are recorded by
``lava.proc.io.sink.RingBuffer`` processes and read once at the end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source

from exporters.lava.emulator import RunResult, _align, check_inputs
from exporters.lava.plan import INPUT, OUTPUT, Plan
from exporters.lava.populations import custom_kind
from exporters.lava.procs.zoo_neuron import ZooNeuron
from exporters.lava.quantize import FixedPlan


@dataclass
class LavaNetwork:
    """The processes of one built network (kept for inspection)."""

    source: Source
    denses: dict[str, Dense]
    neurons: dict[str, ZooNeuron]
    spike_sinks: dict[str, Sink] = field(default_factory=dict)
    v_sinks: dict[str, Sink] = field(default_factory=dict)
    out_sink: Sink | None = None


def build(plan: Plan | FixedPlan, data: np.ndarray, window: int, record_v: bool = True, drain: int = 0
          ) -> LavaNetwork:
    """Create and connect the Lava processes for ``plan`` fed by ``data`` (n_in, total_steps)."""
    fixed = isinstance(plan, FixedPlan)
    base = plan.plan if fixed else plan
    total = data.shape[-1]
    source = Source(data=data.astype(np.int32) if fixed else data.astype(np.float64))
    neurons = {}
    specs = plan.neurons if fixed else base.neurons
    for name, s in specs.items():
        kind = custom_kind(s)
        if kind is not None:
            extra = {"drain": drain} if drain else {}
            neurons[name] = kind.process_class()(shape=(s.n,), params=s.params, latency=s.latency, window=window,
                                                 name=name, **extra)
            continue
        neurons[name] = ZooNeuron(shape=(s.n,), du=s.du, dv=s.dv, vth=s.vth, bias_u=s.bias_u, bias_v=s.bias_v,
                                  v_reset=s.v_reset, da=s.da, ja=s.ja, reset=s.reset, spiking=s.spiking,
                                  latency=s.latency, window=window, drain=drain, name=name)
    net = LavaNetwork(source, {}, neurons)
    for d in base.denses:
        if fixed and d.name == plan.host_readout:
            continue
        graded = d.graded(specs) and not (fixed and d.src == INPUT)
        conn, delay_kw = (DelayDense, {"delays": d.delay}) if d.delay else (Dense, {})
        if fixed:
            bits = 16 if (d.src == INPUT and plan.input_frac_bits) or d.src in plan.msg_unit else 0
            dense = conn(weights=plan.weights[d.name], weight_exp=plan.weight_exp[d.name], num_weight_bits=8,
                         num_message_bits=bits, name=d.name, **delay_kw)
        else:
            dense = conn(weights=d.weight, num_message_bits=24 if graded else 0, name=d.name, **delay_kw)
        net.denses[d.name] = dense
        if d.src == INPUT:
            source.s_out.connect(dense.s_in)
        elif d.graded(specs):
            neurons[d.src].v_out.connect(dense.s_in)
        else:
            neurons[d.src].s_out.connect(dense.s_in)
        if d.dst == OUTPUT:
            net.out_sink = Sink(shape=(d.weight.shape[0],), buffer=total)
            dense.a_out.connect(net.out_sink.a_in)
        else:
            dense.a_out.connect(neurons[d.dst].a_in)
    for name, s in specs.items():
        if s.spiking:
            net.spike_sinks[name] = Sink(shape=(s.n,), buffer=total)
            neurons[name].s_out.connect(net.spike_sinks[name].a_in)
        host = fixed and plan.host_readout and next(d for d in base.denses if d.name == plan.host_readout).src == name
        if record_v or host or (base.output_kind == "v" and base.output_src == name):
            net.v_sinks[name] = Sink(shape=(s.n,), buffer=total)
            neurons[name].v_out.connect(net.v_sinks[name].a_in)
    return net


def run_lava(plan: Plan | FixedPlan, inputs: np.ndarray, record_v: bool = True) -> RunResult:
    """Run inputs (B, T, *input_shape) through real Lava processes in one run; results aligned
    to the torch steps exactly like :func:`exporters.lava.emulator.emulate`."""
    fixed = isinstance(plan, FixedPlan)
    base = plan.plan if fixed else plan
    x = check_inputs(inputs, base, fixed, plan.input_frac_bits if fixed else 0)
    batch, steps = x.shape[:2]
    drain = max((d.delay for d in base.denses), default=0)  # silent steps: delayed activity dies out
    window = steps + base.latency + drain
    padded = np.zeros((batch, window, base.n_in))
    padded[:, :steps] = x
    data = padded.reshape(batch * window, base.n_in).T
    t0 = time.time()
    net = build(plan, data, window, record_v, drain)
    cfg = Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt")
    try:
        net.source.run(condition=RunSteps(num_steps=batch * window), run_cfg=cfg)
        def read(sink: Sink) -> np.ndarray:
            return sink.data.get().T.reshape(batch, window, -1)
        rec_s = {n: read(s).astype(np.int8) for n, s in net.spike_sinks.items()}
        rec_v = {n: read(s) for n, s in net.v_sinks.items()}
        out = read(net.out_sink) if net.out_sink is not None else None
    finally:
        net.source.stop()
    if fixed:
        rec_v = {n: np.rint(r).astype(np.int64) for n, r in rec_v.items()}
        out = np.rint(out).astype(np.int64) if out is not None else None
    return _align(plan, rec_s, rec_v, out, steps, time.time() - t0)
