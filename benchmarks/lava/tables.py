"""Markdown tables of ``results/scale.json`` and the README sections generated from them.

``write_readmes(results)`` replaces the text between ``<!-- lava-scale:begin -->`` and
``<!-- lava-scale:end -->`` in README.md and in benchmarks/lava/README.md; nothing else.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- lava-scale:begin -->", "<!-- lava-scale:end -->"
NAN = float("nan")


def _mib(v) -> str:
    return "-" if v is None else f"{v / 2 ** 20:,.1f}"


def batched_table(rows: list[dict], full: bool, metric: bool = False) -> list[str]:
    if full:
        head = ["| case | batch | before s | 1-sample s | batched s | before s/sample | batched s/sample | speed-up "
                "| bit-exact |" + (" metric |" if metric else ""), "| --- " * (10 if metric else 9) + "|"]
    else:
        head = ["| case | before s/sample | batched s/sample | speed-up | bit-exact |", "| --- | --- | --- | --- | --- |"]
    lines = head
    for r in rows:
        exact = all(v for k, v in r.items() if k.startswith("batched_equals"))
        before = "-" if "before_s" not in r else f"{r['before_s_per_sample']:.4f}"
        speed = "-" if "speedup" not in r else f"{r['speedup']:.1f}x"
        case = f"{r['model']}, {r['samples']} samples x {r['steps']} steps ({r['precision']})"
        if full:
            lines.append(f"| {case} | {r['batch']} | {r.get('before_s', NAN):.1f} | {r.get('one_sample_s', NAN):.1f} "
                         f"| {r['batched_s']:.1f} | {before} | {r['batched_s_per_sample']:.4f} | {speed} | {exact} |"
                         + (f" {r['metric']:.4f} |" if metric else ""))
        else:
            lines.append(f"| {case} | {before} | {r['batched_s_per_sample']:.4f} | {speed} | {exact} |")
    return [s.replace("| nan ", "| - ") for s in lines]


def memory_table(rows: list[dict]) -> list[str]:
    lines = ["| input | neurons in / out | kernel weights | dense weights | conv: peak MiB (s) | dense: peak MiB (s) "
             "| dense: earlier estimate MiB |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        dense = "not run" if "dense_peak_bytes" not in r else \
            f"{_mib(r['dense_peak_bytes'])} ({r['dense_seconds']:.2f})"
        lines.append(f"| 2x{r['size']}x{r['size']} | {r['n_in']:,} / {r['n_out']:,} | {r['kernel_weights']:,} "
                     f"| {r['dense_weights']:,} | {_mib(r['conv_peak_bytes'])} ({r['conv_seconds']:.2f}) | {dense} "
                     f"| {_mib(r['dense_estimate_bytes'])} |")
    return lines


def cnn_lines(r: dict | None) -> list[str]:
    if r is None:
        return ["N-MNIST CNN: not run (pass `--cnn PATH` to `cnn_sinabs.nir`)."]
    agree = ", ".join(f"{k} {v:.4f}" for k, v in r["fixed_vs_float_spike_agreement"].items())
    ref = min(r["float_emulator_vs_reference"].values())
    return [
        "| N-MNIST CNN (`cnn_sinabs.nir`), Lava fixed point | value |", "| --- | --- |",
        f"| inputs | {r['samples']} samples x {r['steps']} steps, {r['inputs']}, seed {r['seed']} |",
        f"| stages | {', '.join(f'`{k}` {v}' for k, v in r['stages'].items())} |",
        f"| 8-bit weights stored (dense equivalent) | {r['fixed_weights_bytes']:,} B ({r['dense_equivalent_weights']:,}) |",
        f"| compile + quantise | {r['compile_seconds']:.2f} s |",
        f"| Lava run (batched, all samples) | {r['lava_seconds']:.1f} s |",
        f"| peak memory, process tree PSS ({r['peak_processes']} processes) | {r['peak_pss_mib']:,.0f} MiB "
        f"(after imports: {r['pss_after_imports_mib']:,.0f} MiB) |",
        f"| peak RSS, run process / largest Lava worker | {r['peak_rss_mib']['self']:,.0f} / "
        f"{r['peak_rss_mib']['largest_child']:,.0f} MiB |",
        f"| Lava fixed == emulator (spikes, output) | {r['lava_fixed_equals_emulator']} |",
        f"| float plan vs numpy NIR reference, spike agreement (min over layers) | {ref:.4f} |",
        f"| Lava fixed vs exact float, spike agreement per layer | {agree} |",
        f"| spike rate float / fixed, output layer | {r['spike_rate_float'][list(r['spike_rate_float'])[-1]]:.4f} / "
        f"{r['spike_rate_fixed'][list(r['spike_rate_fixed'])[-1]]:.4f} |",
        f"| predicted class (most output spikes) fixed == float | {r['class_agreement']:.2f} of samples |",
    ]


def readme_section(results: dict) -> list[str]:
    cmd = results["meta"]["command"]
    return [
        f"Batched Lava runs and convolution stages (`{cmd}`, one run; table and method in "
        "`benchmarks/lava/README.md`, results in `benchmarks/lava/results/scale.json`): many samples side by "
        "side in every Lava step, bit-exact with the one-sample run and the emulator; convolutions compile to "
        "kernels (no dense matrix), so the compile memory no longer grows with the square of the input.", "",
        *batched_table(results["rows"], full=False), "",
        *memory_table(results.get("compile_memory", [])), "",
        *cnn_lines(results.get("cnn")),
    ]


def replace_block(path: Path, lines: list[str]) -> None:
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail)


def write_readmes(results: dict) -> None:
    replace_block(ROOT / "README.md", readme_section(results))
    meta = results["meta"]
    load = ", ".join(f"{v:.1f}" for v in meta["loadavg_at_end"])
    replace_block(ROOT / "benchmarks" / "lava" / "README.md",
                  [f"`{meta['command']}` ({meta['cpus']} CPUs, load average at the end {load}):", "",
                   *batched_table(results["rows"], full=True, metric=True), "", "Compile memory (`compile_memory.png`):", "",
                   *memory_table(results.get("compile_memory", [])), "", *cnn_lines(results.get("cnn"))])
