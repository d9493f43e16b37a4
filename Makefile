# The two entry points of the README. Each one sets itself up: a .venv in the repository
# with the warden CLI at .venv/bin/warden, rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup clean programs

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Warden needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/warden demo $(ARGS)

test: $(STAMP) programs
	$(VENV)/bin/pytest -q $(ARGS)

# Real third-party programs the tests run, Debian's packages, installed here when missing (as root,
# as on CI; one apt-get update for all): chromium (the report's browser test), kcat (the stock
# librdkafka client test), redis-server (the SDK cache's shared store). Anyone else is told what to
# install; only the tests that need a missing one fail. Each pair: command:package.
TEST_PROGRAMS := chromium:chromium kcat:kcat redis-server:redis-server
programs:
	@missing=""; for pair in $(TEST_PROGRAMS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's$$missing for the tests that run them"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  echo "could not install$$missing (not root?): run 'apt-get install -y$$missing' as root"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check services tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .warden .pytest_cache .mypy_cache .ruff_cache
