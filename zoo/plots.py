"""Figures for model cards (matplotlib, Agg backend, PNG in ``model_cards/img/NAME/``).

* ``raster.png``: spikes of one test sample, torch reference (NIR graph in float64, the
  reference ``zoo eval`` aligns against) vs Lava fixed point (a real Lava run of a few samples;
  the bit-exact emulator only if Lava is not requested), mismatches marked.
* ``agreement.png``: spike match per time step vs torch, per backend, from the results file
  (``agreement_per_step`` written by ``zoo eval --save``).
* ``training.png``: loss and test metric per epoch from the weights metadata ``history``.
* ``forecast.png`` (tasks with per-step float targets): target vs torch vs Lava fixed output
  for one sample.

Every figure is drawn from measured data only; a figure whose data is missing is not drawn.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoo.resources import bundled_dir

IMG = bundled_dir("model_cards") / "img"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def raster(spikes_a: dict[str, np.ndarray], spikes_b: dict[str, np.ndarray], path: Path,
           labels: tuple[str, str] = ("torch", "Lava fixed"), dt: float | None = None, title: str = "") -> Path:
    """Two raster panels for one sample: populations stacked (arrays (T, n) per population);
    in the second panel spikes absent from the first are red, missing ones grey circles."""
    plt = _plt()
    keys = [k for k in spikes_a if k in spikes_b]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    offset, ticks = 0, []
    for k in keys:
        a, b = np.asarray(spikes_a[k]).reshape(len(spikes_a[k]), -1), np.asarray(spikes_b[k]).reshape(len(spikes_b[k]), -1)
        ta, na = np.nonzero(a)
        axes[0].scatter(ta, na + offset, s=6, marker="|", color="k")
        both = np.nonzero(a.astype(bool) & b.astype(bool))
        extra = np.nonzero(~a.astype(bool) & b.astype(bool))
        miss = np.nonzero(a.astype(bool) & ~b.astype(bool))
        axes[1].scatter(both[0], both[1] + offset, s=6, marker="|", color="k")
        axes[1].scatter(extra[0], extra[1] + offset, s=12, marker="|", color="tab:red")
        axes[1].scatter(miss[0], miss[1] + offset, s=10, marker="o", facecolors="none", edgecolors="0.5", linewidths=0.6)
        ticks.append((offset + a.shape[1] / 2, k))
        offset += a.shape[1]
        for ax in axes:
            ax.axhline(offset - 0.5, color="0.85", lw=0.5)
    for ax, lab in zip(axes, labels):
        ax.set_title(lab)
        ax.set_xlabel("step" + (f" (dt = {dt:g} s)" if dt else ""))
    axes[0].set_yticks([t for t, _ in ticks], [k for _, k in ticks])
    axes[0].set_ylabel("neuron (by population)")
    axes[1].text(0.99, 0.01, "red: extra spike, grey: missing spike", transform=axes[1].transAxes, ha="right",
                 va="bottom", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def agreement_over_time(per_step: dict[str, list[float]], path: Path, title: str = "") -> Path | None:
    """Spike match per step, one line per backend."""
    per_step = {k: v for k, v in per_step.items() if v}
    if not per_step:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    styles = [("-", "o", 6), ("--", "x", 7), (":", "+", 9), ("-.", ".", 5)]  # identical curves stay visible
    for i, (k, v) in enumerate(per_step.items()):
        ls, mk, ms = styles[i % len(styles)]
        ax.plot(np.arange(len(v)), v, ls=ls, marker=mk, ms=ms, mfc="none", lw=1.2,
                label=k.replace("spike_match_", "").replace("_vs_torch", ""))
    ax.set_xlabel("step (torch time axis, after latency alignment)")
    ax.set_ylabel("spike match vs torch")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def training_curve(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Loss (left axis, log scale) and test metric (right axis) per epoch."""
    if not history:
        return None
    plt = _plt()
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(ep, [h["loss"] for h in history], color="tab:blue", label="train loss")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:blue")
    keys = [k for k in history[0] if k.startswith(("val_", "test_"))]
    if keys:
        ax2 = ax.twinx()
        ax2.plot(ep, [h.get(keys[0]) for h in history], color="tab:orange", label=keys[0])
        ax2.set_ylabel(keys[0].replace("_", " "), color="tab:orange")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def forecast_traces(target: np.ndarray, outputs: dict[str, np.ndarray], path: Path, dt: float | None = None) -> Path:
    """Target and backend outputs (T,) for one sample and one output channel."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    t = np.arange(len(target))
    ax.plot(t, target, color="k", lw=2, alpha=0.4, label="target")
    for k, v in outputs.items():
        ax.plot(t, v, lw=1, label=k)
    ax.set_xlabel("step" + (f" (dt = {dt:g} s)" if dt else ""))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_plots(name: str, samples: int = 1, lava: bool = True, log: Callable[[str], None] = lambda m: None,
               results: dict[str, Any] | None = None, pipeline: Any = None) -> dict[str, str]:
    """Draw every figure of ``name`` into ``model_cards/img/NAME/``; returns {figure: path
    relative to model_cards/}. ``results``: the saved ``zoo eval --save`` results of the model
    (agreement per step, the input grid). The raster and forecast use the first ``samples`` test
    samples (plotting sample 0) through the same calibrated fixed-point plan ``zoo eval`` runs
    (:meth:`zoo.pipeline.Pipeline.plan`), in real Lava (``lava=True``) or the emulator."""
    import torch

    from exporters.lava import emulate, run_lava
    from exporters.lava.quantize import quantize_inputs
    from zoo.pipeline import Pipeline, on_input_grid

    pipe = pipeline if pipeline is not None else Pipeline(name)
    res = results or {}
    out_dir = IMG / name
    made: dict[str, str] = {}
    if training_curve(pipe.weights.meta.get("history", []), out_dir / "training.png"):
        made["training"] = f"img/{name}/training.png"
    if agreement_over_time(res.get("agreement_per_step", {}), out_dir / "agreement.png",
                           f"{name}: {res.get('samples')} test samples"):
        made["agreement"] = f"img/{name}/agreement.png"
    x, y = pipe.data("test", samples)
    ref = pipe.reference()
    with torch.no_grad():
        ref_out = ref(x.transpose(0, 1).double(), record=True).transpose(0, 1).numpy()
    k = res.get("input_quantization", {}).get("frac_bits")
    if k is None:  # no saved results: the grid zoo eval would choose for these inputs
        xq, k, _ = quantize_inputs(x.numpy())
    else:
        xq = on_input_grid(x.numpy(), k)
    plan = pipe.plan("fixed", k)
    backend = "Lava fixed" if lava else "emulator (bit-exact twin of Lava fixed)"
    log(f"plots: running {samples} sample(s) through {backend}")
    run = run_lava(plan, xq) if lava else emulate(plan, xq)
    ref_sp = {n: ref.records[n].transpose(0, 1).numpy()[0] for n in run.spikes}
    raster(ref_sp, {n: s[0] for n, s in run.spikes.items()}, out_dir / "raster.png", ("torch (NIR float64 reference)", backend),
           dt=pipe.dt, title=f"{name}: test sample 0")
    made["raster"] = f"img/{name}/raster.png"
    yt = y.numpy() if hasattr(y, "numpy") else np.asarray(y)
    if np.issubdtype(yt.dtype, np.floating) and yt.ndim >= 2 and yt.shape[1] == ref_out.shape[1]:
        tgt = yt[0].reshape(yt.shape[1], -1)[:, 0]
        outs = {"torch": ref_out[0].reshape(ref_out.shape[1], -1)[:, 0],
                backend: run.output[0].reshape(run.output.shape[1], -1)[:, 0]}
        forecast_traces(tgt, outs, out_dir / "forecast.png", dt=pipe.dt)
        made["forecast"] = f"img/{name}/forecast.png"
    return made
