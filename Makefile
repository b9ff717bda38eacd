PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[dev]"
	@# the Allen mouse ontology (a CSV in iblatlas) that tools/build_builtin_specs.py reads
	@# through pkg://, and the spec tests regenerate from; iblatlas's own dependencies
	@# (ONE-api, numba, boto3...) are not needed for that file
	$(BIN)/python -m pip install -q --no-deps "iblatlas==1.3.0"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/neuratlas tour

test: $(STAMP)
	@# the browser tests' Chromium (Debian's); without it they skip, saying why
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium) || echo "chromium could not be installed: the browser tests will skip"
	@# MRtrix3 (Debian's): the reference the structural network mapping is checked against;
	@# without it those tests skip, saying why
	command -v tckmap >/dev/null || (apt-get update -q && apt-get install -y -q --no-install-recommends mrtrix3) || echo "mrtrix3 could not be installed: the MRtrix agreement tests will skip"
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	command -v tckmap >/dev/null || (apt-get update -q && apt-get install -y -q --no-install-recommends mrtrix3)  # bench_lesion_snm's peer
	@# lacuna, the lesion peer (bench_lesion_*); its folder has no git metadata for its version
	SETUPTOOLS_SCM_PRETEND_VERSION_FOR_LACUNA=0.0.0 $(BIN)/python -m pip install -q ../shared/peers/lacuna
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)  # bench_service's load generator
	@# atldld, the Allen peer, in a venv of its own (see pyproject's bench extra)
	test -x .venv-bench/bin/python || $(PY) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q "atldld==0.3.4" pynrrd psutil
	@# every script runs; a script exits 1 when a target is missed, and make bench says which at the end
	failed=""; for b in benchmarks/bench_*.py; do echo "== $$b"; NEURATLAS_ATLDLD_PYTHON=$(CURDIR)/.venv-bench/bin/python $(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "missed a target or failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) build dist .pytest_cache
