# The two entry points of the README. Each one sets itself up: a .venv in the repository
# with the warden CLI at .venv/bin/warden, rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup clean browser redis

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Warden needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/warden demo $(ARGS)

test: $(STAMP) browser redis
	$(VENV)/bin/pytest -q $(ARGS)

# The report's test opens it in headless Chromium: Debian's package, installed here when missing
# (as root, as on CI); anyone else is told what to install and that one test fails without it.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report's browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "could not install chromium (not root?): run 'apt-get install -y chromium' as root"; }

# The SDK cache's shared store is tested against a real Redis: Debian's redis-server, installed the same way.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing Debian's redis-server for the SDK cache's shared-store tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } || \
	  echo "could not install redis-server (not root?): run 'apt-get install -y redis-server' as root"; }

lint: $(STAMP)
	$(VENV)/bin/ruff check services tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .warden .pytest_cache .mypy_cache .ruff_cache
