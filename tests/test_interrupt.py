"""Ctrl-C during a Lava run: ``interrupted``, exit 130 within 5 s, no Lava worker left alive and
no shared-memory segment of ours left in /dev/shm (real subprocess, SIGINT as a terminal sends
it: to the whole process group; and to the parent alone while it is still forking workers)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from exporters.lava.build import SHM_PREFIX
from exporters.nir import write
from nir_graphs import chain, lif, spikes_in

# "within seconds": measured 0.7-3.4 s on a quiet machine; 10 s leaves room for a loaded CI runner
EXIT_LIMIT_S = 10

ROOT = Path(__file__).resolve().parent.parent
SHM = Path("/dev/shm")
pytestmark = pytest.mark.skipif(not SHM.is_dir() or sys.platform != "linux", reason="needs Linux /dev/shm")


def _ours(pid: int) -> list[str]:
    return sorted(p.name for p in SHM.glob(f"{SHM_PREFIX}{pid}_*"))


def _alive_in_group(pgid: int) -> list[str]:
    """Processes of the group that have not exited (zombies waiting for init count as gone)."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            alive.append(f"{proc.name}:{state}")
    return alive


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """A small network fed enough samples that its single Lava run lasts several seconds."""
    d = tmp_path_factory.mktemp("interrupt")
    rng = np.random.default_rng(0)
    g = chain(4, [(rng.normal(0.6, 0.5, (6, 4)), None, lif(6, 5e-3, 1.0)),
                  (rng.normal(0.4, 0.6, (3, 6)), None, lif(3, 6e-3, 0.8))])
    # few long samples: batched Lava runs put samples side by side, so only steps make a run long
    np.save(d / "x.npy", spikes_in(4, 10000, 4, 0.5, seed=1))
    return write(d / "net.nir", g), d / "x.npy", d


def _interrupt(cmd: list[str], whole_group: bool, settle: float, sig: int = signal.SIGINT,
               **extra_env: str) -> tuple[int, float, str, int]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra_env)
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        t_end = time.time() + 120
        while not _ours(p.pid):  # the Lava run has started creating its channels
            assert p.poll() is None, p.communicate()
            assert time.time() < t_end, "the Lava run never started"
            time.sleep(0.01)
        time.sleep(settle)
        t0 = time.time()
        if whole_group:
            os.killpg(p.pid, sig)
        else:
            os.kill(p.pid, sig)
        try:
            _, err = p.communicate(timeout=EXIT_LIMIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit within {EXIT_LIMIT_S} s of signal {sig}")
        return p.returncode, time.time() - t0, err.decode(), p.pid
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()


@pytest.mark.parametrize("whole_group, settle", [(True, 1.5), (False, 0.0)], ids=["group-running", "parent-forking"])
def test_ctrl_c_during_lava_run(long_run, whole_group, settle):
    nir_file, x, d = long_run
    out = d / f"out-{whole_group}.npz"
    cmd = [sys.executable, "-m", "zoo.cli", "nir", "run", str(nir_file), "--backend", "lava-float",
           "--input", str(x), "-o", str(out)]
    rc, seconds, err, pid = _interrupt(cmd, whole_group, settle)
    assert rc == 130, err
    assert err.strip() == "interrupted", err
    assert seconds < EXIT_LIMIT_S
    time.sleep(0.3)
    assert _alive_in_group(pid) == []
    assert _ours(pid) == []
    assert not out.exists()


@pytest.mark.parametrize("whole_group", [True, False], ids=["group", "parent"])
def test_sigterm_during_lava_run_tears_down(long_run, whole_group):
    """SIGTERM (timeout, a job scheduler): the same teardown as Ctrl-C, then exit status 143."""
    nir_file, x, d = long_run
    out = d / f"out-term-{whole_group}.npz"
    cmd = [sys.executable, "-m", "zoo.cli", "nir", "run", str(nir_file), "--backend", "lava-float",
           "--input", str(x), "-o", str(out)]
    rc, seconds, err, pid = _interrupt(cmd, whole_group, 1.0, sig=signal.SIGTERM)
    assert rc == 143, err
    assert "Traceback" not in err
    assert seconds < EXIT_LIMIT_S
    time.sleep(0.3)
    assert _alive_in_group(pid) == []
    assert _ours(pid) == []
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["run", "lif-digits", "--backend", "lava-fixed", "--samples", "300", "--workers", "1"],
                                  ["eval", "lif-digits", "--samples", "300", "--workers", "1"]],
                         ids=["zoo-run", "zoo-eval"])
def test_ctrl_c_during_model_commands(argv):
    """In-process Lava (--workers 1): sharded runs live in zoo.distributed's worker processes."""
    # one sample per Lava step (ZOO_LAVA_BATCH=1): a batched run of 300 samples is over within a second
    rc, seconds, err, pid = _interrupt([sys.executable, "-m", "zoo.cli", *argv], whole_group=True, settle=1.0,
                                       ZOO_LAVA_BATCH="1")
    assert rc == 130, err
    assert err.strip().splitlines()[-1] == "interrupted", err
    assert "Traceback" not in err
    assert seconds < EXIT_LIMIT_S
    time.sleep(0.3)
    assert _alive_in_group(pid) == []
    assert _ours(pid) == []
