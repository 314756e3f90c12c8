# Set-up is pinned to the CPU build of torch that installs offline here; override with e.g.
#   make demo TORCH=torch==2.5.1
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gmgan demo $(if $(OUT),--out $(OUT))

test: $(STAMP)
	$(PY) -m pytest -q src tests

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src

bench: $(STAMP)
	$(PY) bench/throughput.py
	$(PY) bench/metrics_speed.py

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
