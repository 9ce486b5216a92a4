"""The HYPR Lava-agreement benchmark (benchmarks/hypr/lava_agreement.py) on the shipped models:
the issue-6 target, Lava fixed accuracy within 2 points of torch on the whole test set."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.hypr.lava_agreement import measure

WEIGHTS = Path(__file__).resolve().parents[2] / "zoo" / "weights"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hypr-brf-ecg", "hypr-seadlif-ecg", "hypr-brf-bsd"])
def test_shipped_fixed_point_accuracy_within_two_points(name):
    """Issue 6 target: Lava fixed accuracy within 2 points of torch (whole test set, through the
    fixed-point emulator, which equals Lava fixed bit for bit); Lava float == NIR fp64."""
    if not (WEIGHTS / f"{name}.json").exists():
        pytest.skip(f"{name}: no shipped weights yet")
    try:
        r = measure(name, None)
    except Exception as exc:  # noqa: BLE001 - ECG data absent
        if "not found" in str(exc):
            pytest.skip(str(exc))
        raise
    assert r["spike_match_lava_float_vs_nir"] == 1.0
    assert abs(r["lava_float"] - r["nir_fp64"]) < 1e-9
    assert abs(r["fixed_minus_torch_points"]) <= 2.0
