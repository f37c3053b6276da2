# Two commands on a fresh machine: `make run` and `make test`. Both install what they need (`make lint` too).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every transitive dependency, pinned with hashes (make lock); the Dockerfile installs runtime.lock.
LOCK := requirements/dev.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
UV_LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux \
	--custom-compile-command 'make lock' $(LOCK_ARGS) pyproject.toml requirements/build.in
DATA_DIR ?= $(or $(CONFERENCE_DATA_DIR),data)
PYTEST_ARGS ?=

.PHONY: install fonts lock run test test-unit test-fast stack stack-stop tools bench lint fmt clean

## The venv from the lock: exactly the locked versions, each checked against its hash; then the project
## itself, built offline by the locked setuptools (--no-build-isolation fetches nothing unchecked).
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found " + sys.version.split()[0] + ")")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "cannot create a virtualenv: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## Re-resolve the locks after a change to pyproject.toml's pins, keeping every other version;
## LOCK_ARGS=--upgrade moves every unpinned transitive dependency to its newest release.
lock: install
	$(UV_LOCK) --extra dev -o $(LOCK)
	$(UV_LOCK) -o requirements/runtime.lock

## The platform on the embedded default; the 2025 replay when the data directory is empty.
run: install fonts
	@if [ -z "$$(ls -A $(DATA_DIR) 2>/dev/null)" ]; then demo=--demo; fi; \
	CONFERENCE_DATA_DIR=$(DATA_DIR) $(BIN)/conference run $$demo

## Every suite, against the real PostgreSQL and Kafka of deploy/local/.
test: install stack tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

stack:
	deploy/local/postgres.sh start
	deploy/local/kafka.sh start

## The CJK font badges are set in (Debian's fonts-wqy-microhei; services/registration/badges.py).
fonts:
	@deploy/local/install-fonts.sh

## Tools the suites call: promtool (Debian's prometheus package; its daemon is not started), Chromium
## for the browser tests (Debian's chromium package, driven by Playwright), the official AsyncAPI
## parser (npm, from tests/contract/asyncapi-parser/package-lock.json; Debian's nodejs if node is missing)
## a Compose implementation that validates docker-compose.yml without an engine (Debian's docker-compose)
## and the badge's font.
tools: fonts
	@deploy/prometheus/install-promtool.sh
	@deploy/local/install-browser.sh
	@deploy/local/install-asyncapi-parser.sh
	@deploy/local/install-compose.sh

## Benchmarks on the real stack: a table of ratios against baselines measured in the same run.
bench: install stack
	@command -v wrk >/dev/null 2>&1 || { echo "installing Debian's wrk (load generator, one-time)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

stack-stop:
	-deploy/local/kafka.sh stop
	-deploy/local/postgres.sh stop

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy shared services tests bench devkit
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
