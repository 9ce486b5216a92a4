"""Batched numpy twin of the Lava network built by :mod:`exporters.lava.build`.

Same plan, same quantisation, same neuron arithmetic (:mod:`exporters.lava.neuron_math`) and
the same timing: at Lava step t every population reads the Dense buffers written at t-1, then
every Dense stage computes its buffer from its source's output at t (binary spikes or input).
Fixed-point Dense: a = (W_int @ s) << weight_exp; a convolution stage applies its integer
kernels in order (exact int64 sums, :class:`exporters.lava.conv.ConvOp`), then the same shift.
Runs all samples at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exporters.lava.linear_map import apply_ops
from exporters.lava.neuron_math import RESET_CODES, step_fixed, step_float
from exporters.lava.plan import INPUT, OUTPUT, Plan
from exporters.lava.populations import custom_kind
from exporters.lava.quantize import FixedPlan, stage_ops


@dataclass
class RunResult:
    """Outputs aligned to the torch reference: arrays (B, T, ...) per population and output."""

    output: np.ndarray  # float values (dequantised in fixed point)
    spikes: dict[str, np.ndarray]  # population -> (B, T, n) spikes (spiking populations)
    voltages: dict[str, np.ndarray]  # population -> (B, T, n) v (raw: int in fixed point)
    output_raw: np.ndarray  # as produced (int in fixed point)
    latency: int
    seconds: float = 0.0
    state_max: dict[str, float] = field(default_factory=dict)  # emulator: max |state| per population


def check_inputs(x: np.ndarray, plan: Plan, fixed: bool, input_frac_bits: int = 0) -> np.ndarray:
    """Validate (B, T, *input_shape) inputs. Fixed point: binary spikes, or (with
    ``input_frac_bits`` = k > 0) graded values that are exact multiples of 2^-k, returned as
    the integers x*2^k (never silently rounded)."""
    from exporters.nir.io import NIRError
    from exporters.nir.validate import check_input

    x = np.asarray(check_input(x, tuple(plan.input_shape)))  # the check every backend shares
    x = x.reshape(x.shape[0], x.shape[1], plan.n_in)
    if fixed and input_frac_bits == 0 and not np.isin(x, (0, 1)).all():
        raise NIRError("fixed point takes binary spike inputs (0/1); got graded values — encode them as spikes "
                       "or build the plan with input_frac_bits")
    if fixed and input_frac_bits > 0:
        xi = x * 2 ** input_frac_bits
        if not np.array_equal(xi, np.round(xi)) or np.abs(xi).max() >= 2 ** 15:
            raise NIRError(f"graded inputs must be multiples of 2^-{input_frac_bits} below 2^{15 - input_frac_bits} "
                           "in fixed point (they are not rounded silently)")
        return np.round(xi).astype(np.int64)
    return x


def emulate(plan: Plan | FixedPlan, inputs: np.ndarray) -> RunResult:
    """Run ``plan`` on inputs (B, T, *input_shape); outputs aligned to the torch steps."""
    import time

    t0 = time.time()
    fixed = isinstance(plan, FixedPlan)
    base = plan.plan if fixed else plan
    x = check_inputs(inputs, base, fixed, plan.input_frac_bits if fixed else 0)
    batch, steps = x.shape[:2]
    total = steps + base.latency
    specs = plan.neurons if fixed else base.neurons
    dtype = np.int64 if fixed else np.float64
    step = step_fixed if fixed else step_float
    ops = {d.name: stage_ops(plan, d) for d in base.denses}
    u = {n: np.zeros((batch, s.n), dtype) for n, s in specs.items()}
    v = {n: np.zeros((batch, s.n), dtype) for n, s in specs.items()}
    adapt = {n: np.zeros((batch, s.n), dtype) for n, s in specs.items()}
    custom = {n: k for n, s in specs.items() if (k := custom_kind(s)) is not None}
    cstate = {n: k.init_state(batch, specs[n].n, fixed) for n, k in custom.items()}
    smax = {n: 0.0 for n in specs}
    out_s = {n: np.zeros((batch, s.n), dtype) for n, s in specs.items()}
    buf = {d.name: [np.zeros((batch, d.n_out), dtype)] * (d.delay + 1) for d in base.denses}
    rec_s = {n: np.zeros((batch, total, s.n), np.int8) for n, s in specs.items() if s.spiking}
    rec_v = {n: np.zeros((batch, total, s.n), dtype) for n, s in specs.items()}
    out_dense = np.zeros((batch, total, base.denses[-1].n_out), dtype) if base.output_kind == "dense" else None
    for t in range(total):
        a_in = {n: np.zeros((batch, s.n), dtype) for n, s in specs.items()}
        for d in base.denses:  # activity computed 1 + delay steps ago
            if d.dst == OUTPUT:
                out_dense[:, t] = buf[d.name][0]
            else:
                a_in[d.dst] += buf[d.name][0]
        for n, s in specs.items():
            if t < s.latency:
                continue
            if n in custom:
                spk = custom[n].step(cstate[n], a_in[n], s.params, fixed)
                v[n] = cstate[n]["v"]
                smax[n] = max(smax[n], max(float(np.abs(a).max()) for a in cstate[n].values()))
            else:
                u[n], v[n], adapt[n], spk = step(u[n], v[n], adapt[n], a_in[n], s.du, s.dv, s.vth, s.bias_u,
                                                 s.bias_v, s.v_reset, s.da, s.ja, RESET_CODES[s.reset], s.spiking)
                smax[n] = max(smax[n], float(np.abs(u[n]).max()), float(np.abs(v[n]).max()))
            out_s[n] = spk.astype(dtype)
            if s.spiking:
                rec_s[n][:, t] = spk
            rec_v[n][:, t] = v[n]
        x_t = x[:, t] if t < steps else np.zeros((batch, base.n_in))
        for d in base.denses:
            if fixed and d.name == plan.host_readout:
                continue
            src = x_t.astype(dtype) if d.src == INPUT else (v[d.src] if d.graded(specs) else out_s[d.src])
            a = apply_ops(ops[d.name], src)
            if fixed:
                e = plan.weight_exp[d.name]
                a = np.left_shift(a, e) if e >= 0 else np.right_shift(a, -e)
            buf[d.name] = buf[d.name][1:] + [a]
    res = _align(plan, rec_s, rec_v, out_dense, steps, time.time() - t0)
    res.state_max = smax
    return res


def _align(plan: Plan | FixedPlan, rec_s: dict, rec_v: dict, out_dense: np.ndarray | None, steps: int,
           seconds: float) -> RunResult:
    """Crop each record to the torch steps using its latency; dequantise the output."""
    fixed = isinstance(plan, FixedPlan)
    base = plan.plan if fixed else plan
    spikes = {n: r[:, base.neurons[n].latency:base.neurons[n].latency + steps] for n, r in rec_s.items()}
    volts = {n: r[:, base.neurons[n].latency:base.neurons[n].latency + steps] for n, r in rec_v.items()}
    if base.output_kind == "spikes":
        raw = spikes[base.output_src]
        out = raw.astype(np.float64)
    elif base.output_kind == "v":
        raw = volts[base.output_src]
        out = raw / (64.0 * plan.scale[base.output_src]) if fixed else raw.astype(np.float64)
    else:
        if fixed and plan.host_readout:  # membrane readout: float weights on the recorded voltages
            d = next(d for d in base.denses if d.name == plan.host_readout)
            raw = volts[d.src]
            x = raw * plan.msg_unit.get(d.src, 1.0 / (64.0 * plan.scale[d.src]))
            out = apply_ops(stage_ops(base, d), x)
        else:
            raw = out_dense[:, base.latency:base.latency + steps]
            out = raw / plan.scale[base.output_src] if fixed else raw.astype(np.float64)
        if base.output_bias is not None:  # readout Affine bias: a host-side offset on the sink values
            out = out + base.output_bias
    out = out.reshape(out.shape[0], steps, *base.output_shape)
    return RunResult(out, spikes, volts, raw, base.latency, seconds)
