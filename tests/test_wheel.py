"""The wheel is complete: built from this checkout, installed into a fresh virtual environment,
and used from an empty folder, it runs every README command (list, info with the card, export,
run, eval incl. the shipped ECG data, data list, train of a shipped recipe by name, eval of the
user's run). Marked ``wheel`` (a few minutes: a fresh install); run by ``make test-wheel`` and CI."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import clean_env, run_all

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.wheel


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    dist, src = work / "dist", work / "src"
    # build from a copy: no stale build/ folder, no venv, no local runs leak into the wheel
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "*.egg-info",
                                                             "__pycache__", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
                   check=True, timeout=600, cwd=work)
    wheels = list(dist.glob("lava_nir_zoo-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheels[0])], check=True,
                   timeout=1800, cwd=work)
    return venv


def test_installed_wheel_carries_recipes_cards_and_data(fresh_venv, tmp_path):
    code = ("import importlib.resources as r, zoo.resources as z, zoo.datasets as d; "
            "b = r.files('zoo') / '_bundled'; "
            "assert (b / 'recipes' / 'lif-digits.toml').is_file() and (b / 'model_cards' / 'lif-digits.md').is_file(); "
            "assert 'site-packages' in str(z.bundled_dir('recipes')); "
            "assert d.get_dataset('ecg-qtdb').verify() == []; print('ok')")
    out = subprocess.run([str(fresh_venv / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=clean_env(fresh_venv / "bin", tmp_path), timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_readme_commands_run_from_the_installed_wheel(fresh_venv, tmp_path):
    run_all(fresh_venv / "bin", tmp_path)
    assert (tmp_path / "runs" / "lif-digits" / "lif-digits.safetensors").is_file()
