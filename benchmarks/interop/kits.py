"""Conformance kits for every shipped model, checked with every tool that claims support.

    python -m benchmarks.interop.kits [--out DIR] [--samples 4] [--steps N] [--no-lava]

Same as ``zoo conformance export --all -o DIR`` followed by ``zoo conformance check DIR/NAME
--with TOOL`` for zoo-torch, lava-float, lava-fixed, emulator and every framework the interop
table (benchmarks/interop/results/interop.json) says works. Writes
``benchmarks/interop/results/kits.json`` (one row per model and tool: status and figures).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    from benchmarks.interop.table import shipped_models
    from zoo.conformance import check_kit, export_kit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="kit folder (default: a temporary one)")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--no-lava", action="store_true")
    ap.add_argument("--models", default=None)
    args = ap.parse_args()
    claims = json.loads((RESULTS / "interop.json").read_text())["models"]
    out = Path(args.out or tempfile.mkdtemp(prefix="kits."))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in (args.models.split(",") if args.models else shipped_models()):
        if claims.get(name, {}).get("unavailable"):
            rows.append({"model": name, "tool": "-", "status": "error", "error": claims[name]["unavailable"]})
            print(f"{name}: unavailable here: {claims[name]['unavailable']}")
            continue
        t0 = time.time()
        m = export_kit(name, out / name, samples=args.samples, steps=args.steps, lava=not args.no_lava)
        print(f"{name}: kit in {time.time() - t0:.1f}s ({m['samples']} x {m['steps']} steps, "
              f"{m['input_source'].split(' (')[0].split(':')[0]})", flush=True)
        tools = ["zoo-torch", "lava-float", "lava-fixed", "emulator"] + [
            t for t, c in claims[name]["cells"].items() if c["status"] == "pass" and t != "nir"]
        for tool in tools:
            t0 = time.time()
            try:
                r = check_kit(out / name, tool)
            except Exception as exc:  # a backend that cannot run this model: recorded, not hidden
                r = {"model": name, "tool": tool, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
            r["seconds"] = round(time.time() - t0, 2)
            r.pop("kit", None)
            rows.append(r)
            print("  ", tool, r["status"], {k: v for k, v in r.items() if k not in ("model", "tool", "status")},
                  flush=True)
    cmd = "python -m benchmarks.interop.kits" + (f" --samples {args.samples}" if args.samples != 4 else "") + (
        f" --steps {args.steps}" if args.steps else "") + (" --no-lava" if args.no_lava else "") + (
        f" --models {args.models}" if args.models else "")
    (RESULTS / "kits.json").write_text(json.dumps({"command": cmd, "rows": rows}, indent=1) + "\n")
    print(f"wrote {RESULTS / 'kits.json'}")


if __name__ == "__main__":
    main()
