"""Run a chain of plastic layers over a schedule of samples, in Lava or in the emulator.

A :class:`Schedule` lays samples end to end (``T`` steps each): inputs (N, T, n_in), per-step
targets (N, T) (-1: no loss at that step), which samples learn, and the batch size (updates
are applied after every ``batch_size`` learning samples and after the last one), or
``update_every_step`` (an update after every learning time step, e.g. TBPTT(1) with
``update_every = 1``; needs ``batch_size = 1``: samples run one after another). Samples that
do not learn are evaluated with the current parameters, so one run yields a learning curve.

``run_lava`` builds one Lava process per layer (:mod:`.procs`) fed by RingBuffer sources (inputs
and targets) and records the head's output; ``emulate`` calls the same layer methods in the
same order in plain Python, so with equally seeded layers the two are bit-exact in fixed point.
Both can stop at ``checkpoints`` (sample counts) and report the parameters there.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from exporters.lava.plastic import fixed as fx
from exporters.lava.plastic.layer import OnlineHead, OnlineLayer


@dataclass
class Schedule:
    inputs: np.ndarray   # (N, T, n_in) real values
    targets: np.ndarray  # (N, T) int, -1 = no loss
    learn: np.ndarray    # (N,) bool
    batch_size: int = 1
    update_every_step: bool = False  # apply the updates after every learning step (batch_size 1)

    def __post_init__(self) -> None:
        self.inputs = np.asarray(self.inputs, dtype=np.float64)
        self.targets = np.asarray(self.targets, dtype=np.int64)
        self.learn = np.asarray(self.learn, dtype=bool)
        n, t = self.inputs.shape[:2]
        if self.targets.shape != (n, t) or self.learn.shape != (n,):
            raise ValueError(f"schedule: inputs {self.inputs.shape}, targets {self.targets.shape} (want {(n, t)}), "
                             f"learn {self.learn.shape} (want {(n,)})")
        if self.batch_size < 1:
            raise ValueError(f"schedule: batch_size must be >= 1, got {self.batch_size}")
        if self.update_every_step and self.batch_size != 1:
            raise ValueError(f"schedule: updates after every time step need batch_size = 1 (got {self.batch_size}): "
                             "samples run one after another, so a step cannot average over a batch of samples")

    @property
    def steps(self) -> int:
        return self.inputs.shape[1]

    def step_flags(self) -> tuple[np.ndarray, np.ndarray]:
        """Per step: ``learn`` (bool) and ``update`` (0, or the number of samples averaged)."""
        n, T = self.targets.shape
        learn = np.repeat(self.learn, T)
        if self.update_every_step:
            return learn, learn.astype(np.int64)
        update = np.zeros(n * T, dtype=np.int64)
        count = 0
        last = np.flatnonzero(self.learn)[-1] if self.learn.any() else -1
        for i in np.flatnonzero(self.learn):
            count += 1
            if count == self.batch_size or i == last:
                update[(i + 1) * T - 1] = count
                count = 0
        return learn, update


@dataclass
class OnlineResult:
    outputs: np.ndarray                 # (N, T, K) head outputs (real units)
    params: dict[str, np.ndarray]       # final parameters (real units, state_dict names)
    checkpoints: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0


def _check(layers: list[OnlineLayer], schedule: Schedule) -> None:
    if not layers or not isinstance(layers[-1], OnlineHead):
        raise ValueError("plastic chain: the last layer must be an OnlineHead (it turns targets into errors)")
    if len({layer.fixed for layer in layers}) != 1:
        raise ValueError("plastic chain: layers mix float and fixed point")
    n_in = schedule.inputs.shape[2]
    if n_in != layers[0].n_in:
        raise ValueError(f"plastic chain: inputs have {n_in} channels, first layer expects {layers[0].n_in}")
    for lo, hi in zip(layers, layers[1:]):
        if lo.n_out != hi.n_in or tuple(hi.err_out_shape) != tuple(lo.err_in_shape):
            raise ValueError(f"plastic chain: {type(lo).__name__} -> {type(hi).__name__} shapes do not match")


def _encode_inputs(layers: list[OnlineLayer], schedule: Schedule) -> np.ndarray:
    """(N*T, n_in) step inputs: real, or integers with the first layer's ``input_frac`` bits
    (refused unless every input is a multiple of 2^-input_frac: no silent rounding)."""
    x = schedule.inputs.reshape(-1, schedule.inputs.shape[-1])
    if not layers[0].fixed:
        return x
    q = fx.to_fixed(x, layers[0].input_frac)
    err = np.max(np.abs(q * 2.0 ** -layers[0].input_frac - x)) if x.size else 0.0
    if err > 1e-9 * 2.0 ** -layers[0].input_frac:
        raise ValueError(f"plastic chain: inputs are not multiples of 2^-{layers[0].input_frac} (input_frac="
                         f"{layers[0].input_frac}; rounding would change them by up to {err:.3g}): raise input_frac "
                         "or quantize the inputs first")
    return q


def _out_scale(layers: list[OnlineLayer]) -> float:
    return 2.0 ** -layers[-1].out_frac if layers[0].fixed else 1.0


def _params(layers: list[OnlineLayer]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for layer in layers:
        out.update(layer.params())
    return out


def emulate(layers: list[OnlineLayer], schedule: Schedule, checkpoints: tuple[int, ...] = ()) -> OnlineResult:
    """Run the schedule in plain Python with the layers' own methods (layers are copied)."""
    layers = copy.deepcopy(layers)
    _check(layers, schedule)
    x = _encode_inputs(layers, schedule)
    learn, update = schedule.step_flags()
    T = schedule.steps
    targets = schedule.targets.reshape(-1)
    outs = []
    cps: dict[int, dict[str, np.ndarray]] = {}
    t0 = time.time()
    for t in range(len(targets)):
        if t % T == 0:
            if t // T in checkpoints:
                cps[t // T] = _params(layers)
            for layer in layers:
                layer.reset()
        h = x[t]
        for layer in layers:
            h = layer.forward(h)
        outs.append(h)
        if learn[t]:  # the same calls as the Lava processes make (zero error without a target)
            g = (layers[-1].error(h, int(targets[t])) if targets[t] >= 0
                 else np.zeros(layers[-1].err_in_shape, h.dtype))
            for layer in reversed(layers):
                g = layer.backward(g)
        if update[t]:
            for layer in layers:
                layer.apply_update(int(update[t]))
    n = len(targets) // T
    if n in checkpoints:
        cps[n] = _params(layers)
    y = np.asarray(outs, dtype=np.float64).reshape(n, T, -1) * _out_scale(layers)
    return OnlineResult(y, _params(layers), cps, time.time() - t0, len(targets))


def run_lava(layers: list[OnlineLayer], schedule: Schedule, checkpoints: tuple[int, ...] = ()) -> OnlineResult:
    """Run the schedule as Lava processes (one per layer) in one Lava runtime; parameters are
    read from the processes' Vars at every checkpoint (the run pauses there). The run is guarded
    like inference runs (:func:`exporters.lava.session.lava_session`): channel segments are
    ``/dev/shm/zoo_lava_<pid>_*``, unlinked when the run stops, and an exception, Ctrl-C or
    SIGTERM tears the runtime down (workers killed, segments unlinked)."""
    from exporters.lava.session import lava_session  # first: Lava's start-method fix and segment manager
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from exporters.lava.plastic.procs import process_for

    _check(layers, schedule)
    fixed = layers[0].fixed
    x = _encode_inputs(layers, schedule)
    learn, update = schedule.step_flags()
    T, total = schedule.steps, x.shape[0]
    cfg = Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt")
    stops = sorted({c for c in checkpoints if 0 < c * T < total} | {total // T})
    cps: dict[int, dict[str, np.ndarray]] = {0: _params(layers)} if 0 in checkpoints else {}
    t0 = time.time()
    processes: list = []
    with lava_session(processes):
        src = Source(data=(x.T.astype(np.int32) if fixed else x.T))
        processes.append(src)
        tgt = Source(data=schedule.targets.reshape(1, -1).astype(np.int32 if fixed else np.float64))
        procs = [process_for(layer)(layer=layer, window=T, learn=learn, update=update, name=f"plastic{i}")
                 for i, layer in enumerate(layers)]
        src.s_out.connect(procs[0].x_in)
        for lo, hi in zip(procs, procs[1:]):
            lo.y_out.connect(hi.x_in)
            hi.g_out.connect(lo.g_in)
        tgt.s_out.connect(procs[-1].t_in)
        sink = Sink(shape=(layers[-1].n_out,), buffer=total)
        procs[-1].y_out.connect(sink.a_in)

        def read_params() -> dict[str, np.ndarray]:
            cur = copy.deepcopy(layers)  # only the parameter arrays are taken from Lava
            for layer, proc in zip(cur, procs):
                for k, arr in layer.arrays().items():
                    arr[...] = getattr(proc, k).get()
            return _params(cur)

        done = 0
        for c in stops:
            src.run(condition=RunSteps(num_steps=c * T - done), run_cfg=cfg)
            done = c * T
            if c in checkpoints:
                cps[c] = read_params()
        final = read_params()
        y = sink.data.get().T.reshape(total // T, T, -1)
        src.stop()  # on any exception or interrupt, lava_session tears the run down instead
    return OnlineResult(y * _out_scale(layers), final, cps, time.time() - t0, total)
