# The two entry points of the README. Each one sets itself up: a .venv in the repository
# with the warden CLI at .venv/bin/warden, rebuilt when pyproject.toml or sdk/pyproject.toml changes.
# Both distributions install editable from this checkout: warden-sdk (sdk/) first in the same
# command, so the server's `warden-sdk==0.1.0` is this one, never a package of that name on PyPI.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup clean browser

$(STAMP): pyproject.toml sdk/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Warden needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ./sdk -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/warden demo $(ARGS)

test: $(STAMP) browser
	$(VENV)/bin/pytest -q $(ARGS)

# The report's test opens it in headless Chromium: Debian's package, installed here when missing
# (as root, as on CI); anyone else is told what to install and that one test fails without it.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report's browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "could not install chromium (not root?): run 'apt-get install -y chromium' as root"; }

lint: $(STAMP)
	$(VENV)/bin/ruff check services tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .warden .pytest_cache .mypy_cache .ruff_cache
