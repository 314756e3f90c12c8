# Set-up is pinned to the CPU build of torch that installs offline here; override with e.g.
#   make demo TORCH=torch==2.5.1
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean browser docs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gmgan demo $(if $(OUT),--out $(OUT))

test: $(STAMP) browser
	$(PY) -m pytest -q src tests

# the documentation site, strict: a broken link or reference, or a docstring griffe cannot read, fails the build.
# Built into build/site (open build/site/index.html); `.venv/bin/mkdocs serve` for a live preview. make test
# builds it too, as tests/test_docs.py (into a temporary folder).
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir build/site

# the report's browser test needs Chromium: installed here when we may (root + apt), else that test is skipped
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  chromium) >/dev/null 2>&1; } || echo "note: Chromium is not installed; the report's browser test is skipped"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src

bench: $(STAMP)
	$(PY) bench/throughput.py
	$(PY) bench/metrics_speed.py

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
