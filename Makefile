# Two commands do all set-up on a fresh machine:
#   make book   create .venv if missing, build the embedded corpus if missing,
#               execute every notebook (embedded profile) and render the HTML book
#   make test   create .venv if missing, lint and format-check with ruff, run the test suite: the unit tests,
#               every notebook at the `ci` profile and the book built from them, the full-profile rehearsal,
#               the accelerate and gpu_check tests; all of it in build/ci/, which nothing else touches
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.asvnb-installed
LOCK   := requirements-lock.txt

# make test's own folder: its corpus, stand-ins, runs, executed notebooks and book (the `ci` profile)
CI_DIR := $(CURDIR)/build/ci
CI_ENV := ASVNB_BUILD=$(CI_DIR) ASVNB_DATA=$(CI_DIR)/data

.PHONY: book test env data benchmarks sync clean

book: $(STAMP)
	$(BIN)/asvnb book

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/build_digest.py $(CI_DIR)/embedded-digest.json
	$(CI_ENV) $(BIN)/python -m pytest
	$(BIN)/python tools/build_digest.py --check $(CI_DIR)/embedded-digest.json

env: $(STAMP)

# torch first and alone: PyPI's torch wheels are CUDA builds that also run on the CPU.
# requirements.txt is generated from pyproject.toml and the lock (make sync). resemblyzer (a
# pretrained GE2E speaker encoder that ships its weights) is installed without its dependencies,
# whose webrtcvad needs a C compiler; requirements.txt has the prebuilt webrtcvad-wheels instead.
$(STAMP): requirements.txt $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c $(LOCK) torch torchvision torchaudio
	$(PIP) install -q -c $(LOCK) -r requirements.txt
	$(PIP) install -q -c $(LOCK) --no-deps resemblyzer
	$(PIP) install -q --no-deps -e .
	touch $@

data: $(STAMP)
	$(BIN)/asvnb data synth --scale small
	$(BIN)/asvnb data standins

# regenerate requirements.txt and environment.yml from pyproject.toml and the lock, and the Colab
# badges and install lines from _config.yml's repository.url (tests/test_dependencies.py and
# tests/test_colab.py fail when they drift)
sync:
	$(BIN)/python tools/sync_project.py

benchmarks: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build
