# perf-profiler — two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs on first use (pinned by constraints.txt).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := fast,test
CHROMIUM := /usr/bin/chromium

.PHONY: install lint test e2e demo bench constraints clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]' -c constraints.txt
	@touch $(STAMP)

install: $(STAMP)

## make lint: ruff (style and bug patterns), mypy (types) and import-linter (the layering contract)
lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/mypy
	$(BIN)/lint-imports

## make test: lint, then the whole test suite (real servers, real PostgreSQL and SQLite), with tests/e2e:
## a real Airflow (scheduler, dag-processor, api-server) driven through its UI in headless Chromium
test: lint $(CHROMIUM)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make e2e: only the end-to-end suite (tests/e2e; screenshots in test-artifacts/)
e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

# The e2e UI tests drive Debian's chromium, installed here when missing (Playwright never
# downloads a browser: no `playwright install`).
$(CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

## make demo: start the simulated services and run the main job against them
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/perf-profiler demo

## make bench: load-generator fidelity and speed side by side with hey and wrk (loopback, < 10 min);
## installs nginx, wrk, hey and gcc from Debian packages when missing; writes bench/results/latest.{json,md}
bench: $(STAMP)
	bash bench/install-tools.sh
	$(BIN)/python bench/run.py $(BENCH_ARGS)

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
