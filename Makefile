# Two commands on a fresh clone:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-all bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## Compile every Numba kernel into the on-disk cache once (a tiny scan of each analysis kind),
## so that the first real run, and the first `make demo`, load them in a fraction of a second.
## Redone when a source file changes (Numba recompiles a kernel whose file changed).
WARM := $(VENV)/.kernels-cached
$(WARM): $(STAMP) $(wildcard src/scan/*.py)
	$(BIN)/python -m scan.kernel_cache
	touch $(WARM)

setup: $(STAMP) $(WARM)

## Run the demo on the embedded synthetic borough; outputs go to demo-output/
demo: $(WARM)
	$(BIN)/scan demo --out demo-output

## Run the test suite (slow statistical checks excluded; `make test-all` runs them too)
test: $(STAMP) browser
	$(BIN)/python -m pytest -m "not slow" -q

test-all: $(STAMP) browser
	$(BIN)/python -m pytest -q

## Headless Chromium for the report's browser tests (Debian's package): installed when missing
## and this is root (as on CI); otherwise those tests say why they skip.
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "could not install chromium: the report's browser tests will skip"; \
	else echo "chromium not installed (needs root): the report's browser tests will skip"; fi

## Benchmarks (minutes; figures go in benchmarks/RESULTS*.md)
## (bench_spatial, bench_whole, bench_scale, bench_outputs and calibration print Markdown for RESULTS.md;
##  the others rewrite their own RESULTS_*.md above its hand-written notes)
bench: $(WARM)
	$(BIN)/python benchmarks/bench_spatial.py --asm
	$(BIN)/python benchmarks/bench_whole.py
	$(BIN)/python benchmarks/bench_scale.py --quick
	$(BIN)/python benchmarks/bench_outputs.py
	$(BIN)/python benchmarks/calibration.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_spacetime.py --write
	$(BIN)/python benchmarks/bench_distributed.py
	$(BIN)/python benchmarks/bench_distributed.py --england

clean:
	rm -rf $(VENV) demo-output .pytest_cache
