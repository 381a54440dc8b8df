# Every target builds .venv itself (Python >= 3.12 found by .ci/find-python).
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
OUT     ?= out/default

.PHONY: setup run test bench figures clean

$(STAMP): pyproject.toml .ci/find-python
	@PYBIN=$$(.ci/find-python) || exit 1; \
	  test -x $(PY) || $$PYBIN -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)            ## set up, run the default scenario, write summary + plots to $(OUT)
	$(VENV)/bin/gridsim run scenarios/default.yaml --out $(OUT)

test: $(STAMP)           ## set up and run the test suite
	$(PY) -m pytest -q

bench: $(STAMP)          ## performance benchmark (issue: city scale)
	$(VENV)/bin/gridsim bench --json out/bench/bench.json

clean:
	rm -rf $(VENV) out .pytest_cache
