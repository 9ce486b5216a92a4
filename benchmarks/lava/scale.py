"""Batched vs one-sample Lava runs on the same samples, measured in one run (issue 20, item 2).

    python -m benchmarks.lava.scale [--digits 300] [--ecg 20] [--full-ecg] [--skip-unbatched-ecg] [--cnn PATH]

Cases: lif-digits (Lava float, ``--digits`` test samples) and hypr-brf-ecg (Lava fixed point,
``--ecg`` test records), each run three ways on the same samples: ``before`` = the network of
earlier versions (``batch_size=1``: Lava's own Dense, samples end to end in time, records read
back from Lava ``RingBuffer`` sinks, one message per value); ``1-sample`` = the same one-sample
network with shared-memory recorders; ``batched`` = the default batch (all samples side by side,
``exporters.lava.build.default_batch``) with shared-memory recorders. All runs must agree bit
for bit (spikes, voltages, raw output) and fixed-point runs must equal the emulator. ``--full-ecg`` adds the whole ECG test
set in Lava fixed point, batched only (the one-sample run did not finish within 33 minutes).
Seconds are wall time of the whole ``run_lava`` call (start-up, compile, run, read-back).
Convolutions (:mod:`benchmarks.lava.conv_scale`): compile memory vs input size 16x16 -> 128x128,
conv stages vs dense matrices (``compile_memory``, plot ``compile_memory.png``), and with
``--cnn PATH`` (the NIR paper's ``cnn_sinabs.nir``) the N-MNIST CNN in Lava fixed point (``cnn``).
Writes benchmarks/lava/results/scale.json, scale.png and compile_memory.png, prints the tables
and regenerates the tables of README.md and benchmarks/lava/README.md (``--no-readme``: not).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results"


def _same(a, b) -> bool:
    return (sorted(a.spikes) == sorted(b.spikes) and sorted(a.voltages) == sorted(b.voltages)
            and all(np.array_equal(a.spikes[k], b.spikes[k]) for k in b.spikes)
            and all(np.array_equal(a.voltages[k], b.voltages[k]) for k in b.voltages)
            and np.array_equal(a.output_raw, b.output_raw))


def model_inputs(name: str, samples: int | None, precision: str):
    """(plan, inputs, labels) exactly as ``zoo eval`` builds them for this backend."""
    from exporters.lava import build_plan
    from exporters.lava.quantize import quantize_inputs
    from zoo.evaluate import calibration_inputs, export_graph, load_eval_data

    x, y = load_eval_data(name, samples)
    graph = export_graph(name)
    if precision == "float":
        return build_plan(graph, "float"), x.numpy(), y
    xq, k, _ = quantize_inputs(x.numpy())
    return build_plan(graph, "fixed", input_frac_bits=k, calibrate=calibration_inputs(name, k)), xq, y


def timed(plan, x, batch_size, lava_sinks=False):
    from exporters.lava import run_lava

    t0 = time.perf_counter()
    res = run_lava(plan, x, batch_size=batch_size, lava_sinks=lava_sinks)
    return res, time.perf_counter() - t0


def case(label: str, name: str, samples: int | None, precision: str, unbatched: bool, log) -> dict:
    from exporters.lava import emulate
    from exporters.lava.build import default_batch

    plan, x, y = model_inputs(name, samples, precision)
    n, steps = int(x.shape[0]), int(x.shape[1])
    batch = default_batch(plan, n)
    row = {"case": label, "model": name, "precision": precision, "samples": n, "steps": steps, "batch": batch}
    log(f"{label}: batched run (batch {batch}) ...")
    res_b, t_b = timed(plan, x, None)
    row.update(batched_s=t_b, batched_s_per_sample=t_b / n)
    if unbatched:
        log(f"{label}: one-sample run, shared-memory recorders ...")
        res_1, t_1 = timed(plan, x, 1)
        row.update(one_sample_s=t_1, one_sample_s_per_sample=t_1 / n, batched_equals_one_sample=_same(res_b, res_1))
        log(f"{label}: one-sample run, Lava RingBuffer sinks (the network before batching) ...")
        res_0, t_0 = timed(plan, x, 1, lava_sinks=True)
        row.update(before_s=t_0, before_s_per_sample=t_0 / n, speedup=t_0 / t_b,
                   batched_equals_before=_same(res_b, res_0))
    if precision == "fixed":
        row["batched_equals_emulator"] = _same(res_b, emulate(plan, x))
    row["metric"] = _metric(name, res_b.output, y)
    log(json.dumps(row))
    return row


def _metric(name: str, out: np.ndarray, y) -> float:
    import torch

    from zoo.registry import get_entry, get_weights
    from zoo.tasks import get_task

    task = get_task(get_weights(name).meta.get("task", {}).get("name", get_entry(name).task))
    return float(task.metric(torch.from_numpy(out), y))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = [r["case"] for r in rows]
    xs = np.arange(len(rows))
    before = [r.get("before_s_per_sample", np.nan) for r in rows]
    one = [r.get("one_sample_s_per_sample", np.nan) for r in rows]
    bat = [r["batched_s_per_sample"] for r in rows]
    ax.bar(xs - 0.27, before, 0.27, label="before: 1 sample per step, Lava RingBuffer sinks")
    ax.bar(xs, one, 0.27, label="1 sample per step, shared-memory recorders")
    ax.bar(xs + 0.27, bat, 0.27, label="batched, shared-memory recorders")
    for i, r in enumerate(rows):
        if "speedup" in r:
            ax.text(i, before[i] * 1.2, f"{r['speedup']:.0f}x", ha="center")
    ax.set_yscale("log")
    ax.set_xticks(xs, labels, fontsize=8)
    ax.set_ylabel("Lava wall seconds per sample")
    ax.set_title("Batched Lava runs (same samples, same run of this benchmark)")
    ax.set_ylim(top=max(v for v in before + bat if np.isfinite(v)) * 8)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--digits", type=int, default=300)
    ap.add_argument("--ecg", type=int, default=20)
    ap.add_argument("--full-ecg", action="store_true", help="also the whole ECG test set, batched (fixed point)")
    ap.add_argument("--skip-unbatched-ecg", action="store_true")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plots and tables from results/scale.json")
    ap.add_argument("--cnn", help="path of cnn_sinabs.nir (github.com/neuromorphs/NIR, paper/02_cnn)")
    ap.add_argument("--cnn-samples", type=int, default=10)
    ap.add_argument("--cnn-steps", type=int, default=300)
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite the README tables")
    args = ap.parse_args()
    from benchmarks.lava.conv_scale import cnn_result, compile_memory, plot_memory
    from benchmarks.lava.tables import batched_table, cnn_lines, memory_table, write_readmes

    if args.plot_only:
        results = json.loads((OUT / "scale.json").read_text())
        plot(results["rows"], OUT / "scale.png")
        plot_memory(results["compile_memory"], OUT / "compile_memory.png")
        if not args.no_readme:
            write_readmes(results)
        return
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    rows = [case(f"lif-digits {args.digits} (float)", "lif-digits", args.digits, "float", True, log),
            case(f"hypr-brf-ecg {args.ecg} (fixed)", "hypr-brf-ecg", args.ecg, "fixed", not args.skip_unbatched_ecg,
                 log)]
    if args.full_ecg:
        rows.append(case("hypr-brf-ecg all (fixed)", "hypr-brf-ecg", None, "fixed", False, log))
    memory = compile_memory(log=log)
    cnn = cnn_result(args.cnn, args.cnn_samples, args.cnn_steps) if args.cnn else None
    OUT.mkdir(exist_ok=True)
    meta = {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(),
            "command": "python -m benchmarks.lava.scale " + " ".join(
                f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
                if v not in (False, None) and k not in ("cnn", "no_readme")
                and (args.cnn or not k.startswith("cnn")))}
    if args.cnn:
        meta["command"] += f" --cnn {Path(args.cnn).name}"
    results = {"meta": meta, "rows": rows, "compile_memory": memory, "cnn": cnn}
    (OUT / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(rows, OUT / "scale.png")
    plot_memory(memory, OUT / "compile_memory.png")
    print("\n".join(["", *batched_table(rows, full=True), "", *memory_table(memory), "", *cnn_lines(cnn)]))
    if not args.no_readme:
        write_readmes(results)


if __name__ == "__main__":
    main()
