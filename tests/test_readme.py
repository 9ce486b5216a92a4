"""README.md is executable truth: every command of its ```sh block and its Python snippet run
verbatim, from an empty folder, with this checkout installed (the wheel test runs the same lines
from a fresh virtual environment)."""
from __future__ import annotations

import json

from readme_blocks import README, blocks, commands, run_all, this_venv_bin


def test_readme_has_runnable_blocks():
    cmds = commands()
    assert any(c.startswith("zoo train ") for c in cmds) and any(c.startswith("zoo eval ") for c in cmds)
    assert len(blocks("python")) == 1 and "zoo.tasks.get_task" in blocks("python")[0]


def test_readme_commands_and_snippet_run_verbatim(tmp_path):
    times = run_all(this_venv_bin(), tmp_path)
    assert len(times) == len(commands()) + 1
    # the commands really produced what they say
    assert (tmp_path / "lif-digits.nir").stat().st_size > 0 and (tmp_path / "out.npz").stat().st_size > 0
    run = tmp_path / "runs" / "lif-digits"
    meta = json.loads((run / "lif-digits.json").read_text())
    assert meta["model"] == "lif-digits" and (run / "lif-digits.safetensors").is_file()


def test_readme_fsdd_table_is_generated_from_the_results():
    from zoo.fsdd_table import table

    assert table() in README.read_text(), "README FSDD table is stale: python -m benchmarks.fsdd.table --write"
