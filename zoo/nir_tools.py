"""``zoo nir info|run|compare FILE.nir``: run NIR files from any tool on every backend.

Input ``.npy``: shape (T, *input_shape) or (batch, T, *input_shape). Files written by
snnTorch 1.0.0 or Norse 1.1.0 exporters: ``--from snntorch|norse --dt DT`` (their known export
bugs are corrected by :mod:`exporters.nir.frameworks`; snnTorch's reset via ``--reset``). ``run`` writes an
``.npz`` with ``output`` (batch, T, *output_shape), ``latency`` and, for Lava backends, the
recorded ``spikes/<population>``. ``compare`` runs torch, Lava float, Lava fixed and the
emulator on the same input and reports their agreement.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.registry import ZooError


def _load(args: argparse.Namespace, need_dt: bool = True):
    """Read the file; a raw snnTorch / Norse file needs ``--from`` (and ``--dt``, ``--reset``,
    ``--reset-delay``): :func:`exporters.nir.frameworks.import_graph` applies the documented export
    workarounds or refuses with the flags that decide. The graph is validated here,
    once, for every backend (:func:`exporters.nir.validate.check_graph`); returns the
    CheckedGraph and dt (None only with ``need_dt=False`` and no dt anywhere)."""
    from exporters.nir import read
    from exporters.nir.validate import check_graph

    from exporters.nir.frameworks import import_graph

    graph, _ = import_graph(read(args.file), getattr(args, "source", None), dt=args.dt,
                            reset=getattr(args, "reset", None), reset_delay=getattr(args, "reset_delay", None))
    checked = check_graph(graph, args.dt, need_dt=need_dt)
    return checked, checked.dt


def _inputs(path: str, checked) -> np.ndarray:
    """The ``--input`` .npy: (T, *input_shape) or (batch, T, *input_shape), numbers, not empty."""
    from exporters.nir.io import NIRError
    from exporters.nir.validate import check_input

    p = Path(path)
    if not p.exists():
        raise ZooError(f"input file {p} not found")
    if not p.is_file():
        raise ZooError(f"input file {p} is not a file")
    try:
        x = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ZooError(f"input file {p}: not a .npy array ({msg})") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        keys = list(getattr(x, "files", []))
        if hasattr(x, "close"):
            x.close()
        raise ZooError(f"input file {p}: an .npz archive ({', '.join(keys[:4]) or 'empty'}); pass one .npy array")
    in_shape = tuple(checked.input_shape)
    if x.ndim == len(in_shape) + 1:
        x = x[None]
    try:
        x = check_input(x, in_shape)
    except NIRError as exc:
        raise ZooError(f"input file {p}: {exc} (or (T, {', '.join(map(str, in_shape))}) for one sample)") from None
    return x.astype(np.float64)


def _output_path(path: str) -> Path:
    """Where ``run`` writes: checked before any backend runs (a directory or an unwritable place
    is one error line, not a traceback after a long run)."""
    out = Path(path)
    if out.is_dir():
        raise ZooError(f"cannot write {out}: it is a directory")
    if not out.parent.exists():
        raise ZooError(f"cannot write {out}: directory {out.parent} does not exist")
    if not out.parent.is_dir():
        raise ZooError(f"cannot write {out}: {out.parent} is not a directory")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise ZooError(f"cannot write {out}: directory {out.parent} is not writable")
    if out.exists() and not os.access(out, os.W_OK):
        raise ZooError(f"cannot write {out}: the file is not writable")
    return out


def _write_npz(out: Path, res: dict[str, np.ndarray]) -> None:
    """Atomic: a temporary file in the same directory renamed over ``out`` (never half-written)."""
    from exporters.nir.io import atomic_write

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **res)

    atomic_write(out, save, suffix=".npz")


def describe(graph, dt: float) -> list[dict[str, Any]]:
    """Nodes, shapes, parameters and what the Lava compiler maps each to."""
    from exporters.lava.plan import compile_plan
    from exporters.nir.io import NIRError
    from exporters.nir.validate import metadata_of

    try:
        mapping, problem = compile_plan(graph, dt).mapping, None
    except NIRError as exc:
        mapping, problem = {}, str(exc)
    rows = []
    for name, node in getattr(graph, "graph", graph).nodes.items():
        params = {k: list(np.shape(v)) for k, v in vars(node).items()
                  if isinstance(v, np.ndarray) and k not in ("input_type", "output_type")}
        rows.append({"node": name, "type": type(node).__name__,
                     "input": [int(v) for v in np.ravel(next(iter(node.input_type.values())))]
                     if getattr(node, "input_type", None) and next(iter(node.input_type.values())) is not None else None,
                     "params": params, "metadata": {k: str(v) for k, v in metadata_of(node).items()},
                     "lava": mapping.get(name, "-")})
    return rows + ([{"node": "(compiler)", "type": "error", "lava": problem}] if problem else [])


def info(args: argparse.Namespace) -> None:
    graph, dt = _load(args, need_dt=getattr(args, "source", None) not in (None, "nir"))
    rows = describe(graph, dt) if dt else describe_without_dt(graph)
    if args.json:
        print(json.dumps({"file": args.file, "dt": dt, "metadata": {k: str(v) for k, v in graph.metadata.items()},
                          "nodes": rows}, indent=2))
        return
    print(f"{args.file}: dt = {dt if dt else 'unknown (pass --dt)'}")
    for r in rows:
        print(f"  {r['node']:24s} {r['type']:10s} in={r.get('input')} params={r.get('params', {})} -> {r['lava']}")


def describe_without_dt(graph) -> list[dict[str, Any]]:
    return [{"node": n, "type": type(v).__name__, "lava": "needs --dt"}
            for n, v in getattr(graph, "graph", graph).nodes.items()]


def run_backend(graph, dt: float, x: np.ndarray, backend: str) -> dict[str, np.ndarray]:
    import torch

    from exporters.lava import build_plan, emulate, run_lava
    from exporters.nir import from_nir

    if backend == "torch":
        ex = from_nir(graph, dt=dt)
        with torch.no_grad():
            out = ex(torch.from_numpy(x).transpose(0, 1), record=True).transpose(0, 1).numpy()
        res = {"output": out, "latency": np.array(0)}
        from exporters.nir.executor import is_spiking

        pops = [n for n, v in ex.nodes.items() if is_spiking(v)]
        res.update({f"spikes/{n}": ex.records[n].transpose(0, 1).numpy() for n in pops})
        return res
    plan = build_plan(graph, "float" if backend == "lava-float" else "fixed", dt=dt)
    run = emulate(plan, x) if backend == "emulator" else run_lava(plan, x)
    res = {"output": run.output, "latency": np.array(run.latency)}
    res.update({f"spikes/{n}": s for n, s in run.spikes.items()})
    if backend != "lava-float":
        res["output_raw"] = run.output_raw
    return res


def run(args: argparse.Namespace) -> None:
    out = _output_path(args.output)
    graph, dt = _load(args)
    x = _inputs(args.input, graph)
    res = run_backend(graph, dt, x, args.backend)
    _write_npz(out, res)
    summary = {"file": args.file, "backend": args.backend, "output": str(out), "latency": int(res["latency"]),
               "output_shape": list(res["output"].shape)}
    print(json.dumps(summary) if args.json else f"wrote {out}: output {res['output'].shape}, latency {summary['latency']}")


def compare(args: argparse.Namespace) -> None:
    graph, dt = _load(args)
    x = _inputs(args.input, graph)
    runs = {b: run_backend(graph, dt, x, b) for b in ("torch", "lava-float", "lava-fixed", "emulator")}
    ref = runs["torch"]
    report: dict[str, Any] = {"file": args.file, "dt": dt, "latency": int(runs["lava-float"]["latency"])}
    for b in ("lava-float", "lava-fixed", "emulator"):
        keys = [k for k in runs[b] if k.startswith("spikes/") and k in ref]
        total = sum(ref[k].size for k in keys)
        report[f"spike_match_{b}_vs_torch"] = (sum(int((runs[b][k] == ref[k]).sum()) for k in keys) / total
                                               if total else None)
        report[f"output_max_abs_diff_{b}_vs_torch"] = float(np.abs(runs[b]["output"] - ref["output"]).max())
    a, e = runs["lava-fixed"], runs["emulator"]
    report["emulator_bit_exact"] = bool(all(np.array_equal(a[k], e[k]) for k in e if k.startswith("spikes/"))
                                        and np.array_equal(a["output_raw"], e["output_raw"]))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:42s} {v}")
