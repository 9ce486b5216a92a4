"""1 process vs 2 data-parallel processes: how close are the weights, step by step?

One full epoch of the ``lif-digits`` recipe (1347 samples, global batch 64 -> 22 steps, the
last one ragged: 3 samples split 2/1) with the recipe's BPTT learner, once in this process
and once on 2 gloo processes on 127.0.0.1 (DDP + weighted all-reduce comm hook, exactly the
``zoo train --nproc 2`` path), same seed and global batches. After every step the weights are
recorded and ``max |w_1proc - w_2proc|`` is reported, for the recipe's Adam and for plain SGD
(lr 0.05), over ``--seeds``. Also reported: the largest single-step gradient difference,
computed from the 1-process weights of the previous step (so it isolates the all-reduce from
the drift): it measures float summation order only.

    python -m benchmarks.distributed.equivalence            # seeds 0 1 2, adam and sgd
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.distributed import save_results

ROOT = Path(__file__).resolve().parents[2]


def worker(seed: int, optimizer: str, out: str) -> None:
    """Train one epoch, recording the weights and the (reduced) gradient after every step."""
    import torch

    from zoo import distributed as zd
    from zoo.learning import make_learner
    from zoo.registry import get_entry
    from zoo.tasks import get_task
    from zoo.train import load_recipe

    torch.set_num_threads(1)
    par = zd.init("cpu") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else zd.Context()
    recipe = load_recipe(ROOT / "recipes/lif-digits.toml")
    torch.manual_seed(seed)
    entry = get_entry(recipe["model"])
    task_cfg = dict(recipe["task"])
    task = get_task(task_cfg.pop("name"))
    model = entry.builder(**recipe["model_config"])
    lr = recipe["learning"]["lr"] if optimizer == "adam" else 0.05
    learner = make_learner("bptt", par.wrap(model, "bptt"), task, optimizer=optimizer, lr=lr)
    par.attach(learner)
    x, y = task.load("train", **task_cfg)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    bs = recipe["learning"]["batch_size"]
    weights, grads = [], []
    for i in range(0, len(order), bs):
        idx = par.shard(order[i:i + bs])
        learner.step((x[idx], y[idx]))
        weights.append({k: v.detach().clone() for k, v in model.named_parameters()})
        grads.append({k: v.grad.detach().clone() for k, v in model.named_parameters()})
    if par.is_main:
        torch.save({"weights": weights, "grads": grads}, out)
    par.close()


def microbatch_reference(seed: int, optimizer: str, parts: int = 2) -> list[dict]:
    """One process, each global batch split like the ranks split it (``tensor_split``) and the
    gradients of the parts accumulated with weights n_r/n before one optimizer step: the same
    arithmetic as the data-parallel run, without any communication (control)."""
    import torch

    from zoo.learning.base import make_optimizer
    from zoo.registry import get_entry
    from zoo.tasks import get_task
    from zoo.train import load_recipe

    torch.set_num_threads(1)
    recipe = load_recipe(ROOT / "recipes/lif-digits.toml")
    torch.manual_seed(seed)
    task_cfg = dict(recipe["task"])
    task = get_task(task_cfg.pop("name"))
    model = get_entry(recipe["model"]).builder(**recipe["model_config"])
    lr = recipe["learning"]["lr"] if optimizer == "adam" else 0.05
    opt = make_optimizer(model.parameters(), optimizer, lr)
    x, y = task.load("train", **task_cfg)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    bs = recipe["learning"]["batch_size"]
    weights = []
    for i in range(0, len(order), bs):
        idx = order[i:i + bs]
        opt.zero_grad()
        for part in torch.tensor_split(idx, parts):
            if len(part):
                out = model(x[part].transpose(0, 1)).transpose(0, 1)
                (task.loss(out, y[part]) * (len(part) / len(idx))).backward()
        opt.step()
        weights.append({k: v.detach().clone() for k, v in model.named_parameters()})
    return weights


def run(seeds: list[int], optimizers: list[str]) -> dict:
    import torch

    from zoo.launch import launch

    res: dict = {"recipe": "recipes/lif-digits.toml", "seeds": seeds, "runs": []}
    for opt in optimizers:
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                worker(seed, opt, os.path.join(tmp, "one.pt"))
                launch([sys.executable, "-m", "benchmarks.distributed.equivalence", "--worker", str(seed), opt,
                        os.path.join(tmp, "two.pt")], 2, env={"ZOO_THREADS": "1"}, timeout=1800)
                a = torch.load(os.path.join(tmp, "one.pt"))
                b = torch.load(os.path.join(tmp, "two.pt"))
                drift = [max(float((wa[k] - wb[k]).abs().max()) for k in wa)
                         for wa, wb in zip(a["weights"], b["weights"])]
                g1 = max(float((a["grads"][0][k] - b["grads"][0][k]).abs().max()) for k in a["grads"][0])
                micro = microbatch_reference(seed, opt)
                vs_micro = [max(float((wm[k] - wb[k]).abs().max()) for k in wm)
                            for wm, wb in zip(micro, b["weights"])]
                micro_vs_one = [max(float((wm[k] - wa[k]).abs().max()) for k in wm)
                                for wm, wa in zip(micro, a["weights"])]
            res["runs"].append({"optimizer": opt, "seed": seed, "max_abs_dw_per_step": drift,
                                "max_abs_dgrad_step1": g1, "max_abs_dw_vs_microbatch_per_step": vs_micro,
                                "max_abs_dw_microbatch_vs_1proc_per_step": micro_vs_one})
            print(f"{opt} seed {seed}: step-1 max|dgrad| {g1:.2e}, max|dw| after step 1 {drift[0]:.2e}, "
                  f"after step 8 {drift[7]:.2e}, end of epoch ({len(drift)} steps) {drift[-1]:.2e}; "
                  f"2 procs vs 1-proc micro-batch control: max over epoch {max(vs_micro):.2e}", file=sys.stderr)
    return res


def report(res: dict) -> str:
    import numpy as np

    lines = ["lif-digits BPTT, one epoch (22 global batches of 64, last 3): 1 process vs 2 gloo processes",
             f"{'optimizer':9s} {'step-1 max|dgrad|':>20s} {'max|dw| step 1':>16s} {'step 8':>16s} {'step 22 (epoch)':>18s}"]
    for opt in sorted({r["optimizer"] for r in res["runs"]}):
        rs = [r for r in res["runs"] if r["optimizer"] == opt]

        def ms(v):
            v = np.array(v)
            return f"{v.mean():.1e} ± {v.std(ddof=1) if len(v) > 1 else 0:.0e}"

        lines.append(f"{opt:9s} {ms([r['max_abs_dgrad_step1'] for r in rs]):>20s} "
                     f"{ms([r['max_abs_dw_per_step'][0] for r in rs]):>16s} {ms([r['max_abs_dw_per_step'][7] for r in rs]):>16s} "
                     f"{ms([r['max_abs_dw_per_step'][-1] for r in rs]):>18s}")
    lines.append("control: 1 process accumulating the same 2 micro-batches (weights n_r/n), no communication:")
    for opt in sorted({r["optimizer"] for r in res["runs"]}):
        rs = [r for r in res["runs"] if r["optimizer"] == opt]
        lines.append(f"{opt:9s} max over epoch and seeds of |w_2proc - w_microbatch| = "
                     f"{max(max(r['max_abs_dw_vs_microbatch_per_step']) for r in rs):.1e}; "
                     f"|w_microbatch - w_1proc| at end of epoch: "
                     f"{np.mean([r['max_abs_dw_microbatch_vs_1proc_per_step'][-1] for r in rs]):.1e} (mean over seeds)")
    lines.append(f"seeds {res['seeds']} (mean ± std over seeds)")
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    colors = {"adam": "#c53", "sgd": "#37b"}
    for r in res["runs"]:
        ax.semilogy(range(1, len(r["max_abs_dw_per_step"]) + 1), r["max_abs_dw_per_step"], color=colors.get(r["optimizer"], "k"),
                    alpha=0.7, label=f"{r['optimizer']} seed {r['seed']}")
    ax.set_xlabel("global step (one epoch)")
    ax.set_ylabel("max |w(1 proc) - w(2 procs)|")
    ax.set_title("lif-digits: 1 vs 2 data-parallel processes", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(int(argv[1]), argv[2], argv[3])
        return
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed.equivalence")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--optimizers", nargs="+", default=["adam", "sgd"])
    args = p.parse_args(argv)
    res = run(args.seeds, args.optimizers)
    save_results("equivalence", res, plot, report)


if __name__ == "__main__":
    main()
