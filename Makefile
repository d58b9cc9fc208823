# KlikDok developer commands. Two are all a fresh Debian machine needs: `make run` and `make test`.

# Every path is anchored at this file's folder, so `make -C <checkout> test` or `make -f <checkout>/Makefile test`
# works from anywhere.
ROOT   := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
PYTHON ?= python3
VENV   := $(ROOT)/.venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= dev,systemd
# Debian packages the project needs: GOST engine/provider and gost12sum, SQLite's CLI for operators,
# headers to build systemd-python, venv support for Debian's python3.
SYSTEM_PACKAGES := libengine-gost-openssl gostsum sqlite3 libsystemd-dev pkg-config python3-venv
# The paper copies' Cyrillic font, found through fontconfig (never downloaded at run time); the tests render PDF
# pages with poppler's pdftoppm and read their QR codes back with zbar.
SYSTEM_PACKAGES += fonts-dejavu-core fontconfig poppler-utils zbar-tools
ifneq ($(BROWSER),0)
SYSTEM_PACKAGES += chromium
endif


.PHONY: help run test chaos chaos-tests chaos-run fuzz interop lint bench deps system-deps venv deb deb-test clean

help:
	@echo "make run    — install what is needed and start the server on http://127.0.0.1:8080 (data in ./var)"
	@echo "make test   — install what is needed, run the linters (make lint) and the whole test suite"
	@echo "make chaos  — the crash and fault tests with all their kill rounds, then the chaos run (N=10000 MINUTES=720)"
	@echo "make fuzz   — the fuzz harness's long run: FUZZ_N inputs per parser (100000), FUZZ_JOBS parsers at a time (nproc)"
	@echo "make lint   — ruff check and ruff format --check, import-linter contracts (pyproject.toml) and mypy; fails on any finding"
	@echo "make interop — the third-party signature samples of ../shared/interop (not in the repository)"
	@echo "make bench  — run the benchmarks (GOST hashing and verification against openssl)"
	@echo "make deb    — build the klikdok and klikdok-agent .deb packages"

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing"; \
	    echo "Install them with: sudo apt-get install -y$$missing   (then run make again)"; exit 1; \
	  fi; \
	fi

$(STAMP): $(ROOT)/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	cd $(ROOT) && $(PY) -m pip install -q --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $(STAMP)

venv: $(STAMP)

deps: system-deps venv

# Without a configured portal, `make run` is the demo (demo/launcher.py): the Bitrix24 portal emulator with the app
# installed, a demo GOST PKI trusted by the server, a mail catcher with inbox pages, and a banner saying where to start.
run: deps
	cd $(ROOT) && $(PY) -m demo.launcher

lint: deps
	cd $(ROOT) && $(VENV)/bin/ruff check --no-cache .
	cd $(ROOT) && $(VENV)/bin/ruff format --check --no-cache .
	cd $(ROOT) && $(VENV)/bin/lint-imports --no-cache
	cd $(ROOT) && $(VENV)/bin/mypy --no-incremental --cache-dir=/dev/null

# The suite runs in two pytest-xdist workers per core, at least 2 and at most 8. A test spends most of its time
# waiting on what it started (a server's answer, an agent's signature, a page in Chromium): with one worker per core
# a 2-core box was busy about half the time (`/usr/bin/time`: 95 % of one core's worth over the run), with two per
# core about 70 %, and the run took 630 s instead of 890 s. Timing-sensitive tests are written for a loaded
# machine (deadlines in seconds, not tenths). `worksteal` hands out contiguous runs of tests, so a module's fixtures
# (one Chromium, one SMTP relay) mostly start once, and an idle worker takes over the rest of another's queue.
# TEST_WORKERS=0 runs in one process. --durations prints the 25 slowest steps: the first place to look when the run
# nears its 15 minutes.
TEST_WORKERS ?= $(shell n=$$(( 2 * $$(nproc 2>/dev/null || echo 1) )); [ $$n -lt 2 ] && n=2; [ $$n -gt 8 ] && n=8; echo $$n)
PYTEST_XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal)
# Some CI images set PYTHONDONTWRITEBYTECODE=1, and then every server, CLI run and agent the suites start
# (hundreds) compiles our sources again, about 0.3 s each. The suites' Python keeps its bytecode in the venv
# instead (never in the checkout), so only the first process compiles.
PYTEST := env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(VENV)/pycache $(PY) -m pytest

test: lint
	cd $(ROOT) && $(PYTEST) -q -p no:cacheprovider --durations=25 $(PYTEST_XDIST)

# `make chaos` is both: the crash and fault tests with their full number of rounds (`make chaos-tests`; `make
# test` runs fewer, see TEST_CHAOS), then the long chaos run (`make chaos-run`, benchmarks/chaos.py): N documents
# through the whole flow while the server, the agents, the SMTP sink and the portal emulator are killed at random
# for up to MINUTES, then the figures table. `make chaos N=10000` is the full run.
N       ?= 10000
MINUTES ?= 720
SEED    ?= 1
chaos: chaos-tests chaos-run

chaos-tests: deps
	cd $(ROOT) && TEST_CHAOS=1 $(PYTEST) -q -p no:cacheprovider $(PYTEST_XDIST) \
	  tests/workflow/test_disk_crash.py tests/workflow/test_crash_safety.py tests/agent/test_faults.py \
	  tests/counterparty/test_crash_completion.py tests/foundation/test_crash_and_backup.py

chaos-run: deps
	cd $(ROOT) && env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(VENV)/pycache \
	  $(PY) -m benchmarks.chaos --documents $(N) --minutes $(MINUTES) --seed $(SEED)

# The fuzz harness's long run (tests/fuzz/harness.py): FUZZ_N mutated inputs per parser that takes outside input,
# FUZZ_JOBS parsers at a time, niced (the machine may be shared); prints the figures table and fails on any finding
# (inputs kept in test-artifacts/fuzz). `make test` runs its short run (tests/fuzz/test_fuzz.py). FUZZ_ONLY=cms,tsl
# picks parsers, FUZZ_SEED another set of inputs.
FUZZ_N ?= 100000
FUZZ_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
fuzz: deps
	cd $(ROOT) && FUZZ_N=$(FUZZ_N) FUZZ_JOBS=$(FUZZ_JOBS) nice -n 10 env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(VENV)/pycache $(PY) -m tests.fuzz.harness

# Third-party signatures (KLIKDOK_INTEROP_DIR, default ../shared/interop) and reference files (KLIKDOK_SHARED,
# default ../shared): they may not be republished, so they are not in the repository and `make test` never reads
# them; the suite fails, saying where it looked, when they are missing.
interop: deps
	@cd $(ROOT) && d="$${KLIKDOK_INTEROP_DIR:-../shared/interop}" && test -f "$$d/MANIFEST.md" || { \
	  echo "make interop: the interop corpus is not at $$d (set KLIKDOK_INTEROP_DIR to the folder with MANIFEST.md)" >&2; \
	  exit 2; }
	cd $(ROOT) && KLIKDOK_INTEROP=1 $(PYTEST) -q -p no:cacheprovider $(PYTEST_XDIST) tests/interop

# Every goal's ratio is printed next to its target, the figures go to benchmarks/results.json, and README's
# Performance table is regenerated from them (benchmarks/readme.py): it is never typed by hand.
bench: deps
	cd $(ROOT) && $(PYTEST) benchmarks -q -p no:cacheprovider --benchmark-columns=min,median,mean,ops --benchmark-sort=name
	cd $(ROOT) && $(PY) -m benchmarks.readme

deb:
	$(ROOT)/packaging/deb/build.sh

deb-test:
	$(ROOT)/packaging/deb/test-install.sh

clean:
	cd $(ROOT) && rm -rf $(VENV) build dist *.egg-info .pytest_cache .benchmarks .ruff_cache .mypy_cache
