# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The exact versions the suite passes with (pip constraints); `make lock` rewrites it.
LOCK := requirements.lock

# Debian packages some tests drive for real: Prometheus/promtool (rules, scrapes), Chromium
# (status page in a browser) and PostgreSQL (the ledger on PostgreSQL: the tests start a
# throwaway cluster with its initdb, which is not on PATH). package:command, or
# package:path-glob. Installed when missing; needs root (CI runs as root).
DEB_PACKAGES := prometheus:promtool chromium:chromium \
	postgresql:/usr/lib/postgresql/*/bin/initdb

.PHONY: run test lint lock system-deps bench faults clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/upwatch run

# Re-resolve: the newest releases pyproject.toml's ranges allow, installed with no constraints
# in a throwaway venv, frozen into $(LOCK). Babel's CLDR data formats the status page's dates,
# so a new Babel may change the golden files (see tests/test_statuspage_views.py).
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "resolving .[test] in a throwaway venv ($$tmp)"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/pip" install --quiet --upgrade pip; \
	"$$tmp/venv/bin/pip" install --quiet -e '.[test]'; \
	{ \
	  echo "# Exact versions \`make test\` passes with: pip constraints (name==version), used by"; \
	  echo "#   pip install -c $(LOCK) -e '.[test]'   (make test, make run, the Dockerfile)"; \
	  echo "# Made by \`make lock\`, which installs .[test] in a throwaway venv with no constraints (the"; \
	  echo "# newest releases pyproject.toml's ranges allow) and writes its \`pip freeze --exclude-editable\`"; \
	  echo "# here. Do not edit by hand: run \`make lock\`, then \`make test\`, and commit this file in a"; \
	  echo "# commit of its own. pyproject.toml keeps the compatible ranges."; \
	  echo "# Python $$("$$tmp/venv/bin/python" -c 'import platform; print(platform.python_version())')"; \
	  "$$tmp/venv/bin/pip" freeze --exclude-editable | grep -iv '^upwatch[ =@]'; \
	} > "$$tmp/lock"; \
	mv "$$tmp/lock" $(LOCK)
	@git diff --stat -- $(LOCK) 2>/dev/null || true
	@echo "$(LOCK) rewritten. Next: make test. If only golden files differ, by Babel's date or"
	@echo "number formats, regenerate and review them:"
	@echo "  UPWATCH_REGEN_GOLDEN=1 $(BIN)/python -m pytest tests/test_statuspage_views.py tests/test_statuspage_render.py"
	@echo "  git diff tests/golden"
	@echo "Then commit $(LOCK) (with those golden files) in a commit of its own."

system-deps:
	@missing=""; for pair in $(DEB_PACKAGES); do \
	  pkg=$${pair%%:*}; cmd=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || ls $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive dpkg --configure -a >/dev/null 2>&1 || true; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (sudo apt-get install$$missing);" \
	         "the tests that need them are skipped outside CI"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check monitor statuspage tests bench
	$(BIN)/mypy

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/probes.py
	$(BIN)/python bench/probes.py --kind tcp --banner
	$(BIN)/python bench/probes.py --kind dns
	$(BIN)/python bench/ping.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/page.py
	$(BIN)/python bench/page_load.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ledger_size.py

# The fault suite (docs/faults.md), not part of `make test`: kill -9 cycles of `upwatch run`,
# and a corrupted, a read-only and a full copy of the ledger. About 6 minutes; the read-only and full-disk
# faults mount a tmpfs (root) and are skipped, with the reason, where that is not allowed.
faults: $(STAMP)
	$(BIN)/python bench/faults.py

clean:
	rm -rf $(VENV) build *.egg-info
