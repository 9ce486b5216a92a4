"""``ShmRecorder``: a sink that writes what it receives straight into a shared-memory segment.

Lava's ``RingBuffer`` sink keeps its record in a Var, and reading a Var back
(``sink.data.get()``) sends one message per value through the runtime, which took most of a
one-sample lif-digits run (``python -m benchmarks.lava.scale``: the same one-sample network in
53.0 s with RingBuffer sinks, 11.6 s with these). This sink's process model attaches (by name) to a segment the parent created
(``exporters.lava.build``, which also unlinks it, on every exit path) and writes row
``time_step - 1`` of a (steps, n) array each step; the parent reads the array directly.
Values are stored as float64 (float models) or int64 (fixed point), exactly as received.
"""
from __future__ import annotations

import typing as ty
from multiprocessing.shared_memory import SharedMemory

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class ShmRecorder(AbstractProcess):
    """Records ``steps`` steps of ``a_in`` (shape (n,)) into segment ``segment`` as (steps, n)."""

    def __init__(self, *, shape: ty.Tuple[int, ...], steps: int, segment: str, dtype: str,
                 name: ty.Optional[str] = None) -> None:
        super().__init__(shape=shape, steps=int(steps), segment=segment, dtype=dtype, name=name)
        self.a_in = InPort(shape=shape)


class _RecorderModel(PyLoihiProcessModel):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.rec: np.ndarray | None = None
        self.shm: SharedMemory | None = None

    def run_spk(self) -> None:
        data = self.a_in.recv()
        if self.rec is None:  # attach in the worker process (the parent owns and unlinks the segment)
            p = self.proc_params
            self.shm = SharedMemory(name=p["segment"])
            self.rec = np.ndarray((p["steps"], data.size), dtype=p["dtype"], buffer=self.shm.buf)
        t = self.time_step - 1
        if t < self.rec.shape[0]:
            self.rec[t] = data


@implements(proc=ShmRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyShmRecorderFloat(_RecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)


@implements(proc=ShmRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyShmRecorderFixed(_RecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
