# Two commands on a fresh machine (python3 + make): `make test` and `make report`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KERNEL := $(VENV)/share/jupyter/kernels/nnlib/kernel.json

.PHONY: test report quick-report reproduce check-report lab fetch-data bench clean-venv

# A failed `venv` (e.g. Debian without python3-venv) must not leave a half-made .venv behind.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "nnlib needs Python >= 3.10 (found: $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "could not create $(VENV): on Debian/Ubuntu install python3-venv"; exit 1; }

# Re-install when the package metadata or the JupyterLab settings override changes.
# jupyter/overrides.json goes to the environment's JupyterLab settings folder (`make lab` then asks
# no "Jupyter news" question); conda users copy it to $$CONDA_PREFIX/share/jupyter/lab/settings/.
$(STAMP): pyproject.toml jupyter/overrides.json | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

# The kernel every notebook names ("nnlib"), in the venv: papermill and JupyterLab run with it.
# (A venv made before the kernel had its name has a "python3" one with the same display name.)
$(KERNEL): | $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name nnlib --display-name "Python 3 (nnlib)"
	rm -rf $(VENV)/share/jupyter/kernels/python3

test: $(STAMP) $(KERNEL)
	$(BIN)/python -m pytest

report: $(STAMP) $(KERNEL)
	$(BIN)/nnlib report $(ARGS)

quick-report: $(STAMP) $(KERNEL)
	$(BIN)/nnlib report --quick $(ARGS)

# Every notebook again from an empty run cache (reports/reproduce/), each headline compared with
# the published report; exit 1 if a number differs beyond the verdict rule.
reproduce: $(STAMP) $(KERNEL)
	$(BIN)/nnlib report --reproduce $(ARGS)

check-report: $(STAMP)
	$(BIN)/nnlib report --check

fetch-data: $(STAMP)
	$(BIN)/nnlib fetch-data

# tests/test_lab_browser.py starts it the same way (plus a free port, no token, a copied notebook).
lab: $(STAMP) $(KERNEL)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/train_speed.py --model mlp --epochs 1
	$(BIN)/python benchmarks/train_speed.py --model cnn --epochs 1

clean-venv:
	rm -rf $(VENV)
