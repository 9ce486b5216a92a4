"""zoo.pipeline: one model resolved once, and every user of it (eval, plots) on the same plans."""
from __future__ import annotations

import numpy as np
import pytest

from zoo.pipeline import Pipeline
from zoo.registry import ZooError

GRADED = "gamma-delay"  # graded populations: calibration changes its fixed-point plan (0.6 s to build)


def _fingerprint(plan) -> dict:
    return {k: v.as_dict() for k, v in plan.report.items()}


@pytest.fixture()
def fixed_plans(monkeypatch):
    """Every FixedPlan built through exporters.lava.build_plan, in order."""
    import exporters.lava as lava

    built = []
    real = lava.build_plan

    def spy(graph, precision="fixed", *args, **kw):
        plan = real(graph, precision, *args, **kw)
        if precision == "fixed":
            built.append(plan)
        return plan

    monkeypatch.setattr(lava, "build_plan", spy)
    return built


def test_plots_and_eval_use_the_same_fixed_plan(fixed_plans, tmp_path, monkeypatch):
    """The card raster runs the calibrated plan `zoo eval` measured (before the pipeline the
    figures of graded models came from an uncalibrated, differently scaled plan)."""
    import zoo.plots as plots
    from exporters.lava import emulate
    from exporters.lava.quantize import quantize_inputs
    from zoo.evaluate import evaluate

    monkeypatch.setattr(plots, "IMG", tmp_path)
    res = evaluate(GRADED, 4, ("emulator",))
    made = plots.make_plots(GRADED, samples=1, lava=False, results=res)
    assert (tmp_path.parent / made["raster"].replace("img/", f"{tmp_path.name}/", 1)).exists()
    assert len(fixed_plans) == 2, "eval and plots each build their fixed plan once"
    ev, pl = fixed_plans
    assert _fingerprint(ev) == _fingerprint(pl)
    x, _ = Pipeline(GRADED).data("test", 2)
    xq = quantize_inputs(x.numpy())[0]
    assert np.array_equal(emulate(ev, xq).output_raw, emulate(pl, xq).output_raw)


def test_fixed_plan_is_calibrated_and_built_once(fixed_plans):
    from exporters.lava import build_plan

    pipe = Pipeline(GRADED)
    assert pipe.plan("fixed", 0) is pipe.plan("fixed", 0)
    assert len(fixed_plans) == 1
    uncalibrated = build_plan(pipe.checked, "fixed", input_frac_bits=0)
    assert _fingerprint(uncalibrated) != _fingerprint(pipe.plan("fixed", 0)), "calibration must matter here"


def test_graph_is_validated_once(monkeypatch):
    """Reference executor, float plan and fixed plan all take the one validated graph."""
    import exporters.nir.graph as nir_graph

    calls = []
    real = nir_graph.flatten_graph
    monkeypatch.setattr(nir_graph, "flatten_graph", lambda *a, **k: calls.append(1) or real(*a, **k))
    pipe = Pipeline(GRADED)
    pipe.reference()
    pipe.plan("float")
    pipe.plan("fixed", 0)
    assert len(calls) == 1


def test_pipeline_resolves_dt_in_seconds_and_the_task():
    pipe = Pipeline("lif-digits")
    assert pipe.dt == pytest.approx(float(pipe.weights.meta["dt"]))
    assert pipe.graph.metadata["dt"] == pipe.dt
    assert pipe.task.name == "digits" and pipe.input_shape == (64,)
    with pytest.raises(ZooError, match="did you mean 'lif-digits'"):
        Pipeline("lif-digit")
    with pytest.raises(ZooError, match="precision"):
        pipe.plan("double")
