"""Evaluation pipeline: whole test set through the emulator with Lava on a subset, bootstrap
intervals, and the sample counts the cards report."""
from __future__ import annotations

import torch

from zoo.stats import bootstrap_ci
from zoo.tasks import spike_count_accuracy


def test_lava_subset_and_whole_set_in_one_result():
    from zoo.evaluate import evaluate_with_lava_subset

    res = evaluate_with_lava_subset("lif-digits", 12, 3, ("torch", "lava-fixed", "emulator"))
    assert res["samples"] == 12 and res["test_set_size"] == 450 and res["lava_samples"] == 3
    assert res["backends"]["lava-fixed"]["samples"] == 3 and "samples" not in res["backends"]["emulator"]
    assert res["agreement_lava_subset"]["emulator_bit_exact"] is True
    lo, hi = res["backends"]["torch"]["ci95"]
    assert lo <= res["backends"]["torch"]["value"] <= hi


def test_bootstrap_interval_is_seeded_and_narrows_with_more_samples():
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (400,), generator=gen)
    right = torch.rand(400, generator=gen) < 0.8  # 80 % correct
    out = torch.nn.functional.one_hot(torch.where(right, y, (y + 1) % 3), 3).float()[:, None, :]
    a, b = bootstrap_ci(spike_count_accuracy, out, y), bootstrap_ci(spike_count_accuracy, out, y)
    assert a == b and a[0] < spike_count_accuracy(out, y) < a[1]
    small = bootstrap_ci(spike_count_accuracy, out[:40], y[:40])
    assert (small[1] - small[0]) > (a[1] - a[0])
    assert bootstrap_ci(spike_count_accuracy, out[:1], y[:1])[0] == spike_count_accuracy(out[:1], y[:1])
