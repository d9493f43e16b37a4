# The two entry points of the README. Each one sets itself up: a .venv in the repository
# with the warden CLI at .venv/bin/warden, rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Warden needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/warden demo $(ARGS)

test: $(STAMP)
	$(VENV)/bin/pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check services tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .warden .pytest_cache .mypy_cache .ruff_cache
