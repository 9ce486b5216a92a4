"""Deployment view: per-population neurons, fan-in, memory at the fixed-point widths and measured
messages, checked by hand on a small network; the Loihi 2 core estimate follows its limits."""
from __future__ import annotations

import numpy as np
from nir_graphs import chain, lif, spikes_in

from exporters.lava import build_plan, emulate
from zoo import hardware


def _net():
    w1 = np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.8], [0.3, 0.2, 0.1], [0.0, 0.0, 0.0]])  # 4 x 3, fan-in 2,1,3,0
    w2 = np.array([[0.5, 0.5, 0.5, 0.5], [0.9, 0.0, 0.0, 0.0]])  # 2 x 4, fan-in 4,1
    return chain(3, [(w1, None, lif(4, 0.01, 0.5)), (w2, None, lif(2, 0.01, 0.5))])


def test_deployment_counts_by_hand():
    fplan = build_plan(_net(), "fixed")
    x = spikes_in(2, 20, 3, p=0.5, seed=1)
    run = emulate(fplan, x)
    rep = hardware.deployment(fplan, run)
    rows = {r["population"]: r for r in rep["populations"]}
    assert [rows[k]["neurons"] for k in ("n0", "n1")] == [4, 2]
    assert rows["n0"]["fan_in_max"] == 3 and abs(rows["n0"]["fan_in_mean"] - 6 / 4) < 1e-12
    assert rows["n1"]["fan_in_max"] == 4 and rows["n1"]["synapses"] == 5
    assert rows["n0"]["synaptic_memory_bits"] == 4 * 3 * 8 + 8 and rows["n1"]["synaptic_memory_bits"] == 2 * 4 * 8 + 8
    spikes = run.spikes["n0"]
    assert rows["n0"]["messages_per_step"] == spikes.sum() / (spikes.shape[0] * spikes.shape[1])
    assert rep["loihi2_cores"] == 2 and rep["loihi2_chips"] == 1
    text = "\n".join(hardware.render(rep))
    assert "technology brief" in text and "| n0 | LIF | 4 |" in text


def test_core_estimate_follows_the_limits(monkeypatch):
    monkeypatch.setitem(hardware.LOIHI2, "neurons_per_core", 3)  # 4 neurons need 2 cores at 3 per core
    rep = hardware.deployment(build_plan(_net(), "fixed"))
    assert [r["loihi2_cores"] for r in rep["populations"]] == [2, 1]
    assert all(r["messages_per_step"] is None for r in rep["populations"])
