# The README's commands. Each target creates .venv with python3 -m venv and installs
# what it needs with pip (torch==2.13.0 is a CPU build pip takes from this machine's disk).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# setuptools' "Editable installation" notice is a warning that --quiet does not hide.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet \
	--disable-pip-version-check

.PHONY: demo test typecheck docs bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel

# One stamp per set of extras, refreshed when pyproject.toml changes.
$(VENV)/.run: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[torch]'
	touch $@

$(VENV)/.dev: pyproject.toml examples/lamina-example-plugin/pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev,torch,dask,docs]' -e examples/lamina-example-plugin
	touch $@

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[bench,torch]'
	touch $@

demo: $(VENV)/.run
	$(BIN)/lamina plugins
	$(BIN)/lamina demo

test: $(VENV)/.dev typecheck docs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The documentation site, warnings as errors; the gallery's pictures are computed
# by lamina as it builds (about 15 s on an idle machine).
docs: $(VENV)/.dev
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs build/docs

# mypy resolves `lamina` through a link tree that mirrors the package-dir mapping
# (lamina -> framework/, lamina.plugins -> plugins/, lamina.kernels -> kernels/);
# it checks the host (framework's modules and every package under it) and every
# built-in plugin.
HOST_PACKAGES := $(patsubst framework/%/__init__.py,lamina/%,$(wildcard framework/*/__init__.py))
typecheck: $(VENV)/.dev
	rm -rf build/typing && mkdir -p build/typing/lamina
	ln -s $(CURDIR)/framework/* $(CURDIR)/plugins $(CURDIR)/kernels build/typing/lamina/
	cd build/typing && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml \
		lamina/*.py $(HOST_PACKAGES) lamina/plugins

# Peers that clash with our dependencies get venvs of their own: Orange3 pins an
# older numpy (benchmarks/learners.py drives it as a subprocess).
ORANGE := .bench/orange/bin/python
$(ORANGE):
	$(PYTHON) -m venv .bench/orange
	.bench/orange/bin/python -m pip install --quiet --disable-pip-version-check orange3

# VTK renders offscreen through Mesa (EGL/OSMesa on llvmpipe) from Debian's packages.
.bench/mesa:
	mkdir -p .bench
	dpkg -s libosmesa6 libegl-mesa0 libgl1 >/dev/null 2>&1 || \
		(apt-get update -qq && apt-get install -y -qq libosmesa6 libegl-mesa0 libgl1)
	touch $@

bench: $(VENV)/.bench $(ORANGE) .bench/mesa
	LAMINA_ORANGE_PYTHON=$(abspath $(ORANGE)) sh -c \
		'for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done'

clean:
	rm -rf $(VENV) .bench build *.egg-info
