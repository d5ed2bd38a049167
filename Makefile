# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv and install everything on first use, and do nothing extra afterwards.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean chromium

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	# CPU-only PyTorch first, so Ultralytics does not pull a CUDA build.
	$(BIN)/pip install --quiet "torch==2.13.0" "torchvision==0.28.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The dashboard's browser test drives Debian's chromium (Playwright's own browser download
# cannot work on these machines); installed with apt-get when missing, as root or with sudo.
chromium:
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

demo: $(STAMP)
	$(BIN)/phasewise demo --out out/demo

# Two test processes (pytest-xdist), a test file each at a time: CI has 2 cores, and most
# of the suite's time is real processes (daemons, SUMO, YOLO) that use one core each.
test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/baselines.py

clean:
	rm -rf $(VENV) out .pytest_cache
