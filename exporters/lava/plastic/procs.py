"""Lava Processes and ProcessModels hosting :class:`~exporters.lava.plastic.layer.OnlineLayer` s.

One process per plastic layer. Ports: ``x_in`` (this step's input), ``y_out`` (this step's
output), ``g_in`` (error on the output, from the layer above; the head has ``t_in``, the target
of the step, instead) and ``g_out`` (error on the input, to the layer below). Every time step,
in ``run_spk``: receive ``x_in``, ``forward``, send ``y_out``; then receive the error (the
head computes it from ``t_in``; zero on steps without a target), ``backward`` on learning
steps, send ``g_out`` — forward messages go up and
error messages come down within the same step, so the rule sees the same-step errors it
needs, and no process blocks on a message that depends on its own unsent output.

The training schedule (``learn``: steps that learn; ``update``: steps after which the
accumulated updates are applied, with the number of samples they average over) and the sample
length ``window`` (state and traces reset every window) are process parameters, identical for
all layers. Each layer's parameter arrays are mirrored in Lava Vars of the same names
(``proc.weight.get()``), refreshed after every update.

Process classes are declared per layer kind (their Vars differ) with :func:`declare`; the
float (``floating_pt``) and fixed (``fixed_pt``) models differ only in port/Var types.

Threads: Lava starts every process model in a child made by ``fork`` (it sets that start method
at import). A forked child inherits the parent's OpenMP (libgomp) thread-pool bookkeeping but not
its threads, so once the parent has run a parallel torch op (``zoo train`` sets ``ZOO_THREADS``,
default 2, intra-op threads), the child's first torch op large enough to run in parallel (STAR's
SGD step on its 128 x 512 input weights; e-prop's float layers hung too) waits forever for
threads that do not exist. Each model therefore calls :func:`torch_threads_for_worker` first
thing in its constructor (which runs in the child, before any torch call there): one intra-op
thread, as torch's own DataLoader workers do.
"""
from __future__ import annotations

import sys
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

from exporters.lava.plastic.layer import OnlineHead, OnlineLayer


class PlasticProcess(AbstractProcess):
    """Base of the per-kind plastic layer processes (see module docstring)."""

    def __init__(self, *, layer: OnlineLayer, window: int, learn: np.ndarray, update: np.ndarray,
                 name: str | None = None) -> None:
        super().__init__(layer=layer, window=window, learn=learn, update=update, name=name)
        self.x_in = InPort(shape=(layer.n_in,))
        self.y_out = OutPort(shape=(layer.n_out,))
        if isinstance(layer, OnlineHead):
            self.t_in = InPort(shape=(1,))
        else:
            self.g_in = InPort(shape=layer.err_in_shape)
        self.g_out = OutPort(shape=layer.err_out_shape)
        for k, arr in layer.arrays().items():
            setattr(self, k, Var(shape=arr.shape, init=arr))


def torch_threads_for_worker() -> None:
    """Run torch single-threaded in this (forked Lava worker) process: no OpenMP parallel region
    is entered, so the pool the parent may have used before the fork is never waited on. Call it
    before the worker's first torch op (``tests/test_lava_threads.py``)."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


class PlasticModel(PyLoihiProcessModel):
    """``run_spk``: forward up, error down, same step (see module docstring)."""

    dtype: ty.Any = np.float64

    def __init__(self, proc_params) -> None:
        torch_threads_for_worker()  # runs in the forked worker, before any torch call (module docstring)
        super().__init__(proc_params)
        self.layer: OnlineLayer = proc_params["layer"]
        self.window = int(proc_params["window"])
        self.learn = proc_params["learn"]
        self.update = proc_params["update"]
        self.head = isinstance(self.layer, OnlineHead)

    def run_spk(self) -> None:
        t = self.time_step - 1
        if t % self.window == 0:
            self.layer.reset()
        y = self.layer.forward(self.x_in.recv().astype(self.dtype))
        self.y_out.send(y)
        if self.head:
            target = int(self.t_in.recv()[0])
            g = self.layer.error(y, target) if target >= 0 else np.zeros(self.layer.err_in_shape, self.dtype)
        else:
            g = self.g_in.recv().astype(self.dtype)
        self.g_out.send(self.layer.backward(g) if self.learn[t] else np.zeros(self.layer.err_out_shape))
        if self.update[t]:
            self.layer.apply_update(int(self.update[t]))
            for k, arr in self.layer.arrays().items():
                getattr(self, k)[...] = arr


def declare(kind: str, var_names: tuple[str, ...], head: bool) -> type:
    """Create (at module level, where Lava looks for models) the Process ``<kind>Process`` and
    its float and fixed ProcessModels for a layer kind whose parameter Vars are ``var_names``
    (``head``: it has ``t_in`` instead of ``g_in``)."""
    mod = sys.modules[__name__]
    proc = type(f"{kind}Process", (PlasticProcess,), {"__module__": __name__,
                                                      "__doc__": f"Plastic {kind} layer (Lava Process)."})
    setattr(mod, proc.__name__, proc)
    for suffix, tag_name, dtype, port_t in (("Float", "floating_pt", np.float64, float),
                                            ("Fixed", "fixed_pt", np.int64, np.int32)):
        ports = {"x_in": LavaPyType(PyInPort.VEC_DENSE, port_t), "y_out": LavaPyType(PyOutPort.VEC_DENSE, port_t),
                 ("t_in" if head else "g_in"): LavaPyType(PyInPort.VEC_DENSE, port_t),
                 "g_out": LavaPyType(PyOutPort.VEC_DENSE, port_t)}
        ports.update({v: LavaPyType(np.ndarray, float if dtype is np.float64 else np.int64) for v in var_names})
        model = type(f"Py{kind}Model{suffix}", (PlasticModel,), {"__module__": __name__, "dtype": dtype, **ports})
        model = implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag(tag_name)(model)))
        setattr(mod, model.__name__, model)
    return proc


PROCESSES: dict[str, type] = {}


def process_for(layer: OnlineLayer) -> type:
    """The Process class of ``layer``'s kind (declared on first use, keyed by class name)."""
    kind = type(layer).__name__
    if kind not in PROCESSES:
        PROCESSES[kind] = declare(kind, tuple(layer.var_names), isinstance(layer, OnlineHead))
    return PROCESSES[kind]
