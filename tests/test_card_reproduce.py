"""`zoo eval NAME` reproduces the committed card numbers: torch and the bit-exact emulator re-run on
the card's samples give the saved metric (emulator exactly; torch to float32 rounding). Slow (every
shipped model's whole evaluation set); `make test-all`."""
from __future__ import annotations

import json

import pytest

from zoo.card import RESULTS

CARDS = sorted(p.stem for p in RESULTS.glob("*.json"))


@pytest.mark.slow
@pytest.mark.parametrize("name", CARDS)
def test_card_numbers_reproduce(name):
    from zoo.evaluate import evaluate

    saved = json.loads((RESULTS / f"{name}.json").read_text())
    backends = tuple(b for b in ("torch", "emulator") if b in saved["backends"])
    res = evaluate(name, saved["samples"], backends)
    assert res["weights_sha256"] == saved["weights_sha256"]
    for b in backends:
        got, want = res["backends"][b]["value"], saved["backends"][b]["value"]
        assert got == pytest.approx(want, abs=1e-6 if b == "torch" else 0.0), (name, b, got, want)
