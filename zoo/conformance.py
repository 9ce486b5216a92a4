"""NIR conformance kits (issue 16, item 4): ``zoo conformance export|check``.

A kit is a folder any NIR tool can be tested against:

``model.nir``       the model's NIR graph (zoo export: primitives + documented extensions)
``data.nir``        inputs, in NIR's own data format (``nir.write_data``: a ``NIRGraphData`` whose
                    node ``input`` holds ``TimeGriddedData`` (samples, T, n) with the graph dt;
                    node ``calibration`` holds the inputs the fixed-point scales were chosen on)
``reference.nir``   the exact semantics (zoo torch executor, float64): node ``output`` (value)
                    and one node per spiking population (``spikes``, boolean)
``lava-fixed.nir``  the Lava fixed-point run (Loihi integer model) of the same inputs, same layout
                    plus node ``output_raw`` (the integer output before scaling)
``manifest.json``   model, weights SHA-256, input source (test data, or seeded random spikes
                    when the data set is not present), original shapes (the data files hold
                    (samples, T, n) flattened per step), tolerances, versions, and the SHA-256 of
                    every file

``check DIR --with TOOL`` verifies the SHA-256s, runs ``model.nir`` through TOOL on the kit's
inputs and prints pass/fail with the agreement figures. Float tools (zoo-torch, lava-float,
snntorch, norse, nirtorch) pass with spike agreement 1.0 and output difference <= 1e-6 against
``reference.nir``; fixed-point tools (lava-fixed, emulator) pass when every spike and the
integer output are identical to ``lava-fixed.nir`` (the float output to 1e-9: see
:func:`_bit_identical`). snnTorch / Norse / nirtorch run the graph rewritten for them by
:mod:`exporters.nir.targets` (or refuse with the reason).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from zoo.argtypes import positive_int
from zoo.pipeline import Pipeline
from zoo.registry import ZooError

TOOLS = ("zoo-torch", "lava-float", "lava-fixed", "emulator", "snntorch", "norse", "nirtorch")
FLOAT_TOL = 1e-6
KIT_VERSION = 1
FILES = ("model.nir", "data.nir", "reference.nir", "lava-fixed.nir")


def _sha256(path: Path) -> str:
    from zoo.hub import sha256_file

    return sha256_file(path)


def _flat(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


def _write_data(path: Path, nodes: dict[str, dict[str, np.ndarray]], dt: float) -> None:
    import nir

    gd = nir.NIRGraphData(nodes={
        name: nir.NIRNodeData(observables={k: nir.TimeGriddedData(data=_flat(v), dt=float(dt)) for k, v in obs.items()})
        for name, obs in nodes.items()})
    nir.write_data(str(path), gd)


def _read_data(path: Path) -> dict[str, dict[str, np.ndarray]]:
    import nir

    gd = nir.read_data(str(path))
    return {name: {k: np.asarray(v.data) for k, v in node.observables.items()} for name, node in gd.nodes.items()}


def kit_inputs(pipe: str | Pipeline, samples: int, steps: int | None, seed: int = 0) -> tuple[np.ndarray, str]:
    """The model's test data when present, else seeded Bernoulli(0.3) spikes of its input shape."""
    pipe = pipe if isinstance(pipe, Pipeline) else Pipeline(pipe)
    name = pipe.name
    try:
        x, _ = pipe.data("test", samples)
        x = x.numpy().astype(np.float64)
        source = f"test data ({name}'s task, first {len(x)} test samples)"
    except Exception as exc:  # data set absent from the cache (CI), or not loadable here
        t = int(pipe.weights.meta.get("steps") or steps or 50)
        x = (np.random.default_rng(seed).random((samples, t, *pipe.input_shape)) < 0.3).astype(np.float64)
        source = f"random: numpy default_rng({seed}) Bernoulli(0.3) spikes (test data unavailable: {exc})"
    if steps is not None:
        x = x[:, :steps]
    return x, source


def export_kit(name: str, out: str | Path, samples: int = 4, steps: int | None = None, lava: bool = True,
               seed: int = 0) -> dict[str, Any]:
    """Write the kit of registered model ``name`` into folder ``out`` (created; replaced atomically)."""
    from exporters.lava import emulate, run_lava
    from exporters.lava.quantize import quantize_inputs
    from exporters.nir import write
    from exporters.nir.target_runs import reference

    out = Path(out)
    if not out.parent.exists():
        raise ZooError(f"cannot write {out}: directory {out.parent} does not exist")
    pipe = Pipeline(name)
    graph, dt = pipe.graph, pipe.dt
    x, source = kit_inputs(pipe, samples, steps, seed)
    ref = reference(graph, x)
    x_fixed, frac_bits, in_err = quantize_inputs(x)
    try:
        calib, calib_source = pipe.calibration_inputs(frac_bits), "training data (32 samples)"
    except Exception:
        calib, calib_source = x_fixed, "the kit inputs (training data unavailable)"
    plan = pipe.plan("fixed", frac_bits, calibrate=calib)
    fixed = run_lava(plan, x_fixed) if lava else emulate(plan, x_fixed)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(tmp / "model.nir", graph)
        _write_data(tmp / "data.nir", {"input": {"value": x}, "calibration": {"value": calib}}, dt)
        _write_data(tmp / "reference.nir", {"output": {"value": ref["output"]},
                                            **{n: {"spikes": s.astype(bool)} for n, s in ref["spikes"].items()}}, dt)
        _write_data(tmp / "lava-fixed.nir", {"output": {"value": fixed.output},
                                             "output_raw": {"value": np.asarray(fixed.output_raw)},
                                             **{n: {"spikes": np.asarray(s).astype(bool)}
                                                for n, s in fixed.spikes.items()}}, dt)
        w = pipe.weights
        manifest = {
            "kit_version": KIT_VERSION, "model": name, "weights_sha256": w.sha256, "dt": dt,
            "samples": int(x.shape[0]), "steps": int(x.shape[1]),
            "input_shape": list(x.shape[2:]), "output_shape": list(ref["output"].shape[2:]),
            "population_shapes": {n: list(np.shape(s)[2:]) for n, s in ref["spikes"].items()},
            "input_source": source, "calibration_source": calib_source,
            "input_frac_bits": int(frac_bits), "input_max_rounding_error": float(in_err),
            "lava_fixed_producer": "real Lava processes (run_lava)" if lava else
            "exporters.lava.emulate (bit-exact twin of Lava fixed point)",
            "lava_latency_steps": int(fixed.latency),
            "reference_producer": "exporters.nir.from_nir, float64 (the zoo's exact semantics)",
            "format": "NIR 1.0.8 NIRGraphData (nir.read_data); TimeGriddedData (samples, T, n): reshape with "
                      "the shapes above",
            "pass": {"float tools": f"spike agreement 1.0 and output max abs diff <= {FLOAT_TOL} vs reference.nir",
                     "lava-fixed, emulator": "every spike and output_raw identical to lava-fixed.nir; output "
                                             "to 1e-9 relative (host float readout)"},
            "versions": _versions(),
            "files": {f: _sha256(tmp / f) for f in FILES},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("nir", "nirtorch", "torch", "snntorch", "norse", "lava-nc"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def load_kit(folder: str | Path) -> dict[str, Any]:
    """Manifest, graph and arrays of a kit, after checking every file's SHA-256."""
    from exporters.nir import read

    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise ZooError(f"{folder}: not a conformance kit (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise ZooError(f"{mpath}: not valid JSON ({exc})") from None
    for f, digest in manifest.get("files", {}).items():
        p = folder / f
        if not p.is_file():
            raise ZooError(f"{folder}: kit file {f} is missing")
        if _sha256(p) != digest:
            raise ZooError(f"{folder}: {f} does not match its SHA-256 in manifest.json (modified or corrupt)")
    missing = [f for f in FILES if f not in manifest.get("files", {})]
    if missing:
        raise ZooError(f"{folder}: manifest.json lists no SHA-256 for {', '.join(missing)}")
    data = _read_data(folder / "data.nir")

    def shaped(arr: np.ndarray, shape: list[int]) -> np.ndarray:
        return arr.reshape(arr.shape[0], arr.shape[1], *shape)

    def result(path: Path) -> dict[str, Any]:
        d = _read_data(path)
        return {"output": shaped(d["output"]["value"], manifest["output_shape"]).astype(np.float64),
                "output_raw": d.get("output_raw", {}).get("value"),
                "spikes": {n: obs["spikes"].astype(np.float64) for n, obs in d.items() if "spikes" in obs}}

    return {"manifest": manifest, "graph": read(folder / "model.nir"),
            "input": shaped(data["input"]["value"], manifest["input_shape"]).astype(np.float64),
            "calibration": shaped(data["calibration"]["value"], manifest["input_shape"]).astype(np.float64),
            "reference": result(folder / "reference.nir"), "lava_fixed": result(folder / "lava-fixed.nir")}


def _bit_identical(ref: dict[str, Any], got: dict[str, Any]) -> bool:
    """Every spike and the integer output (``output_raw``) equal. The float output is the integer
    output times a scale, or, for membrane readouts (``v_tap``), a float64 product applied on
    the host to the recorded integer voltages, whose summation order may differ by one unit in
    the last place between Lava and the emulator: it must agree to 1e-9 (relative)."""
    keys = set(ref["spikes"])
    if not keys <= set(got["spikes"]):
        return False
    raw_ok = ref.get("output_raw") is None or np.array_equal(
        ref["output_raw"], np.asarray(got["output_raw"]).reshape(ref["output_raw"].shape))
    out = np.asarray(got["output"]).reshape(ref["output"].shape)
    out_ok = np.allclose(out, ref["output"], rtol=1e-9, atol=1e-12)
    return bool(raw_ok and out_ok and all(
        np.array_equal(ref["spikes"][k], np.asarray(got["spikes"][k]).reshape(ref["spikes"][k].shape)) for k in keys))


def check_kit(folder: str | Path, tool: str) -> dict[str, Any]:
    """Run the kit's graph through ``tool`` and compare with the kit's reference outputs."""
    from exporters.nir.target_runs import agreement, reference, run_framework
    from exporters.nir.targets import Refused, graph_for_target

    if tool not in TOOLS:
        raise ZooError(f"unknown tool {tool!r} (choose from {', '.join(TOOLS)})")
    kit = load_kit(folder)
    m, graph, x = kit["manifest"], kit["graph"], kit["input"]
    res: dict[str, Any] = {"kit": str(folder), "model": m["model"], "tool": tool}
    if tool in ("lava-float", "lava-fixed", "emulator"):
        from exporters.lava import build_plan, emulate, run_lava
        from exporters.lava.quantize import quantize_inputs

        if tool == "lava-float":
            got = _run(run_lava, build_plan(graph, "float"), x)
        else:
            x_fixed, k, _ = quantize_inputs(x)
            if k != m["input_frac_bits"]:
                raise ZooError(f"{folder}: inputs quantise with {k} fractional bits, "
                               f"manifest says {m['input_frac_bits']}")
            plan = build_plan(graph, "fixed", input_frac_bits=k, calibrate=kit["calibration"])
            got = _run(emulate if tool == "emulator" else run_lava, plan, x_fixed)
    elif tool == "zoo-torch":
        got = reference(graph, x)
    else:
        try:
            target_graph = graph_for_target(graph, tool)
        except Refused as exc:
            return {**res, "status": "refused", "reason": str(exc), "against": "reference.nir"}
        got = run_framework(target_graph, tool, x)
    if tool in ("lava-fixed", "emulator"):
        exact = _bit_identical(kit["lava_fixed"], got)
        vs_float = agreement(kit["reference"], got)
        res.update(status="pass" if exact else "fail", against="lava-fixed.nir (bit-identical required)",
                   bit_identical=exact, **{f"{k}_vs_reference": v for k, v in vs_float.items() if k != "populations"})
        return res
    a = agreement(kit["reference"], got)
    ok = a["spike_agreement"] in (None, 1.0) and a["output_max_abs_diff"] <= FLOAT_TOL
    res.update(status="pass" if ok else "fail", against="reference.nir (zoo exact semantics, float64)",
               **{k: v for k, v in a.items() if k != "populations"}, populations=len(a["populations"]))
    return res


def _run(fn, plan, x: np.ndarray) -> dict[str, Any]:
    r = fn(plan, x)
    return {"output": r.output, "output_raw": _flat(np.asarray(r.output_raw)), "spikes": dict(r.spikes)}


# ----------------------------------------------------------------------------- command line

def cmd_conformance(args: argparse.Namespace) -> None:
    """``zoo conformance export NAME|--all -o DIR`` and ``zoo conformance check DIR --with TOOL``."""
    if args.conf_cmd == "export":
        from zoo.registry import get_entry, list_models

        if args.all == (args.name is not None):
            raise ZooError("conformance export: give one model NAME or --all")
        names = [n for n in list_models() if get_entry(n).weights is not None] if args.all else [args.name]
        out = Path(args.output)
        if args.all:
            out.mkdir(parents=True, exist_ok=True)
        for n in names:
            dest = out / n if args.all else out
            m = export_kit(n, dest, samples=args.samples, steps=args.steps, lava=not args.no_lava)
            line = {"model": n, "kit": str(dest), "input_source": m["input_source"].split(":")[0],
                    "samples": m["samples"], "steps": m["steps"]}
            print(json.dumps(line) if args.json else f"{dest}: {n}, {m['samples']} x {m['steps']} steps, "
                  f"inputs: {line['input_source']}")
        return
    tools = list(TOOLS) if args.with_ == "all" else [args.with_]
    results = [check_kit(args.kit, t) for t in tools]
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    else:
        for r in results:
            figures = "; ".join(f"{k} {v}" for k, v in r.items()
                                if k not in ("kit", "model", "tool", "status", "against"))
            print(f"{r['status'].upper():7s} {r['model']} with {r['tool']} (against {r['against']}): {figures}")
    failed = [r for r in results if r["status"] == "fail"]
    if failed:
        raise ZooError(f"conformance check failed for {', '.join(r['tool'] for r in failed)}")
    if len(results) == 1 and results[0]["status"] == "refused":
        raise ZooError(f"refused: {results[0]['reason']}")


def add_conformance_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``zoo conformance`` on the zoo's subparsers (``zoo/cli.py``)."""
    s = sub.add_parser("conformance", help="NIR conformance kits: export a model's graph, inputs and reference "
                                           "outputs; check any tool against them")
    csub = s.add_subparsers(dest="conf_cmd", required=True)
    e = csub.add_parser("export", help="write the kit of NAME (or --all models) into DIR")
    e.add_argument("name", nargs="?")
    e.add_argument("--all", action="store_true", help="every shipped model, into DIR/NAME")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--samples", type=positive_int, default=4)
    e.add_argument("--steps", type=positive_int, help="truncate the sequences to this many steps")
    e.add_argument("--no-lava", action="store_true",
                   help="lava-fixed.nir from the bit-exact emulator instead of real Lava processes")
    e.add_argument("--json", action="store_true")
    c = csub.add_parser("check", help="run the kit's graph through a tool and compare with its references")
    c.add_argument("kit")
    c.add_argument("--with", dest="with_", required=True, choices=[*TOOLS, "all"])
    c.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_conformance)
    return s
