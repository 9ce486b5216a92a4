"""Test vectors for the zoo's NIR extensions (docs/nir-extensions.md, "Test vectors").

    python -m benchmarks.interop.extension_vectors

For each extension: a small graph ``input -> <extension> -> output`` (``v_tap``: behind an
``alif``), fixed parameters and a fixed input sequence; the outputs of the zoo's exact
semantics (``exporters.nir.from_nir``, float64) are written with full precision to
``benchmarks/interop/results/extension_vectors.json`` together with the graph as a NIR file
(``benchmarks/interop/results/vectors/<name>.nir``); prints the markdown block of the doc.
``tests/test_interop.py`` checks that the executor and the nirtorch node map reproduce them.
"""
from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import torch

OUT = Path(__file__).resolve().parent / "results"
STEPS = 12


def _io(n: int) -> dict:
    return {"input": nir.Input(input_type={"input": np.array([n])}),
            "output": nir.Output(output_type={"output": np.array([n])})}


def cases() -> dict[str, tuple[nir.NIRGraph, np.ndarray, str]]:
    from exporters.nir.ext_gamma import sigma_delta_node
    from exporters.nir.ext_hypr import brf_node, se_adlif_node
    from exporters.nir.extensions import alif_node, v_tap_node

    out = {}
    u = np.array([[0.6], [0.6], [0.0], [0.9], [0.9], [0.9], [0.0], [0.0], [1.2], [0.3], [0.0], [0.8]])
    two = np.concatenate([u, u[::-1] * 0.5], axis=1)
    alif = alif_node(tau=np.array([4e-3, 4e-3]), r=np.array([4.0, 4.0]), v_threshold=np.array([1.0, 0.5]),
                     tau_adapt=np.array([2e-2, 2e-2]), beta=np.array([0.5, 1.0]), reset="subtract",
                     r_adapt=np.array([20.0, 20.0]))
    g = nir.NIRGraph(nodes={**_io(2), "alif": alif}, edges=[("input", "alif"), ("alif", "output")],
                     metadata={"dt": 1e-3})
    out["alif"] = (g, two * 2, "dt = 1 ms; tau = 4 ms, r = 4, v_threshold = (1, 0.5), tau_adapt = 20 ms, "
                               "r_adapt = 20, beta = (0.5, 1), subtract reset")
    g = nir.NIRGraph(nodes={**_io(2), "alif": copy_graph(alif), "tap": v_tap_node(2)},
                     edges=[("input", "alif"), ("alif", "tap"), ("tap", "output")], metadata={"dt": 1e-3})
    out["v_tap"] = (g, two * 2, "the alif case above, output = its membrane after reset")
    brf = brf_node(omega=np.array([10.0, 25.0]), b_offset=np.array([0.5, 1.0]), dt=0.01, theta=np.array([1.0, 1.0]))
    g = nir.NIRGraph(nodes={**_io(2), "brf": brf}, edges=[("input", "brf"), ("brf", "output")],
                     metadata={"dt": 0.01})
    out["brf"] = (g, two * 60, "dt = 0.01 (BRF Euler step); omega = (10, 25) rad per unit time, b_offset = (0.5, 1), "
                              "theta = 1; input x 60")
    se = se_adlif_node(alpha=np.array([0.9, 0.8]), beta=np.array([0.95, 0.9]), a=np.array([0.5, 0.2]),
                       b=np.array([1.0, 2.0]), dt=1.0, q=120.0, theta=np.array([1.0, 1.0]))
    g = nir.NIRGraph(nodes={**_io(2), "se": se}, edges=[("input", "se"), ("se", "output")], metadata={"dt": 1.0})
    out["se_adlif"] = (g, two * 15, "dt = 1 (steps); alpha = (0.9, 0.8), beta = (0.95, 0.9), a = (0.5, 0.2), "
                                   "b = (1, 2), q = 120, theta = 1; input x 15")
    sd = sigma_delta_node(2, theta=0.25, t_ref=2e-3)
    g = nir.NIRGraph(nodes={**_io(2), "sd": sd}, edges=[("input", "sd"), ("sd", "output")], metadata={"dt": 1e-3})
    out["sigma_delta"] = (g, two - 0.2, "dt = 1 ms; theta = 0.25, t_ref = 2 ms (n_ref = 2); input - 0.2 "
                                        "(negative values test the ReLU)")
    return out


def copy_graph(g: nir.NIRGraph) -> nir.NIRGraph:
    import copy

    return copy.deepcopy(g)


def run(graph: nir.NIRGraph, x: np.ndarray) -> np.ndarray:
    from exporters.nir import from_nir

    with torch.no_grad():
        return from_nir(graph)(torch.from_numpy(x[:, None, :])).squeeze(1).numpy()


def main() -> None:
    (OUT / "vectors").mkdir(parents=True, exist_ok=True)
    record = {}
    lines = []
    for name, (g, x, desc) in cases().items():
        y = run(g, x)
        nir.write(OUT / "vectors" / f"{name}.nir", g)
        record[name] = {"description": desc, "dt": float(g.metadata["dt"]), "input": x.tolist(), "output": y.tolist(),
                        "graph": f"benchmarks/interop/results/vectors/{name}.nir"}
        lines.append(f"**{name}** ({desc}); input and output per step, neurons 0 and 1:\n")
        lines.append("| step | " + " | ".join(str(t) for t in range(len(x))) + " |")
        lines.append("|---|" + "---|" * len(x))
        for i in range(x.shape[1]):
            lines.append(f"| input {i} | " + " | ".join(f"{v:.4g}" for v in x[:, i]) + " |")
        for i in range(y.shape[1]):
            lines.append(f"| output {i} | " + " | ".join(f"{v:.6g}" for v in y[:, i]) + " |")
        lines.append("")
    (OUT / "extension_vectors.json").write_text(json.dumps(record, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
