"""``BatchedConv``: one convolution stage (a chain of kernels) for B samples in one Lava step.

Why not ``lava.proc.conv.Conv``: it has no batch axis, lays data out as (X, Y, C) where the
zoo's populations are NIR's C-order (C, H, W), is 2-D only (no Conv1d), and its fixed-point
model ignores ``weight_exp`` (``lava/proc/conv/models.py``: the sum is only clamped to 24 bits),
so it cannot express the scaled 8-bit weights of the zoo's quantiser.

Semantics are those of :class:`~exporters.lava.procs.batched_dense.BatchedDense` (same ports,
timing, delay queue and sample-major batch layout): ``a_out`` at step t is the activity computed
from ``s_in`` at step t-1-d, where the activity of one sample is ``ops[-1](... ops[0](s))``
(:class:`~exporters.lava.conv.ConvOp` kernels, optionally a final dense matrix), computed by the
same :func:`~exporters.lava.linear_map.apply_ops` the emulator uses. Fixed point: integer
kernels (already in Lava's 8-bit ranges from :mod:`exporters.lava.quantize`), exact int64 sums,
then ``<< weight_exp`` (arithmetic right shift for a negative exponent), as the Dense stages.
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.linear_map import apply_ops, op_n_in, op_n_out
from exporters.lava.procs.batched_dense import BatchedFixedPorts, BatchedFloatPorts


class BatchedConv(AbstractProcess):
    """A chain of convolution kernels (``ops``) for ``batch`` samples; ``weights`` shows the last kernel."""

    def __init__(self, *, ops: tuple, batch: int, weight_exp: int = 0, num_message_bits: int = 0, delay: int = 0,
                 name: ty.Optional[str] = None) -> None:
        n_in, n_out = op_n_in(ops[0]), op_n_out(ops[-1])
        last = ops[-1] if isinstance(ops[-1], np.ndarray) else ops[-1].weight
        super().__init__(ops=tuple(ops), batch=int(batch), weight_exp=int(weight_exp),
                         num_message_bits=int(num_message_bits), delay=int(delay), name=name)
        self.s_in = InPort(shape=(batch * n_in,))
        self.a_out = OutPort(shape=(batch * n_out,))
        self.weights = Var(shape=last.shape, init=last)
        self.a_buff = Var(shape=(int(delay) + 1, batch * n_out), init=0)


@implements(proc=BatchedConv, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBatchedConvModelFloat(BatchedFloatPorts):
    def activity(self, s: np.ndarray) -> np.ndarray:
        src = s if self.graded else (s != 0).astype(np.float64)
        return apply_ops(self.proc_params["ops"], src)


@implements(proc=BatchedConv, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyBatchedConvModelFixed(BatchedFixedPorts):
    def activity(self, s: np.ndarray) -> np.ndarray:
        src = s.astype(np.int64) if self.graded else (s != 0).astype(np.int64)
        return self.shifted(apply_ops(self.proc_params["ops"], src))
