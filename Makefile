# perf-profiler — two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs on first use (pinned by constraints.txt).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := fast,test

.PHONY: install test demo constraints clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]' -c constraints.txt
	@touch $(STAMP)

install: $(STAMP)

## make test: the whole test suite (real servers, real PostgreSQL and SQLite)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make demo: start the simulated services and run the main job against them
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/perf-profiler demo

## make constraints: re-resolve the dependencies in a scratch venv and pin them
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/python -m pip install --quiet --upgrade pip
	.constraints-venv/bin/python -m pip install --quiet '.[$(EXTRAS)]'
	( echo "# Resolved pins for perf-profiler (regenerate with: make constraints)"; \
	  .constraints-venv/bin/python -m pip freeze --exclude-editable | grep -v '^perf-profiler' ) > constraints.txt
	rm -rf .constraints-venv

clean:
	rm -rf $(VENV) .demo test-artifacts .pytest_cache
