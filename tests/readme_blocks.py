"""The README's runnable blocks (```sh lines, ```python snippets), and running them in a folder
with a given ``bin`` directory first on PATH: shared by the README test (this checkout's venv)
and the wheel test (a fresh venv with only the built wheel)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[str]:
    """Bodies of the README's fenced blocks in ``lang`` (``sh`` or ``python``), in order."""
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def commands() -> list[str]:
    return [line for b in blocks("sh") for line in b.splitlines() if line.strip() and not line.startswith("#")]


def clean_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """The environment of a new user: the given ``bin`` first on PATH, caches in ``home``, no
    data cache pointing anywhere else, and no source checkout on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_DATA_DIR", "PYTHONPATH", "ZOO_ECG_DIR")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", ZOO_HOME=str(home / "zoo-home"),
               ZOO_DATA_DIR=str(home / "zoo-data"), MPLBACKEND="Agg", ZOO_THREADS="1")
    return env


def run_all(bin_dir: Path, cwd: Path, timeout: float = 600) -> list[tuple[str, float]]:
    """Run every README command, then the Python snippet, in ``cwd``; fail on the first non-zero
    exit with the command and its stderr. Returns (command, seconds) per command."""
    import time

    env = clean_env(bin_dir, cwd)
    done = []
    for cmd in commands() + [f"python {cwd / 'readme_snippet.py'}"]:
        if cmd.startswith("python ") and cmd.endswith("readme_snippet.py"):
            (cwd / "readme_snippet.py").write_text("\n".join(blocks("python")))
        t0 = time.time()
        proc = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
        assert proc.returncode == 0, f"README command failed ({proc.returncode}): {cmd}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, f"{cmd}: traceback on stderr\n{proc.stderr[-3000:]}"
        done.append((cmd, time.time() - t0))
    return done


def this_venv_bin() -> Path:
    return Path(sys.executable).parent
