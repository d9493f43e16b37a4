# The two entry points of the README. Each one sets itself up: a .venv in the repository
# with the warden CLI at .venv/bin/warden, rebuilt when pyproject.toml or sdk/pyproject.toml changes.
# Both distributions install editable from this checkout: warden-sdk (sdk/) first in the same
# command, so the server's `warden-sdk==0.1.0` is this one, never a package of that name on PyPI.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# The compiled Avro field decoder (ADR 0029): built in place by Cython with the machine's C compiler;
# without one Warden still runs, on the generated Python decoder (slower), and says so here.
FAST := services/warden/core/.avro_fast.built

.PHONY: demo test lint setup clean programs

$(STAMP): pyproject.toml sdk/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Warden needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ./sdk -e '.[dev]'
	@touch $(STAMP)

$(FAST): services/warden/core/_avro_fast.pyx services/warden/rollout/_view_fast.pyx $(STAMP)
	@cd services && ../$(VENV)/bin/cythonize -i -3 -q warden/core/_avro_fast.pyx warden/rollout/_view_fast.pyx > /dev/null \
		|| echo "warning: the compiled decoder and view (ADR 0029) were not built: is gcc installed? Warden runs on the Python path, slower"
	@rm -rf services/build
	@touch $(FAST)

setup: $(STAMP) $(FAST)

demo: $(STAMP) $(FAST)
	$(VENV)/bin/warden demo $(ARGS)

# Two pytest-xdist workers: half the suite's time is spent waiting (stacks starting, group joins,
# sleeps), so two overlap on 2 cores; tests/conftest.py keeps the demo's tests on one worker.
test: $(STAMP) $(FAST) programs
	$(VENV)/bin/pytest -q -n 2 --dist loadscope $(ARGS)

# Real third-party programs the tests run, Debian's packages, installed here when missing (as root,
# as on CI; one apt-get update for all): chromium (the report's browser test), kcat (the stock
# librdkafka client test), redis-server (the SDK cache's shared store), prometheus-alertmanager
# (the notifier's Alertmanager test) and prometheus's promtool (the metrics test). Anyone else is
# told what to install; only the tests that need a missing one fail. Each pair: command:package.
# Chromium comes with its recommended packages (fonts); the others without (prometheus would
# bring an exporter and a web UI's assets).
TEST_BROWSER := chromium:chromium
TEST_PROGRAMS := kcat:kcat redis-server:redis-server prometheus-alertmanager:prometheus-alertmanager \
	promtool:prometheus
programs:
	@missing=""; bare=""; for pair in $(TEST_BROWSER); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	for pair in $(TEST_PROGRAMS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || bare="$$bare $${pair##*:}"; done; \
	if [ -n "$$missing$$bare" ]; then \
	  echo "installing Debian's$$missing$$bare for the tests that run them"; \
	  { apt-get update -qq && \
	    { [ -z "$$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } && \
	    { [ -z "$$bare" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      $$bare >/dev/null; }; } || \
	  echo "could not install$$missing$$bare (not root?): run 'apt-get install -y$$missing$$bare' as root"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check services tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .warden .pytest_cache .mypy_cache .ruff_cache services/build $(FAST) services/warden/core/_avro_fast.c services/warden/core/_avro_fast.*.so services/warden/rollout/_view_fast.c services/warden/rollout/_view_fast.*.so
