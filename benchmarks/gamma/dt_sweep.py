"""SpikingGamma time-resolution sweep: the same task at dt = 1, 0.5, 0.25, 0.1 ms.

Methods (all trained from scratch with the same data, epochs, batch size and Adam lr):

* ``gamma_online`` -- GammaNet + exact online rule (zoo.learning.gamma_online), constant memory;
* ``lif_bptt``     -- 2-hidden-layer LIF network (zoo.models.gamma.LIFNet), BPTT;
* ``lif_ottt``     -- the same LIF network, OTTT-style online surrogate-gradient rule.

Per run: test accuracy, hidden spikes per test sample (non-zero sigma-delta messages / LIF
spikes), training-state memory per sample and seconds per epoch. Memory is *measured*:
BPTT = bytes of the tensors autograd saves for the backward pass over the whole sequence
(``torch.autograd.graph.saved_tensors_hooks``, deduplicated by storage) / batch size;
online rules = bytes of their persistent state (bucket states, traces, reconstructions /
membrane states and presynaptic traces; float32) + for OTTT the per-step autograd graph
(total saved bytes / T).

Usage: ``python -m benchmarks.gamma.dt_sweep [--task delay] [--seeds 0 1 2] [--epochs 8]``
prints a table (mean +- std over seeds) and writes results/<task>_dt_sweep.json + PNG plots.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from zoo.learning.bptt import BPTT
from zoo.learning.gamma_online import GammaOnline
from zoo.learning.ottt import OTTT
from zoo.models.gamma import LIFNet, gamma_delay, gamma_seqdigits
from zoo.tasks import get_task

RESULTS = Path(__file__).resolve().parent / "results"
DTS = (1.0, 0.5, 0.25, 0.1)
METHODS = ("gamma_online", "lif_bptt", "lif_ottt")


def build(method: str, task: str, dt: float, hidden: int | None) -> tuple[torch.nn.Module, type]:
    n_in, n_out = (2, 7) if task == "delay" else (8, 10)
    if method == "gamma_online":
        builder = gamma_delay if task == "delay" else gamma_seqdigits
        kw = {"dt": dt} if hidden is None else {"dt": dt, "n_hidden": hidden}
        return builder(**kw), GammaOnline
    model = LIFNet(n_inputs=n_in, n_hidden=hidden or 64, n_outputs=n_out, dt=dt, input_gain=3.0)
    return model, (BPTT if method == "lif_bptt" else OTTT)


def saved_bytes(fn) -> int:
    """Bytes of distinct storages autograd saves for backward while running ``fn``."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        try:
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        except (RuntimeError, NotImplementedError):
            seen[id(t)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def evaluate(model: torch.nn.Module, task, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    outs, spikes = [], 0.0
    with torch.no_grad():
        for i in range(0, len(x), 250):
            outs.append(model(x[i:i + 250].transpose(0, 1)).transpose(0, 1))
            spikes += model.last_stats["hidden_spikes_per_sample"] * len(x[i:i + 250])
    return task.metric(torch.cat(outs), y), spikes / len(x)


def run(method: str, task_name: str, dt: float, seed: int, epochs: int, n_train: int, batch: int, lr: float,
        hidden: int | None) -> dict:
    torch.manual_seed(seed)
    task = get_task(task_name)
    xtr, ytr = task.load("train", dt=dt, n=n_train)
    xte, yte = task.load("test", dt=dt)
    model, rule = build(method, task_name, dt, hidden)
    learner = rule(model, task, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    T = xtr.shape[1]
    mem = None
    t0 = time.time()
    for epoch in range(epochs):
        order = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            if mem is None:  # measure the memory of the first training step
                nbytes = saved_bytes(lambda: learner.step((xtr[idx], ytr[idx])))
                state = getattr(learner, "last", {}).get("state_floats_per_sample", 0.0) * 4
                per_step = nbytes / T if method == "lif_ottt" else nbytes
                mem = (per_step / len(idx) + state) if method != "gamma_online" else state
                continue
            learner.step((xtr[idx], ytr[idx]))
    sec_per_epoch = (time.time() - t0) / epochs
    acc, spikes = evaluate(model, task, xte, yte)
    return {"method": method, "task": task_name, "dt": dt, "T": T, "seed": seed, "accuracy": acc,
            "hidden_spikes_per_sample": spikes, "input_spikes_per_sample": float(xte.sum()) / len(xte),
            "train_state_bytes_per_sample": mem, "sec_per_epoch": sec_per_epoch,
            "epochs": epochs, "n_train": len(xtr), "batch": batch, "lr": lr, "hidden": hidden}


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["method"], r["dt"]) for r in rows}, key=lambda k: (METHODS.index(k[0]), -k[1]))
    for m, dt in keys:
        rs = [r for r in rows if r["method"] == m and r["dt"] == dt]
        agg = {"method": m, "dt": dt, "T": rs[0]["T"], "n_seeds": len(rs)}
        for k in ("accuracy", "hidden_spikes_per_sample", "train_state_bytes_per_sample", "sec_per_epoch"):
            v = np.array([r[k] for r in rs], dtype=float)
            agg[k] = float(v.mean())
            agg[k + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(agg)
    return out


def table(summary: list[dict]) -> str:
    lines = [f"{'method':<14}{'dt/ms':>6}{'T':>6}{'seeds':>6}  {'accuracy %':>14}  {'spikes/sample':>16}  "
             f"{'train mem KB/sample':>20}  {'s/epoch':>8}"]
    for s in summary:
        lines.append(f"{s['method']:<14}{s['dt']:>6g}{s['T']:>6}{s['n_seeds']:>6}  "
                     f"{100 * s['accuracy']:>7.1f} ± {100 * s['accuracy_std']:<4.1f}  "
                     f"{s['hidden_spikes_per_sample']:>8.0f} ± {s['hidden_spikes_per_sample_std']:<5.0f}  "
                     f"{s['train_state_bytes_per_sample'] / 1024:>20.1f}  {s['sec_per_epoch']:>8.1f}")
    methods = sorted({s["method"] for s in summary}, key=METHODS.index)
    for m in methods:
        accs = [100 * s["accuracy"] for s in summary if s["method"] == m]
        lines.append(f"{m}: accuracy max - min over dt = {max(accs) - min(accs):.1f} points")
    return "\n".join(lines)


def plot(summary: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for m in sorted({s["method"] for s in summary}, key=METHODS.index):
        ss = sorted([s for s in summary if s["method"] == m], key=lambda s: s["dt"])
        dts = [s["dt"] for s in ss]
        axes[0].errorbar(dts, [100 * s["accuracy"] for s in ss], yerr=[100 * s["accuracy_std"] for s in ss],
                         marker="o", capsize=3, label=m)
        axes[1].plot([s["T"] for s in ss], [s["train_state_bytes_per_sample"] / 1024 for s in ss], marker="o", label=m)
        axes[2].errorbar(dts, [s["hidden_spikes_per_sample"] for s in ss],
                         yerr=[s["hidden_spikes_per_sample_std"] for s in ss], marker="o", capsize=3, label=m)
    axes[0].set(xscale="log", xlabel="dt (ms)", ylabel="test accuracy (%)", title="accuracy vs dt")
    axes[1].set(xscale="log", yscale="log", xlabel="T (steps)", ylabel="training state (KB / sample)",
                title="training memory vs T")
    axes[2].set(xscale="log", yscale="log", xlabel="dt (ms)", ylabel="hidden spikes / sample", title="spikes")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="delay", choices=["delay", "digit-events"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--dts", nargs="+", type=float, default=list(DTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--hidden", type=int, default=None, help="hidden units (default: model default / 64 for LIF)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="", help="suffix of the result files")
    ap.add_argument("--plot-only", action="store_true", help="re-print/plot the saved JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{args.task}_dt_sweep{args.tag}"
    jpath = RESULTS / f"{stem}.json"
    data = json.loads(jpath.read_text()) if jpath.exists() else {"runs": []}
    if not args.plot_only:
        data["runs"] = [r for r in data["runs"] if not (r["method"] in args.methods and r["dt"] in args.dts
                                                       and r["seed"] in args.seeds)]
        data["args"] = vars(args)
        for seed in args.seeds:  # seed-major: every completed seed is a full comparison
            for method in args.methods:
                for dt in args.dts:
                    r = run(method, args.task, dt, seed, args.epochs, args.n_train, args.batch, args.lr, args.hidden)
                    print(f"{method:<13} dt={dt:<5g} seed={seed}  acc={100 * r['accuracy']:.1f}%  "
                          f"spikes={r['hidden_spikes_per_sample']:.0f}  mem={r['train_state_bytes_per_sample'] / 1024:.1f}KB"
                          f"  {r['sec_per_epoch']:.1f}s/epoch", flush=True)
                    data["runs"].append(r)
                    data["summary"] = summarize(data["runs"])
                    jpath.write_text(json.dumps(data, indent=1) + "\n")
    data["summary"] = summarize(data["runs"])
    jpath.write_text(json.dumps(data, indent=1) + "\n")
    print(table(data["summary"]))
    plot(data["summary"], RESULTS / f"{stem}.png", f"SpikingGamma dt sweep: {args.task}")
    print(f"wrote {jpath} and {RESULTS / (stem + '.png')}")


if __name__ == "__main__":
    main()
