"""Guarding Lava runs: Lava forks one process per population and a manager
for shared memory; a Ctrl-C used to leave tracebacks from every worker, a parent blocked
forever on dead children and leaked ``/dev/shm`` segments. Here the workers ignore SIGINT (the
parent owns the run), shared memory is created directly by this process under the name
``zoo_lava_<pid>_...`` (no manager process), and any exception or interrupt tears the run down
hard: workers killed and reaped, segments unlinked, the runtime disarmed so that no destructor
blocks on a dead channel. If teardown itself cannot finish within ``INTERRUPT_DEADLINE`` seconds
after a Ctrl-C, the process exits with status 130 after printing ``interrupted``.
"""
from __future__ import annotations

import ctypes
import itertools
import multiprocessing
import os
import secrets
import signal
import sys
import threading
import time
from contextlib import contextmanager
from multiprocessing.shared_memory import SharedMemory

if "lava.magma.runtime.message_infrastructure.multiprocessing" not in sys.modules \
        and multiprocessing.get_start_method(allow_none=True) is not None:
    # Lava calls mp.set_start_method('fork') when this module is first imported, which raises
    # in any process whose start method is already fixed (e.g. a multiprocessing child).
    multiprocessing.set_start_method(None, force=True)
import lava.magma.runtime.message_infrastructure.multiprocessing as _lava_mp  # noqa: E402

SHM_PREFIX = "zoo_lava_"
SHM_DIR = "/dev/shm"  # where POSIX shared memory segments appear on Linux
INTERRUPT_DEADLINE = 3.0  # seconds from Ctrl-C to a forced exit when teardown is stuck
_COUNTER = itertools.count()
_LIVE: dict[str, SharedMemory] = {}  # segments of this process not yet unlinked
_STATE = {"depth": 0, "closed": False}
_LOCK = threading.Lock()


class SegmentManager:
    """Drop-in for Lava's ``SharedMemoryManager``: each channel segment is created by this
    process as ``zoo_lava_<pid>_<n>_<random>`` and unlinked by ``shutdown`` (or by the teardown
    of an interrupted run); no manager server process is involved."""

    def __init__(self) -> None:
        self._names: list[str] = []

    def start(self) -> None:
        pass

    def create_shared_memory(self, size: int) -> SharedMemory:
        shm = _new_segment(size)
        self._names.append(shm.name)
        return shm

    def shutdown(self) -> None:
        for name in self._names:
            _unlink(name)
        self._names.clear()


def _new_segment(size: int) -> SharedMemory:
    """A segment named like the channel segments (``zoo_lava_<pid>_...``): an interrupted run's
    teardown unlinks it with them."""
    name = f"{SHM_PREFIX}{os.getpid()}_{next(_COUNTER)}_{secrets.token_hex(4)}"
    # SIGINT is held back while the segment exists but is not yet in _LIVE (a KeyboardInterrupt
    # there would leak it); a pending Ctrl-C is delivered right after, with the segment tracked
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with _LOCK:
            if _STATE["closed"]:  # an interrupted run is being torn down from another thread
                raise KeyboardInterrupt
            shm = SharedMemory(name=name, create=True, size=size)
            _LIVE[name] = shm
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    return shm


def _shm_fits(nbytes: int) -> bool:
    """True when ``nbytes`` of recorder segments fit twice into the free shared memory."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return True  # no /dev/shm to ask (SharedMemory still works where the OS provides it)
    return 2 * nbytes <= st.f_bavail * st.f_frsize


def _unlink(name: str) -> None:
    with _LOCK:
        shm = _LIVE.pop(name, None)
    if shm is None:
        return
    try:
        shm.close()
    except BufferError:  # a numpy view still maps it: unlinking the name is what matters
        pass
    try:
        shm.unlink()
    except FileNotFoundError:
        pass


_lava_mp.SharedMemoryManager = SegmentManager  # Lava's MultiProcessing.start() builds its manager by this name


def _in_child() -> None:
    """After every fork during a zoo Lava run: the worker ignores SIGINT (the parent stops the
    run) and dies with its parent (Linux PR_SET_PDEATHSIG), so no orphan can outlive a crash."""
    _STATE["forking"] = False
    if _STATE["depth"] <= 0:
        return
    _STATE["depth"] = 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's teardown handler
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _forking(flag: bool) -> None:
    _STATE["forking"] = flag


# While a fork is in progress a KeyboardInterrupt would be raised inside some library's fork
# hook (logging's _releaseLock, ...), where Python prints and swallows it: the SIGINT handler
# defers it and a helper thread delivers it again once the fork is over.
_STATE["forking"] = False
os.register_at_fork(before=lambda: _forking(True), after_in_parent=lambda: _forking(False),
                    after_in_child=_in_child)


def _teardown(before: set[int], processes: list, final: bool = False) -> None:
    """Kill and reap the workers started since ``before``, unlink our segments and disarm the
    runtime (its destructor would otherwise wait forever for answers from dead workers).
    ``final``: the process exits next; no further segment may be created."""
    if final:
        with _LOCK:
            _STATE["closed"] = True
    for proc in processes:
        rt = getattr(proc, "_runtime", None)
        if rt is not None:
            rt._is_started = rt._is_running = False
            rt.stop = lambda: None
            infra = getattr(rt, "_messaging_infrastructure", None)
            if infra is not None:
                infra.stop = lambda: None
    children = [p for p in multiprocessing.active_children() if p.pid not in before]
    for p in children:
        try:
            p.kill()
        except (OSError, ValueError):
            pass
    for p in children:
        try:
            multiprocessing.Process.join(p, timeout=2)
        except (OSError, ValueError, AssertionError):
            pass
    with _LOCK:
        names = [n for n in _LIVE if n.startswith(f"{SHM_PREFIX}{os.getpid()}_")]
    for name in names:
        _unlink(name)
    _unlink_strays()


def _unlink_strays() -> None:
    """Unlink every ``/dev/shm/zoo_lava_<our pid>_*`` left untracked: a KeyboardInterrupt can
    land inside ``SharedMemory.__init__`` after the segment exists (a process-directed SIGINT is
    taken by another thread while the main thread blocks it, and Python runs the handler in the
    main thread at its next bytecode), so the names on disk, not only ``_LIVE``, are cleaned."""
    prefix = f"{SHM_PREFIX}{os.getpid()}_"
    try:
        strays = [n for n in os.listdir(SHM_DIR) if n.startswith(prefix)]
    except OSError:  # no /dev/shm (other platforms): nothing can be listed
        return
    for name in strays:
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except OSError:
            pass


@contextmanager
def lava_session(processes: list):
    """Guard one Lava run (see the module docstring). ``processes`` is filled by the caller
    with the Lava processes it creates, so that teardown can reach their runtime.

    On SIGINT in the main thread: KeyboardInterrupt, unless a fork is in progress or teardown has
    begun; a helper thread re-sends SIGINT to the main thread until the run unwinds (a
    KeyboardInterrupt raised inside a destructor or fork hook is swallowed by Python) and forces
    the exit after ``INTERRUPT_DEADLINE`` seconds. SIGTERM (``timeout``, a job scheduler, the
    launcher of sharded runs) tears the run down the same way and then exits with status 143."""
    before = {p.pid for p in multiprocessing.active_children()}
    owner = os.getpid()
    interrupted, unwinding, done = threading.Event(), threading.Event(), threading.Event()
    terminated = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    old = old_term = None

    def watchdog() -> None:
        t_end = time.monotonic() + INTERRUPT_DEADLINE
        while not done.wait(0.02):
            if time.monotonic() > t_end:
                _teardown(before, processes, final=True)
                print("terminated" if terminated.is_set() else "interrupted", file=sys.stderr, flush=True)
                os._exit(128 + (signal.SIGTERM if terminated.is_set() else signal.SIGINT))
            if not unwinding.is_set() and not _STATE["forking"]:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def on_sigint(signum, frame):
        if os.getpid() != owner:
            return
        if not interrupted.is_set():
            interrupted.set()
            threading.Thread(target=watchdog, daemon=True).start()
        if unwinding.is_set() or _STATE["forking"]:
            return
        raise KeyboardInterrupt

    def on_sigterm(signum, frame):
        if os.getpid() == owner:
            terminated.set()
        on_sigint(signum, frame)

    if main:
        old = signal.signal(signal.SIGINT, on_sigint)
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, None):  # ignored or foreign: leave it
            old_term = signal.signal(signal.SIGTERM, on_sigterm)
    _STATE["depth"] += 1
    try:
        yield
        if interrupted.is_set():  # the KeyboardInterrupt was swallowed inside Lava
            raise KeyboardInterrupt
    except BaseException as exc:
        unwinding.set()
        _teardown(before, processes)
        if terminated.is_set() and isinstance(exc, KeyboardInterrupt):
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    finally:
        unwinding.set()
        _STATE["depth"] -= 1
        done.set()
        if old is not None:
            signal.signal(signal.SIGINT, old)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
