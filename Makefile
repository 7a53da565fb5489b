# spikemesh: `make demo` runs the main job, `make test` the test suite; both run `make setup` first.
PY ?= python3
export PYTHONUNBUFFERED=1

.PHONY: setup demo test bench report clean

setup: build/.setup-done

build/.setup-done: pyproject.toml setup.py
	@mkdir -p build
	@if ! command -v iverilog >/dev/null 2>&1; then \
	  (apt-get update -qq && apt-get install -y -qq iverilog) || \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq iverilog); fi
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	@touch $@

demo: setup
	spikemesh demo

test: setup
	$(PY) -m pytest -n 2 -q

clean:
	rm -rf build
