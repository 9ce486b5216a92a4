"""``zoo card NAME``: render ``model_cards/NAME.md`` from measured results only.

Inputs: the weights metadata (recipe, seed, commit, training history) and the results file
``model_cards/results/NAME.json`` written by ``zoo eval NAME --save`` (backends, agreement,
agreement per step, quantisation, NeuroBench-style metrics of :mod:`zoo.metrics`), the figures
of :mod:`zoo.plots` in ``model_cards/img/NAME/`` (``zoo card NAME --plots``) and the benchmark
results in ``benchmarks/<paper>/results/``. Nothing is typed by hand: a number that is not in
those files does not appear in the card. Sections follow the Hugging Face model card (details,
intended use, training data and procedure, evaluation, limitations, citation) plus the SNN
specifics (neurons, NIR nodes, dt, steps, reset, encoding, quantisation, what is reconstruction).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.baselines import baseline_rows
from zoo.claims import claims_section, reconstruction_items
from zoo.registry import ZooError, get_entry, get_weights

from zoo.resources import REPO as ROOT, bundled_dir

CARDS = bundled_dir("model_cards")
RESULTS = CARDS / "results"


def save_results(result: dict[str, Any], force: bool = False) -> Path:
    """Write ``model_cards/results/NAME.json`` (atomically). Refuses to replace a result measured
    on more samples, or a registered model's result with a user's weights, unless ``force``."""
    from zoo.registry import is_path_ref

    name = result["model"]
    if is_path_ref(name):
        raise ZooError(f"{name}: results of a user's weights are not saved into the zoo's model cards "
                       "(use --json to keep them)")
    path = RESULTS / f"{name}.json"
    if path.is_file() and not force:
        try:
            old = json.loads(path.read_text()).get("samples", 0)
        except (OSError, ValueError):
            old = 0
        if isinstance(old, int) and old > result["samples"]:
            raise ZooError(f"{path} holds a result on {old} samples; this run measured {result['samples']} "
                           "(rerun with more --samples, or pass --force to replace it)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    return path


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _benchmarks(name: str, paper: str) -> list[str]:
    """Runnable benchmark modules and their measured result files for this model's paper
    (``benchmarks/<paper>/``, matched by the model-name prefix or the paper label), and the
    online-learning-in-Lava results of recipes that train this model (``benchmarks/online_lava/``,
    files named after the model)."""
    bench = ROOT / "benchmarks"
    lines: list[str] = []
    for d in sorted(p for p in bench.iterdir() if p.is_dir() and (p / "__init__.py").exists()) if bench.exists() else []:
        per_model = d.name == "online_lava"
        files = sorted((d / "results").glob("*")) if (d / "results").exists() else []
        if per_model:
            files = [f for f in files if f.stem.startswith(name)]
            if not files:
                continue
        elif not (name.split("-")[0] == d.name or d.name.lower() in paper.lower().replace("-", "")):
            continue
        mods = sorted(m.stem for m in d.glob("*.py") if m.stem not in ("__init__", "common"))
        if per_model:  # one run per recipe, named after it
            lines += [f"- `python -m benchmarks.{d.name}.{m} --recipe recipes/{r}.toml`" for m in mods
                      for r in sorted({f.stem for f in files}) if (bundled_dir("recipes") / f"{r}.toml").exists()]
        else:
            lines += [f"- `python -m benchmarks.{d.name}.{m}`" for m in mods]
        for f in files:
            if f.suffix == ".png":
                lines.append(f"\n  ![{f.stem}](../benchmarks/{d.name}/results/{f.name})\n")
            elif f.suffix == ".json":
                lines.append(f"  - measured: [`benchmarks/{d.name}/results/{f.name}`](../benchmarks/{d.name}/results/{f.name})")
    return lines


def _builder_module(entry: Any) -> str:
    """Module defining the model (through ``functools.partial`` builders too)."""
    return getattr(getattr(entry.builder, "func", entry.builder), "__module__", "?")


def _registered() -> set[str]:
    from zoo.registry import list_models

    return set(list_models())


SELECTION_TEXT = {  # the recipe's `selection` key (zoo.recipe.SELECTION)
    "validation": "chosen on the validation split; the test split was read only for the figures reported here",
    "test": "chosen on the test split (the task has no validation split): the test figures are optimistic; "
            "a retrain with a validation split is due",
    "unrecorded": "how they were chosen was not recorded (no search on record); the test figures may be optimistic",
}


def _selection(recipe_ref: str | None) -> str:
    """The recipe's ``selection`` value ("unrecorded" when absent or the recipe cannot be read)."""
    from zoo.recipe import tomllib
    from zoo.registry import ZooError
    from zoo.resources import find_recipe

    try:
        value = tomllib.loads(find_recipe(recipe_ref or "").read_text()).get("selection", "unrecorded")
    except (ZooError, OSError, ValueError):
        return "unrecorded"
    return value if value in SELECTION_TEXT else "unrecorded"


def _reconstruction_notes(entry: Any) -> list[str]:
    """Paragraphs of the model module's docstring that say what is reconstructed or assumed
    (literal blocks skipped, cut at ``::``, at most 4 paragraphs of 500 characters)."""
    import inspect
    import re
    import sys

    mod = _builder_module(entry)
    doc = inspect.cleandoc(sys.modules[mod].__doc__ or "") if mod in sys.modules else ""
    keys = ("[reconstruction", "our reconstruction", "not public", "[ours", "assum", "not stated", "unknown",
            "deviat", "our choice")
    out = []
    for para in re.split(r"\n\s*\n", doc):
        if not para.strip() or para[:1].isspace():
            continue
        for item in re.split(r"\n(?=[*-] )", para):  # bullet items separately
            text = " ".join(item.split()).split("::")[0].replace("``", "`").lstrip("*- ")
            named = re.match(r"`([\w.-]+)`", text)  # a paragraph about another model of the module
            if named and named.group(1) in _registered() and named.group(1) != entry.name:
                continue
            if any(k in text.lower() for k in keys):
                out.append(text if len(text) <= 500 else text[:497] + "...")
    return out[:4]


def _snn_section(name: str, meta: dict[str, Any]) -> list[str]:
    """Neuron populations, NIR nodes and their Lava mapping, from the exported NIR graph."""
    try:
        from zoo.pipeline import Pipeline

        pipe = Pipeline(name)
        graph, plan = pipe.graph, pipe.plan("float")
    except Exception as exc:  # noqa: BLE001 - the card says why the section is missing
        return [f"NIR export / Lava plan not available: {exc}"]
    c = meta.get("contract", {})
    lines = [f"- dt = {meta.get('dt')} s (forward Euler; NIR `tau` in seconds), steps = {c.get('steps', '-')}, "
             f"reset = {c.get('reset', '-')}, encoding = {c.get('encoding', '-')}, surrogate = {c.get('surrogate', '-')}",
             "- Spikes fire on strict `v > threshold`; reset in the same step. Every Lava `Dense` adds one step: "
             f"the output lags torch by {plan.latency} steps (results are re-aligned).", "",
             "| population | NIR primitive | neurons | spiking | reset | Lava latency (Dense stages) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for n, sp in plan.neurons.items():
        lines.append(f"| {n} | {sp.kind} | {sp.n} | {sp.spiking} | {sp.reset} | {sp.latency} |")
    lines += ["", "| NIR node | type | maps to |", "| --- | --- | --- |"]
    for n, node in graph.nodes.items():
        ext = (getattr(node, "metadata", None) or {})
        tag = ", ".join(f"{k}={v}" for k, v in ext.items() if str(k).startswith("zoo."))
        lines.append(f"| {n} | {type(node).__name__}{' (' + tag + ')' if tag else ''} | {plan.mapping.get(n, '-')} |")
    lines += ["", "Dense stages (fused linear NIR nodes): " + ", ".join(
        f"`{d.name}` {d.n_in}->{d.n_out}{' (recurrent)' if d.recurrent else ''}" for d in plan.denses)]
    return lines


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _neurobench_section(nb: dict[str, Any]) -> list[str]:
    st = nb.get("static", {})
    labels = {"parameter_count": "parameters (torch)", "footprint_bytes": "footprint, float32 (bytes)",
              "fixed_footprint_bytes": "footprint, Loihi fixed point (bytes)",
              "fixed_footprint_weights_bytes": "  of which 8-bit Dense weights", "fixed_footprint_neurons_bytes":
              "  of which per-neuron registers", "connection_sparsity": "connection sparsity",
              "neurons": "neurons", "synapses_structural": "synapses (structural, fused Dense stages)"}
    lines = [f"Definitions: [`docs/metrics.md`](../docs/metrics.md); per sample, averaged over {nb.get('samples')} "
             f"test samples of {nb.get('steps')} steps.", "", "| static metric | value |", "| --- | --- |"]
    lines += [f"| {labels.get(k, k)} | {_num(v)} |" for k, v in st.items()]
    dyn = nb.get("dynamic", {})
    if dyn:
        keys = ("activation_sparsity", "Dense", "Effective_MACs", "Effective_ACs", "membrane_updates",
                "membrane_updates_dense")
        lines += ["", "| records | activation sparsity | dense SOPs | effective MACs | effective ACs | "
                  "membrane updates | dense membrane updates |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for b, d in dyn.items():
            lines.append(f"| {b} | " + " | ".join(_num(d.get(k, float("nan"))) for k in keys) + " |")
    return lines


def _ci(v: dict[str, Any]) -> str:
    ci = v.get("ci95")
    return f"{ci[0]:.4f} - {ci[1]:.4f}" if ci else "-"


def _sample_count(res: dict[str, Any]) -> str:
    total = res.get("test_set_size")
    if total is None:
        return f"{res['samples']} test samples"
    return f"all {total} test samples" if total == res["samples"] else f"{res['samples']} of {total} test samples"


def _headline(res: dict[str, Any]) -> str:
    """One line: the metric per backend on how many test samples."""
    parts = [f"{b} {_fmt(v['value'])}" + (f" (95% interval {_ci(v)})" if v.get("ci95") else "")
             + (f" on the first {v['samples']}" if v.get("samples") and v["samples"] != res["samples"] else "")
             for b, v in res["backends"].items() if b in ("torch", "lava-fixed", "emulator")
             and v.get("value") is not None]
    return f"**{res['metric']}: {'; '.join(parts)} — {_sample_count(res)}.**"


def render(name: str) -> str:
    entry, w = get_entry(name), get_weights(name)
    res_path = RESULTS / f"{name}.json"
    if not res_path.exists():
        raise ZooError(f"no measured results for {name!r}: run `zoo eval {name} --save` first")
    res = json.loads(res_path.read_text())
    if res.get("weights_sha256") != w.sha256:
        raise ZooError(f"results in {res_path} were measured on other weights than the shipped ones "
                       f"({str(res.get('weights_sha256'))[:12]} vs {w.sha256[:12]}): rerun `zoo eval {name} --save`")
    meta = w.meta
    img = {k: f"img/{name}/{k}.png" for k in ("raster", "agreement", "training", "forecast")
           if (CARDS / "img" / name / f"{k}.png").exists()}
    lines = [f"# Model card: {name}", "", f"{entry.description}", "", _headline(res), "",
             "*Generated by `zoo card " + name + "` from `model_cards/results/" + name + ".json` (written by "
             f"`zoo eval {name} --samples {res['samples']} --save`), the figures in `model_cards/img/{name}/` "
             f"(`zoo card {name} --plots`) and the weights metadata. Do not edit by hand.*", "",
             "## Model details", "",
             f"- Paper / lineage: {entry.paper}", f"- Task: `{entry.task}`; metric: {res['metric']} "
             f"({'higher' if res['higher_is_better'] else 'lower'} is better)",
             f"- Weights: `zoo/weights/{w.file}`, SHA-256 `{w.sha256}`",
             f"- Recipe: `{w.recipe}`, seed {meta.get('seed')}, commit `{meta.get('commit')}`, "
             f"training time {meta.get('train_seconds')} s on this repo's CI machine class (2 CPU cores)",
             f"- dt = {meta.get('dt')} s", f"- Hyper-parameters: {SELECTION_TEXT[_selection(w.recipe)]}"]
    for k, v in meta.get("contract", {}).items():
        lines.append(f"- {k}: {v}")
    lines += ["", "### SNN specifics (from the NIR export)", ""] + _snn_section(name, meta)
    notes = reconstruction_items(entry.paper) + _reconstruction_notes(entry)
    lines += ["", "### Reconstruction (what is ours, not the paper's)", ""]
    lines += [f"- {s}" for s in notes] if notes else [
        f"- Nothing: this is a baseline ({entry.paper}); its equations are the standard ones named in "
        f"`{_builder_module(entry)}`."]
    lines += ["", "## Intended use", "",
              f"Reference model ({entry.paper}) on the `{entry.task}` task for research on spiking networks and for "
              "checking torch -> NIR -> Lava agreement and Loihi fixed-point effects. Trained small (a recipe that "
              "runs in minutes on 2 CPU cores), not tuned for state-of-the-art results; not for deployment decisions.",
              "",
              "## Training data and procedure", "",
              f"Task parameters: `{json.dumps(meta.get('task', {}))}`; learning: `{json.dumps(meta.get('learning', {}))}`.",
              "", "## Evaluation (measured)", "",
              f"{_sample_count(res)}, same inputs for every backend; 95% interval: percentile bootstrap over the "
              "test samples (`zoo/stats.py`).", "",
              f"| backend | {res['metric']} | 95% interval | seconds |", "| --- | --- | --- | --- |"]
    for b, v in res["backends"].items():
        on = f" (first {v['samples']})" if v.get("samples") and v["samples"] != res["samples"] else ""
        lines.append(f"| {b}{on} | {_fmt(v['value'])} | {_ci(v)} | {_fmt(v['seconds'])} |")
    lines += ["", "### Baselines (same task)", ""] + baseline_rows(name, meta.get("task", {}).get("name", entry.task))
    lines += ["", "### Agreement (after latency alignment)", "", f"On {_sample_count(res)}:", "",
              "| measure | value |", "| --- | --- |"]
    for k, v in res.get("agreement", {}).items():
        lines.append(f"| {k} | {_fmt(v)} |")
    if res.get("agreement_lava_subset"):
        lines += ["", f"Lava backends, on the first {res['lava_samples']} test samples:", "", "| measure | value |",
                  "| --- | --- |"] + [f"| {k} | {_fmt(v)} |" for k, v in res["agreement_lava_subset"].items()]
    if "agreement" in img:
        lines += ["", f"![spike match per step]({img['agreement']})", "",
                  "Spike match vs torch per time step, over all test samples above and all spiking populations."]
    if "raster" in img:
        lines += ["", f"![spike raster torch vs Lava fixed]({img['raster']})", "",
                  "Spike raster of test sample 0: torch reference vs Lava fixed point "
                  "(red: extra spikes, grey circles: missing spikes)."]
    if "forecast" in img:
        lines += ["", f"![forecast traces]({img['forecast']})", "",
                  "Test sample 0, first output channel: target, torch reference and Lava fixed point."]
    if res.get("input_quantization"):
        q = res["input_quantization"]
        lines += ["", f"Graded inputs enter fixed point as multiples of 2^-{q.get('frac_bits')} "
                  f"(max rounding error {_fmt(q.get('max_abs_rounding_error'))})."]
    if res.get("quantization"):
        lines += ["", "### Fixed-point quantisation (per population)", "",
                  "| node | scale | weight_exp | max weight error | weights zeroed | saturated | vth rel. error |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for k, q in res["quantization"].items():
            lines.append(f"| {k} | {q['scale']:.1f} | {q['weight_exp']} | {q['max_abs_weight_error']:.2e} | "
                         f"{q['weights_zeroed']} | {q['weights_saturated']} | {q['vth_rel_error']:.1e} |")
    if res.get("hardware"):
        from zoo.hardware import render as render_hardware

        lines += ["", "### Deployment view (Loihi 2 estimate)", ""] + render_hardware(res["hardware"])
    if res.get("neurobench"):
        lines += ["", "### NeuroBench-style metrics", ""] + _neurobench_section(res["neurobench"])
    hist = meta.get("history", [])
    if hist:
        lines += ["", "### Training curve", ""]
        if "training" in img:
            lines += [f"![training curve]({img['training']})", ""]
        split = "val" if any(k.startswith("val_") for k in hist[0]) else "test"
        lines += [f"| epoch | loss | {split} metric |", "| --- | --- | --- |"]
        step = max(1, len(hist) // 10)
        for h in hist[::step] + ([hist[-1]] if (len(hist) - 1) % step else []):
            vals = [v for k, v in h.items() if k.startswith(f"{split}_")]
            lines.append(f"| {h['epoch']} | {h['loss']:.4f} | {_fmt(vals[0]) if vals else '-'} |")
    bench = _benchmarks(name, entry.paper)
    if bench:
        lines += ["", "### Benchmarks", "", "Benchmark commands of this paper (`benchmarks/<paper>/`) and the "
                  "outputs they wrote:", ""] + bench
    lines += ["", "## Claims", "", "Each claim of the paper this model bears on, judged from the committed results of "
              "the command named (`zoo/claims.py`; `docs/papers.md` says what is known of each paper).", ""]
    lines += claims_section(entry.paper)
    lines += ["", "## Limitations", "",
              "- Lava runs use the CPU simulator (`Loihi2SimCfg`), not Loihi hardware.",
              "- Fixed point: 8-bit weights and 24-bit state; decay and coefficient widths per neuron kind "
              "(12-bit LIF decays as in Lava's LIF; wider coefficients for BRF, SE-adLIF and the gamma chain: "
              "`exporters/lava/quantize.py` and the population modules); the spike match above measures the effect.",
              "- NeuroBench-style metrics are computed by this repository (`zoo/metrics.py`), not by the "
              "`neurobench` package; operations are counted on the fused Lava Dense stages.", "",
              "## Citation", "", "Cite the paper named above and this repository (Lava-NIR Zoo)."]
    return "\n".join(lines) + "\n"


def write_card(name: str, plots: bool = False, plot_samples: int = 1, lava: bool = True,
               log=lambda msg: None) -> Path:
    """Write ``model_cards/NAME.md``; with ``plots`` first redraw its figures (the raster runs
    ``plot_samples`` test samples through real Lava fixed point, or the emulator if not ``lava``)."""
    CARDS.mkdir(exist_ok=True)
    render(name)  # refuse stale or missing results before spending time on figures
    if plots:
        from zoo.plots import make_plots

        make_plots(name, samples=plot_samples, lava=lava, log=log,
                   results=json.loads((RESULTS / f"{name}.json").read_text()))
    path = CARDS / f"{name}.md"
    path.write_text(render(name))
    return path
