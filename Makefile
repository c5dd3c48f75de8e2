# gan-runner developer commands. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch/torchvision are pinned to the releases this project is tested with.
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: help install run test test-fast lint tb bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed  ## create .venv and install gan-runner with its dev tools (editable)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev,sweeps,slurm]'
	touch $@

run: install  ## train the default job (DCGAN + R1 + EMA on 5,000 real MNIST digits, under 3 min on 2 CPU cores)
	$(VENV)/bin/gan-run $(ARGS)

# One test worker per core this process may use (nproc honours affinity and cgroup cpusets), at most 4:
# each worker imports torch (~1 GB), and the tests are small.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

test: install  ## run the whole test suite on every core (GPU tests skip without CUDA)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: install  ## the test suite without the slow end-to-end tests
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

lint: install  ## static checks (ruff)
	$(VENV)/bin/ruff check gan_runner tests

bench: install  ## training throughput: gan-run vs the plain PyTorch DCGAN loop (needs an idle machine, ~2 min)
	$(PY) bench/throughput.py

tb:  ## open TensorBoard on every run under outputs/
	$(VENV)/bin/tensorboard --logdir outputs

clean:  ## remove caches (keeps .venv and outputs/)
	rm -rf .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
