"""The torch cell of any descriptor neuron (:mod:`zoo.neurons.descriptor`), for training and for
the online rules (:class:`~zoo.neurons.local_cell.LocalCell`: e-prop / HYPR).

State ``h = (state..., z)``: the descriptor's state variables plus this step's spike, so the spike
is a function of the current state (``spike(h) = h[..., -1]``). One step is the descriptor's
``step(torch, Surrogate(grad), p, state, I)`` — the same function the NIR executor, Lava and the
emulator run — with spikes ``[x > 0]`` whose backward is the surrogate ``grad`` (default fast
sigmoid). Trainable parameters are the descriptor's ``learn`` parameters (effective value:
absolute value); the local Jacobians are computed by autograd through the step (exact for the
step as written).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from zoo.neurons import registry
from zoo.neurons.descriptor import NeuronDescriptor
from zoo.neurons.local_cell import LocalCell, LocalJacobians
from zoo.neurons.surrogate import fast_sigmoid_grad, heaviside
from zoo.numerics import Float


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

    def nir_node(self, dt: float) -> Any:
        """The neuron's NIR extension subgraph with this cell's effective parameters."""
        vals = {**{k: np.full(self.n, v) for k, v in self.constants.items()},
                **{k: t.detach().double().numpy() for k, t in zip(self.PARAMS, self.effective())}}
        return self.desc.nir_node(dt=dt, **vals)
