"""Test-suite guards: never hang on a Lava runtime a test forgot to stop."""
from __future__ import annotations

import multiprocessing
import os

import pytest

os.environ.setdefault("ZOO_THREADS", "2")


@pytest.fixture(autouse=True)
def _stop_leftover_lava_runtimes():
    """After each test, terminate child processes a Lava runtime left behind (they are not
    daemons: a forgotten ``stop()`` keeps pytest alive forever after "passed")."""
    yield
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()


def pytest_sessionfinish(session, exitstatus):
    for child in multiprocessing.active_children():
        child.kill()


@pytest.fixture(scope="session", autouse=True)
def _fsdd_stand_in(tmp_path_factory):
    """Models trained on the spoken-digit corpus (FSDD) live in the data cache, which CI does not
    have (no network). When the real corpus is absent, the suite runs those models on a generated
    stand-in in FSDD's real file format (16-bit 8 kHz WAVs, ``{digit}_{speaker}_{index}.wav``, a
    SHA-256 manifest): their export, metric and card tests need inputs of the right shape, not the
    recordings. Accuracy claims on the real corpus are checked only where it is present."""
    import hashlib
    import shutil
    import wave

    import numpy as np

    from zoo import datasets

    if datasets.get_dataset("fsdd").present():
        yield
        return
    root = tmp_path_factory.mktemp("fsdd-stand-in")
    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    manifests = root / "manifests"
    shutil.copytree(datasets.MANIFESTS, manifests)
    lines = []
    t = np.arange(2400) / 8000.0
    for d in range(10):
        for i in (0, 1, 2, 3, 10, 11, 12, 13):  # test (0-4) and train (10-49) indices
            x = 0.3 * np.sin(2 * np.pi * (300 + 250 * d) * t) * np.hanning(t.size) * (1 + 0.1 * i)
            f = rec / f"{d}_standin_{i}.wav"
            with wave.open(str(f), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes(np.round(x * 32767).astype("<i2").tobytes())
            lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  recordings/{f.name}")
    (manifests / "fsdd.sha256").write_text("\n".join(lines) + "\n")
    old_env, old_manifests = os.environ.get("ZOO_DATA_DIR"), datasets.MANIFESTS
    os.environ["ZOO_DATA_DIR"] = str(root)
    datasets.MANIFESTS = manifests
    datasets._read_manifest.cache_clear()
    yield
    datasets.MANIFESTS = old_manifests
    datasets._read_manifest.cache_clear()
    if old_env is None:
        os.environ.pop("ZOO_DATA_DIR", None)
    else:
        os.environ["ZOO_DATA_DIR"] = old_env
