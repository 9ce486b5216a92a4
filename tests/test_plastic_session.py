"""Plastic Lava runs (exporters/lava/plastic/run.py) are guarded like inference runs
(exporters/lava/session.py): a finished run leaves no ``/dev/shm/zoo_lava_<pid>_*`` segment
and Python's resource tracker finds nothing leaked at exit; Ctrl-C or SIGTERM in the middle of a
run tears it down the same way (no segment, no leak warning; exit 130 / 143). Real subprocess,
the signal sent to the whole process group as a terminal or ``timeout`` sends it. (Before, a
SIGTERM left the 17 channel segments of a two-layer STOP run for the resource tracker to report
as leaked.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporters.lava.session import SHM_PREFIX

ROOT = Path(__file__).resolve().parent.parent
SHM = Path("/dev/shm")
EXIT_LIMIT_S = 10  # as tests/test_interrupt.py: teardown measured in seconds, room for a loaded runner
pytestmark = pytest.mark.skipif(not SHM.is_dir() or sys.platform != "linux", reason="needs Linux /dev/shm")

# a short plastic run (fixed point, STOP layers), then a long one that the test interrupts
CHILD = """
import os, sys
import numpy as np
import torch
from exporters.lava.plastic.run import Schedule, run_lava
from exporters.lava.plastic.stop import stop_layers
from zoo.models.stop import stop_digits_fc

T = 8
torch.manual_seed(0)
layers = stop_layers(stop_digits_fc(hidden=(8,), alpha=0.6, v_threshold=0.4).double(), T, 0.2, fixed=True)
rng = np.random.default_rng(0)

def schedule(n):
    return Schedule(rng.integers(0, 256, (n, T, 64)) / 256, rng.integers(0, 10, (n, T)), np.ones(n, bool))

res = run_lava(layers, schedule(3), checkpoints=(1,))
from exporters.lava import session  # after the run: imported (and counting) only if run_lava uses it
ours = [n for n in os.listdir("/dev/shm") if n.startswith(f"{session.SHM_PREFIX}{os.getpid()}_")]
print("clean", next(session._COUNTER), len(ours), res.outputs.shape, flush=True)
try:
    run_lava(layers, schedule(int(sys.argv[1])))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
print("finished", flush=True)
"""


def _ours(pid: int) -> list[str]:
    return sorted(p.name for p in SHM.glob(f"{SHM_PREFIX}{pid}_*"))


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_plastic_run_leaves_no_segment_finished_or_interrupted(sig, status):
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", CHILD, "5000"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = p.stdout.readline().split()
        assert line[:1] == ["clean"], (line, p.communicate(timeout=60))
        created, left = int(line[1]), int(line[2])
        assert created > 0, "the plastic run did not create its channels through exporters.lava.session"
        assert left == 0, f"{left} zoo_lava segments left after a finished plastic run"
        t_end = time.time() + 120
        while not _ours(p.pid):  # the long run has started creating its channels
            assert p.poll() is None, p.communicate()
            assert time.time() < t_end, "the long plastic run never started"
            time.sleep(0.01)
        time.sleep(1.5)  # compiled and running
        t0 = time.time()
        os.killpg(p.pid, sig)
        try:
            out, err = p.communicate(timeout=EXIT_LIMIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit within {EXIT_LIMIT_S} s of signal {sig}")
        seconds = time.time() - t0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    assert p.returncode == status, (p.returncode, out, err)
    assert out.strip() == ("interrupted" if sig == signal.SIGINT else ""), out
    assert "Traceback" not in err, err
    assert seconds < EXIT_LIMIT_S
    assert _ours(p.pid) == []
    assert "resource_tracker" not in err and "leaked" not in err, err
