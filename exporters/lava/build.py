"""Plan -> real Lava processes, and running many samples in one Lava run.

Samples are laid end to end in windows of ``T + latency`` steps; ``ZooNeuron`` clears its
state at every window start (see :mod:`exporters.lava.procs.zoo_neuron`), so one runtime serves all
samples. Batches: each window holds B samples side by side (every process has B copies of its
population, sample-major, and every Dense stage is a ``BatchedDense`` that applies the one weight
matrix to each sample), so one Lava step advances B samples; Lava's per-step messaging, not the
arithmetic, is what a step costs. ``batch_size=1`` keeps the one-sample network (Lava's Dense).
A convolution stage (:class:`~exporters.lava.plan.ConvSpec`) is always a ``BatchedConv``
(:mod:`exporters.lava.procs.batched_conv`: kernels, no dense matrix), batch 1 included.
Every population's spikes (and optionally voltages) and the output are recorded by
``lava.proc.io.sink.RingBuffer`` processes and read once at the end.
Interrupts, faults and shared memory: :mod:`exporters.lava.session`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from exporters.lava.session import (  # noqa: F401 (re-exported: the run guard lives there)
    INTERRUPT_DEADLINE, SHM_PREFIX, SegmentManager, _new_segment, _shm_fits, _unlink, lava_session)
from lava.magma.core.run_conditions import RunSteps  # noqa: E402 (after the start-method fix in session)
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source

from exporters.lava.emulator import RunResult, _align, check_inputs
from exporters.lava.plan import INPUT, OUTPUT, ConvSpec, Plan
from exporters.lava.populations import custom_kind
from exporters.lava.procs.zoo_neuron import ZooNeuron
from exporters.lava.quantize import FixedPlan, stage_ops


@dataclass
class LavaNetwork:
    """The processes of one built network (kept for inspection)."""

    source: Source
    denses: dict[str, Dense]
    neurons: dict[str, ZooNeuron]
    spike_sinks: dict[str, Sink] = field(default_factory=dict)
    v_sinks: dict[str, Sink] = field(default_factory=dict)
    out_sink: Sink | None = None
    segments: dict[str, tuple[SharedMemory, tuple[int, int], str]] = field(default_factory=dict)  # ShmRecorder

    def record(self, sink) -> np.ndarray:
        """What ``sink`` received, (n, steps) as ``RingBuffer.data``: read from its segment
        (``ShmRecorder``, which is then unlinked) or through Lava (``RingBuffer``)."""
        if sink.name not in self.segments:
            return sink.data.get()
        shm, shape, dtype = self.segments.pop(sink.name)
        view = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
        data = view.T.copy()
        del view
        _unlink(shm.name)
        return data

    def windows(self, sink, batch: int, n_win: int, window: int) -> np.ndarray:
        """What ``sink`` received as (n_win * batch, window, n): Lava step w*window + t of sample
        b of the sink's (batch * n) values -> row w*batch + b, step t (one copy of the record)."""
        if sink.name not in self.segments:
            a = sink.data.get().reshape(batch, -1, n_win, window).transpose(2, 0, 3, 1)
            return a.reshape(n_win * batch, window, -1)
        shm, shape, dtype = self.segments.pop(sink.name)
        view = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
        data = np.array(view.reshape(n_win, window, batch, -1).transpose(0, 2, 1, 3), copy=True)
        del view
        _unlink(shm.name)
        return data.reshape(n_win * batch, window, -1)

    def release(self) -> None:
        """Unlink the recorder segments not read (a run that failed before reading)."""
        for shm, _, _ in self.segments.values():
            _unlink(shm.name)
        self.segments.clear()


def build(plan: Plan | FixedPlan, data: np.ndarray, window: int, record_v: bool = True, drain: int = 0,
          batch: int | None = None, lava_sinks: bool = False) -> LavaNetwork:
    """Create and connect the Lava processes for ``plan`` fed by ``data`` (n_in, total_steps).

    ``batch`` = B: every process holds B samples side by side (``data`` is (B*n_in, steps),
    sample-major) and every Dense stage is a :class:`~exporters.lava.procs.batched_dense.BatchedDense`;
    ``None``: the one-sample network with Lava's own ``Dense`` / ``DelayDense``. Records go to
    :class:`~exporters.lava.procs.recorder.ShmRecorder` sinks (shared memory, read without
    Lava's one-message-per-value Var reads) unless ``lava_sinks`` (Lava's ``RingBuffer``)."""
    from exporters.lava.procs.batched_conv import BatchedConv
    from exporters.lava.procs.batched_dense import BatchedDense
    from exporters.lava.procs.recorder import ShmRecorder

    fixed = isinstance(plan, FixedPlan)
    base = plan.plan if fixed else plan
    copies = batch or 1
    total = data.shape[-1]
    source = Source(data=data.astype(np.int32 if fixed else np.float64, copy=False))
    neurons = {}
    specs = plan.neurons if fixed else base.neurons
    for name, s in specs.items():
        kind = custom_kind(s)
        if kind is not None:
            neurons[name] = kind.process_class()(shape=(s.n,), params=s.params, latency=s.latency, window=window,
                                                 name=name, drain=drain, batch=copies)
            continue
        neurons[name] = ZooNeuron(shape=(s.n,), du=s.du, dv=s.dv, vth=s.vth, bias_u=s.bias_u, bias_v=s.bias_v,
                                  v_reset=s.v_reset, da=s.da, ja=s.ja, reset=s.reset, spiking=s.spiking,
                                  latency=s.latency, window=window, drain=drain, name=name, batch=copies)
    net = LavaNetwork(source, {}, neurons)

    def sink(n: int, name: str, spikes: bool = False):
        """Spikes are recorded as int8 (0/1), fixed-point values as int32 (the ports' type), float as float64."""
        if lava_sinks:
            return Sink(shape=(n,), buffer=total)
        dtype = "int8" if spikes else "int32" if fixed else "float64"
        shm = _new_segment(max(1, np.dtype(dtype).itemsize * n * total))
        rec = ShmRecorder(shape=(n,), steps=total, segment=shm.name, dtype=dtype, name=f"rec:{name}")
        net.segments[rec.name] = (shm, (total, n), dtype)
        return rec
    for d in base.denses:
        if fixed and d.name == plan.host_readout:
            continue
        graded = d.graded(specs) and not (fixed and d.src == INPUT)
        if fixed:
            bits = 16 if (d.src == INPUT and plan.input_frac_bits) or d.src in plan.msg_unit else 0
            kw = dict(weights=plan.weights[d.name], weight_exp=plan.weight_exp[d.name], num_weight_bits=8,
                      num_message_bits=bits, name=d.name)
        else:
            kw = dict(weights=None if isinstance(d, ConvSpec) else d.weight, num_message_bits=24 if graded else 0,
                      name=d.name)
        if isinstance(d, ConvSpec):  # kernels, never a dense matrix; batch 1 is a batch of one
            kw.pop("weights"), kw.pop("num_weight_bits", None)
            dense = BatchedConv(ops=stage_ops(plan, d), batch=copies, delay=d.delay, **kw)
        elif batch is not None:
            dense = BatchedDense(batch=batch, delay=d.delay, **kw)
        else:
            dense = DelayDense(delays=d.delay, **kw) if d.delay else Dense(**kw)
        net.denses[d.name] = dense
        if d.src == INPUT:
            source.s_out.connect(dense.s_in)
        elif d.graded(specs):
            neurons[d.src].v_out.connect(dense.s_in)
        else:
            neurons[d.src].s_out.connect(dense.s_in)
        if d.dst == OUTPUT:
            net.out_sink = sink(copies * d.n_out, d.name)
            dense.a_out.connect(net.out_sink.a_in)
        else:
            dense.a_out.connect(neurons[d.dst].a_in)
    for name, s in specs.items():
        if s.spiking:
            net.spike_sinks[name] = sink(copies * s.n, f"{name}:s", spikes=True)
            neurons[name].s_out.connect(net.spike_sinks[name].a_in)
        host = fixed and plan.host_readout and next(d for d in base.denses if d.name == plan.host_readout).src == name
        if record_v or host or (base.output_kind == "v" and base.output_src == name):
            net.v_sinks[name] = sink(copies * s.n, f"{name}:v")
            neurons[name].v_out.connect(net.v_sinks[name].a_in)
    return net


# Default batch: as many samples per Lava step as fit this many bytes of per-step messages (all
# ports of one step, 8 bytes a value); Lava's per-step cost is mostly messaging overhead, so
# larger batches are cheaper per sample until the arrays themselves dominate.
BATCH_BYTES_DEFAULT = 8 * 1024 ** 2
BATCH_ENV = "ZOO_LAVA_BATCH"  # a fixed batch size (1: the one-sample network, Lava's own Dense)


def default_batch(plan: Plan | FixedPlan, samples: int) -> int:
    """Samples per Lava step when ``run_lava`` is not told: env ``ZOO_LAVA_BATCH`` if set, else
    all samples, bounded by :data:`BATCH_BYTES_DEFAULT` of per-step messages."""
    raw = os.environ.get(BATCH_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{BATCH_ENV} must be a positive integer, got {raw!r}") from None
        if value < 1:
            raise ValueError(f"{BATCH_ENV} must be a positive integer, got {raw!r}")
        return max(1, min(value, samples))
    base = plan.plan if isinstance(plan, FixedPlan) else plan
    per_sample = base.n_in + sum(3 * s.n for s in base.neurons.values()) \
        + sum(2 * d.n_out for d in base.denses)  # source; a_in, s_out, v_out; Dense out (+ sink)
    return max(1, min(samples, BATCH_BYTES_DEFAULT // (8 * per_sample)))


def _as_int64(a: np.ndarray) -> np.ndarray:
    """Fixed-point records as int64 (Lava's RingBuffer sinks hold them as floats)."""
    return a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else np.rint(a).astype(np.int64)


def run_lava(plan: Plan | FixedPlan, inputs: np.ndarray, record_v: bool = True, batch_size: int | None = None,
             lava_sinks: bool = False) -> RunResult:
    """Run inputs (B, T, *input_shape) through real Lava processes in one run; results aligned
    to the torch steps exactly like :func:`exporters.lava.emulator.emulate`.

    ``batch_size`` = B > 1: B samples side by side in every Lava step (:func:`build` with
    ``batch``), the samples in ceil(N/B) consecutive windows (the last one padded with silent
    samples that are dropped); ``1``: the one-sample network (Lava's own Dense), samples laid end
    to end in windows; ``None``: :func:`default_batch`. All give bit-identical results.
    ``lava_sinks``: record with Lava's ``RingBuffer`` (read back one value per message, slow:
    the network of earlier versions) instead of shared-memory recorders."""
    fixed = isinstance(plan, FixedPlan)
    base = plan.plan if fixed else plan
    x = check_inputs(inputs, base, fixed, plan.input_frac_bits if fixed else 0)
    samples, steps = x.shape[:2]
    if batch_size is None:
        batch_size = default_batch(plan, samples)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batch = max(1, min(int(batch_size), samples))
    n_win = -(-samples // batch)  # windows in time; each holds `batch` samples side by side
    drain = max((d.delay for d in base.denses), default=0)  # silent steps: delayed activity dies out
    window = steps + base.latency + drain
    padded = np.zeros((n_win * batch, window, base.n_in), np.int32 if fixed else np.float64)  # Source's dtype
    padded[:samples, :steps] = x
    # Lava step w*window + t carries step t of samples w*batch .. w*batch + batch-1, sample-major
    data = padded.reshape(n_win, batch, window, base.n_in).transpose(1, 3, 0, 2).reshape(batch * base.n_in,
                                                                                          n_win * window)
    if not lava_sinks and not _shm_fits(8 * n_win * window * batch * (
            2 * sum(s.n for s in base.neurons.values()) + max(d.n_out for d in base.denses))):
        lava_sinks = True  # records larger than the free /dev/shm: Lava's RingBuffer sinks (slower, same bits)
    t0 = time.time()
    cfg = Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt")
    processes: list = []
    net = None
    try:
        with lava_session(processes):
            net = build(plan, data, window, record_v, drain, batch=None if batch == 1 else batch,
                        lava_sinks=lava_sinks)
            processes.append(net.source)

            def read(sink) -> np.ndarray:  # (samples, window, n)
                return net.windows(sink, batch, n_win, window)[:samples]
            net.source.run(condition=RunSteps(num_steps=n_win * window), run_cfg=cfg)
            rec_s = {n: read(s).astype(np.int8, copy=False) for n, s in net.spike_sinks.items()}
            rec_v = {n: read(s) for n, s in net.v_sinks.items()}
            out = read(net.out_sink) if net.out_sink is not None else None
            net.source.stop()  # on any exception or interrupt, lava_session tears the run down instead
    finally:
        if net is not None:
            net.release()
    if fixed:
        rec_v = {n: _as_int64(r) for n, r in rec_v.items()}
        out = _as_int64(out) if out is not None else None
    return _align(plan, rec_s, rec_v, out, steps, time.time() - t0)
