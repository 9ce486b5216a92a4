# Lava-NIR Zoo: every target creates .venv (Python 3.10, Lava's constraint) when missing.
PYTHON ?= $(shell command -v pyenv >/dev/null 2>&1 && pyenv which python3.10 2>/dev/null || command -v python3.10)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-all test-wheel bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || (echo "error: Python 3.10 not found (Lava needs 3.10; pyenv install 3.10.13)"; exit 1)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: venv
	$(VENV)/bin/zoo eval lif-digits --samples 300

test: venv
	OMP_NUM_THREADS=2 $(PY) -m pytest -q

test-all: venv
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m "slow or not slow or wheel"

test-wheel: venv
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m wheel

bench: venv
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
