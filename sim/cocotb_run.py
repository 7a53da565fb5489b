"""Run a cocotb testbench against the Verilog that Amaranth generates, from pytest or the CLI.

One build directory per (design, parameters, simulator), so parametrised runs never share state.
Test inputs reach the cocotb module through environment variables (JSON), see `cocotb_param`.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

from .emit import convert_verilog
from .toolchain import setup_simulator_path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUILD_ROOT = REPO_ROOT / "build" / "cocotb"
PARAM_ENV = "SPIKEMESH_COCOTB_PARAMS"


def cocotb_param() -> dict[str, Any]:
    """Inside a cocotb test: the parameters that `run_cocotb(params=...)` passed."""
    return json.loads(os.environ.get(PARAM_ENV, "{}"))


def emit_verilog(component, name: str, path: Path) -> Path:
    """Convert an Amaranth component to Verilog at `path` (top module `name`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = convert_verilog(component, name=name, emit_src=False)
    if not path.exists() or path.read_text() != text:  # unchanged Verilog keeps its mtime: no rebuild
        path.write_text(text)
    return path


def run_cocotb(
    make_component: Callable[[], Any],
    *,
    toplevel: str,
    test_module: str,
    sim: str,
    params: dict[str, Any] | None = None,
    tag: str = "",
    build_root: Path | None = None,
    testcase: str | None = None,
    extra_sources: list[Path] | None = None,
    timeout_env: dict[str, str] | None = None,
) -> Path:
    """Emit Verilog, build it with `sim` and run the cocotb `test_module`; raise AssertionError on any failure.

    `test_module` is a dotted module name importable in the test process (e.g. "spikemesh.sim.benches.fp_bench").
    `tag` distinguishes builds of the same toplevel with different generator parameters.
    """
    setup_simulator_path(sim)
    params = params or {}
    key = hashlib.sha1(json.dumps([toplevel, tag], sort_keys=True).encode()).hexdigest()[:10]
    build_dir = (build_root or DEFAULT_BUILD_ROOT) / f"{toplevel}_{tag}_{key}" / sim
    build_dir.mkdir(parents=True, exist_ok=True)
    # one run per build directory at a time: pytest-xdist workers share builds, and a build, its results.xml
    # and test.log must not be rewritten under a concurrent run (a rebuild race failed a case once)
    with open(build_dir / ".run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_and_test(make_component, toplevel, build_dir, sim, test_module, testcase, params,
                               extra_sources, timeout_env)


def _build_and_test(make_component, toplevel, build_dir, sim, test_module, testcase, params, extra_sources,
                    timeout_env) -> Path:
    from cocotb_tools.runner import get_runner

    vpath = emit_verilog(make_component(), toplevel, build_dir / f"{toplevel}.v")
    sources = [vpath, *(extra_sources or [])]

    runner = get_runner(sim)
    build_args: list[str] = []
    if sim == "verilator":
        # Amaranth's output trips WIDTH lint warnings that are harmless.
        build_args = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-Wno-PINCONNECTEMPTY", "-O2"]
    stamp = _build_stamp(sim, toplevel, sources, build_args)
    built = _is_built(build_dir, sim, toplevel, stamp)
    if built:  # the executable is current: build() only sets the runner up for test(), running nothing
        runner._build_command = lambda: []
    else:
        (build_dir / BUILT_STAMP).unlink(missing_ok=True)
    runner.build(
        sources=sources,
        hdl_toplevel=toplevel,
        build_dir=build_dir,
        build_args=build_args,
        timescale=("1ns", "1ps"),
        always=True,
        log_file=build_dir / "build.log" if not built else None,
    )
    if not built:
        if sim == "verilator":
            prune_build(build_dir, keep={toplevel, vpath.name, "build.log", ".run.lock"})
        (build_dir / BUILT_STAMP).write_text(stamp)
    env = {PARAM_ENV: json.dumps(params)}
    env.update(timeout_env or {})
    results = runner.test(
        test_module=test_module,
        hdl_toplevel=toplevel,
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env=env,
        testcase=testcase,
        timescale=("1ns", "1ps"),
        log_file=build_dir / "test.log",
    )
    _check_results(Path(results), build_dir / "test.log")
    return build_dir


BUILT_STAMP = ".built"


def _build_stamp(sim: str, toplevel: str, sources: list[Path], build_args: list[str]) -> str:
    """What a build depends on: the simulator, its arguments and every source's bytes."""
    h = hashlib.sha1(json.dumps([sim, toplevel, build_args]).encode())
    for source in sources:
        h.update(Path(source).read_bytes())
    return h.hexdigest()


def _is_built(build_dir: Path, sim: str, toplevel: str, stamp: str) -> bool:
    """A finished build of exactly these sources is there: skip the simulator's build step altogether.

    Verilator's runner would rerun verilator and make each time, and needs the intermediate objects to see that
    nothing changed; with the stamp they can go (see `prune_build`)."""
    stamp_file = build_dir / BUILT_STAMP
    product = build_dir / (toplevel if sim == "verilator" else "sim.vvp")
    return product.exists() and stamp_file.exists() and stamp_file.read_text() == stamp


def prune_build(build_dir: Path, keep: set[str]) -> None:
    """Delete a finished Verilator build's intermediates (generated C++, objects, two ~90 MB precompiled headers
    per design), keeping the simulation executable: a full test run otherwise leaves several GB behind."""
    for path in build_dir.iterdir():
        if path.name in keep:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _check_results(results_xml: Path, log: Path) -> None:
    """cocotb's runner returns a results file rather than raising: turn failures into an AssertionError."""
    tree = ET.parse(results_xml)
    failures, n = [], 0
    for case in tree.iter("testcase"):
        n += 1
        for bad in list(case.iter("failure")) + list(case.iter("error")):
            failures.append(f"{case.get('name')}: {bad.get('message', '')}")
    if n == 0:
        raise AssertionError(f"cocotb ran no test; see {log}")
    if failures:
        tail = log.read_text()[-4000:] if log.exists() else ""
        raise AssertionError("cocotb failures:\n" + "\n".join(failures) + "\n--- log tail ---\n" + tail)
