"""torch.distributed data-parallel training and sharded evaluation (issue 10).

Two processes on 127.0.0.1 (gloo) must give the weights of one process with the same global
batch and seed; a crashed or hung worker must fail the run quickly with one clear line; sharded
evaluation must merge to exactly the unsharded result.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from zoo import distributed as zd
from zoo import launch as zl
from zoo import shards as zs

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- pure unit tests
@pytest.mark.parametrize("n,world", [(64, 2), (3, 2), (1, 2), (2, 3), (7, 3)])
def test_shard_partitions_global_batch_with_exact_weights(n, world):
    idx = torch.arange(100, 100 + n)
    seen, total_w = [], 0.0
    for rank in range(world):
        ctx = zd.Context(rank=rank, world_size=world, initialized=True)
        local = ctx.shard(idx)
        expect = torch.tensor_split(idx, world)[rank]
        assert ctx.weight == pytest.approx(len(expect) / n)
        if len(expect):
            assert torch.equal(local, expect)
            seen.append(local)
        else:  # empty slice: one dummy sample with weight 0, so the rank joins every collective
            assert len(local) == 1 and ctx.weight == 0.0
        total_w += ctx.weight
    assert torch.equal(torch.cat(seen), idx) and total_w == pytest.approx(1.0)


def test_per_step_label_targets_weight_by_labelled_steps():
    """Per-step integer targets with ignore label -1 (mean over labelled steps): the weight is
    the rank's share of labelled entries, not of samples."""
    targets = torch.tensor([[0, 1, -1, -1], [2, -1, -1, -1], [1, 1, 1, 1]])
    idx = torch.tensor([0, 1, 2])
    w = [zd.Context(rank=r, world_size=2, initialized=True) for r in range(2)]
    for c in w:
        c.shard(idx, targets)
    assert (w[0].weight, w[1].weight) == (3 / 7, 4 / 7)  # rank 0: samples 0,1 (2+1 labels); rank 1: sample 2
    c = zd.Context(rank=1, world_size=2, initialized=True)
    c.shard(idx, torch.tensor([3, 1, 4]))  # class targets (B,): share of samples
    assert c.weight == 1 / 3


def test_weighted_sum_of_rank_gradients_is_the_global_batch_gradient():
    """The identity the all-reduce relies on: for a batch-mean loss, sum_r (n_r/n) grad_r
    equals the gradient on the whole (ragged) global batch."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3)
    x, y = torch.randn(7, 5), torch.randint(0, 3, (7,))

    def grad(xb, yb):
        lin.zero_grad()
        torch.nn.functional.cross_entropy(lin(xb), yb).backward()
        return lin.weight.grad.clone()

    full = grad(x, y)
    parts = torch.tensor_split(torch.arange(7), 3)
    acc = sum(len(p) / 7 * grad(x[p], y[p]) for p in parts)
    torch.testing.assert_close(acc, full, rtol=1e-6, atol=1e-7)


def test_single_process_helpers_are_noops():
    lin = torch.nn.Linear(3, 2)
    lin(torch.ones(1, 3)).sum().backward()
    before = lin.weight.grad.clone()
    zd.allreduce_grads(lin)
    zd.allreduce_([lin.weight.grad])
    assert torch.equal(lin.weight.grad, before)
    ctx = zd.Context()
    assert ctx.sum_across([1.0, 2.0]) == [1.0, 2.0] and ctx.weighted(3.0) == 3.0 and not ctx.active


def test_failure_message_is_last_error_line():
    tail = ["[rank1]: Traceback (most recent call last):", '[rank1]:   File "x.py", line 3, in f',
            "[rank1]: RuntimeError: boom", ""]
    assert zl._last_error_line(tail) == "RuntimeError: boom"
    assert zl._last_error_line([]) == "no error output"


def test_cuda_request_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    with pytest.raises(zd.ZooError, match="CUDA is not available"):
        zd.resolve_device("cuda")


# ----------------------------------------------------------------------------- 2 processes
def _small_recipe(path: str, train_samples: int, **learning) -> dict:
    from zoo.train import load_recipe

    r = load_recipe(ROOT / path)
    r["learning"].update(epochs=1, train_samples=train_samples, **learning)
    return r


def _assert_same_weights(a_dir: Path, b_dir: Path, name: str, atol: float) -> float:
    from safetensors.torch import load_file

    a, b = load_file(str(a_dir / f"{name}.safetensors")), load_file(str(b_dir / f"{name}.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    assert worst <= atol, f"max |w_1proc - w_2proc| = {worst}"
    return worst


def _microbatch_weights(recipe: dict, parts: int = 2) -> dict[str, torch.Tensor]:
    """One process, every global batch split as the ranks split it, part gradients weighted
    n_r/n and accumulated before one optimizer step: the data-parallel arithmetic, no comms."""
    from zoo.learning.base import make_optimizer
    from zoo.registry import get_entry
    from zoo.tasks import get_task

    torch.manual_seed(recipe["seed"])
    cfg = dict(recipe["task"])
    task = get_task(cfg.pop("name"))
    model = get_entry(recipe["model"]).builder(**recipe["model_config"])
    opt = make_optimizer(model.parameters(), recipe["learning"]["optimizer"], recipe["learning"]["lr"])
    x, y = task.load("train", **cfg)
    n = recipe["learning"]["train_samples"]
    x, y = x[:n], y[:n]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(recipe["seed"]))
    bs = recipe["learning"]["batch_size"]
    for i in range(0, n, bs):
        idx = order[i:i + bs]
        opt.zero_grad()
        for part in torch.tensor_split(idx, parts):
            out = model(x[part].transpose(0, 1)).transpose(0, 1)
            (task.loss(out, y[part]) * (len(part) / len(idx))).backward()
        opt.step()
    return model.state_dict()


def test_two_processes_equal_one_process_bptt_ddp(tmp_path, monkeypatch):
    """lif-digits, one epoch on the first 131 training samples (global batches 64, 64, 3: the
    ragged last batch splits 2/1 and is weighted 2/3, 1/3), BPTT through DDP's comm hook.
    Also against the 1-process micro-batch control (same summation order as 2 ranks): tighter."""
    from safetensors.torch import load_file

    from zoo.train import train

    monkeypatch.setenv("ZOO_THREADS", "1")
    torch.set_num_threads(1)
    recipe = _small_recipe("recipes/lif-digits.toml", 131)
    m1 = train(recipe, tmp_path / "one", progress=False)
    t0 = time.time()
    m2 = train(recipe, tmp_path / "two", progress=False, nproc=2)
    assert time.time() - t0 < 120
    assert m2["meta"]["distributed"] == {"world_size": 2, "device": "cpu", "backend": "gloo"}
    assert "distributed" not in m1["meta"]
    _assert_same_weights(tmp_path / "one", tmp_path / "two", "lif-digits", atol=1e-5)
    micro, two = _microbatch_weights(recipe), load_file(str(tmp_path / "two" / "lif-digits.safetensors"))
    assert max(float((micro[k] - two[k]).abs().max()) for k in micro) <= 1e-7
    h1, h2 = m1["meta"]["history"][0], m2["meta"]["history"][0]
    assert h2["loss"] == pytest.approx(h1["loss"], rel=1e-5)
    assert h2["test_accuracy"] == pytest.approx(h1["test_accuracy"], abs=1 / 450 + 1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("name,samples,atol", [
    ("stop-digits-fc", 70, 1e-5),  # STOP-WTL, post-step clamps; global batches 32, 32, 6
    ("gamma-delay", 105, 1e-5),  # SpikingGamma online rule: several optimizer steps per batch; 50, 50, 5
    ("hypr-brf-ecg", 17, 1e-5),  # HYPR, per-step labels with ignore -1; 16, then 1 (rank 1 empty, weight 0)
])
def test_two_processes_equal_one_process_online_rule_hook(tmp_path, monkeypatch, name, samples, atol):
    """Online rules write their accumulated updates into .grad; the optimizer pre-hook all-reduces
    them (no change in the learners)."""
    from zoo.train import train

    monkeypatch.setenv("ZOO_THREADS", "1")
    recipe = _small_recipe(f"recipes/{name}.toml", samples)
    train(recipe, tmp_path / "one", progress=False)
    train(recipe, tmp_path / "two", progress=False, nproc=2)
    _assert_same_weights(tmp_path / "one", tmp_path / "two", name, atol=atol)


def _zoo(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "ZOO_THREADS": "1", **env})


def test_crashed_worker_fails_the_run_with_one_clear_line(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text((ROOT / "recipes/lif-digits.toml").read_text().replace("epochs = 40", "epochs = 1"))
    t0 = time.time()
    res = _zoo(["train", str(recipe), "--nproc", "2", "--out", str(tmp_path / "out")],
               {"ZOO_DIST_FAULT": "1:2:raise"}, timeout=150)
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: distributed worker rank 1/2 failed (exit code 1)"), last
    assert "injected fault on rank 1 at step 2" in last
    assert not (tmp_path / "out" / "lif-digits.safetensors").exists()
    assert time.time() - t0 < 150


@pytest.mark.slow
def test_hung_worker_hits_the_collective_timeout(tmp_path):
    """Rank 1 hangs before its step-2 all-reduce: rank 0's collective times out after
    ZOO_DIST_TIMEOUT seconds, the watchdog kills rank 1, the run fails (never hangs)."""
    recipe = tmp_path / "tiny.toml"
    recipe.write_text((ROOT / "recipes/lif-digits.toml").read_text().replace("epochs = 40", "epochs = 1"))
    res = _zoo(["train", str(recipe), "--nproc", "2", "--out", str(tmp_path / "out")],
               {"ZOO_DIST_FAULT": "1:2:hang", "ZOO_DIST_TIMEOUT": "5"}, timeout=180)
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1].startswith("error: distributed worker rank 0/2 failed")


# ----------------------------------------------------------------------------- sharded eval
def _strip(res: dict) -> dict:
    return {k: v for k, v in res.items() if k not in ("backends", "workers")}


@pytest.mark.parametrize("backends", [("emulator",), pytest.param(("torch", "emulator"), marks=pytest.mark.slow)])
def test_sharded_eval_merges_to_the_unsharded_result(backends):
    from zoo.evaluate import evaluate

    a = evaluate("lif-digits", 41, backends)
    b = evaluate("lif-digits", 41, backends, workers=2, shard_all=True)
    assert b["workers"] == 2
    assert {k: v["value"] for k, v in a["backends"].items()} == {k: v["value"] for k, v in b["backends"].items()}
    assert _strip(a) == _strip(b)  # agreement, per-step spike match, metrics: identical


def test_workers_shard_only_lava_unless_asked(monkeypatch):
    """--workers never forks for the emulator or torch (start-up costs seconds, they take ms)
    unless shard_all; auto picks more than one process only past the measured break-even."""
    from zoo import evaluate as ev

    def no_shard(kind, *a, **kw):
        raise AssertionError(f"{kind} was sharded")

    monkeypatch.setattr(zs, "sharded_outputs", no_shard)
    res = ev.evaluate("lif-digits", 8, ("torch", "emulator"), workers=2)
    assert res["backends"]["emulator"]["value"] is not None
    small, large = ev.auto_workers(300, 18, cpus=2), ev.auto_workers(2000, 1300, cpus=2)
    assert small == 1 and large == 2 and ev.auto_workers(2000, 1300, cpus=1) == 1


@pytest.mark.slow
def test_sharded_outputs_are_in_sample_order():
    """Every sample's output equals its unsharded output (3 unequal shards of 10 samples)."""
    from zoo.pipeline import Pipeline

    pipe = Pipeline("lif-digits")
    x, _ = pipe.data("test", 10)
    ref = pipe.torch_outputs(x)
    got = zs.sharded_outputs("torch", "lif-digits", None, x, 3)
    assert torch.equal(got, ref)


@pytest.mark.slow
def test_sharded_lava_fixed_is_bit_identical_to_unsharded():
    import numpy as np

    from zoo.evaluate import evaluate

    a = evaluate("lif-digits", 6, ("lava-fixed", "emulator"))
    b = evaluate("lif-digits", 6, ("lava-fixed", "emulator"), workers=2)
    assert a["backends"]["lava-fixed"]["value"] == b["backends"]["lava-fixed"]["value"]
    assert b["agreement"]["emulator_bit_exact"] is True
    assert np.isclose(a["agreement"]["spike_match_lava_fixed_vs_torch"], b["agreement"]["spike_match_lava_fixed_vs_torch"])
