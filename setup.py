"""Build hook: the wheel carries the recipes and model cards as package data (``zoo/_bundled``),
so ``zoo train NAME`` and ``zoo info NAME`` work from an installed wheel (see zoo/resources.py).
Everything else is declared in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("recipes", "model_cards")


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        for kind in BUNDLED:
            src, dst = here / kind, Path(self.build_lib) / "zoo" / "_bundled" / kind
            if src.is_dir():
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithAssets})
