"""``zoo`` command line: list, info, download, export, run, eval, train, card, data, nir.

Every error is one line ``error: ...`` on stderr with exit code 2 (a training run that diverges:
exit 1); Ctrl-C prints ``interrupted`` and exits 130; ``--json`` prints one JSON object."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from zoo.argtypes import positive_int
from zoo.registry import ZooError

LOG = logging.getLogger("zoo")


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def cmd_list(args: argparse.Namespace) -> None:
    from zoo.registry import get_entry, list_models

    rows = []
    for name in list_models():
        e = get_entry(name)
        try:
            w = e.weights
        except ZooError as exc:  # one broken weights record must not hide the other models
            rows.append({"name": name, "paper": e.paper, "task": e.task, "metric": e.metric, "pretrained": False,
                         "sha256": None, "value": None, "error": str(exc)})
            print(f"warning: {exc}", file=sys.stderr)
            continue
        rows.append({"name": name, "paper": e.paper, "task": e.task, "metric": e.metric,
                     "pretrained": w is not None, "sha256": w.sha256 if w else None,
                     "value": (w.metrics.get(f"test_{e.metric}") if w else None)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    _print_table([[r["name"], r["paper"], r["task"], r["metric"],
                   f"{r['value']:.4f}" if isinstance(r["value"], float) else "-",
                   (r["sha256"] or "-")[:12]] for r in rows],
                 ["name", "paper", "task", "metric", "torch", "sha256"])


def cmd_info(args: argparse.Namespace) -> None:
    from zoo.registry import get_entry

    from zoo.resources import card_path

    e = get_entry(args.name)
    w = e.weights
    card = card_path(e.name)
    info = {"name": e.name, "paper": e.paper, "task": e.task, "metric": e.metric, "description": e.description,
            "pretrained": w is not None, "card": str(card) if card.exists() else None}
    if w:
        info.update({"weights": str(w.path), "sha256": w.sha256, "recipe": w.recipe, "dt": w.meta.get("dt"),
                     "contract": w.meta.get("contract"), "metrics": w.metrics, "seed": w.meta.get("seed"),
                     "commit": w.meta.get("commit")})
    if args.hardware:
        from zoo.evaluate import evaluate
        from zoo.pipeline import Pipeline

        info["hardware"] = evaluate(Pipeline(args.name), samples=args.samples, backends=("emulator",))["hardware"]
    if args.json:
        print(json.dumps(info, indent=2))
        return
    for k, v in info.items():
        if k != "hardware":
            print(f"{k:12s} {v}")
    if args.hardware:
        from zoo.hardware import render

        print("\nDeployment view (fixed point; messages measured by the emulator on "
              f"{args.samples} test samples):\n" + "\n".join(render(info["hardware"])))
    if card.is_file():
        print()
        print(card.read_text(), end="")


def cmd_download(args: argparse.Namespace) -> None:
    from zoo.hub import fetch, verify
    from zoo.registry import get_weights

    w = get_weights(args.name)
    path = fetch(w.url, w.sha256, w.file, progress=True) if w.url else verify(w.path, w.sha256)
    print(path)


def cmd_export(args: argparse.Namespace) -> None:
    from exporters.nir import write
    from zoo.pipeline import Pipeline

    if args.to != "nir":
        raise ZooError(f"unknown export format {args.to!r} (supported: nir)")
    out = Path(args.output or f"{args.name}.nir")
    graph = Pipeline(args.name).graph
    if args.target:
        from exporters.nir.targets import export_for_target

        print(export_for_target(graph, args.target, out))
        return
    write(out, graph)
    print(out)


def cmd_eval(args: argparse.Namespace) -> None:
    from zoo.evaluate import BACKENDS, evaluate
    from zoo.pipeline import Pipeline

    backends = tuple(args.backend) if getattr(args, "backend", None) else BACKENDS
    log = LOG.info if not args.json else (lambda m: None)
    kw = dict(backends=backends, log=log, workers=None if args.workers == "auto" else int(args.workers),
              shard_all=args.shard_all)
    samples = None if args.samples == "all" else args.samples
    if getattr(args, "lava_samples", None):
        from zoo.evaluate import evaluate_with_lava_subset

        res = evaluate_with_lava_subset(Pipeline(args.name), samples, args.lava_samples, **kw)
    else:
        res = evaluate(Pipeline(args.name), samples=samples, **kw)
    if getattr(args, "save", False):
        from zoo.card import save_results

        print(f"results written to {save_results(res, force=args.force)}", file=sys.stderr)
        if getattr(args, "plots", False):
            cmd_card(args)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"\n{res['model']}: {res['metric']} on {res['samples']} test samples")
    _print_table([[b, f"{v['value']:.4f}", f"{v['seconds']:.2f}"] if v["value"] is not None else
                  [b, "-", v.get("error", "")] for b, v in res["backends"].items()],
                 ["backend", res["metric"], "seconds"])
    if res["agreement"]:
        print("\nagreement (after latency alignment):")
        for k, v in res["agreement"].items():
            print(f"  {k:45s} {v:.6g}" if isinstance(v, float) else f"  {k:45s} {v}")


def cmd_run(args: argparse.Namespace) -> None:
    args.backend = [args.backend]
    cmd_eval(args)


def cmd_train(args: argparse.Namespace) -> None:
    import torch

    from zoo.resources import find_recipe
    from zoo.tasks import load_task_module
    from zoo.train import load_recipe, train

    for spec in args.task_module:
        load_task_module(spec)
    recipe = load_recipe(find_recipe(args.recipe))
    out = args.out or f"runs/{recipe['name']}"
    meta = train(recipe, out, log=LOG.info, nproc=getattr(args, "nproc", 1),
                 device=getattr(args, "device", "cpu"), backend=getattr(args, "backend", "torch"),
                 evals_per_epoch=getattr(args, "evals_per_epoch", 1), test_samples=getattr(args, "test_samples", None),
                 dtype=getattr(torch, getattr(args, "dtype", "float32")), init=getattr(args, "init", None))
    if "file" not in meta:  # a non-zero rank of a torchrun job: rank 0 reports
        return
    print(json.dumps({"weights": str(Path(out) / meta["file"]), "sha256": meta["sha256"],
                      "metrics": meta["meta"]["metrics"]}, indent=2))


def cmd_card(args: argparse.Namespace) -> None:
    from zoo.card import write_card

    print(write_card(args.name, plots=getattr(args, "plots", False), plot_samples=getattr(args, "plot_samples", 1),
                     lava=not getattr(args, "no_lava", False), log=LOG.info))


def cmd_data(args: argparse.Namespace) -> None:
    from zoo.datasets import DATASETS, data_dir, get_dataset

    if args.data_cmd == "list":
        rows = [{"name": d.name, "description": d.description, "licence": d.licence, "bytes": d.size_bytes,
                 "files": len(d.manifest()), "where": "package" if d.shipped else "cache", "path": str(d.root),
                 "present": d.present()} for d in DATASETS.values()]
        if args.json:
            print(json.dumps({"cache": str(data_dir()), "datasets": rows}, indent=2))
            return
        print(f"data cache: {data_dir()} (set ZOO_DATA_DIR to move it)")
        _print_table([[r["name"], "yes" if r["present"] else "no", r["where"], f"{r['bytes'] / 1e6:.1f} MB",
                       r["files"], r["licence"]] for r in rows],
                     ["name", "present", "where", "size", "files", "licence"])
        return
    ds = get_dataset(args.name)
    if args.data_cmd == "fetch":
        print(ds.fetch(source=args.source, progress=sys.stderr.isatty()))
        return
    bad = ds.verify()
    if bad:
        raise ZooError(f"data set {ds.name!r} in {ds.root}: {len(bad)} of {len(ds.manifest())} files missing or "
                       f"corrupt (first: {bad[0]}); refetch: zoo data fetch {ds.name}")
    print(f"{ds.name}: {len(ds.manifest())} files verified in {ds.root}")


def cmd_nir(args: argparse.Namespace) -> None:
    from zoo import nir_tools

    from zoo import nir_interop

    {"info": nir_tools.info, "run": nir_tools.run, "compare": nir_interop.compare}[args.nir_cmd](args)


def _plot_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--plots", action="store_true", help="(re)draw the card figures in model_cards/img/NAME/ "
                   "and write the card (with eval: needs --save)")
    s.add_argument("--plot-samples", type=positive_int, default=1, help="test samples run through Lava fixed for the raster")
    s.add_argument("--no-lava", action="store_true", help="raster from the bit-exact emulator instead of Lava")


class _Parser(argparse.ArgumentParser):
    """argparse with the zoo's error contract: one line ``error: ...``, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message}\n")


def _count_or_all(text: str) -> str | int:
    """argparse type: ``all`` or a whole number >= 1."""
    return "all" if text == "all" else positive_int(text)


def _workers(text: str) -> str | int:
    """argparse type: ``auto`` or a whole number >= 1."""
    return "auto" if text == "auto" else positive_int(text)


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="zoo", description="Lava-NIR Zoo: SNN models from torch to NIR to Lava.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more diagnostics (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors, no progress bars")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("list", help="registered models")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_list)
    s = sub.add_parser("info", help="model summary and its card")
    s.add_argument("name")
    s.add_argument("--hardware", action="store_true",
                   help="deployment view: per population neurons, fan-in, memory at fixed-point widths, messages "
                        "per step (emulator) and a Loihi 2 core estimate")
    s.add_argument("--samples", type=positive_int, default=20, help="test samples for --hardware's message counts")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_info)
    s = sub.add_parser("download", help="fetch/verify pretrained weights, print the path")
    s.add_argument("name")
    s.set_defaults(fn=cmd_download)
    s = sub.add_parser("export", help="export a model to NIR")
    s.add_argument("name")
    s.add_argument("--to", default="nir")
    s.add_argument("--target", choices=["nir", "snntorch", "norse", "nirtorch"],
                   help="write a graph that this framework's own importer runs with the zoo's spikes (working "
                        "around its known behaviour), or refuse with the reason (docs/interop.md)")
    s.add_argument("-o", "--output")
    s.set_defaults(fn=cmd_export)
    for cmd, fn, hlp in (("eval", cmd_eval, "all backends side by side"), ("run", cmd_run, "one backend")):
        s = sub.add_parser(cmd, help=hlp)
        s.add_argument("name")
        if cmd == "run":
            s.add_argument("--backend", required=True, choices=["torch", "lava-float", "lava-fixed", "emulator"])
        s.add_argument("--samples", type=_count_or_all, default=300, help="test samples (a number, or all)")
        if cmd == "eval":
            s.add_argument("--lava-samples", type=positive_int,
                           help="run the Lava backends on the first N samples only (torch and emulator on all)")
        s.add_argument("--json", action="store_true")
        s.add_argument("--workers", type=_workers, default="auto",
                       help="processes for the Lava backends' samples (default auto: more than 1 only when the "
                            "measured start-up cost pays off)")
        s.add_argument("--shard-all", action="store_true", help="shard torch and the emulator over --workers too")
        if cmd == "eval":
            s.add_argument("--save", action="store_true", help="write model_cards/results/NAME.json for `zoo card`")
            s.add_argument("--force", action="store_true",
                           help="with --save: replace a result measured on more samples")
            _plot_args(s)
        s.set_defaults(fn=fn)
    s = sub.add_parser("card", help="regenerate model_cards/NAME.md from measured results")
    s.add_argument("name")
    _plot_args(s)
    s.set_defaults(fn=cmd_card)
    s = sub.add_parser("train", help="train from a recipe")
    s.add_argument("recipe", help="a recipe file, or the name of a shipped recipe (zoo train lif-digits)")
    s.add_argument("--out", help="output folder (zoo/weights ships the model); default runs/<name>")
    s.add_argument("--task-module", action="append", default=[], metavar="MODULE",
                   help="a .py file or dotted module whose import registers tasks (zoo.tasks.register_task / "
                        "streaming_task); repeatable")
    s.add_argument("--nproc", type=positive_int, default=1,
                   help="data-parallel processes on this machine (torch.distributed; or launch with torchrun)")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="gloo on cpu, NCCL on cuda")
    s.add_argument("--backend", default="torch",
                   choices=["torch", "lava-float", "lava-fixed", "emulator-float", "emulator-fixed"],
                   help="where the online rule learns: torch, or inside Lava (float64 / Loihi fixed point) "
                        "or its bit-exact emulator (recipe needs optimizer = \"sgd\")")
    s.add_argument("--evals-per-epoch", type=positive_int, default=1, help="test evaluations per epoch")
    s.add_argument("--test-samples", type=positive_int, help="evaluate on the first N test samples")
    s.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="torch training precision (float64 to compare step for step with --backend lava-float)")
    s.add_argument("--init", metavar="FILE.nir",
                   help="start from the parameters of a NIR file `zoo export` wrote for the recipe's model")
    s.set_defaults(fn=cmd_train)
    s = sub.add_parser("data", help="data sets: list, fetch into the cache, verify")
    dsub = s.add_subparsers(dest="data_cmd", required=True)
    d = dsub.add_parser("list", help="every data set, its licence, size and whether it is present")
    d.add_argument("--json", action="store_true")
    d = dsub.add_parser("fetch", help="download NAME into the data cache, verified file by file")
    d.add_argument("name")
    d.add_argument("--from", dest="source", help="a local .tar.gz or folder instead of the public source")
    d = dsub.add_parser("verify", help="check every file of NAME against its SHA-256 manifest")
    d.add_argument("name")
    s.set_defaults(fn=cmd_data)
    s = sub.add_parser("nir", help="run any NIR file")
    nsub = s.add_subparsers(dest="nir_cmd", required=True)
    for cmd in ("info", "run", "compare"):
        n = nsub.add_parser(cmd)
        n.add_argument("file")
        n.add_argument("--dt", type=float, help="step in seconds (required if the file has no dt metadata)")
        n.add_argument("--from", dest="source", default=None, choices=["nir", "snntorch", "norse"],
                       help="the file's producer: apply the known-bug workarounds of snnTorch 1.0.0 / Norse 1.1.0 "
                            "(a raw snnTorch or Norse file without it is refused, naming this flag)")
        n.add_argument("--reset", default=None, choices=["zero", "subtract"],
                       help="with --from snntorch: the neurons' reset_mechanism (the export does not record it)")
        from zoo.nir_interop import add_interop_args

        add_interop_args(n, compare=cmd == "compare")
        if cmd != "info":
            n.add_argument("--input", required=cmd != "info", help=".npy of shape (T, ...) or (batch, T, ...)")
        if cmd == "run":
            n.add_argument("--backend", default="emulator", choices=["torch", "lava-float", "lava-fixed", "emulator"])
            n.add_argument("-o", "--output", required=True, help="output .npz")
        n.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_nir)
    from zoo.conformance import add_conformance_parser

    add_conformance_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already reported on one line
        return int(exc.code or 0)
    from zoo import progress

    progress.configure_logging(-1 if args.quiet else 1 + args.verbose)
    progress.set_enabled(False if (args.quiet or getattr(args, "json", False)) else None)
    from exporters.nir.io import NIRError
    from zoo.hub import HubError

    from zoo.train import TrainingDiverged

    try:
        args.fn(args)
        sys.stdout.flush()
    except TrainingDiverged as exc:  # the run failed (not a usage error): nothing was written
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ZooError, NIRError, HubError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `zoo list --json | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
