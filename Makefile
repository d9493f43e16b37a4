# The two entry points of the README. Each one sets itself up: a .venv in the repository
# with the warden CLI at .venv/bin/warden, rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup clean browser

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Warden needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/warden demo $(ARGS)

# Two pytest-xdist workers: half the suite's time is spent waiting (stacks starting, group joins,
# sleeps), so two overlap on 2 cores; tests/conftest.py keeps the demo's tests on one worker.
test: $(STAMP) browser
	$(VENV)/bin/pytest -q -n 2 --dist loadscope $(ARGS)

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
