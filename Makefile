# The README's two commands: `make docs` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

export NO_MKDOCS_2_WARNING := 1

.PHONY: docs test site experiments clean

# Set up, build the site strictly, and serve it at http://$(HOST):$(PORT).
docs: $(VENV)/.stamp-docs
	$(BIN)/mkdocs serve --strict --dev-addr $(HOST):$(PORT)

# Set up and run every test.
test: $(VENV)/.stamp-test
	$(BIN)/python -m pytest

# Run the notebooks at full scale and store their outputs (docs/notebooks/runs/); NOTEBOOK=NAME runs one.
experiments: $(VENV)/.stamp-docs
	$(BIN)/python docs/experiments.py $(NOTEBOOK)

# Build the site once into site/ (what the Pages workflow deploys).
site: $(VENV)/.stamp-docs
	$(BIN)/mkdocs build --strict

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: $(PYTHON) is Python < 3.11; run 'make PYTHON=python3.11 ...'" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# A stamp per extra, remade only when pyproject.toml changes, so a second run installs nothing.
# pip byte-compiles what it installs on one core; compileall does it on every core and leaves out the
# packages' own tests/ folders, which nothing here imports (on 2 cores: about 18 s instead of 30). It skips
# what is compiled already, and a file no Python 3.11 can read (torch's py312_intrinsics.py), as pip does.
$(VENV)/.stamp-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -e '.[$*]'
	$(BIN)/python -m compileall -qq -j 0 -x '/tests?/' $(VENV)/lib || true
	@touch $@

clean:
	rm -rf site .pytest_cache build *.egg-info
