"""Memory of a process tree, read from Linux ``/proc`` (no extra packages).

* ``PssSampler``: a thread that samples the proportional set size (PSS, ``smaps_rollup``) of this
  process and all its descendants every ``period`` seconds and keeps the peak of their sum. Lava
  forks one worker per process; PSS splits the pages they share with the parent (the imported
  libraries) among them, so the sum is the memory the run really occupies, where the sum of
  RSS would count the shared pages once per worker.
* ``peak_rss_mib``: the peak RSS of this process (``VmHWM`` of ``/proc/self/status``: since its
  own start; ``getrusage``'s maximum would include the parent's peak before ``exec``) and the
  largest RSS a descendant reached while the sampler ran (shared pages included).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _field_kib(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    return _field_kib(f"/proc/{pid}/smaps_rollup", "Pss:")


def tree_pss_mib(pid: int | None = None) -> float:
    """PSS of ``pid`` (default: this process) and its descendants, MiB."""
    return sum(_pss_kib(p) for p in _tree(pid or os.getpid())) / 1024


class PssSampler:
    """``with PssSampler() as s: ...``; then ``s.peak_mib`` (peak summed PSS of the tree) and ``s.peak_processes``."""

    def __init__(self, period: float = 0.1) -> None:
        self.period = period
        self.peak_mib = 0.0
        self.peak_processes = 0
        self.peak_child_rss_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            pids = _tree(os.getpid())
            total = sum(_pss_kib(p) for p in pids) / 1024
            if total > self.peak_mib:
                self.peak_mib, self.peak_processes = total, len(pids)
            rss = max((_field_kib(f"/proc/{p}/status", "VmRSS:") for p in pids[1:]), default=0) / 1024
            self.peak_child_rss_mib = max(self.peak_child_rss_mib, rss)
            if self._stop.wait(self.period):
                return

    def __enter__(self) -> "PssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def peak_rss_mib(sampler: PssSampler) -> dict[str, float]:
    """Peak RSS (MiB) of this process since it started and of its largest descendant (sampled)."""
    return {"self": _field_kib("/proc/self/status", "VmHWM:") / 1024, "largest_child": sampler.peak_child_rss_mib}
