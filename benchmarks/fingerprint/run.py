"""Bit-identity guard: ``python -m benchmarks.fingerprint.run [--check | --write] [--models A B] [--lava]``.

``--check`` (default) recomputes every hash, prints a table of models x items whose hash changed
and exits 1 if any did (or a model failed). It refuses (exit 2) when the stored file was written
with another Python, torch, numpy, lava-nc, BLAS or CPU: float bits differ there without any code
change, so the comparison is not meaningful. ``--write`` stores the hashes, the software versions
and the commit in ``results/hashes.json`` (``--models``: only those models' entries are replaced).
Items ending in ``(info)`` are shown when changed but not counted; the summary splits the changes
into inputs (data, torch weights), plans (plan data, quantisation report) and outputs (torch, NIR
executor, emulator, Lava): a refactor that adds a plan field changes plans but no output.
Computation runs on one thread (torch and BLAS), since reduction order changes float bits.

Compare two commits: ``--write`` on the old one, then ``--check`` on the new one (``--file``
keeps the committed hashes untouched); exit 0 means every counted hash is bit-identical.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from benchmarks.fingerprint.items import INFO, LAVA_MODELS, LAVA_SAMPLES, SAMPLES, environment, fingerprint, \
    lava_fingerprint
from zoo.pipeline import Pipeline

RESULTS = Path(__file__).resolve().parent / "results"
HASHES = RESULTS / "hashes.json"


def shipped_models() -> list[str]:
    """The models of ``zoo list``."""
    from zoo.registry import MODELS

    return sorted(MODELS.names())


def compute(models: list[str], lava: bool, log=print) -> dict[str, dict[str, str]]:
    """Model -> item -> digest (a model that fails: ``{"error": message}``)."""
    out = {}
    with threadpool_limits(limits=1):
        for name in models:
            t0 = time.time()
            try:
                pipe = Pipeline(name)
                out[name] = fingerprint(pipe)
                if lava and name in LAVA_MODELS:
                    out[name].update(lava_fingerprint(pipe))
            except Exception as exc:  # noqa: BLE001 - reported per model, the others still run
                out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"{name}: {len(out[name])} hashes ({time.time() - t0:.1f} s)")
    return out


def compare(stored: dict[str, dict[str, str]], now: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Model -> item -> "changed" | "new" | "error" for every item computed now whose stored
    digest differs (stored items not computed now, e.g. Lava without ``--lava``, are skipped)."""
    diff: dict[str, dict[str, str]] = {}
    for model, items in now.items():
        old = stored.get(model, {})
        for item, value in items.items():
            status = "error" if item == "error" else "new" if item not in old else \
                "changed" if old[item] != value else None
            if status:
                diff.setdefault(model, {})[item] = status
    return diff


def kind(item: str) -> str:
    """What an item is: "outputs" (torch, NIR, emulator, Lava runs), "plans" (plan data and the
    quantisation report: a new dataclass field changes them with no output change), "inputs" or
    "errors" (the model failed)."""
    if item == "error":
        return "errors"
    if item in ("inputs", "torch_weights"):
        return "inputs"
    return "plans" if item.startswith(("float_plan", "fixed_", "quant_report")) else "outputs"


def table(diff: dict[str, dict[str, str]]) -> str:
    """Rows: models with a difference; columns: items that differ somewhere; '.' = same."""
    items = sorted({i for d in diff.values() for i in d})
    rows = [["model", *items]] + [[m, *(diff[m].get(i, ".") for i in items)] for m in sorted(diff)]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows)


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=RESULTS.parent, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def env_mismatch(stored: dict, env: dict[str, str]) -> list[str]:
    """``key: stored -> current`` for every environment entry that differs."""
    old = stored.get("environment", {})
    return [f"{k}: {old.get(k)} -> {env.get(k)}" for k in sorted(set(old) | set(env)) if old.get(k) != env.get(k)]


def run(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 same, 1 changed or failed, 2 not comparable)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="recompute and compare with the stored hashes (default)")
    mode.add_argument("--write", action="store_true", help="store the hashes of the current tree")
    ap.add_argument("--models", nargs="+", metavar="NAME", help="only these models (default: every shipped model)")
    ap.add_argument("--lava", action="store_true",
                    help=f"also Lava float/fixed on {LAVA_SAMPLES} samples for {', '.join(LAVA_MODELS)} (slow)")
    ap.add_argument("--file", type=Path, default=HASHES, help="the hashes file (default: %(default)s)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    models = args.models or shipped_models()
    unknown = sorted(set(models) - set(shipped_models()))
    if unknown:
        ap.error(f"--models: not shipped models: {', '.join(unknown)} (see `zoo list`)")
    env = environment()
    stored = json.loads(args.file.read_text()) if args.file.exists() else None
    comparable = stored is not None and not env_mismatch(stored, env) and stored.get("samples") == SAMPLES
    if not args.write:
        if stored is None:
            print(f"no stored hashes at {args.file}: run with --write first")
            return 2
        if not comparable:
            print(f"refusing to compare with {args.file}: it was written on other software or CPU, where float "
                  "bits legitimately differ, so the comparison is not meaningful here:\n  "
                  + "\n  ".join(env_mismatch(stored, env) or [f"samples: {stored.get('samples')} -> {SAMPLES}"])
                  + "\nRun --write on the old commit in this environment, then --check on the new one.")
            return 2
    t0 = time.time()
    now = compute(models, args.lava)
    if args.write:
        kept = stored["models"] if comparable and args.models else {}
        if stored is not None and args.models and not comparable:
            print(f"note: {args.file} was written in another environment; it now holds only {', '.join(models)}")
        res = {"environment": env, "samples": SAMPLES, "lava_samples": LAVA_SAMPLES, "commit": _commit(),
               "models": dict(sorted({**kept, **now}.items()))}
        args.file.parent.mkdir(parents=True, exist_ok=True)
        args.file.write_text(json.dumps(res, indent=1) + "\n")
        errors = [m for m, d in now.items() if "error" in d]
        print(f"wrote {sum(len(d) for d in now.values())} hashes of {len(now)} models to {args.file} "
              f"({time.time() - t0:.0f} s){'; FAILED: ' + ', '.join(errors) if errors else ''}")
        return 1 if errors else 0
    diff = compare(stored["models"], now)
    counted = {m: {i: s for i, s in d.items() if not i.endswith(INFO)} for m, d in diff.items()}
    counted = {m: d for m, d in counted.items() if d}
    if diff:
        print(table(diff))
        for m, d in sorted(diff.items()):
            for i in sorted(d):
                print(f"{d[i].upper()} {m} {i}: {stored['models'].get(m, {}).get(i)} -> {now[m][i]}")
    total = sum(len(d) for d in now.values())
    new = sum(s == "new" for d in counted.values() for s in d.values())
    by_kind = {k: sum(kind(i) == k for d in counted.values() for i, s in d.items() if s != "new")
               for k in ("inputs", "plans", "outputs", "errors")}
    kinds = ", ".join(f"{k} {v}" for k, v in by_kind.items())
    print(f"{sum(len(d) for d in counted.values()) - new} changed ({kinds}), "
          f"{new} without a stored hash, of {total} hashes in {len(now)} models "
          f"(stored at commit {str(stored.get('commit'))[:12]}; {time.time() - t0:.0f} s)")
    return 1 if counted else 0


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
