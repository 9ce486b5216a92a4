"""Bookkeeping of the BPTT-HYPR gap benchmark (benchmarks/hypr/gap.py): nothing is chosen on
test, the plateau check, the gap, disjoint splits, and resumable one-JSON-per-run storage."""
from __future__ import annotations

import json

import pytest

from benchmarks.hypr import gap
from benchmarks.hypr.gap_report import run_stats, summarize


def _rec(neuron, rule, seed, val, test):
    hist = [{"epoch": i + 1, "val": v, "test": t, "loss": 1.0 / (i + 1), "train_cpu_s": 1.0, "wall_s": i + 1.0}
            for i, (v, t) in enumerate(zip(val, test))]
    return {"neuron": neuron, "rule": rule, "seed": seed, "history": hist}


def test_best_val_epoch_is_chosen_on_val_not_test():
    # test peaks at epoch 2, val at epoch 4: the reported test must be epoch 4's
    s = run_stats(_rec("brf", "hypr", 0, [0.1, 0.2, 0.3, 0.9, 0.5, 0.6], [0.1, 0.99, 0.3, 0.4, 0.5, 0.7]), 3, 1.0)
    assert s["best_val_epoch"] == 4 and s["test_at_best_val"] == 0.4 and s["final_test"] == 0.7
    # last 3 val (0.9, 0.5, 0.6) vs previous 3 (0.1, 0.2, 0.3): +46.67 points -> not a plateau
    assert s["val_change"] == pytest.approx(100 * (2.0 / 3 - 0.2)) and not s["plateaued"]


def test_plateau_and_gap():
    flat = [0.5, 0.6, 0.70, 0.70, 0.701, 0.702, 0.703, 0.704]  # +0.27 points
    runs = [_rec("alif", "bptt", k, flat, [0.8] * 8) for k in range(3)]
    runs += [_rec("alif", "hypr", k, flat, [0.7] * 7 + [0.75 + 0.01 * k]) for k in range(3)]
    cells = summarize([run_stats(r, 3, 1.0) for r in runs], ["alif"], ["bptt", "hypr"])
    c = cells[0]
    assert c["bptt"]["plateaued"] and c["hypr"]["plateaued"]
    assert c["hypr"]["final_test"][0] == pytest.approx(76.0) and c["hypr"]["final_test"][2] == 3
    assert c["gap_final_test"] == pytest.approx(4.0)
    assert c["paired_gap_final_test"] == pytest.approx((4.0, 1.0, 3))  # per seed 5, 4, 3 points
    short = summarize([run_stats(_rec("alif", "bptt", 0, [0.5] * 5, [0.5] * 5), 3, 1.0)], ["alif"], ["bptt"])
    assert not short[0]["bptt"]["plateaued"]  # fewer than 2 windows: not shown, so not claimed


def test_split_is_disjoint_and_checked():
    d = gap.split_ecg(10, 5, 30)
    xtr, xva = d["train"][0], d["val"][0]
    assert xtr.shape == (10, 30, 4) and xva.shape == (5, 30, 4) and d["test"][0].shape[1] == 30
    full = gap.get_task("ecg").load("train", steps=30)[0]
    assert (xva == full[-5:]).all() and (xtr == full[:10]).all()
    with pytest.raises(ValueError, match="n-train"):
        gap.split_ecg(600, 100, 30)


def test_runs_are_stored_and_resumed(tmp_path, monkeypatch):
    monkeypatch.setattr(gap, "RESULTS", tmp_path)
    argv = ["--neurons", "brf", "--seeds", "0", "--epochs", "2", "--n-train", "4", "--n-val", "2",
            "--steps", "20", "--lam", "7", "--n-hidden", "4", "--batch-size", "2", "--out", "t"]
    out = gap.main(argv)
    files = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert files == ["brf-bptt-s0.json", "brf-hypr-s0.json"]
    rec = json.loads((tmp_path / "t" / "brf-hypr-s0.json").read_text())
    assert rec["complete"] and [h["epoch"] for h in rec["history"]] == [1, 2]
    assert {"val", "test", "loss"} <= set(rec["history"][0])
    assert len(out["runs"]) == 2 and (tmp_path / "t.md").exists() and (tmp_path / "t.png").exists()
    stamp = (tmp_path / "t" / "brf-hypr-s0.json").stat().st_mtime_ns
    gap.main(argv)  # same config: skipped
    assert (tmp_path / "t" / "brf-hypr-s0.json").stat().st_mtime_ns == stamp
    del rec["config"]["task"]  # runs stored before the task key are ECG runs: still accepted
    (tmp_path / "t" / "brf-hypr-s0.json").write_text(json.dumps(rec))
    assert len(gap.main(argv + ["--report-only"])["runs"]) == 2
    rec["complete"] = False  # an unfinished run is not reported
    (tmp_path / "t" / "brf-hypr-s0.json").write_text(json.dumps(rec))
    assert len(gap.main(argv + ["--report-only"])["runs"]) == 1
