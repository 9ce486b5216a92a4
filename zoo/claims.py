"""Paper claims and reconstructions for the model cards, judged from measured benchmark results.

Each paper has a list of :class:`Claim` (the claim in our words, and a function that reads the
committed results of a benchmark command and returns the measured figure and a verdict: holds /
does not hold / not testable here / not measured yet) and a list of what the zoo reconstructs
rather than takes from the paper (``docs/papers.md``, tag [ours]). Cards render both sections
from here; nothing is typed by hand into a card.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any, Callable

from zoo.resources import REPO

RESULTS = REPO / "benchmarks"
Verdict = tuple[str, str]  # (measured figure, verdict)


@dataclass(frozen=True)
class Claim:
    text: str  # the paper's claim, in our words
    command: str  # the command whose committed results judge it ("" when not testable here)
    judge: Callable[[], Verdict]


def _results(rel: str) -> dict[str, Any] | None:
    path = RESULTS / rel
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _not_testable(why: str) -> Callable[[], Verdict]:
    return lambda: (why, "not testable here")


def _missing(command: str) -> Verdict:
    return (f"no committed result (run `{command}`)", "not measured yet")


# --------------------------------------------------------------------------- STAR-SNN
def _star_ratio() -> Verdict:
    d = _results("star/results/ablation.json")
    if d is None:
        return _missing("python -m benchmarks.star.ablation")
    out = []
    for system in ("mackey_glass", "lorenz"):
        runs = d["runs"]
        plain = mean(r["test_mse"] for r in runs[f"{system}/plain K=1"]["runs"])
        star = mean(r["test_mse"] for r in runs[f"{system}/STAR K=1"]["runs"])
        out.append((system, plain / star))
    fig = "; ".join(f"{s}: MSE plain/STAR (K=1) = {r:.2f}x" for s, r in out)
    return fig + f" over {len(d['seeds'])} seeds", "holds" if min(r for _, r in out) >= 393 else "does not hold"


def _star_spsg() -> Verdict:
    d = _results("star/results/ablation.json")
    if d is None:
        return _missing("python -m benchmarks.star.ablation")
    parts, better = [], 0
    for system in ("mackey_glass", "lorenz"):
        runs = d["runs"]
        plain = mean(r["test_mse"] for r in runs[f"{system}/plain K=1"]["runs"])
        spsg = mean(r["test_mse"] for r in runs[f"{system}/+SPSG K=1"]["runs"])
        parts.append(f"{system}: MSE +SPSG/plain = {spsg / plain:.2f}")
        better += spsg < plain
    return "; ".join(parts), "holds" if better == 2 else "does not hold"


def _star_memory() -> Verdict:
    d = _results("star/results/memory_T1000_B8.json")
    if d is None or "lookback" not in d["K=1"]:
        return _missing("python -m benchmarks.star.memory --sweep")
    k1 = d["K=1"]
    fig = (f"T = {k1['T']}, B = {k1['batch']}, H = {k1['hidden']}, K = 1 with lookback {k1['lookback']}: "
           f"{d['ratio_activation']:.0f}x fewer autograd-saved activations than BPTT, {d['ratio_total']:.0f}x with "
           "parameters, gradients and Adam state (the activation ratio grows linearly with T)")
    return fig, "holds" if d["ratio_activation"] >= 500 else "does not hold"


STAR = [
    Claim("TBPTT with K = 1 plus adaptive parameters and SPSG reduces chaotic-forecasting MSE 393-fold "
          "(baseline not public; we compare with the plain LIF RSNN under K = 1)",
          "python -m benchmarks.star.ablation", _star_ratio),
    Claim("SPSG (separating spike generation from suppression in the gradient) stabilises and improves "
          "recurrent-SNN training", "python -m benchmarks.star.ablation", _star_spsg),
    Claim("Truncation to K = 1 cuts training memory by about three orders of magnitude",
          "python -m benchmarks.star.memory --sweep", _star_memory),
    Claim("High accuracy on DVS-Gesture", "",
          _not_testable("DVS-Gesture cannot be downloaded on our machines; star-gestures uses a generated "
                        "event-camera-like stand-in")),
]

# --------------------------------------------------------------------------- SpikingGamma
def _gamma_dt() -> Verdict:
    d = _results("gamma/results/transfer.json")
    if d is None:
        return _missing("python -m benchmarks.gamma.transfer")
    figs, ok = [], True
    for model in sorted({r["model"] for r in d["rows"]}):
        rows = [r for r in d["rows"] if r["model"] == model and r.get("backend") == "torch"
                and r.get("trained_dt") == 1.0]
        if not rows:
            continue
        acc = {r["dt"]: r["accuracy"] for r in rows}
        spread = 100 * (max(acc.values()) - min(acc.values()))
        ok &= spread <= 2.0
        figs.append(f"{model}: accuracy at dt = " + ", ".join(f"{k:g}" for k in sorted(acc, reverse=True)) +
                    " ms: " + ", ".join(f"{acc[k]:.3f}" for k in sorted(acc, reverse=True)) +
                    f" (spread {spread:.1f} points, weights trained at 1 ms, no retraining)")
    if not figs:
        return _missing("python -m benchmarks.gamma.transfer")
    return "; ".join(figs), "holds" if ok else "does not hold"


def _gamma_messages() -> Verdict:
    d = _results("gamma/results/transfer.json")
    if d is None:
        return _missing("python -m benchmarks.gamma.transfer")
    figs, ok = [], True
    for model in sorted({r["model"] for r in d["rows"]}):
        rows = {r["dt"]: r["messages_per_sample"] for r in d["rows"] if r["model"] == model
                and r.get("backend") == "torch" and r.get("trained_dt") == 1.0 and "messages_per_sample" in r}
        if 1.0 in rows and min(rows) < 1.0:
            ratio = rows[min(rows)] / rows[1.0]
            ok &= ratio <= 1.5
            figs.append(f"{model}: messages per sample {rows[1.0]:.0f} at 1 ms, {rows[min(rows)]:.0f} at "
                        f"{min(rows):g} ms (ratio {ratio:.2f})")
    if not figs:
        return _missing("python -m benchmarks.gamma.transfer")
    return "; ".join(figs), "holds" if ok else "does not hold"


GAMMA = [
    Claim("Insensitive to the temporal resolution of the simulation (same weights at any dt)",
          "python -m benchmarks.gamma.transfer", _gamma_dt),
    Claim("Learns with few spikes (sigma-delta messages do not grow as dt shrinks)",
          "python -m benchmarks.gamma.transfer", _gamma_messages),
    Claim("Accuracy on SHD / SSC / DVS-Gesture", "",
          _not_testable("the papers' data sets cannot be downloaded on our machines (loaders exist for users)")),
]

# --------------------------------------------------------------------------- STOP
def _stop_memory() -> Verdict:
    d = _results("stop/results/memory_fc.json")
    if d is None:
        return _missing("python -m benchmarks.stop.memory")
    figs, ok = [], True
    for variant, s in d["summary"].items():
        per_t = s["per_T"]
        ts = sorted(per_t, key=int)
        lo, hi = per_t[ts[0]]["peak_mib_mean"], per_t[ts[-1]]["peak_mib_mean"]
        figs.append(f"{variant}: peak {lo:.2f} MiB at T = {ts[0]}, {hi:.2f} MiB at T = {ts[-1]}")
        if variant != "BPTT":
            ok &= hi <= 1.1 * lo
    return "; ".join(figs), "holds" if ok else "does not hold"


def _stop_ablation() -> Verdict:
    d = _results("stop/results/ablation_fc_conv.json")
    if d is None:
        return _missing("python -m benchmarks.stop.ablation")
    figs = []
    for model, m in d["models"].items():
        t = m["table"]
        figs.append(f"{model}: " + ", ".join(f"{k} {100 * v['mean']:.2f}±{100 * v['std']:.2f}%" for k, v in t.items()))
    w_only = min(m["table"]["W"]["mean"] for m in d["models"].values())
    wtl = min(m["table"]["WTL"]["mean"] for m in d["models"].values())
    return "; ".join(figs) + " (8x8 digits)", "holds" if wtl > w_only else "does not hold"


STOP = [
    Claim("Training memory does not depend on the number of time steps T", "python -m benchmarks.stop.memory",
          _stop_memory),
    Claim("Learning thresholds and leaks together with the weights (WTL) improves on weights only (W)",
          "python -m benchmarks.stop.ablation", _stop_ablation),
    Claim("CIFAR-10 94.84 %, CIFAR-100 74.92 %, DVS-Gesture 98.26 %, DVS-CIFAR10 77.10 % (VGG-11 / ResNet-18)", "",
          _not_testable("these data sets and network sizes need downloads and GPUs we do not have")),
]

# --------------------------------------------------------------------------- HYPR
def _hypr_memory() -> Verdict:
    d = _results("hypr/results/memory.json")
    if d is None:
        return _missing("python -m benchmarks.hypr.memory")
    rows = d["rows"]
    h = [r["hypr_MiB"] for r in rows]
    b = [r["bptt_MiB"] for r in rows]
    fig = (f"extra peak RSS, T = {rows[0]['T']}..{rows[-1]['T']}: HYPR (lambda = {d['lam']}) {h[0]:.0f}..{h[-1]:.0f} "
           f"MiB, BPTT {b[0]:.0f}..{b[-1]:.0f} MiB")
    return fig, "holds" if max(h) <= 1.1 * min(h) and b[-1] > 1.5 * b[0] else "does not hold"


def _gap_figure(task: str, d: dict[str, Any]) -> str:
    cells = []
    for c in d["summary"]:
        mean_gap, std_gap, n = c["paired_gap_final_test"]
        flat = "plateaued" if c["bptt"]["plateaued"] and c["hypr"]["plateaued"] else "not plateaued"
        cells.append(f"{c['neuron']} {mean_gap:+.2f} ± {std_gap:.2f} ({flat})")
    return f"{task}, BPTT minus HYPR test accuracy, points, {n} seeds: " + ", ".join(cells)


def _hypr_gap() -> Verdict:
    ecg, fsdd = _results("hypr/results/gap_ecg.json"), _results("hypr/results/gap_fsdd.json")
    if ecg is None:
        return _missing("python -m benchmarks.hypr.gap --epochs 16 --seeds 0 1 2 --out gap_ecg")
    gaps = {c["neuron"]: c["paired_gap_final_test"][0] for c in ecg["summary"]}
    figs = "; ".join(_gap_figure(t, d) for t, d in (("ECG", ecg), ("FSDD", fsdd)) if d is not None)
    oscillatory = max(gaps.get("brf", 0.0), gaps.get("seadlif", 0.0))
    # the claim is comparative: the oscillatory neurons' gap must be smaller than the ALIF network's
    return figs, "holds" if "alif" in gaps and oscillatory < gaps["alif"] else "does not hold"


def _hypr_throughput() -> Verdict:
    d = _results("hypr/results/throughput.json")
    if d is None:
        return _missing("python -m benchmarks.hypr.throughput")
    best = max((r for r in d["rows"] if r["rule"] != "bptt" and r.get("lam")), key=lambda r: r["speedup_vs_eprop"])
    bptt = next(r for r in d["rows"] if r["rule"] == "bptt")
    return (f"T = {d['T']}, batch {d['batch']}: HYPR (lambda = {best['lam']}) {best['speedup_vs_eprop']:.1f}x online "
            f"e-prop's samples/s, BPTT {bptt['speedup_vs_eprop']:.1f}x", "holds"
            if best["speedup_vs_eprop"] > 1 else "does not hold")


HYPR = [
    Claim("Memory independent of the sequence length", "python -m benchmarks.hypr.memory", _hypr_memory),
    Claim("Parallelising over sub-sequences makes forward learning faster than online e-prop",
          "python -m benchmarks.hypr.throughput", _hypr_throughput),
    Claim("With oscillatory neurons (BRF, SE-adLIF) the gap to BPTT is unusually small",
          "python -m benchmarks.hypr.gap --epochs 16 --seeds 0 1 2 --out gap_ecg", _hypr_gap),
]

CLAIMS: dict[str, list[Claim]] = {"STAR-SNN": STAR, "SpikingGamma": GAMMA, "STOP": STOP, "HYPR": HYPR}

RECONSTRUCTION: dict[str, list[str]] = {
    "STAR-SNN": [
        "The network (one recurrent layer, per-neuron learnable leak, adaptive threshold with a spike-rate "
        "trace) and the SPSG rule (error through spike generation, stopgrad on reset and adaptation) are our "
        "reading of the abstract (docs/papers.md §1).",
        "The chaotic systems (Mackey-Glass tau = 17, Lorenz-63) and the gesture stand-in are generated in code.",
    ],
    "SpikingGamma": [
        "The gamma-memory buckets (de Vries & Principe chain), the sigma-delta coder and the per-step local "
        "gradient are our reconstruction (docs/papers.md §2).",
        "The delay / coincidence and event-digit tasks are generated in code.",
    ],
    "STOP": [
        "The neuron and trace equations follow a third-party summary citing the paper (docs/papers.md §3); "
        "the network sizes and the 8x8-digits task (scikit-learn) are ours.",
    ],
    "HYPR": [
        "The HYPR algorithm (sub-sequences of length lambda, neuron-local eligibilities, backward scan, "
        "learning signal from the readout) is our reconstruction from the abstract (docs/papers.md §4).",
        "The training schedules and the burst-sequence-detection generator are ours; BRF and SE-adLIF equations "
        "come from public code.",
    ],
}


def paper_key(paper: str) -> str | None:
    """The CLAIMS key a model's paper label belongs to (``None`` for baselines)."""
    return next((k for k in CLAIMS if k.lower() in paper.lower()), None)


def claims_section(paper: str) -> list[str]:
    """Markdown lines of the card's "Claims" section (a baseline model says it bears on none)."""
    key = paper_key(paper)
    if key is None:
        return [f"- This model is a baseline ({paper}); it bears on no paper claim."]
    lines = ["| claim | measured | verdict | command |", "| --- | --- | --- | --- |"]
    for c in CLAIMS[key]:
        fig, verdict = c.judge()
        lines.append(f"| {c.text} | {fig} | **{verdict}** | {f'`{c.command}`' if c.command else '-'} |")
    return lines


def reconstruction_items(paper: str) -> list[str]:
    key = paper_key(paper)
    return RECONSTRUCTION.get(key, []) if key else []
