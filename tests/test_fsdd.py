"""FSDD task and cochlea front end on a generated fixture (real file format and naming scheme,
never the real data or the network)."""
from __future__ import annotations

import hashlib
import wave

import numpy as np
import pytest
import torch

import zoo.datasets
from zoo.registry import ZooError
from zoo.tasks import cochlea, fsdd, get_task

SR = 8000
SPEAKERS = ("alice", "bob")
INDICES = (0, 4, 5, 9, 10, 12)
DIGITS = (0, 3, 7)


def _tone(freq: float, seconds: float, amp: float = 0.3, start: float = 0.0) -> np.ndarray:
    n = int(round(seconds * SR))
    t = np.arange(n) / SR
    x = amp * np.sin(2 * np.pi * freq * t)
    x[: int(start * SR)] = 0.0
    return x


def _write_wav(path, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def _signal(digit: int, speaker: str, index: int) -> np.ndarray:
    """Distinct per file: tone frequency from the digit, length from the index, gain per speaker."""
    return _tone(300.0 + 250.0 * digit, 0.2 + 0.05 * index, amp=0.2 if speaker == "alice" else 0.5)


@pytest.fixture
def fixture_data(tmp_path, monkeypatch):
    rec = tmp_path / "cache" / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    lines = []
    for d in DIGITS:
        for s in SPEAKERS:
            for i in INDICES:
                f = rec / f"{d}_{s}_{i}.wav"
                _write_wav(f, _signal(d, s, i))
                lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  recordings/{f.name}")
    (rec / "README.txt").write_text("not a recording\n")  # files outside the manifest are ignored
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "fsdd.sha256").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(zoo.datasets, "MANIFESTS", manifests)
    zoo.datasets._read_manifest.cache_clear()
    fsdd._audio.cache_clear()
    fsdd._encoded.cache_clear()
    yield rec
    zoo.datasets._read_manifest.cache_clear()
    fsdd._audio.cache_clear()
    fsdd._encoded.cache_clear()


def test_splits_by_recording_index(fixture_data):
    want = {"test": {0, 4}, "val": {5, 9}, "train": {10, 12}}
    seen = set()
    for split, indices in want.items():
        recs = fsdd.split_recordings(split)
        assert {r[2] for r in recs} == indices
        assert len(recs) == len(DIGITS) * len(SPEAKERS) * len(indices)
        seen |= {r[3] for r in recs}
        x, y = get_task("fsdd").load(split)
        assert x.shape == (len(recs), 80, 96) and y.shape == (len(recs),)
        np.testing.assert_array_equal(y.numpy(), [r[0] for r in recs])
        # row k is the encoding of recording k of the split, encoded on its own
        for k in (0, len(recs) - 1):
            u = cochlea.log_mel(fsdd.read_wav(fixture_data.parent / recs[k][3]), SR, frames=80)
            np.testing.assert_array_equal(x[k].numpy(), cochlea.spikes(u, 3, "level"))
    assert len(seen) == len(DIGITS) * len(SPEAKERS) * len(INDICES)  # the splits partition the set
    # sample order (index, speaker, digit): the first samples mix the classes
    assert [r[0] for r in fsdd.split_recordings("test")[:3]] == list(DIGITS)
    with pytest.raises(ValueError, match="split"):
        get_task("fsdd").load("dev")


def test_shapes_dtypes_n_and_seq_targets(fixture_data):
    x, y = get_task("fsdd").load("train", n=5, steps=30, n_mels=16, levels=2)
    assert x.shape == (5, 30, 32) and str(x.dtype) == "torch.float32" and str(y.dtype) == "torch.int64"
    assert set(np.unique(x.numpy())) == {0.0, 1.0}
    xd, _ = get_task("fsdd").load("train", n=5, steps=30, n_mels=16, encoding="delta")
    assert xd.shape == (5, 30, 32)
    xs, t = get_task("fsdd-seq").load("train", n=5, steps=30, n_mels=16, levels=2, label_from=7)
    np.testing.assert_array_equal(xs.numpy(), x.numpy())
    assert t.shape == (5, 30) and str(t.dtype) == "torch.int64"
    assert (t[:, :7] == -1).all()
    np.testing.assert_array_equal(t[:, 7:].numpy(), np.repeat(y.numpy()[:, None], 23, 1))


def test_window_task_reads_the_labelled_steps(fixture_data):
    """fsdd-window: same inputs as fsdd; loss and metric over steps 10-79 of 80 (the labelled steps
    of fsdd-seq with label_from = 10), not over the first 10."""
    x, y = get_task("fsdd-window").load("train")
    xs, _ = get_task("fsdd").load("train")
    np.testing.assert_array_equal(x.numpy(), xs.numpy())
    task = get_task("fsdd-window")
    out = torch.zeros(len(y), 80, 10)
    out[:, :10, :] = 50.0 * torch.nn.functional.one_hot((y + 1) % 10, 10)[:, None]  # wrong, outside the window
    out[:, 10:, :] = torch.nn.functional.one_hot(y, 10)[:, None].float()
    assert task.metric(out, y) == 1.0
    want = torch.nn.functional.cross_entropy(out[:, 10:].reshape(-1, 10), y.repeat_interleave(70))
    assert torch.allclose(task.loss(out, y), want)
    from zoo.tasks.delay import READOUT_FRACTIONS
    assert READOUT_FRACTIONS["fsdd-window"] == fsdd.WINDOW_FRACTION  # what gamma_online trains on


def test_deterministic_and_cached(fixture_data):
    a, ya = get_task("fsdd").load("val")
    assert fsdd._encoded.cache_info().currsize == 1
    b, _ = get_task("fsdd").load("test")
    assert fsdd._encoded.cache_info().hits >= 1  # one encoding serves every split
    fsdd._audio.cache_clear()
    fsdd._encoded.cache_clear()
    c, yc = get_task("fsdd").load("val")
    np.testing.assert_array_equal(a.numpy(), c.numpy())
    np.testing.assert_array_equal(ya.numpy(), yc.numpy())


def test_pad_and_crop_to_steps(fixture_data):
    # 0_alice_0: 0.2 s = 20 frames of sound then zero padding; steps=10 crops inside the sound
    x, _ = get_task("fsdd").load("test", n=1, steps=40)
    active = x[0].sum(-1).numpy()
    assert (active[:18] > 0).all() and (active[24:] == 0).all()
    xc, _ = get_task("fsdd").load("test", n=1, steps=10)
    assert xc.shape[1] == 10 and (xc[0].sum(-1) > 0).all()


def test_missing_data_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(ZooError) as exc:
        get_task("fsdd").load("test")
    assert "zoo data fetch fsdd" in str(exc.value) and "\n" not in str(exc.value)


def test_pure_tone_lands_in_its_band():
    centres = cochlea.mel_centres(32, 50.0, 4000.0)
    for f in (440.0, 1000.0, 2500.0):
        u = cochlea.log_mel(_tone(f, 0.5), SR, n_mels=32, frames=40)
        assert u.shape == (40, 32) and u.min() >= 0 and u.max() == 1.0
        band = int(np.argmax(u[10:30].mean(0)))
        assert band == int(np.argmin(np.abs(centres - f))), (f, band, centres[band])
        s = cochlea.spikes(u, levels=3, encoding="level")  # channel band*3 + level
        assert s[10:30, band * 3 + 2].all()  # the loudest band reaches the top level
        far = int(np.argmax(np.abs(centres - f)))
        assert s[10:30, far * 3:far * 3 + 3].sum() == 0  # a far band stays below -37.5 dB


def test_gain_invariance_and_delta_events():
    x = _tone(1000.0, 0.6, start=0.2)  # silence for 0.2 s, then the tone until 0.6 s
    u = cochlea.log_mel(x, SR, frames=80)
    np.testing.assert_allclose(cochlea.log_mel(4 * x, SR, frames=80), u, atol=1e-6)
    d = cochlea.spikes(u, levels=3, encoding="delta")
    assert d.shape == (80, 64)
    band = int(np.argmax(u[30:50].mean(0)))
    on, off = d[:, 2 * band], d[:, 2 * band + 1]
    assert on[:17].sum() == 0 and on[17:23].sum() >= 1  # onset at frame ~20 (0.2 s)
    assert on[25:55].sum() == 0 and off[25:55].sum() == 0  # steady tone: no events
    assert off[55:65].sum() >= 1 and d[66:].sum() == 0  # offset at ~0.6 s, silence after
    assert cochlea.channels(32, 3, "delta") == 64 and cochlea.channels(32, 3, "level") == 96
