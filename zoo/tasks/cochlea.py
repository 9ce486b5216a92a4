"""A small, deterministic cochlea-like audio front end: mel filterbank -> log energy -> spikes.

numpy only, no RNG. For a mono signal ``x`` (float, any scale) at ``sample_rate`` Hz:

1. DC removed (``x - mean(x)``), pre-emphasis ``x[n] - 0.97 x[n-1]``.
2. Frames of ``win`` samples every ``hop`` samples (frame t covers samples ``[t*hop, t*hop+win)``,
   zeros past the end), Hann window, power spectrum ``|rfft(frame, n_fft)|^2``.
3. ``n_mels`` triangular filters (HTK mel scale ``2595 log10(1 + f/700)``), centres equally
   spaced in mel between ``fmin`` and ``fmax``; band energy = filter . power spectrum.
4. Log compression and per-recording normalisation: ``e = 10 log10(energy + 1e-10)`` in dB
   relative to the recording's loudest (frame, band) cell, mapped to ``u = clip(1 + e/range_db, 0, 1)``
   (so 0 dB -> 1, ``-range_db`` dB and quieter -> 0; speaker gain drops out).
5. Spikes from ``u`` with ``levels`` thresholds ``theta_k = k/(levels+1)``, k = 1..levels:
   * ``"level"``: channel ``band*levels + k-1`` spikes at every frame where ``u > theta_k``
     (a thermometer code of the band energy; louder -> more channels active);
   * ``"delta"``: level crossings; with ``q[t] = #{k: u[t] > theta_k}`` (q[-1] = 0), channel
     ``2*band`` (ON) spikes when ``q[t] > q[t-1]`` and ``2*band + 1`` (OFF) when ``q[t] < q[t-1]``.

One frame is one network time step: ``dt = hop / sample_rate`` seconds.
"""
from __future__ import annotations

import numpy as np

ENCODINGS = ("level", "delta")


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_centres(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Centre frequencies (Hz) of the ``n_mels`` bands."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))[1:-1]


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft//2 + 1) triangular filters, peak 1 at each band's centre."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    fb = np.clip(np.minimum(up, down), 0.0, None)
    if (fb.sum(1) == 0).any():
        raise ValueError(f"{n_mels} mel bands over {fmin}-{fmax} Hz with n_fft={n_fft}: a band holds no FFT bin")
    return fb


def log_mel(x: np.ndarray | list[np.ndarray], sample_rate: int = 8000, n_mels: int = 32, win: int = 256,
            hop: int = 80, n_fft: int = 256, fmin: float = 50.0, fmax: float | None = None,
            frames: int | None = None, range_db: float = 50.0) -> np.ndarray:
    """Normalised log band energy ``u`` (frames, n_mels) in [0, 1] (steps 1-4 of the module doc)
    of one signal, or (N, frames, n_mels) of a list of signals (then ``frames`` is required).
    ``frames``: the number of frames (zero-padded or cropped at the end); default all frames
    that start inside the signal."""
    single = not isinstance(x, (list, tuple))
    signals = [np.asarray(x, dtype=np.float64)] if single else [np.asarray(s, dtype=np.float64) for s in x]
    if frames is None:
        if not single:
            raise ValueError("log_mel of several signals needs frames")
        frames = max(1, -(-len(signals[0]) // hop))
    need = (frames - 1) * hop + win
    batch = np.zeros((len(signals), need))
    for i, s in enumerate(signals):
        s = s - s.mean() if len(s) else s
        s = np.concatenate([s[:1], s[1:] - 0.97 * s[:-1]])[:need]
        batch[i, :len(s)] = s
    fb = mel_filterbank(n_mels, n_fft, sample_rate, fmin, fmax if fmax is not None else sample_rate / 2)
    idx = np.arange(frames)[:, None] * hop + np.arange(win)[None]
    window = np.hanning(win)[None]
    out = np.empty((len(signals), frames, n_mels))
    for i in range(0, len(signals), 256):  # chunks bound the memory of the framed signals
        spec = np.abs(np.fft.rfft(batch[i:i + 256, idx] * window, n_fft)) ** 2
        out[i:i + 256] = 10.0 * np.log10(spec @ fb.T + 1e-10)
    out -= out.max(axis=(1, 2), keepdims=True)
    u = np.clip(1.0 + out / range_db, 0.0, 1.0)
    return u[0] if single else u


def spikes(u: np.ndarray, levels: int = 3, encoding: str = "level") -> np.ndarray:
    """(..., T, n_mels) in [0, 1] -> (..., T, channels) float32 spikes in {0, 1} (step 5):
    ``level``: n_mels*levels channels; ``delta``: 2*n_mels channels."""
    if encoding not in ENCODINGS:
        raise ValueError(f"cochlea encoding must be one of {ENCODINGS}, got {encoding!r}")
    theta = np.arange(1, levels + 1) / (levels + 1)
    above = u[..., None] > theta  # (..., T, n_mels, levels)
    if encoding == "level":
        return above.reshape(*u.shape[:-1], -1).astype(np.float32)
    q = above.sum(-1)
    prev = np.concatenate([np.zeros_like(q[..., :1, :]), q[..., :-1, :]], axis=-2)
    out = np.stack([q > prev, q < prev], axis=-1)
    return out.reshape(*u.shape[:-1], -1).astype(np.float32)


def channels(n_mels: int, levels: int, encoding: str) -> int:
    return n_mels * levels if encoding == "level" else 2 * n_mels
