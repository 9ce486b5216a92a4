"""Training inside Lava at the default thread setting (issue 21): torch's OpenMP thread pool and
Lava's ``fork``.

``zoo train`` sets torch's intra-op threads to ``ZOO_THREADS`` (default 2) and uses them; Lava
then forks its workers. A forked child inherits libgomp's bookkeeping of the parent's thread pool
but not its threads, so the first torch op in a worker large enough to run in parallel (STAR's SGD
step on the 128 x 512 input matrix, e-prop's products) waited forever. The plastic process models
now set one torch thread in the worker before any torch call
(:func:`exporters.lava.plastic.procs.torch_threads_for_worker`).

Each check runs in a fresh Python process under a hard timeout (the process group is killed, so a
regression fails instead of hanging the suite): it trains the recipe in torch (float64) and then
inside Lava (float64 process models) from the same initial parameters and sample order, at the
default thread setting, after the parent process has used its OpenMP pool; the trained weights
must agree with torch and must have moved.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240  # seconds for all three rules; a normal run takes ~25 s (imports, data, Lava start-up)

# rule -> (recipe, training samples, tolerance of Lava float vs torch float64).
# STAR and e-prop call torch for the roundings numpy does not reproduce (bit-identical to torch);
# STOP's float layers are numpy, equal to torch to ~1e-15 per update.
CASES = {
    "stop": ("recipes/stop-digits-fc-online.toml", 4, 1e-12),
    "eprop": ("recipes/eprop-alif-rowdigits.toml", 4, 0.0),
    "star": ("recipes/star-gestures-online.toml", 3, 0.0),
}

CHILD = textwrap.dedent("""
    import json, os, sys
    import torch
    from zoo.train import load_recipe, train

    out, cases = sys.argv[1], json.loads(sys.argv[2])
    for rule, (recipe_path, samples) in cases.items():
        print(json.dumps({"rule": rule, "started": True}), flush=True)
        recipe = load_recipe(recipe_path)
        recipe["learning"].update(train_samples=samples, epochs=1)
        kw = dict(progress=False, evals_per_epoch=1, test_samples=2, dtype=torch.float64)
        # torch first, as benchmarks/online_lava/curves.py does (zoo.train sets ZOO_THREADS threads)
        train(recipe, os.path.join(out, rule, "torch"), **kw)
        threads = torch.get_num_threads()
        # make sure this parent's OpenMP pool has run a parallel region (what hung the forked workers)
        torch.ones(1 << 20, dtype=torch.float64).mul_(2.0)
        meta = train(recipe, os.path.join(out, rule, "lava"), backend="lava-float", **kw)
        print(json.dumps({"rule": rule, "threads": threads, "name": recipe["name"],
                          "backend": meta["meta"]["lava"]["backend"]}), flush=True)
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """Run CHILD once for all rules in a fresh process (own process group, default thread
    setting: ZOO_THREADS unset); on timeout kill the whole group (Lava's workers too) and fail."""
    out = tmp_path_factory.mktemp("lava_threads")
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cases = json.dumps({rule: [recipe, n] for rule, (recipe, n, _) in CASES.items()})
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), cases], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        last = [json.loads(line)["rule"] for line in stdout.splitlines() if line.startswith("{")]
        pytest.fail(f"training inside Lava did not finish in {TIMEOUT} s at the default thread setting "
                    f"(stuck in rule {last[-1] if last else '?'}: a hung Lava worker?)")
    assert proc.returncode == 0, stderr[-3000:]
    done = {}
    for line in stdout.splitlines():
        if line.startswith("{") and "threads" in line:
            info = json.loads(line)
            done[info["rule"]] = info
    return out, done


def _initial_params(recipe: dict) -> dict[str, torch.Tensor]:
    """The parameters ``zoo.train`` starts from (same seed, same builder)."""
    from zoo.registry import get_entry

    torch.manual_seed(int(recipe.get("seed", 0)))
    return get_entry(recipe["model"]).builder(**recipe.get("model_config", {})).double().state_dict()


@pytest.mark.parametrize("rule", list(CASES))
def test_lava_float_training_finishes_at_default_threads_and_equals_torch(trained, rule):
    from safetensors.torch import load_file

    from zoo.train import load_recipe

    out, done = trained
    recipe_path, _, tol = CASES[rule]
    info = done[rule]
    assert info["threads"] >= 2, f"the default setting gave torch {info['threads']} thread(s): nothing to check"
    assert info["backend"] == "lava-float"
    name = info["name"]
    ref = load_file(str(out / rule / "torch" / f"{name}.safetensors"))
    lava = load_file(str(out / rule / "lava" / f"{name}.safetensors"))
    init = _initial_params(load_recipe(str(ROOT / recipe_path)))
    assert set(lava) == set(ref)
    moved = {}
    for k, v in ref.items():
        a, b = lava[k].double().numpy(), v.double().numpy()
        np.testing.assert_allclose(a, b, atol=tol, rtol=0, err_msg=f"{rule}: {k}")
        moved[k] = float(np.max(np.abs(b - init[k].numpy())))
    assert max(moved.values()) > 1e-3, f"{rule}: training did not change the weights: {moved}"
