"""Exact NIR export of snnTorch neurons and the workarounds for snnTorch 1.0.0's exporter bugs."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from exporters.nir import NIRError, from_nir, read, to_nir, write


class Chain(nn.Module):
    def __init__(self, neuron: nn.Module, n_in: int = 5, n: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(n_in, n)
        self.neuron = neuron

    def forward(self, x):
        outs, state = [], None
        for x_t in x:
            if isinstance(self.neuron, snn.Synaptic):
                if state is None:
                    state = (torch.zeros(x.shape[1], self.fc.out_features, dtype=x.dtype),) * 2
                spk, syn, mem = self.neuron(self.fc(x_t), *state)
                state = (syn, mem)
            else:
                state = torch.zeros(x.shape[1], self.fc.out_features, dtype=x.dtype) if state is None else state
                spk, state = self.neuron(self.fc(x_t), state)
            outs.append(spk.to(x.dtype))
        return torch.stack(outs)


def _drive(steps=40, batch=3, n_in=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, n_in, generator=g) * 1.5).double()


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("dt", [1e-4, 1e-3, 0.5])
def test_leaky_roundtrip_exact_any_dt(reset, dt, tmp_path):
    neuron = snn.Leaky(beta=torch.linspace(0.5, 0.95, 4), threshold=torch.full((4,), 0.8),
                       reset_mechanism=reset, reset_delay=False)
    model = Chain(neuron).double()
    graph = to_nir(model, dt=dt)
    assert graph.nodes["neuron"].metadata["zoo.reset"] == reset
    path = write(tmp_path / "g.nir", graph)
    back = from_nir(read(path))  # dt read from metadata
    x = _drive()
    ref = model(x)
    assert ref.sum() > 10
    assert torch.equal(back(x), ref)


def test_snntorch_exporter_bugs_are_worked_around():
    """snnTorch 1.0.0's own exporter: v_reset=0 for subtractive reset and dt fixed at 1e-4.
    Ours marks the reset and scales tau with the model's dt."""
    from snntorch.export_nir import export_to_nir

    neuron = snn.Leaky(beta=torch.full((4,), 0.9), threshold=torch.ones(4), reset_mechanism="subtract",
                       reset_delay=False)
    model = nn.Sequential(nn.Linear(5, 4), neuron)
    theirs = export_to_nir(model, torch.zeros(1, 5), ignore_dims=[0])
    lif = next(n for n in theirs.nodes.values() if isinstance(n, nir.LIF))
    assert np.allclose(lif.v_reset, 0) and "zoo.reset" not in (lif.metadata or {})  # the bug: reset lost
    assert np.allclose(lif.tau, 1e-4 / (1 - 0.9))  # the bug: hard-coded dt
    ours = to_nir(Chain(neuron), dt=1e-3)
    assert ours.nodes["neuron"].metadata["zoo.reset"] == "subtract"
    assert np.allclose(ours.nodes["neuron"].tau, 1e-3 / (1 - 0.9))


def test_synaptic_roundtrip_exact():
    neuron = snn.Synaptic(alpha=torch.full((4,), 0.7), beta=torch.linspace(0.6, 0.9, 4), threshold=torch.ones(4),
                          reset_mechanism="zero", reset_delay=False)
    model = Chain(neuron).double()
    graph = to_nir(model, dt=1e-3)
    assert isinstance(graph.nodes["neuron"], nir.CubaLIF)
    x = _drive()
    ref = model(x)
    out = from_nir(graph)(x)
    assert ref.sum() > 5 and (out == ref).double().mean() > 0.999


def test_export_refuses_unfaithful_neurons():
    with pytest.raises(NIRError, match="reset_delay"):
        to_nir(Chain(snn.Leaky(beta=torch.full((4,), 0.9), reset_delay=True)), dt=1e-3)
    with pytest.raises(NIRError, match="scalars"):
        to_nir(Chain(snn.Leaky(beta=0.9, reset_delay=False)), dt=1e-3)
    with pytest.raises(NIRError, match="dt"):
        to_nir(Chain(snn.Leaky(beta=torch.full((4,), 0.9), reset_delay=False)), dt=0)


def test_from_nir_requires_dt_when_metadata_lacks_it():
    graph = to_nir(Chain(snn.Leaky(beta=torch.full((4,), 0.9), reset_delay=False)), dt=1e-3)
    graph.metadata = {}
    with pytest.raises(NIRError, match="pass dt explicitly"):
        from_nir(graph)
    assert from_nir(graph, dt=1e-3).dt == 1e-3


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(NIRError, match="not found"):
        read(tmp_path / "x.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(NIRError, match="bad.nir"):
        read(bad)
