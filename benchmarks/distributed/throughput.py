"""Data-parallel training throughput on this machine: samples/s with 1 and 2 processes.

Each configuration launches its workers with :func:`zoo.launch.launch` (the same launcher
as ``zoo train --nproc N``: fresh interpreters, torchrun environment variables, gloo on
127.0.0.1). Every worker builds the ``lif-digits`` recipe's model and its BPTT learner exactly
as :func:`zoo.train.train` does (DDP + weighted all-reduce comm hook when N > 1), runs
``--warmup`` global batches, a barrier, then ``--steps`` timed global batches of
``--batch`` samples (split over the ranks), a barrier, and reports
``samples/s = steps * batch / seconds`` (rank 0 clock; process start-up and import time are
reported separately as ``launch_seconds``, the wall time of the whole launch).

Configurations: ``1x1`` (1 process, 1 thread), ``1x2`` (1 process, 2 intra-op threads) and
``2x1`` (2 processes, 1 thread each). The machine has 2 cores shared with other jobs: the
load average is recorded with every run; numbers are what we measured, nothing else.

    python -m benchmarks.distributed.throughput                 # seeds 0 1 2
    python -m benchmarks.distributed.throughput --steps 20 --seeds 0
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.distributed import save_results

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = (("1x1", 1, 1), ("1x2", 1, 2), ("2x1", 2, 1))  # label, processes, threads per process

CLUSTER_COMMAND = (
    "torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HEAD_NODE:29400 "
    "--rdzv-id lif-digits-1 -m zoo.cli train recipes/lif-digits.toml --device cuda --out runs/lif-digits")

def worker(recipe_path: str, seed: int, warmup: int, steps: int, batch: int, out: str) -> None:
    """One rank: time ``steps`` BPTT global batches (called inside a launched process)."""
    import torch

    from zoo import distributed as zd
    from zoo.learning import make_learner
    from zoo.train import load_recipe, recipe_parts

    torch.set_num_threads(int(os.environ.get("ZOO_THREADS", "1")))
    par = zd.init("cpu") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else zd.Context()
    recipe = load_recipe(recipe_path)
    torch.manual_seed(seed)
    entry, task, task_cfg, model, learn = recipe_parts(recipe)
    rule = learn.pop("rule")
    for k in ("epochs", "batch_size"):
        learn.pop(k, None)
    learner = make_learner(rule, par.wrap(model, rule), task, **learn)
    par.attach(learner)
    x, y = task.load("train", **task_cfg)
    gen = torch.Generator().manual_seed(seed)

    def one_step() -> float:
        idx = par.shard(torch.randperm(len(x), generator=gen)[:batch])
        return learner.step((x[idx], y[idx]))["loss"]

    for _ in range(warmup):
        one_step()
    par.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    par.barrier()
    dt = time.perf_counter() - t0
    if par.is_main:
        Path(out).write_text(json.dumps({"seconds": dt, "samples_per_s": steps * batch / dt,
                                         "world_size": par.world_size}))
    par.close()

def run(seeds: list[int], warmup: int, steps: int, batch: int) -> dict:
    from zoo.launch import launch

    recipe = str(ROOT / "recipes/lif-digits.toml")
    res: dict = {"recipe": "recipes/lif-digits.toml", "rule": "bptt", "batch": batch, "steps": steps,
                 "warmup": warmup, "seeds": seeds, "cpu_count": os.cpu_count(), "runs": []}
    for seed in seeds:
        for label, nproc, threads in CONFIGS:
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "r.json")
                cmd = [sys.executable, "-m", "benchmarks.distributed.throughput", "--worker", recipe, str(seed),
                       str(warmup), str(steps), str(batch), out]
                load0 = os.getloadavg()[0]
                t0 = time.time()
                launch(cmd, nproc, env={"ZOO_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)},
                       timeout=1800)
                wall = time.time() - t0
                r = json.loads(Path(out).read_text())
            r.update(config=label, processes=nproc, threads=threads, seed=seed, launch_seconds=round(wall, 2),
                     loadavg_1min_before=round(load0, 2), loadavg_1min_after=round(os.getloadavg()[0], 2))
            res["runs"].append(r)
            print(f"seed {seed} {label}: {r['samples_per_s']:.1f} samples/s (timed {r['seconds']:.2f} s, "
                  f"launch {wall:.1f} s, load {load0:.1f})", file=sys.stderr)
    return res

def summarize(res: dict) -> dict:
    import numpy as np

    table = {}
    for label, _, _ in CONFIGS:
        v = np.array([r["samples_per_s"] for r in res["runs"] if r["config"] == label])
        table[label] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": len(v)}
    ratios = {}
    for num, den in (("2x1", "1x1"), ("2x1", "1x2")):
        per_seed = [next(r["samples_per_s"] for r in res["runs"] if r["config"] == num and r["seed"] == s)
                    / next(r["samples_per_s"] for r in res["runs"] if r["config"] == den and r["seed"] == s)
                    for s in res["seeds"]]
        a = np.array(per_seed)
        ratios[f"{num}/{den}"] = {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}
    res["summary"] = table
    res["ratios"] = ratios
    return res

def report(res: dict) -> str:
    lines = [f"lif-digits BPTT, global batch {res['batch']}, {res['steps']} timed steps, "
             f"seeds {res['seeds']}, {res['cpu_count']} CPUs (shared)",
             f"{'config':8s} {'processes':>9s} {'threads':>7s} {'samples/s (mean ± std)':>24s}"]
    for label, nproc, threads in CONFIGS:
        s = res["summary"][label]
        lines.append(f"{label:8s} {nproc:9d} {threads:7d} {s['mean']:12.1f} ± {s['std']:<8.1f}")
    for k, v in res["ratios"].items():
        lines.append(f"ratio {k}: {v['mean']:.2f} ± {v['std']:.2f}")
    loads = [r["loadavg_1min_before"] for r in res["runs"]]
    lines.append(f"1-min load average before runs: {min(loads):.1f} .. {max(loads):.1f}")
    lines.append(f"cluster run (documented, not run here): {CLUSTER_COMMAND}")
    return "\n".join(lines)

def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [c[0] for c in CONFIGS]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(labels, [res["summary"][k]["mean"] for k in labels], yerr=[res["summary"][k]["std"] for k in labels],
           capsize=4, color=["#888", "#aaa", "#3b7"])
    for r in res["runs"]:
        ax.plot(labels.index(r["config"]), r["samples_per_s"], "k.", ms=4)
    ax.set_ylabel("training samples / s")
    ax.set_xlabel("processes x threads")
    ax.set_title(f"lif-digits BPTT, global batch {res['batch']} (2 shared cores)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        recipe, seed, warmup, steps, batch, out = argv[1:7]
        worker(recipe, int(seed), int(warmup), int(steps), int(batch), out)
        return
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed.throughput")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    res = summarize(run(args.seeds, args.warmup, args.steps, args.batch))
    save_results("throughput", res, plot, report)

if __name__ == "__main__":
    main()
