"""Imports that say what they did, and comparisons that say against what (issue 16, item 3).

Replacements for ``zoo nir info|run|compare``'s loading and comparison (``zoo/nir_tools.py``),
wired by ``zoo/cli.py`` (see :func:`add_interop_args`):

* :func:`load` applies :func:`exporters.nir.frameworks.import_graph`: a raw snnTorch / Norse
  file is refused with the flags that decide what NIR does not record (``--from``, ``--dt``,
  ``--reset``, ``--reset-delay``); an explicit choice is applied and stated in one line.
* :func:`compare` labels every number with its reference (``..._vs_zoo_torch_executor``: the
  zoo's float64 executor on this same file; ``..._vs_source``: the producer's own output) and,
  given the source (``--source-model FILE.py`` exposing ``run(x) -> output`` or a dict with
  ``output`` and ``spikes``, or ``--source-output FILE.npz`` with ``output`` and
  ``spikes/<node>`` as written by the producer), compares every backend with the source
  framework's own output.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from zoo.registry import ZooError

BACKENDS = ("torch", "lava-float", "lava-fixed", "emulator")


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_interop_args(parser: argparse.ArgumentParser, compare: bool = False) -> None:
    """The extra flags of ``zoo nir info|run|compare`` (``--from`` and ``--reset`` exist there)."""
    parser.add_argument("--reset-delay", type=_bool, default=None,
                        help="with --from snntorch: the neurons' reset_delay (true|false; not recorded by the export)")
    if compare:
        parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=None,
                            help="backends to run (default: all four)")
        parser.add_argument("--source-model", help="a Python file defining run(x) -> output (or {'output', 'spikes'}):"
                                                   " the producer's own simulation, to compare every backend with")
        parser.add_argument("--source-output", help=".npz with 'output' (batch, T, ...) and optionally "
                                                    "'spikes/<node>' recorded by the producer")


def load(args: argparse.Namespace):
    """(graph, dt, what_was_applied) for ``args.file`` with ``--from/--dt/--reset/--reset-delay``."""
    from exporters.nir import graph_dt, read
    from exporters.nir.frameworks import import_graph

    graph = read(args.file)
    source = getattr(args, "source", None)
    reset = getattr(args, "reset", None)
    graph, applied = import_graph(graph, source, dt=args.dt, reset=reset,
                                  reset_delay=getattr(args, "reset_delay", None))
    return graph, graph_dt(graph, args.dt), applied


def source_outputs(args: argparse.Namespace, x: np.ndarray) -> tuple[dict[str, Any] | None, str | None]:
    """The producer's own outputs for input x, and a label naming where they come from."""
    if getattr(args, "source_model", None) and getattr(args, "source_output", None):
        raise ZooError("give --source-model or --source-output, not both")
    if getattr(args, "source_model", None):
        path = Path(args.source_model)
        if not path.is_file():
            raise ZooError(f"source model {path} not found")
        spec = importlib.util.spec_from_file_location(f"zoo_source_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # the user's own file, run on purpose
        if not hasattr(mod, "run"):
            raise ZooError(f"source model {path} defines no run(x) (x: (batch, T, ...) -> output (batch, T, ...))")
        res = mod.run(x.copy())
        res = res if isinstance(res, dict) else {"output": res}
        return ({"output": np.asarray(res["output"], dtype=np.float64),
                 "spikes": {k: np.asarray(v, dtype=np.float64) for k, v in res.get("spikes", {}).items()}},
                f"source model {path.name}")
    if getattr(args, "source_output", None):
        path = Path(args.source_output)
        if not path.is_file():
            raise ZooError(f"source output {path} not found")
        with np.load(path, allow_pickle=False) as z:
            if "output" not in z:
                raise ZooError(f"source output {path} has no 'output' array")
            return ({"output": z["output"].astype(np.float64),
                     "spikes": {k[len("spikes/"):]: z[k].astype(np.float64)
                                for k in z.files if k.startswith("spikes/")}},
                    f"source output {path.name}")
    return None, None


def _vs(ref: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    ro, go = np.asarray(ref["output"]), np.asarray(run["output"])
    if ro.shape != go.shape:
        raise ZooError(f"source output shape {ro.shape} differs from the graph's output {go.shape}")
    keys = sorted(set(ref.get("spikes", {})) & set(run.get("spikes", {})))
    total = sum(np.asarray(ref["spikes"][k]).size for k in keys)
    eq = sum(int((np.asarray(ref["spikes"][k]).reshape(np.shape(run["spikes"][k])) == run["spikes"][k]).sum())
             for k in keys)
    return {"spike_match": eq / total if total else None, "populations": keys,
            "output_max_abs_diff": float(np.abs(ro - go).max())}


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """``zoo nir compare``: every backend against the zoo's torch executor of this file and,
    when given, against the producer's own output; every key names its reference."""
    from exporters.nir.validate import check_graph
    from zoo.nir_tools import _inputs, run_backend

    graph, dt, applied = load(args)
    x = _inputs(args.input, check_graph(graph, dt))
    src, src_label = source_outputs(args, x)
    backends = tuple(getattr(args, "backends", None) or BACKENDS)
    if "torch" not in backends:
        backends = ("torch",) + backends
    runs = {b: run_backend(graph, dt, x, b) for b in backends}
    runs = {b: {"output": r["output"],
                "spikes": {k[len("spikes/"):]: v for k, v in r.items() if k.startswith("spikes/")},
                "latency": r["latency"], "output_raw": r.get("output_raw")} for b, r in runs.items()}
    report: dict[str, Any] = {"file": args.file, "dt": dt, "import": applied,
                              "latency": int(max(int(r["latency"]) for r in runs.values())),
                              "references": {"zoo_torch_executor": "exporters.nir.from_nir on this file, float64"}}
    if src_label:
        report["references"]["source"] = src_label
    for b in backends[1:]:
        v = _vs(runs["torch"], runs[b])
        report[f"spike_match_{b}_vs_zoo_torch_executor"] = v["spike_match"]
        report[f"output_max_abs_diff_{b}_vs_zoo_torch_executor"] = v["output_max_abs_diff"]
    if src is not None:
        for b in backends:
            v = _vs(src, runs[b])
            report[f"spike_match_{b}_vs_source"] = v["spike_match"]
            report[f"output_max_abs_diff_{b}_vs_source"] = v["output_max_abs_diff"]
        report["source_populations_compared"] = _vs(src, runs["torch"])["populations"]
    if "lava-fixed" in runs and "emulator" in runs:
        a, e = runs["lava-fixed"], runs["emulator"]
        report["emulator_bit_exact_vs_lava_fixed"] = bool(
            all(np.array_equal(a["spikes"][k], e["spikes"][k]) for k in e["spikes"])
            and np.array_equal(a["output_raw"], e["output_raw"]))
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.file}: {applied}")
        for k, v in report["references"].items():
            print(f"  reference {k}: {v}")
        for k, v in report.items():
            if k not in ("file", "import", "references"):
                print(f"{k:52s} {v}")
    return report
