"""The torch cell of any descriptor neuron (:mod:`zoo.neurons.descriptor`), for training and for
the online rules (:class:`~zoo.neurons.local_cell.LocalCell`: e-prop / HYPR).

State ``h = (state..., z)``: the descriptor's state variables plus this step's spike, so the spike
is a function of the current state (``spike(h) = h[..., -1]``). One step is the descriptor's
``step(torch, Surrogate(grad), p, state, I)`` — the same function the NIR executor, Lava and the
emulator run — with spikes ``[x > 0]`` whose backward is the surrogate ``grad`` (default fast
sigmoid). Trainable parameters are the descriptor's ``learn`` parameters (effective value:
absolute value); the local Jacobians are computed by autograd through the step (exact for the
step as written).

The way back from NIR: :meth:`DescriptorCell.from_nir` (the effective values that write a given
subgraph, via the descriptor's generic inverse) and :func:`raw_preimage` (the raw ``nn.Parameter``
values whose ``effective()`` gives them; for any cell, e.g. the clamped time constants of the
hand-written ones). A raw value whose effective value is clamped or takes an absolute value comes
back as a preimage with the same effective value (the forward is identical): the template's own
value where it is one, else the one nearest the closed-form inverse.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from zoo.neurons import registry
from zoo.neurons.descriptor import NeuronDescriptor, NeuronError
from zoo.neurons.local_cell import LocalCell, LocalJacobians
from zoo.neurons.surrogate import fast_sigmoid_grad, heaviside
from zoo.numerics import Float, nearest_preimage


class Surrogate(Float):
    """Float numerics whose spikes ``[x > 0]`` carry the surrogate derivative ``grad`` backward."""

    def __init__(self, grad: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.grad = grad

    def spike(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return heaviside(x, self.grad)


class CellParams(NamedTuple):
    """Effective trainable values, in ``PARAMS`` order."""

    values: tuple[torch.Tensor, ...]


class DescriptorCell(LocalCell):
    """Population of ``n`` neurons of a registered descriptor; ``values`` override parameter
    defaults (a number, or (lo, hi) for a uniform init of a trainable parameter)."""

    def __init__(self, neuron: str | NeuronDescriptor, n: int, dt: float = 1e-3,
                 surrogate: Callable[[torch.Tensor], torch.Tensor] = fast_sigmoid_grad, **values: Any) -> None:
        super().__init__(n)
        self.desc = registry.get(neuron) if isinstance(neuron, str) else neuron
        self.dt, self.num = float(dt), Surrogate(surrogate)
        unknown = set(values) - set(self.desc.params)
        if unknown:
            raise ValueError(f"{self.desc.name}: unknown parameter(s) {sorted(unknown)} "
                             f"(known: {sorted(self.desc.params)})")
        self.STATE = self.desc.state + ("z",)
        self.PARAMS = tuple(k for k, prm in self.desc.params.items() if prm.learn)
        self.constants: dict[str, Any] = {}
        for k, prm in self.desc.params.items():
            v = values.get(k, prm.init)
            if prm.learn:
                t = torch.empty(n).uniform_(*v) if isinstance(v, tuple) else torch.full((n,), float(v))
                setattr(self, k, nn.Parameter(t))
            else:
                self.constants[k] = float(v)

    def effective(self) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, k).abs() for k in self.PARAMS)

    def params(self, theta: Any = None) -> CellParams:
        if isinstance(theta, CellParams):
            return theta
        return CellParams(tuple(theta) if theta is not None else self.effective())

    def _coef(self, values: tuple[torch.Tensor, ...]) -> dict:
        return self.desc.coefficients(torch, {**self.constants, **dict(zip(self.PARAMS, values))}, self.dt)

    def step(self, h: torch.Tensor, i: torch.Tensor, theta: Any = None) -> torch.Tensor:
        state = {k: h[..., j] for j, k in enumerate(self.desc.state)}
        z = self.desc.step(torch, self.num, self._coef(self.params(theta).values), state, i)
        return torch.stack([state[k] for k in self.desc.state] + [z], -1)

    def spike(self, h: torch.Tensor, theta: Any = None) -> torch.Tensor:
        return h[..., -1]

    def jacobians(self, h_prev: torch.Tensor, i: torch.Tensor, h: torch.Tensor, theta: Any = None) -> LocalJacobians:
        """Neuron-local derivatives by autograd through :meth:`step` (neurons are independent,
        so the gradient of a sum over neurons gives each neuron's own derivative)."""
        values = self.params(theta).values
        with torch.enable_grad():
            hp = h_prev.detach().requires_grad_(True)
            ii = i.detach().requires_grad_(True)
            th = tuple(v.detach().expand(i.shape).clone().requires_grad_(True) for v in values)
            out = self.step(hp, ii, CellParams(th))
            rows = []
            for s in range(out.shape[-1]):
                g = torch.autograd.grad(out[..., s].sum(), (hp, ii) + th, retain_graph=True, allow_unused=True)
                rows.append([torch.zeros_like(x) if d is None else d for d, x in zip(g, (hp, ii) + th)])
        J = torch.stack([r[0] for r in rows], -2)
        b = torch.stack([r[1] for r in rows], -1)
        c = torch.stack([torch.stack(r[2:], -1) if th else i.new_zeros(i.shape + (0,)) for r in rows], -2)
        psi = torch.zeros_like(h)
        psi[..., -1] = 1.0
        return LocalJacobians(J, b, c, psi)

    def _nir_values(self, effective: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**{k: np.full(self.n, v) for k, v in self.constants.items()}, **effective}

    def nir_node(self, dt: float) -> Any:
        """The neuron's NIR extension subgraph with this cell's effective parameters."""
        eff = {k: t.detach().double().numpy() for k, t in zip(self.PARAMS, self.effective())}
        return self.desc.nir_node(dt=dt, **self._nir_values(eff))

    def from_nir(self, node: Any, dt: float, name: str = "cell") -> tuple[np.ndarray, ...]:
        """The effective values (``PARAMS`` order, float64 holding floats of this cell's dtype) for
        which :meth:`nir_node` ``(dt)`` writes ``node`` exactly; the cell's constants (not
        trainable: ``neuron_config``) must equal the subgraph's. Raises NeuronError naming ``name``."""
        read = self.desc.nir_params(node, name)
        for k, c in self.constants.items():
            got = np.asarray(read.get(k, c), np.float64)
            if not np.all(got == c):
                raise NeuronError(f"node {name!r}: {self.desc.name} {k} is {np.unique(got)[:4].tolist()} in the "
                                  f"graph; this cell's {k} is {c} (a constant: set it in neuron_config)")
        if not self.PARAMS:
            return ()
        dtype = getattr(self, self.PARAMS[0]).detach().numpy().dtype
        own = {k: t.detach().double().numpy() for k, t in zip(self.PARAMS, self.effective())}
        vals = self.desc.params_from_node(node, dt, self.PARAMS, self._nir_values({}), dtype, name, prefer=own)
        return tuple(vals[k] for k in self.PARAMS)


def raw_preimage(param: nn.Parameter, effective: Callable[[], torch.Tensor], target: np.ndarray, guess: np.ndarray,
                 what: str) -> np.ndarray:
    """Values of ``param`` for which ``effective()`` — the module's own forward code, e.g.
    ``lambda: cell.effective()[0]`` — equals ``target`` (float64) exactly, elementwise: the value
    ``param`` holds where it is one (so loading a model's own export into it changes nothing),
    else the one nearest ``guess`` on its dtype's float grid; ``param`` is restored afterwards.
    Raises NeuronError naming ``what`` and the elements without a preimage (e.g. a value outside
    a clamp's range)."""
    saved = param.detach().clone()
    target = np.asarray(target, np.float64).ravel()

    def match(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            param.copy_(torch.as_tensor(x).reshape(param.shape))
            return effective().detach().cpu().double().numpy().ravel() == target

    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            x, ok = nearest_preimage(match, np.asarray(guess, np.float64).ravel(), saved.numpy().dtype,
                                     prefer=saved.numpy().ravel())
    finally:
        with torch.no_grad():
            param.copy_(saved)
    if not ok.all():
        bad = np.flatnonzero(~ok)[:8].tolist()
        raise NeuronError(f"{what}: no value gives the effective value(s) {target[bad].tolist()} of element(s) {bad} "
                          "(outside the range the parameter's clamp or transform reaches?)")
    return x
