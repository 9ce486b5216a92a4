"""Checks of the benchmark scripts themselves and of the cases they measure (collected by the
default ``pytest`` run: ``testpaths`` in pyproject.toml)."""
