# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages some tests drive for real: Prometheus/promtool (rules, scrapes) and Chromium
# (status page in a browser). Installed when missing; needs root (CI runs as root).
DEB_PACKAGES := prometheus:promtool chromium:chromium

.PHONY: run test lint system-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/upwatch run

system-deps:
	@missing=""; for pair in $(DEB_PACKAGES); do \
	  pkg=$${pair%%:*}; cmd=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
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
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/page.py
	$(BIN)/python bench/ledger_size.py

clean:
	rm -rf $(VENV) build *.egg-info
