# spikemesh: `make demo` runs the main job, `make test` the test suite; both run `make setup` first.
PY ?= python3
export PYTHONUNBUFFERED=1

.PHONY: setup demo test bench report clean

# System tools (Icarus, the programmers, a C++ compiler for Verilator) are checked on every run and installed
# from Debian's packages when missing (sim/toolchain.py lists them); the pip step is redone when its inputs change.
setup: build/.setup-done
	@$(PY) sim/toolchain.py install

build/.setup-done: pyproject.toml setup.py
	@mkdir -p build
	@$(PY) sim/toolchain.py install
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	@touch $@

demo: setup
	spikemesh demo

test: setup
	$(PY) -m pytest -n 2 -q

clean:
	rm -rf build
