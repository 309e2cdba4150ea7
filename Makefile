# tunewire: two commands for a fresh machine — `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-all bench reliability clean

install: $(STAMP)

# torch first, from the pinned CPU wheel; then the project with every extra, torch held by the constraint.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/tunewire tokenizer build
	touch $(STAMP)

# The local stack end to end on the bundled example. DEMO_MODEL=tiny for a fast run.
DEMO_MODEL ?= gemma-3-270m
demo: install
	$(BIN)/tunewire validate examples/sentiment/train.jsonl --validation examples/sentiment/validation.jsonl --epochs 3
	$(BIN)/tunewire demo --model $(DEMO_MODEL)

test: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-all: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every reliability check (slow ones included), then docs/reliability.md from what they recorded.
RELIABILITY_RESULTS ?= build/reliability/results.jsonl
reliability: install
	mkdir -p $(dir $(RELIABILITY_RESULTS))
	TUNEWIRE_RELIABILITY_RESULTS=$(abspath $(RELIABILITY_RESULTS)) $(BIN)/python -m pytest tests/reliability -m reliability $(PYTEST_ARGS) || true
	$(BIN)/python scripts/render_reliability.py $(RELIABILITY_RESULTS)

bench: install
	$(BIN)/python benchmarks/validate_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The Cloud Functions source Terraform zips (terraform/build/function-source): functions/, shared/,
# the tokenizer model, a main.py shim and requirements.txt from pyproject's runtime dependencies.
# Run it before every `terraform apply` (docs/deploy.md).
.PHONY: function-source
function-source: install
	$(BIN)/python scripts/function_requirements.py --stage terraform/build/function-source
