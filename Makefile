# abkit — set up, demo, test. Every target creates the virtual environment it needs.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
# two installs into the same virtualenv: what abkit needs to run (the demo, reports) and, on
# top of it, what developing it needs (test, lint, the Spark engine)
RUNTIME := $(VENV)/.abkit-runtime
STAMP   := $(VENV)/.abkit-installed

.PHONY: setup demo test test-fast lint bench clean

## the package and its runtime dependencies, plus the Jupyter kernel the reports run on
$(RUNTIME): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (abkit)" >/dev/null
	touch $(RUNTIME)

## everything for development: the runtime install plus the dev and spark extras
$(STAMP): $(RUNTIME) pyproject.toml constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,spark]"
	touch $(STAMP)

setup: $(STAMP)

## demo: simulate an experiment and write its report to reports/demo/ (runtime install only)
demo: $(RUNTIME)
	$(VENV)/bin/abkit demo --out reports/demo

## test: the whole test suite (doctests included), two workers
test: setup
	$(PY) -m pytest -n 2 --dist loadfile --doctest-modules abkit tests

test-fast: setup
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow" abkit tests

lint: setup
	$(VENV)/bin/ruff check abkit tests benchmarks
	$(VENV)/bin/ruff format --check abkit tests benchmarks
	$(VENV)/bin/mypy --strict abkit

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
