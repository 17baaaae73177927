# The few verbs everyone runs. `make demo` and `make test` each install what they need first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
QSPEC   = $(BIN)/qspec

.PHONY: install services demo test test-fast lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $@

# The main job on the embedded default store: validate, plan, apply the example specs, show the registry.
demo: install
	$(QSPEC) validate specs/
	$(QSPEC) plan
	$(QSPEC) apply --auto-approve
	$(QSPEC) status

# What the integration tiers run against that pip does not bring: PostgreSQL's server binaries
# (installed with apt-get when missing, as root; the tier starts its own throw-away cluster).
services:
	scripts/ensure-postgres.sh

# The whole suite, slow integration tiers included (PostgreSQL behind mlflow server too): what CI runs.
test: install services
	$(BIN)/pytest -m "slow or not slow"

# The quick loop: everything but the tests marked slow.
test-fast: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check qspec tests benchmarks
	$(BIN)/mypy qspec
	$(BIN)/lint-imports

# The benchmarks compare against their peers (the bench extra: PennyLane, qiskit-machine-learning);
# installed here so that no peer is skipped as "not installed".
bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_validate.py
	@for b in benchmarks/bench_*.py; do [ "$$b" = benchmarks/bench_validate.py ] || $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .qspec .pytest_cache .mypy_cache .ruff_cache
