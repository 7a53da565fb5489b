"""gen/synth_flow.py, the one yosys + nextpnr flow: cache keys, report and log parsing, one real tiny build
(cached the second time, never after a failed stage), and the board requests against Amaranth's build script."""
import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring

from spikemesh.boards.build import PACK_OPTS, board_request
from spikemesh.boards.profiles import board_profile
from spikemesh.gen.synth_flow import (SynthFailed, SynthRequest, critical_paths, median, parse_report,
                                      synthesise)

ADDER = """module adder(input clk, input [7:0] a, input [7:0] b, output reg [8:0] s);
  reg [7:0] qa, qb;
  always @(posedge clk) begin qa <= a; qb <= b; s <= qa + qb; end
endmodule
"""

LOG = """Info: Routing complete.

Info: Critical path report for clock '$glbnet$clk' (posedge -> posedge):
Info:       type curr  total name
Info:   clk-to-q  0.52  0.52 Source qa_TRELLIS_FF_Q.Q
Info:    routing  0.90  1.42 Net qa[0] (39,43) -> (38,43)
Info:      setup  0.00  1.42 Source s_TRELLIS_FF_Q_1.DI
Info: 0.52 ns logic, 0.90 ns routing

Info: Max frequency for clock '$glbnet$clk': 301.20 MHz (PASS at 250.00 MHz)
"""


def test_cache_key_follows_the_verilog_and_every_option():
    base = SynthRequest.from_verilog(ADDER, "adder", freq_mhz=100)
    assert base.key == SynthRequest.from_verilog(ADDER, "adder", freq_mhz=100).key  # stable
    assert base.sources == (("adder.v", ADDER),)
    changed = [SynthRequest.from_verilog(ADDER.replace("qa + qb", "qa - qb"), "adder", freq_mhz=100)]
    changed += [replace(base, **kw) for kw in (
        dict(freq_mhz=125), dict(seed=2), dict(router="router2"), dict(nextpnr_args=("--tmg-ripup",)),
        dict(device="45k"), dict(package="CABGA256"), dict(speed=8), dict(synth_opts="-nodsp"),
        dict(timing_allow_fail=False), dict(pack=True), dict(pack=True, pack_args=("--compress",)),
        dict(constraints=(("top.lpf", "BLOCK RESETPATHS;"),)), dict(yosys_script="read_verilog adder.v"),
        dict(sources=(("other.v", ADDER),)), dict(family="ice40", device="up5k", package="sg48"))]
    keys = [r.key for r in changed]
    assert base.key not in keys and len(set(keys)) == len(keys)
    # options of nextpnr only keep the yosys key (one netlist, several placements)
    assert replace(base, seed=2).yosys_key() == base.yosys_key() != changed[0].yosys_key()
    assert replace(base, place=False).key == base.yosys_key()


def test_request_refuses_bad_values():
    with pytest.raises(ValueError, match="family must be one of"):
        SynthRequest.from_verilog(ADDER, "adder", family="gowin")
    with pytest.raises(ValueError, match="pack needs place"):
        SynthRequest.from_verilog(ADDER, "adder", place=False, pack=True)
    with pytest.raises(ValueError, match="plain file names"):
        SynthRequest(top="adder", sources=(("../adder.v", ADDER),))


def test_commands_name_the_device_target_and_outputs():
    req = SynthRequest.from_verilog(ADDER, "adder", freq_mhz=62.5, seed=3, router="router2", pack=True,
                                    pack_args=("--compress",), nextpnr_args=("--lpf-allow-unconstrained",))
    cmd = req.nextpnr_cmd("o")
    assert cmd[0].endswith("nextpnr-ecp5")
    for pair in (["--85k"], ["--package", "CABGA381"], ["--json", "adder.json"], ["--freq", "62.5"],
                 ["--seed", "3"], ["--router", "router2"], ["--textcfg", "o/adder.config"],
                 ["--report", "o/report.json"], ["--timing-allow-fail"], ["--lpf-allow-unconstrained"]):
        assert any(cmd[i:i + len(pair)] == pair for i in range(len(cmd))), pair
    assert req.pack_cmd("o")[1:] == ["--compress", "--input", "o/adder.config", "--bit", "o/adder.bit"]
    ice = SynthRequest.from_verilog(ADDER, "adder", family="ice40", device="up5k", package="sg48", pack=True)
    assert ice.pack_cmd("o")[1:] == ["o/adder.asc", "o/adder.bin"] and "--asc" in ice.nextpnr_cmd("o")
    assert ice.script() == "read_verilog adder.v; synth_ice40 -top adder -json adder.json"


def test_report_and_log_parsing(tmp_path: Path):
    rep = tmp_path / "report.json"
    rep.write_text(json.dumps({"fmax": {"$glbnet$clk": {"achieved": 301.2, "constraint": 250.0}},
                               "utilization": {"TRELLIS_COMB": {"used": 12, "available": 83640},
                                               "DP16KD": {"used": 0, "available": 208}}}))
    fmax, util = parse_report(rep)
    assert fmax == {"$glbnet$clk": 301.2} and util == {"TRELLIS_COMB": (12, 83640), "DP16KD": (0, 208)}
    cp = critical_paths(LOG)
    assert cp.startswith("Critical path report for clock '$glbnet$clk'") and cp.endswith("0.90 ns routing")
    assert "Max frequency" not in cp and "Info:" not in cp
    assert median([3, None, 1, 2]) == 2 and median([None]) is None


def test_real_build_is_cached_and_failures_are_not(tmp_path: Path):
    req = SynthRequest.from_verilog(ADDER, "adder", freq_mhz=100)
    first = synthesise(req, tmp_path)
    assert not first.cached and first.cells["TRELLIS_FF"] == 25
    assert first.ffs == 25 and first.luts > 0 and first.dsps == 0 and first.brams == 0
    assert first.fmax and first.fmax == min(first.fmax_mhz.values()) and "Critical path" in first.critical_path
    assert first.report.exists() and first.nextpnr_log.exists() and first.netlist.exists()
    again = synthesise(req, tmp_path)
    assert again.cached and again.fmax_mhz == first.fmax_mhz and again.utilization == first.utilization
    other_seed = synthesise(replace(req, seed=2), tmp_path)
    assert other_seed.yosys_cached and not other_seed.pnr_cached and other_seed.workdir == first.workdir
    bad = SynthRequest.from_verilog(ADDER.replace("endmodule", ""), "adder")
    with pytest.raises(SynthFailed) as exc:
        synthesise(bad, tmp_path)
    assert exc.value.stage == "yosys" and exc.value.log.name == "yosys.log"
    assert not (exc.value.log.parent / "yosys.done").exists()


class _Blink(wiring.Component):
    def __init__(self):
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        led, count = platform.request("led", 0), Signal(24)
        m.d.sync += count.eq(count + 1)
        m.d.comb += led.o.eq(count[-1])
        return m


def _options(cmd: list[str]) -> list[str]:
    """The arguments of a command line without the program, its log file and the folder of its outputs."""
    out, skip = [], False
    for tok in cmd[1:]:
        if skip:
            skip = False
            continue
        if tok in ("--log", "--svf"):
            skip = True
            continue
        out.append(tok.split("/")[-1])
    return sorted(out)


@pytest.mark.parametrize("board", ["ulx3s-85f", "icebreaker"])
def test_board_request_runs_what_amaranths_build_script_would(board: str):
    """The nextpnr and packer arguments equal the ones in the build script Amaranth renders for the same
    platform (its default packer options included): the board builds run the same tools as before."""
    prof = board_profile(board)
    freq = prof.clk_hz / 1e6
    req = board_request(prof.platform(), prof.family, _Blink(), seed=3, freq_mhz=freq, nextpnr_opts="--router router2")
    plan = prof.platform().prepare(_Blink(), name="top", nextpnr_opts=(
        f"--report report.json --seed 3 --freq {freq:g} --timing-allow-fail --router router2"))
    script = [shlex.split(line) for line in plan.files["build_top.sh"].splitlines() if line.startswith('"$')]
    yosys, nextpnr, pack = script
    assert yosys[1:] == ["-q", "-l", "top.rpt", "top.ys"] and req.yosys_script == plan.files["top.ys"]
    assert _options(nextpnr) == _options(req.nextpnr_cmd("pnr"))
    assert _options(pack) == _options(req.pack_cmd("pnr"))
    assert req.pack_args == PACK_OPTS[prof.family]
    assert dict(req.sources) == {"top.il": plan.files["top.il"]}
