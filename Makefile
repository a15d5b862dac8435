# Two commands on a fresh machine (python3 + make): `make test` and `make report`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test report quick-report lab fetch-data bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install when the package metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (nnlib)"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

report: $(STAMP)
	$(BIN)/nnlib report $(ARGS)

quick-report: $(STAMP)
	$(BIN)/nnlib report --quick $(ARGS)

fetch-data: $(STAMP)
	$(BIN)/nnlib fetch-data

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/train_speed.py --model mlp --epochs 1
	$(BIN)/python benchmarks/train_speed.py --model cnn --epochs 1

clean-venv:
	rm -rf $(VENV)
