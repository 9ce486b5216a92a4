"""Local worker processes: ``zoo train --nproc N`` and sharded evaluation.

:func:`launch` starts N fresh interpreters with the environment variables ``torchrun`` sets
(``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR=127.0.0.1``,
``MASTER_PORT``) and watches them: as soon as one exits non-zero the others are terminated and
one :class:`~zoo.distributed.DistributedError` line names the rank, its exit code and its last
error line. Fresh interpreters (not ``fork``/``spawn`` of the parent) keep us independent of the
multiprocessing start method Lava sets to ``fork`` at import. The workers run
``python -m zoo.workers`` (:mod:`zoo.workers`).

:func:`shard_map` splits samples into N contiguous shards, runs one worker per shard (no
process group needed) and returns the per-shard results in shard order, so merging is
deterministic (concatenation in sample order) whatever the completion order.
"""
from __future__ import annotations

import collections
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from zoo.distributed import DistributedError, resolve_device
from zoo.registry import ZooError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _loopback_ifname() -> str | None:
    try:
        names = [n for _, n in socket.if_nameindex()]
    except OSError:
        return None
    return next((n for n in ("lo", "lo0") if n in names), None)


def _last_error_line(lines: Iterable[str]) -> str:
    lines = [re.sub(r"^\[rank\d+\]:\s*", "", ln).strip() for ln in lines]
    lines = [ln for ln in lines if ln]
    for ln in reversed(lines):  # a Python traceback ends with "SomeError: message"
        if not ln.startswith(("File ", "^", "~", "[W", "warnings.warn")):
            return ln[:300]
    return "no error output"


def launch(cmd: Sequence[str], nproc: int, log: Callable[[str], None] = lambda m: None,
           timeout: float | None = None, env: dict[str, str] | None = None,
           forward_rank0: bool = True) -> None:
    """Run ``cmd`` as ``nproc`` local workers with torchrun's environment variables on
    127.0.0.1 and watch them: return when all exit 0; as soon as one exits non-zero (or
    ``timeout`` seconds pass) terminate the others and raise one-line :class:`DistributedError`."""
    if nproc < 1:
        raise ZooError(f"--nproc must be >= 1, got {nproc}")
    port = free_port()
    base = {**os.environ, **(env or {})}
    for k in ("TORCHELASTIC_RUN_ID", "GROUP_RANK", "ROLE_RANK"):
        base.pop(k, None)
    base.update(WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR=LOOPBACK, MASTER_PORT=str(port))
    ifname = _loopback_ifname()
    if ifname and "GLOO_SOCKET_IFNAME" not in base:
        base["GLOO_SOCKET_IFNAME"] = ifname
    base.setdefault("ZOO_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    base.setdefault("OMP_NUM_THREADS", base["ZOO_THREADS"])
    root = str(Path(__file__).resolve().parent.parent)
    base["PYTHONPATH"] = root + (os.pathsep + base["PYTHONPATH"] if base.get("PYTHONPATH") else "")
    procs: list[subprocess.Popen] = []
    tails: list[collections.deque] = []
    exit_times: dict[int, float] = {}
    threads = []

    def pump(r: int, p: subprocess.Popen, tail: collections.deque) -> None:
        for line in p.stderr:  # type: ignore[union-attr]
            tail.append(line.rstrip("\n"))
            if r == 0 and forward_rank0 and not line.startswith("[rank"):  # tracebacks: kept for the error line
                log(line.rstrip("\n"))

    def waiter(r: int, p: subprocess.Popen) -> None:
        p.wait()
        exit_times.setdefault(r, time.monotonic())

    try:
        for r in range(nproc):
            e = dict(base, RANK=str(r), LOCAL_RANK=str(r))
            p = subprocess.Popen(list(cmd), env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                 cwd=os.getcwd())
            procs.append(p)
            tails.append(collections.deque(maxlen=40))
            for target, args in ((pump, (r, p, tails[r])), (waiter, (r, p))):
                t = threading.Thread(target=target, args=args, daemon=True)
                t.start()
                threads.append(t)
        t0 = time.monotonic()
        while True:
            failed = [r for r, p in enumerate(procs) if p.poll() not in (None, 0)]
            if failed:
                time.sleep(0.05)  # let the exit-time threads record
                first = min(failed, key=lambda r: exit_times.get(r, float("inf")))
                _terminate(procs)
                for t in threads:
                    t.join(timeout=2)
                rc = procs[first].returncode
                how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
                raise DistributedError(f"distributed worker rank {first}/{nproc} failed ({how}): "
                                       f"{_last_error_line(tails[first])}")
            if all(p.poll() == 0 for p in procs):
                for t in threads:
                    t.join(timeout=2)
                return
            if timeout is not None and time.monotonic() - t0 > timeout:
                _terminate(procs)
                raise DistributedError(f"distributed run exceeded {timeout:.0f} s; workers terminated")
            time.sleep(0.1)
    except BaseException:
        _terminate(procs)
        raise


def _terminate(procs: Sequence[subprocess.Popen], grace: float = 5.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def launch_train(recipe: dict[str, Any], out_dir: str | Path, nproc: int, device: str = "cpu",
                 log: Callable[[str], None] = print, progress: bool = True,
                 timeout: float | None = None) -> dict[str, Any]:
    """``zoo train --nproc N``: run ``recipe`` on N local workers, return rank 0's metadata."""
    resolve_device(device)
    out_dir = Path(out_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="zoo-dist-") as tmp:
        spec = Path(tmp) / "recipe.json"
        spec.write_text(json.dumps(recipe))
        cmd = [sys.executable, "-m", "zoo.workers", "train", str(spec), str(out_dir), "--device", device]
        if not progress:
            cmd.append("--quiet")
        launch(cmd, nproc, log=log, timeout=timeout)
    return json.loads((out_dir / f"{recipe['name']}.json").read_text())


def shard_map(fn: str, payload: Any, x: Any, workers: int, timeout: float | None = None) -> list[Any]:
    """Run ``fn(payload, shard)`` (``fn`` = ``"module:function"``) on ``workers`` contiguous
    shards of ``x`` (torch tensor or numpy array, split on axis 0) in separate processes;
    return the results in shard order (deterministic merge)."""
    n = len(x)
    workers = max(1, min(int(workers), n))
    shards = torch.tensor_split(x, workers) if isinstance(x, torch.Tensor) else np.array_split(x, workers)
    with tempfile.TemporaryDirectory(prefix="zoo-shard-") as tmp:
        for i, s in enumerate(shards):
            with open(Path(tmp) / f"in{i}.pkl", "wb") as f:
                pickle.dump((fn, payload, s), f)
        launch([sys.executable, "-m", "zoo.workers", "map", tmp], workers, timeout=timeout,
               forward_rank0=False, env={"ZOO_THREADS": os.environ.get("ZOO_SHARD_THREADS", "1")})
        out = []
        for i in range(workers):
            with open(Path(tmp) / f"out{i}.pkl", "rb") as f:
                status, value = pickle.load(f)
            if status == "error":
                raise value
            out.append(value)
    return out
