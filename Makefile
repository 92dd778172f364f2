# Two entry points for a fresh machine with only python3 and make:
#   make demo   the demo rollout on the emulator
#   make demo-mixed   the mixed estate (plain VMs, Uniform and Flexible scale sets) on the emulator
#   make test   every test (unit, integration, reliability, sanity, lint, build, ansible-runner, molecule)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
COLLECTIONS := $(CURDIR)/.tmp/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/vmss/rollout
PYTEST_ARGS ?=

.PHONY: demo demo-mixed test unit sanity venv collection-path clean

demo: venv collection-path
	$(BIN)/python tools/demo.py

demo-mixed: venv collection-path
	$(BIN)/python tools/demo_mixed.py

test: venv collection-path
	ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) $(BIN)/python -m pytest -n 3 $(PYTEST_ARGS) tests

unit: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests/unit

# ansible-test sanity on a copy of the tree (also part of make test, in tests/ecosystem/test_sanity.py)
sanity: venv
	$(BIN)/python tools/sanity.py

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt emulator/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet -e emulator
	touch $(STAMP)

# ansible finds the collection through ANSIBLE_COLLECTIONS_PATH; the link keeps it current with the tree.
collection-path:
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn ../../../.. $(COLLECTION_LINK)

clean:
	rm -rf .tmp tests/output
