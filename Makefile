# Developer and CI entry points. Every target first makes sure .venv exists and holds the project
# (editable) with its test and lint tools; it reinstalls when pyproject.toml changes.
# `make test` first installs missing system packages (scripts/system-packages.sh); `make demo`
# needs none: it runs against the embedded broker.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROTOCOL_SOURCES := src/asyncmqtt/protocol/*

.PHONY: system install lint docs test demo bench clean

# System packages (mosquitto, python3-venv, ...) when missing; apt-get as root.
system:
	bash scripts/system-packages.sh

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# (pip 25.1 or later installs PEP 735 dependency groups, which hold the test and lint tools.)
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . --group dev
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src

# The documentation site (mkdocs.yml) into site/; strict: a broken link or reference fails
# (never with --quiet: MkDocs 1.6 then drops the warnings before strict mode counts them).
# `$(BIN)/mkdocs serve` previews it. (NO_MKDOCS_2_WARNING silences the notice Material for
# MkDocs prints on every build: it reaches end of life in May 2027, Zensical succeeds it.)
docs: $(INSTALLED)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The whole suite with coverage; the sans-I/O protocol core must keep 100% branch coverage.
# The suite builds the site itself, strictly (tests/test_docs_site.py), and checks its API
# reference: no separate `make docs` here.
test: system lint
	$(BIN)/coverage erase
	$(BIN)/pytest -p no:cacheprovider --cov=asyncmqtt --cov-branch --cov-report=term-missing
	$(BIN)/coverage report --include='$(PROTOCOL_SOURCES)' --fail-under=100

# The demo against the embedded broker (asyncmqtt.broker, in the script's process): no mosquitto,
# no system packages, no root. (`--broker mosquitto` runs it against mosquitto instead.)
demo: $(INSTALLED)
	@test -f examples/demo.py || { \
		echo "make demo: examples/demo.py does not exist yet (the demo is still to be written)" >&2; \
		exit 1; }
	$(BIN)/python scripts/run_with_broker.py --broker embedded $(BIN)/python examples/demo.py

# The benchmark of benchmarks/README.md: its own mosquitto, the peers in benchmarks/.venv.
bench: system $(INSTALLED)
	$(BIN)/python benchmarks/run.py

# Removes test and build leftovers; keeps .venv.
clean:
	rm -rf .coverage .coverage.* htmlcov build dist .pytest_cache site
