"""Training throughput of HYPR with the parallel-prefix (scan) backward vs the sequential
HYPR backward vs online e-prop vs BPTT, at T = 1300 and 5000, batch 16 and 64 (issue 19, item 3).

    python -m benchmarks.hypr.scan_throughput [--Ts 1300 5000] [--batches 16 64] [--lam 100] [--repeats 2]
                                              [--eprop-steps 130] [--memory]

Setting: BRF RecurrentSNN, 4 inputs, 36 hidden, 6 outputs (the hypr-brf-ecg network); ECG-QTDB
training sequences (T = 5000: consecutive recordings joined in time and cropped); one update =
gradient + Adam step on the whole sequence. One thread (``ZOO_THREADS=1``,
``torch.set_num_threads(1)``). Per (T, B): one warm-up step per rule on 50 steps, then
``--repeats`` rounds in which every rule takes one timed step in turn, so that the rules are
timed side by side under the same machine load; ratios are computed per round, then the
median is taken. Two clocks: wall time, and the process's CPU time (``time.process_time``;
with one thread it excludes the time the scheduler gives to other jobs on a shared machine,
so it is the steadier measure of the work). Online e-prop costs the same per time step
whatever T is; it is timed on the first ``--eprop-steps`` steps and scaled by T / that
(marked "extrapolated"). With ``--memory``, one more step per rule measures the extra peak RSS (VmHWM
reset via /proc/self/clear_refs, glibc allocator returning freed blocks, as in
benchmarks/stop/memory.py; approximate; e-prop's on its crop). HYPR-scan, HYPR-loop and online
e-prop compute the same update (tests/test_hypr_scan.py); BPTT the exact gradient.

Writes results/scan_throughput.json, .png and .txt (the README table).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks import save_results

RESULTS = Path(__file__).resolve().parent / "results"
RULES = (("hypr-scan", "hypr", "scan"), ("hypr-loop", "hypr", "loop"), ("eprop", "eprop", None),
         ("bptt", "bptt", None))


def ecg_batch(B: int, T: int):
    """B training sequences of length T: ECG recordings joined in time, cropped to T."""
    import torch

    from zoo.tasks import get_task

    per = -(-T // 1300)
    x, y = get_task("ecg").load("train", n=B * per)
    x = x[:B * per].reshape(B, per * x.shape[1], x.shape[2])[:, :T].contiguous()
    y = y[:B * per].reshape(B, per * y.shape[1])[:, :T].contiguous()
    return x.to(torch.float32), y


def make(rule: str, backward: str | None, lam: int, n_in: int):
    import torch

    from benchmarks.hypr.common import DEFAULT_GAIN, make_learner
    from zoo.learning.hypr import HYPR
    from zoo.models.hypr import RecurrentSNN
    from zoo.tasks import get_task

    torch.manual_seed(0)
    m = RecurrentSNN(n_in, 36, 6, neuron="brf", w_in_gain=DEFAULT_GAIN["brf"], w_rec_gain=DEFAULT_GAIN["brf"])
    task = get_task("ecg")
    if rule == "hypr":
        return HYPR(m, task, lam=lam, backward=backward, lr=1e-3)
    return make_learner(rule, m, task, lr=1e-3)


def peak_rss_mib(step) -> float:
    from benchmarks.stop.memory import _allocator, _status

    _allocator(tight=True)
    Path("/proc/self/clear_refs").write_text("5")
    base = _status("VmRSS")
    step()
    out = (_status("VmHWM") - base) / 2 ** 20
    _allocator(tight=False)
    return out


def measure(T: int, B: int, lam: int, repeats: int, memory: bool, eprop_steps: int | None, log=print) -> dict:
    x, y = ecg_batch(B, T)
    learners = {name: make(rule, bw, lam, x.shape[-1]) for name, rule, bw in RULES}
    for lr in learners.values():
        lr.step((x[:, :50], y[:, :50]))  # warm-up
    crop = {name: T for name in learners}
    if eprop_steps and eprop_steps < T:
        crop["eprop"] = eprop_steps
    wall = {name: [] for name in learners}
    cpu = {name: [] for name in learners}
    for r in range(repeats):
        for name, lr in learners.items():
            n, scale = crop[name], T / crop[name]
            t0, c0 = time.perf_counter(), time.process_time()
            lr.step((x[:, :n], y[:, :n]))
            wall[name].append((time.perf_counter() - t0) * scale)
            cpu[name].append((time.process_time() - c0) * scale)
        log(f"  T={T} B={B} round {r + 1}: " + ", ".join(f"{n} {wall[n][-1]:.2f}s wall / {cpu[n][-1]:.2f}s cpu"
                                                        for n in learners), flush=True)
    rows = summarize(T, B, wall, cpu, crop)
    if memory:
        for name in learners:
            n = crop[name]
            rows[name]["extra_peak_rss_mib"] = peak_rss_mib(lambda: learners[name].step((x[:, :n], y[:, :n])))
    return {"T": T, "batch": B, "rules": rows, "loadavg": os.getloadavg()}


def summarize(T: int, B: int, wall: dict, cpu: dict, crop: dict) -> dict:
    """Per rule: seconds per update (both clocks), median throughput, median per-round ratios."""
    rows = {}
    for name in wall:
        row = {"extrapolated_from_steps": crop[name] if crop[name] < T else None}
        for clock, secs in (("wall", wall), ("cpu", cpu)):
            med = statistics.median(secs[name])
            row[clock] = {"seconds_per_update": secs[name], "samples_per_s": B / med, "steps_per_s": B * T / med}
            for ref in ("hypr-loop", "eprop", "bptt"):
                row[clock]["speedup_vs_" + ref] = statistics.median(
                    [a / b for a, b in zip(secs[ref], secs[name])])
        rows[name] = row
    return rows


def from_log(path: str, eprop_steps: int | None) -> list[dict]:
    """Configs rebuilt from the round lines a run printed (2-decimal seconds), e.g. of a run
    stopped before it wrote its JSON; a config keeps the rounds it completed."""
    import re

    rounds: dict[tuple[int, int], dict] = {}
    pat = re.compile(r"(\S+) ([0-9.]+)s wall / ([0-9.]+)s cpu")
    for line in Path(path).read_text().splitlines():
        m = re.match(r"\s*T=(\d+) B=(\d+) round \d+: (.*)", line)
        if not m:
            continue
        T, B = int(m[1]), int(m[2])
        d = rounds.setdefault((T, B), {"wall": {}, "cpu": {}})
        for name, w, c in pat.findall(m[3]):
            d["wall"].setdefault(name, []).append(float(w))
            d["cpu"].setdefault(name, []).append(float(c))
    configs = []
    for (T, B), d in rounds.items():
        crop = {name: (eprop_steps if name == "eprop" and eprop_steps and eprop_steps < T else T) for name in d["wall"]}
        configs.append({"T": T, "batch": B, "rules": summarize(T, B, d["wall"], d["cpu"], crop), "loadavg": None,
                        "rounds": len(d["wall"]["bptt"])})
    return configs


def table(out: dict) -> str:
    lines = ["| T | B | rule | samples/s (wall) | samples/s (CPU) | time steps/s (CPU) | vs HYPR-loop (wall / CPU) "
             "| vs e-prop (wall / CPU) | vs BPTT (wall / CPU) | extra peak RSS (MiB) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    label = {"hypr-scan": f"HYPR-scan (lambda={out['lam']})", "hypr-loop": f"HYPR-loop (lambda={out['lam']})",
             "eprop": "online e-prop", "bptt": "BPTT"}
    for c in out["configs"]:
        for name, r in c["rules"].items():
            w, u = r["wall"], r["cpu"]
            mem = f"{r['extra_peak_rss_mib']:.0f}" if "extra_peak_rss_mib" in r else "-"
            ex = f" (x{c['T'] / r['extrapolated_from_steps']:.2f} from {r['extrapolated_from_steps']} steps)" \
                if r["extrapolated_from_steps"] else ""
            lines.append(f"| {c['T']} | {c['batch']} | {label[name]}{ex} | {w['samples_per_s']:.2f} | "
                         f"{u['samples_per_s']:.2f} | {u['steps_per_s']:.0f} | "
                         + " | ".join(f"{w['speedup_vs_' + ref]:.2f}x / {u['speedup_vs_' + ref]:.2f}x"
                                      for ref in ("hypr-loop", "eprop", "bptt")) + f" | {mem} |")
    return "\n".join(lines)


def report(out: dict) -> str:
    if out.get("source"):
        head = (f"threads {out['threads']} of {out['cpus']} CPUs; {out['source']}; rounds per config: "
                + ", ".join(f"T={c['T']} B={c['batch']}: {c['rounds']}" for c in out["configs"]))
    else:
        head = (f"threads {out['threads']} of {out['cpus']} CPUs, load average {out['loadavg_start']} -> "
                f"{out['loadavg_end']}, {out['wall_seconds']} s")
    return head + "\n" + table(out)


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [n for n, _, _ in RULES]
    cfgs = out["configs"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    w = 0.8 / len(names)
    for k, n in enumerate(names):
        ax.bar(np.arange(len(cfgs)) + (k - (len(names) - 1) / 2) * w,
               [c["rules"][n]["cpu"]["samples_per_s"] for c in cfgs], w, label=n)
    ax.set_xticks(np.arange(len(cfgs)), [f"T={c['T']}\nB={c['batch']}" for c in cfgs])
    ax.set_yscale("log")
    ax.set_ylabel("training samples / CPU-s (median)")
    ax.set_title(f"BRF 36 hidden, ECG, lambda={out['lam']}, {out['threads']} thread, shared machine")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--Ts", nargs="+", type=int, default=[1300, 5000])
    ap.add_argument("--batches", nargs="+", type=int, default=[16, 64])
    ap.add_argument("--lam", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--memory", action="store_true", help="also one step per rule for the extra peak RSS")
    ap.add_argument("--eprop-steps", type=int, default=130, help="time online e-prop on this many steps, scaled to T")
    ap.add_argument("--out", default="scan_throughput")
    ap.add_argument("--from-log", metavar="FILE", help="rebuild the results from the round lines of a run's "
                    "output instead of measuring (e.g. a run stopped before it wrote its JSON)")
    args = ap.parse_args(argv)
    os.environ["ZOO_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    out = {"lam": args.lam, "eprop_steps": args.eprop_steps, "threads": torch.get_num_threads(),
           "cpus": os.cpu_count(), "repeats": args.repeats, "loadavg_start": os.getloadavg(),
           "date": time.strftime("%Y-%m-%d %H:%M:%S"), "configs": []}
    t0 = time.time()
    if args.from_log:
        out.update(source=f"rebuilt from the round lines of a run's output ({args.from_log})", loadavg_start=None,
                   date=None, threads=1, configs=from_log(args.from_log, args.eprop_steps))
        out["loadavg_end"] = None
        out["wall_seconds"] = None
        save_results(RESULTS, args.out, out, plot, report)
        return out
    for T in args.Ts:
        for B in args.batches:
            out["configs"].append(measure(T, B, args.lam, args.repeats, args.memory, args.eprop_steps))
    out["loadavg_end"] = os.getloadavg()
    out["wall_seconds"] = round(time.time() - t0, 1)
    save_results(RESULTS, args.out, out, plot, report)
    return out


if __name__ == "__main__":
    main()
