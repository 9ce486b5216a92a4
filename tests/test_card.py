"""Model cards (zoo/card.py + zoo/plots.py) and the docs link check (docs/check_links.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import check_links  # noqa: E402


def test_docs_readme_and_cards_have_no_broken_links():
    """README.md, docs/*.md and model_cards/*.md (the cards' embedded figures included)."""
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "check_links.py")], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout
    assert (ROOT / "docs" / "user-guide.md").exists()


def test_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"\x89PNG")
    (tmp_path / "other.md").write_text("# Other page\n\n## Fixed point (Loihi)\n")
    md = tmp_path / "page.md"
    md.write_text("# Title\n\n![ok](img/a.png) [ok](other.md#fixed-point-loihi) [ok](#title) [ext](https://neuroir.org)\n"
                  "![gone](img/b.png) [bad anchor](other.md#nope) [out](../../etc/passwd) [bad](http://)\n"
                  "```\n[in code](missing.md)\n```\n`[inline](missing2.md)`\n")
    errs = check_links.check_file(md, tmp_path)
    assert len(errs) == 4, errs
    assert any("img/b.png: no such file" in e for e in errs)
    assert any("no heading #nope" in e for e in errs)
    assert any("outside the repository" in e for e in errs)
    assert any("malformed external link" in e for e in errs)


@pytest.fixture()
def tmp_cards(tmp_path, monkeypatch):
    import zoo.card as card
    import zoo.plots as plots

    monkeypatch.setattr(card, "CARDS", tmp_path)
    monkeypatch.setattr(card, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(plots, "IMG", tmp_path / "img")
    return tmp_path


def _image_links(text: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)


def test_card_renders_with_metrics_and_its_images_exist(tmp_cards):
    """Eval (torch + emulator, few samples) -> results file -> figures (emulator raster) -> card."""
    import torch

    from zoo.card import save_results, write_card
    from zoo.evaluate import evaluate

    torch.set_num_threads(1)
    res = evaluate("lif-digits", 12, backends=("torch", "emulator"))
    assert len(res["agreement_per_step"]["spike_match_emulator_vs_torch"]) == 16
    assert res["neurobench"]["static"]["parameter_count"] == 9610
    save_results(res)
    path = write_card("lif-digits", plots=True, lava=False)
    text = path.read_text()
    for section in ("## Model details", "## Intended use", "## Training data and procedure", "## Evaluation (measured)",
                    "## Limitations", "## Citation", "### SNN specifics", "### Reconstruction (what is ours",
                    "## Claims",
                    "### NeuroBench-style metrics", "effective ACs"):
        assert section in text, section
    imgs = _image_links(text)
    assert {Path(i).name for i in imgs} >= {"raster.png", "agreement.png", "training.png"}
    for i in imgs:
        f = tmp_cards / i
        assert f.exists() and f.read_bytes()[:4] == b"\x89PNG", i
    # the metric rows come from the results file, not typed by hand
    ac = res["neurobench"]["dynamic"]["emulator"]["Effective_ACs"]
    assert f"{ac:,.1f}" in text


def test_card_refuses_missing_or_stale_results(tmp_cards):
    from zoo.card import render
    from zoo.registry import ZooError

    with pytest.raises(ZooError, match="zoo eval lif-digits --save"):
        render("lif-digits")
    (tmp_cards / "results").mkdir()
    (tmp_cards / "results" / "lif-digits.json").write_text(json.dumps({"model": "lif-digits", "weights_sha256": "0" * 64}))
    with pytest.raises(ZooError, match="other weights"):
        render("lif-digits")


@pytest.mark.slow
def test_plots_raster_from_real_lava_run(tmp_cards):
    from zoo.plots import make_plots

    made = make_plots("lif-digits", samples=1, lava=True)
    assert (tmp_cards / made["raster"]).exists()


def test_committed_cards_match_their_results_files():
    """Every model_cards/NAME.md is exactly what `zoo card NAME` renders from the saved results
    (no hand edits, no stale card after `zoo eval NAME --save`)."""
    from zoo.card import CARDS, RESULTS, render

    cards = [p for p in sorted(CARDS.glob("*.md")) if (RESULTS / f"{p.stem}.json").exists()]
    assert any(p.stem == "lif-digits" for p in cards)
    for p in cards:
        assert p.read_text() == render(p.stem), f"{p.name} is stale: run `zoo card {p.stem}`"
