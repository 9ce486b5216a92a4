"""``BatchedDense``: one Lava Dense stage applied to B samples side by side in one Lava step.

Ports carry B samples flattened sample-major: ``s_in`` is (B*n_in,), ``a_out`` is (B*n_out,),
row b of the (B, n) view is sample b. The weight matrix (n_out, n_in) is stored once (not a
block-diagonal kron(I_B, W), whose memory and work grow with B^2) and applied to every row.

The arithmetic is Lava's own Dense / DelayDense process models
(``lava.proc.dense.models``), row by row:

* float, binary spikes: ``a_b = W[:, s_b].sum(axis=1)``; graded (num_message_bits > 0):
  ``a_b = W.dot(s_b)``; with a delay d (``DelayDense``, uniform d): ``a_b = sum(W * s_b, axis=1)``.
  Float rows are computed one at a time with exactly these numpy calls, so the summation order
  (hence every bit) is that of the one-sample Lava run.
* fixed point: weights clipped and truncated by Lava's ``clip_weights``/``truncate_weights``
  (8-bit, sign mode of the matrix), ``a = (W @ s) << weight_exp`` (arithmetic right shift for a
  negative exponent). Integer sums are exact in any order, so all rows are one int64 matmul
  (Lava sums binary columns in int64 too; graded int32 dot products would wrap beyond 2^31,
  which the zoo's 8-bit weights x 16-bit messages never reach).
* timing: ``a_out`` at step t is the activity computed at step t-1-d (Lava's buffered Dense).
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights


class BatchedDense(AbstractProcess):
    """Dense (or DelayDense with one uniform ``delay``) for ``batch`` samples at once."""

    def __init__(self, *, weights: np.ndarray, batch: int, weight_exp: int = 0, num_weight_bits: int = 8,
                 num_message_bits: int = 0, delay: int = 0, name: ty.Optional[str] = None) -> None:
        weights = np.asarray(weights)
        n_out, n_in = weights.shape
        super().__init__(batch=int(batch), weight_exp=int(weight_exp), num_weight_bits=int(num_weight_bits),
                         num_message_bits=int(num_message_bits), delay=int(delay), name=name)
        self.s_in = InPort(shape=(batch * n_in,))
        self.a_out = OutPort(shape=(batch * n_out,))
        self.weights = Var(shape=weights.shape, init=weights)
        self.a_buff = Var(shape=(int(delay) + 1, batch * n_out), init=0)


class _BatchedDenseModel(PyLoihiProcessModel):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.batch = int(proc_params["batch"])
        self.delay = int(proc_params["delay"])
        self.graded = int(proc_params["num_message_bits"]) > 0
        self.weight_exp = int(proc_params["weight_exp"])

    def activity(self, s: np.ndarray) -> np.ndarray:
        """(B, n_in) -> (B, n_out) new activity."""
        raise NotImplementedError

    def run_spk(self) -> None:
        self.a_out.send(self.a_buff[0])
        s = self.s_in.recv().reshape(self.batch, -1)
        act = self.activity(s).reshape(-1)
        if self.delay:  # Lava's DelayDense: shift the queue, clear the new slot, add the activity
            self.a_buff[:-1] = self.a_buff[1:].copy()
            self.a_buff[-1] = 0
            self.a_buff[-1] += act
        else:
            self.a_buff[-1] = act


class BatchedFloatPorts(_BatchedDenseModel):
    """Ports and variables of a float batched stage (shared with ``BatchedConv``)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_buff: np.ndarray = LavaPyType(np.ndarray, float)
    weights: np.ndarray = LavaPyType(np.ndarray, float)


class BatchedFixedPorts(_BatchedDenseModel):
    """Ports and variables of a fixed-point batched stage (shared with ``BatchedConv``)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buff: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)

    def shifted(self, a: np.ndarray) -> np.ndarray:
        """a << weight_exp (arithmetic right shift for a negative exponent)."""
        e = self.weight_exp
        return np.left_shift(a, e) if e > 0 else np.right_shift(a, -e)


@implements(proc=BatchedDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBatchedDenseModelFloat(BatchedFloatPorts):
    def activity(self, s: np.ndarray) -> np.ndarray:
        w = self.weights
        if self.delay:  # Lava's DelayDense: sum(delay_weights * s, axis=1)
            rows = [np.sum(w * (row if self.graded else row.astype(bool)), axis=1) for row in s]
        elif self.graded:  # Lava's Dense: weights.dot(s_in)
            rows = [w.dot(row) for row in s]
        else:  # Lava's Dense: weights[:, s_in].sum(axis=1)
            rows = [w[:, row.astype(bool)].sum(axis=1) for row in s]
        return np.stack(rows)


@implements(proc=BatchedDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyBatchedDenseModelFixed(BatchedFixedPorts):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.w_t: np.ndarray | None = None

    def activity(self, s: np.ndarray) -> np.ndarray:
        if self.w_t is None:  # as Lava's PyDenseModelBitAcc on its first step
            sign_mode = determine_sign_mode(self.weights)
            w = clip_weights(self.weights, sign_mode, num_bits=8)
            w = truncate_weights(w, sign_mode, int(self.proc_params["num_weight_bits"]))
            self.w_t = np.ascontiguousarray(np.asarray(w, dtype=np.int64).T)
        src = s.astype(np.int64) if self.graded else (s != 0).astype(np.int64)
        return self.shifted(src @ self.w_t)
