"""The LIF/ALIF module (zoo/neurons/lif.py): the ``alif`` extension and its Lava mapping derive from
its descriptor; hand-computed steps; NIR primitives run by the one ``primitive_step``."""
import nir
import numpy as np
import pytest
import torch

from exporters.lava.populations import SPECS, custom_kind
from exporters.nir.executor import from_nir
from exporters.nir.extensions import EXTENSIONS, alif_node, alif_params
from exporters.nir.io import NIRError
from zoo.neurons import lif, registry

DT = 1e-3


def _node(reset: str = "subtract") -> nir.NIRGraph:
    n = 1
    return alif_node(tau=np.full(n, 2 * DT), r=np.ones(n), v_threshold=np.ones(n), tau_adapt=np.full(n, 4 * DT),
                     beta=np.ones(n), reset=reset)


def test_alif_is_a_descriptor_neuron():
    desc = registry.get("alif")
    assert desc is lif.DESCRIPTOR and desc.lif_registers is not None
    assert EXTENSIONS["alif"].spiking and EXTENSIONS["alif"].version == 1


def test_alif_step_by_hand():
    """k = dt/tau = 0.5, k_adapt = 0.25, beta = 1: input 3 then 0."""
    ext, node = EXTENSIONS["alif"], _node()
    p = {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in ext.params(node, "c").items()}
    st: dict = {}
    z0 = ext.torch_step(p, st, torch.tensor([[3.0]], dtype=torch.float64), DT)
    assert z0.item() == 1 and st["v"].item() == 0.5 and st["a"].item() == 0.25  # v = 1.5 > th = 1, minus th
    z1 = ext.torch_step(p, st, torch.tensor([[0.0]], dtype=torch.float64), DT)
    assert z1.item() == 0 and st["v"].item() == 0.25 and st["a"].item() == 0.1875  # th = 1.25


def test_alif_zero_reset_by_hand():
    ext, node = EXTENSIONS["alif"], _node("zero")
    p = {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in ext.params(node, "c").items()}
    st: dict = {}
    ext.torch_step(p, st, torch.tensor([[3.0]], dtype=torch.float64), DT)
    assert st["v"].item() == 0.0


def test_alif_lava_registers():
    spec, gain = SPECS["alif"]("c", _node(), DT, 1)
    assert custom_kind(spec) is None  # runs on the LIF/ALIF population (ZooNeuron)
    assert (spec.du[0], spec.dv[0], spec.da[0], spec.ja[0], gain[0]) == (1.0, 0.5, 0.25, 0.25, 0.5)
    assert spec.reset == "subtract" and spec.kind == "alif"
    with pytest.raises(NIRError, match="node 'c'.*dt/tau > 1"):
        SPECS["alif"]("c", _node(), 3 * DT, 1)


def test_alif_bad_subgraph_names_node():
    g = _node()
    del g.nodes["beta"]
    with pytest.raises(NIRError, match="node 'c': alif extension lacks sub-node 'beta'"):
        alif_params(g, "c")


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_primitive_step_numpy_equals_torch(reset):
    rng = np.random.default_rng(0)
    p = {"tau": rng.uniform(2e-3, 5e-3, 4), "r": rng.uniform(0.5, 2, 4), "v_leak": rng.normal(0, 0.1, 4),
         "v_threshold": np.ones(4), "v_reset": np.full(4, -0.2)}
    sn = {"v": np.zeros((3, 4))}
    st = {"v": torch.zeros(3, 4, dtype=torch.float64)}
    for _ in range(20):
        x = rng.normal(1, 1, (3, 4))
        zn = lif.primitive_step(np, "LIF", p, sn, x, DT, reset)
        zt = lif.primitive_step(torch, "LIF", {k: torch.as_tensor(v) for k, v in p.items()}, st, torch.as_tensor(x),
                                DT, reset)
        assert np.array_equal(zn, zt.numpy())  # same spikes; v to rounding (torch and numpy kernels differ)
        np.testing.assert_allclose(sn["v"], st["v"].numpy(), rtol=0, atol=1e-12)


def test_executor_runs_alif_by_hand():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1])}), "cell": _node(),
                            "output": nir.Output(output_type={"output": np.array([1])})},
                     edges=[("input", "cell"), ("cell", "output")], metadata={"dt": DT})
    y = from_nir(g, dt=DT)(torch.tensor([[[3.0]], [[0.0]], [[2.5]]], dtype=torch.float64))
    # t = 2: th = 1 + 0.1875, v = 0.25 + 0.5 (2.5 - 0.25) = 1.375 > th
    assert y.ravel().tolist() == [1.0, 0.0, 1.0]
