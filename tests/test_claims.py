"""Card claims are judged from measured results: verdicts follow the numbers, a missing result
says which command measures it, and every paper's claims render."""
from __future__ import annotations

import json

import pytest

from zoo import claims

VERDICTS = {"holds", "does not hold", "not testable here", "not measured yet"}


@pytest.mark.parametrize("paper", sorted(claims.CLAIMS))
def test_every_claim_renders_a_figure_and_a_verdict(paper):
    for c in claims.CLAIMS[paper]:
        fig, verdict = c.judge()
        assert fig and any(verdict.startswith(v) for v in VERDICTS | {"see"}), (c.text, verdict)
    assert claims.reconstruction_items(paper), paper
    assert len(claims.claims_section(paper)) == 2 + len(claims.CLAIMS[paper])


def _ablation(plain: float, star: float) -> dict:
    run = lambda mse: {"runs": [{"test_mse": mse, "test_nrmse": mse ** 0.5}] * 3}  # noqa: E731
    return {"seeds": [0, 1, 2], "runs": {f"{s}/{v}": run(m) for s in ("mackey_glass", "lorenz")
                                         for v, m in (("plain K=1", plain), ("STAR K=1", star), ("+SPSG K=1", plain))}}


@pytest.mark.parametrize("plain, star, verdict", [(400.0, 1.0, "holds"), (10.0, 1.0, "does not hold")])
def test_star_ratio_verdict_follows_the_numbers(tmp_path, monkeypatch, plain, star, verdict):
    (tmp_path / "star" / "results").mkdir(parents=True)
    (tmp_path / "star" / "results" / "ablation.json").write_text(json.dumps(_ablation(plain, star)))
    monkeypatch.setattr(claims, "RESULTS", tmp_path)
    fig, got = claims._star_ratio()
    assert got == verdict and f"{plain / star:.2f}x" in fig


def test_missing_results_name_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "RESULTS", tmp_path)
    fig, verdict = claims._hypr_memory()
    assert verdict == "not measured yet" and "python -m benchmarks.hypr.memory" in fig


def test_baselines_bear_on_no_claim():
    assert claims.paper_key("baseline (snnTorch Leaky)") is None
    assert "baseline" in claims.claims_section("baseline (snnTorch Leaky)")[0]
