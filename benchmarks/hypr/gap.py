"""BPTT vs HYPR accuracy gap per neuron (BRF, SE-adLIF, ALIF) on ECG-QTDB or FSDD, with learning
curves (issue 19, item 3).

    python -m benchmarks.hypr.gap [--task ecg|fsdd-seq] [--epochs 16] [--seeds 0 1 2] [--report-only]

Every (neuron, rule, seed) run trains for the same fixed number of epochs with the same
hyper-parameters for BPTT and HYPR (no tuning for either; per task ``DEFAULTS``, per neuron
``model_kwargs``; lr decays linearly to ``lr_final_frac * lr``). ECG: validation = the LAST
``--n-val`` sequences of the training file, held out; training = the first ``--n-train`` of the
rest; test = the whole test file; all cropped to the first ``--steps`` steps. FSDD: its own
train / val / test splits (``zoo.tasks.fsdd``). After every epoch the run records val and test
accuracy. Nothing is chosen on test: the report gives test at the final epoch and test at the
epoch of best val.

Resumable: one JSON per run in ``results/<out>/``, rewritten after every epoch; a finished run
whose config matches is skipped, an unfinished one is restarted from scratch. Runs go seed by
seed, so a stopped benchmark still leaves complete seeds. The report (``gap_report.py``) writes
``results/<out>.json|md|png``.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.hypr.common import DEFAULT_GAIN, N_OUT, evaluate, make_learner, train_epoch
from zoo.models.hypr import RecurrentSNN
from zoo.tasks import get_task

RESULTS = Path(__file__).resolve().parent / "results"
CONFIG_KEYS = ("task", "epochs", "n_train", "n_val", "steps", "lam", "lr", "lr_final_frac", "batch_size",
               "n_hidden")
# FSDD (task fsdd-seq): the front end and per-neuron initialisation of recipes/hypr-brf-fsdd.toml,
# hypr-seadlif-fsdd.toml and eprop-alif-fsdd.toml (first guesses checked on val by their authors)
FSDD_TASK = {"steps": 80, "n_mels": 32, "levels": 3, "encoding": "level", "range_db": 50.0, "hop": 80,
             "label_from": 10}
FSDD_MODEL = {"brf": {"w_in_gain": 20.0, "w_rec_gain": 20.0,
                      "neuron_config": {"omega_a": 5.0, "omega_b": 40.0, "b_offset_a": 0.1, "b_offset_b": 1.0}},
              "seadlif": {"w_in_gain": 20.0, "w_rec_gain": 20.0}, "alif": {"w_in_gain": 20.0, "w_rec_gain": 5.0}}
# per task: defaults of the command-line options (ECG: as the hypr-*-ecg recipes; FSDD: as the FSDD recipes)
DEFAULTS = {"ecg": {"epochs": 16, "n_train": 192, "n_val": 118, "steps": 500, "lam": 100, "lr": 0.05,
                    "batch_size": 16, "n_hidden": 36},
            "fsdd-seq": {"epochs": 8, "n_train": 600, "n_val": 300, "steps": 80, "lam": 80, "lr": 0.01,
                         "batch_size": 32, "n_hidden": 64}}


def split_ecg(n_train: int, n_val: int, steps: int | None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """train = first ``n_train`` training sequences, val = last ``n_val`` (disjoint), test = all."""
    task = get_task("ecg")
    x, y = task.load("train", steps=steps)
    if n_train + n_val > len(x):
        raise ValueError(f"--n-train {n_train} + --n-val {n_val} exceeds the {len(x)} ECG training sequences")
    xte, yte = task.load("test", steps=steps)
    return {"train": (x[:n_train], y[:n_train]), "val": (x[len(x) - n_val:], y[len(y) - n_val:]),
            "test": (xte, yte)}


def split_fsdd(n_train: int, n_val: int, steps: int | None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """FSDD's own splits (``zoo.tasks.fsdd``): first ``n_train`` of train, first ``n_val`` of val, all of
    test; each split's order mixes all digits and speakers."""
    task = get_task("fsdd-seq")
    kw = {**FSDD_TASK, "steps": steps or FSDD_TASK["steps"]}
    return {"train": task.load("train", n=n_train, **kw), "val": task.load("val", n=n_val, **kw),
            "test": task.load("test", **kw)}


def model_kwargs(task: str, neuron: str) -> dict[str, Any]:
    """Initialisation of the ``RecurrentSNN`` per task and neuron (the same for every rule)."""
    if task == "fsdd-seq":
        return FSDD_MODEL[neuron]
    return {"w_in_gain": DEFAULT_GAIN[neuron], "w_rec_gain": DEFAULT_GAIN[neuron]}


def run_one(data: dict, neuron: str, rule: str, seed: int, cfg: dict[str, Any], path: Path,
            log=print) -> dict[str, Any]:
    """Train one model for ``cfg['epochs']`` epochs; write ``path`` after every epoch."""
    torch.manual_seed(seed)
    task = get_task(cfg["task"])
    xtr, ytr = data["train"]
    mkw = model_kwargs(cfg["task"], neuron)
    model = RecurrentSNN(xtr.shape[-1], cfg["n_hidden"], N_OUT[cfg["task"]], neuron=neuron, **mkw)
    steps = cfg["epochs"] * math.ceil(len(xtr) / cfg["batch_size"])
    learner = make_learner(rule, model, task, lam=cfg["lam"], lr=cfg["lr"], total_steps=steps,
                           lr_final_frac=cfg["lr_final_frac"])
    gen = torch.Generator().manual_seed(seed)
    rec = {"neuron": neuron, "rule": rule, "seed": seed, "config": cfg, "model": mkw, "complete": False,
           "history": []}
    t0, c0 = time.time(), time.process_time()
    for ep in range(cfg["epochs"]):
        t1, c1 = time.time(), time.process_time()
        loss = train_epoch(learner, xtr, ytr, cfg["batch_size"], gen)
        train_wall, train_cpu = time.time() - t1, time.process_time() - c1
        h = {"epoch": ep + 1, "loss": loss, "val": evaluate(model, task, *data["val"]),
             "test": evaluate(model, task, *data["test"]), "train_wall_s": round(train_wall, 2),
             "train_cpu_s": round(train_cpu, 2), "wall_s": round(time.time() - t0, 1),
             "cpu_s": round(time.process_time() - c0, 1)}
        rec["history"].append(h)
        rec["complete"] = ep + 1 == cfg["epochs"]
        path.write_text(json.dumps(rec, indent=1))
        log(f"[{cfg['task']} {neuron} {rule} seed={seed}] epoch {ep + 1}/{cfg['epochs']} loss {loss:.4f} "
            f"val {h['val']:.4f} test {h['test']:.4f} (train {train_wall:.1f}s wall / {train_cpu:.1f}s cpu, "
            f"total {h['wall_s']:.0f}s)", flush=True)
    return rec


def load_done(path: Path, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The stored run if it is complete and was made with ``cfg``, else None."""
    if not path.exists():
        return None
    rec = json.loads(path.read_text())
    stored = {"task": "ecg", **rec.get("config", {})}  # runs stored before the task key were ECG runs
    return rec if rec.get("complete") and stored == cfg else None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=sorted(DEFAULTS), default="ecg")
    ap.add_argument("--neurons", nargs="+", default=["brf", "seadlif", "alif"])
    ap.add_argument("--rules", nargs="+", default=["bptt", "hypr"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--n-train", type=int)
    ap.add_argument("--n-val", type=int)
    ap.add_argument("--steps", type=int, help="ECG: crop every sequence to its first STEPS steps; FSDD: frames")
    ap.add_argument("--lam", type=int, help="HYPR sub-sequence length")
    ap.add_argument("--lr", type=float)
    ap.add_argument("--lr-final-frac", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--n-hidden", type=int)
    ap.add_argument("--window", type=int, default=3, help="plateau check: mean val of the last WINDOW epochs "
                    "vs the WINDOW before")
    ap.add_argument("--plateau-tol", type=float, default=1.0, help="plateau if |val change| < TOL points")
    ap.add_argument("--out", help="results/OUT/ (runs) and results/OUT.json|md|png; default gap_TASK")
    ap.add_argument("--report-only", action="store_true", help="only rebuild the report from stored runs")
    args = ap.parse_args(argv)
    from benchmarks.hypr.gap_report import report

    torch.set_num_threads(1)
    for k, v in DEFAULTS[args.task].items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    out = args.out or f"gap_{args.task.split('-')[0]}"
    cfg = {k: getattr(args, k) for k in CONFIG_KEYS}
    run_dir = RESULTS / out
    run_dir.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        split = split_fsdd if args.task == "fsdd-seq" else split_ecg
        data = split(args.n_train, args.n_val, args.steps)
        for seed in args.seeds:
            for neuron in args.neurons:
                for rule in args.rules:
                    path = run_dir / f"{neuron}-{rule}-s{seed}.json"
                    if load_done(path, cfg) is None:
                        run_one(data, neuron, rule, seed, cfg, path)
    runs = [r for r in (load_done(run_dir / f"{n}-{r}-s{s}.json", cfg) for s in args.seeds
                        for n in args.neurons for r in args.rules) if r is not None]
    return report(runs, args.neurons, args.rules, cfg, RESULTS / out, window=args.window,
                  tol=args.plateau_tol)


if __name__ == "__main__":
    main()
