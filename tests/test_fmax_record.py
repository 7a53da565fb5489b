"""The Fmax recording paths of `spikemesh board build --record` and `spikemesh mesh synth --what dp --record`:
the keys they write into docs/measured.json and the command lines stored with them (no place and route here:
the builds are replaced by stored results)."""
import json
import shlex
from pathlib import Path

import pytest

from spikemesh.boards.build import BuildResult
from spikemesh.gen import measured
from spikemesh.gen.cli import build_parser, main


def _fake_build(config: str = "train", board: str = "ulx3s-85f") -> BuildResult:
    return BuildResult(board, config, Path("build/boards") / f"{board}_{config}", Path("top.bit"), 1.0, 60e6,
                       {"$glbnet$clk": 64.25e6}, {"TRELLIS_COMB": (8807, 83640), "TRELLIS_FF": (3669, 83640)},
                       critical_path="Critical path report for clock 'clk' (posedge -> posedge):\n...")


def _dp_result(name: str = "dp4_1x5_w32_64_32_10") -> dict:
    return {"name": name, "fmax_mhz": 43.0, "utilization": {"TRELLIS_COMB": 37303, "TRELLIS_FF": 16159},
            "critical_path": "Critical path report for clock '$glbnet$clk' (posedge -> posedge):\n..."}


@pytest.fixture
def measured_json(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "measured.json"
    monkeypatch.setattr(measured, "MEASURED", path)
    return path


def test_board_build_record_writes_soc_and_board_keys(measured_json, monkeypatch) -> None:
    import spikemesh.boards.build as build

    monkeypatch.setattr(build, "build_board", lambda *a, **kw: _fake_build())
    assert main(["board", "build", "--board", "ulx3s-85f", "--config", "train", "--record"]) == 0
    data = json.loads(measured_json.read_text())
    for key in ("soc.train", "board.train"):
        assert data[f"{key}.fmax_mhz"]["value"] == 64.2
        assert data[f"{key}.fmax_mhz"]["unit"] == "MHz (target 60)"
        assert data[f"{key}.lut"]["value"] == 8807
        assert data[f"{key}.fmax_mhz"]["command"] == \
            "spikemesh board build --board ulx3s-85f --config train --seed 1 --record"


def test_board_build_record_command_parses_back_to_the_same_build() -> None:
    from spikemesh.gen.commands.board import build_command

    args = build_parser().parse_args(shlex.split(build_command(_fake_build(), 1))[1:])
    assert (args.board, args.config, args.seed, args.record) == ("ulx3s-85f", "train", 1, True)
    assert not (args.layers or args.nextpnr_opts or args.synth_opts)


def test_icebreaker_record_has_no_soc_key() -> None:
    from spikemesh.gen.commands.board import build_figures

    assert set(build_figures(_fake_build("small", "icebreaker"))) == {"board.icebreaker.small.fmax_mhz",
                                                                      "board.icebreaker.small.lut"}


@pytest.mark.parametrize("cores", [4, 7])
def test_mesh_synth_record_writes_mesh_keys(measured_json, monkeypatch, cores: int) -> None:
    import spikemesh.gen.mesh_perf as mesh_perf

    calls = []

    def fake_mesh_synth(what, **kw):
        calls.append((what, kw))
        return [_dp_result()]

    monkeypatch.setattr(mesh_perf, "mesh_synth", fake_mesh_synth)
    argv = ["mesh", "synth", "--what", "dp", "--cores", str(cores), "--freq", "60", "--nextpnr-opts",
            "--router router2", "--record"]
    assert main(argv) == 0
    data = json.loads(measured_json.read_text())
    assert data[f"mesh.cores{cores}.fmax_mhz"]["value"] == 43.0
    assert data[f"mesh.cores{cores}.lut"]["value"] == 37303
    command = data[f"mesh.cores{cores}.fmax_mhz"]["command"]
    assert command == (f"spikemesh mesh synth --what dp --cores {cores} --layers 64-32-10 --freq 60 --seed 1 "
                       f"--nextpnr-opts '--router router2' --record")
    # the stored command runs the same build
    calls.clear()
    assert main(shlex.split(command)[1:]) == 0
    what, kw = calls[0]
    assert what == "dp" and kw["cores"] == cores and kw["layers"] == (64, 32, 10) and kw["freq"] == 60
    assert kw["seed"] == 1 and kw["nextpnr_opts"] == "--router router2" and not kw["yosys_only"]


def test_mesh_synth_record_refuses_what_it_cannot_record(measured_json, capsys) -> None:
    assert main(["mesh", "synth", "--what", "dp", "--cores", "4", "--yosys-only", "--record"]) == 2
    assert main(["mesh", "synth", "--what", "router", "--record"]) == 2
    assert capsys.readouterr().err.count("--record is for a placed and routed --what dp build") == 2
    from spikemesh.gen.mesh_perf import record_dp

    with pytest.raises(ValueError, match="not placed and routed"):
        record_dp({"name": "dp4"}, cores=4, path=measured_json)
    assert not measured_json.exists()


def test_core_synth_record_of_the_engines_core_writes_samples_per_s(measured_json, monkeypatch) -> None:
    """`core synth --record` of the engines table's SLTT core (64-128-128-10, T=8, P=4, forward engine) also
    writes core.sltt.samples_per_s from the recorded cycles per sample; any other core does not."""
    import spikemesh.gen.core_perf as core_perf

    measured.record({"core.sltt.p4.cycles_per_sample": (26735, "cycles")}, "spikemesh core bench --engines --record")
    monkeypatch.setattr(core_perf, "synth_ecp5", lambda *a, **kw: {
        "fmax_mhz": {"clk": 53.03}, "utilization": {"TRELLIS_COMB": 16461, "DP16KD": 102, "TRELLIS_FF": 6814}})
    assert main(["core", "synth", "--layers", "64-128-128-10", "--t-max", "8", "--lanes", "4", "--overlap",
                 "--router", "router2", "--record"]) == 0
    data = json.loads(measured_json.read_text())
    assert data["core.64-128-128-10.p4.overlap.fmax_mhz"]["value"] == 53.0
    assert data["core.64-128-128-10.p4.overlap.dp16kd"]["value"] == 102
    assert data["core.sltt.samples_per_s"]["value"] == round(53.03e6 / 26735)
    assert data["core.sltt.samples_per_s"]["command"].startswith("spikemesh core synth --layers 64-128-128-10")
    del data["core.sltt.samples_per_s"]
    measured_json.write_text(json.dumps(data))
    assert main(["core", "synth", "--layers", "64-128-128-10", "--t-max", "4", "--lanes", "4", "--overlap",
                 "--record"]) == 0  # another T: not the engines table's core
    assert "core.sltt.samples_per_s" not in json.loads(measured_json.read_text())


def test_rules_table_heads_table_and_markers(tmp_path) -> None:
    """`core bench --rules-table`: golden blocks -> the core's heads, one row per rule, and the docs block is
    replaced in place (not appended twice)."""
    from spikemesh.gen.rules_perf import _heads, rules_table, write_table

    assert _heads((1, 1, 1)) == (1, 2) and _heads((2, 1)) == (2,)
    runs = {r: {"cycles": c, "acc_mean": 96.5, "acc_sd": 0.5, "state_bytes": {4: 10, 8: 20, 16: 40}}
            for r, c in (("sltt", 1000.0), ("bptt", 2500.0))}
    table = rules_table(runs, 2)
    assert "| bptt | 96.50 ± 0.50% | 2,500 | 2.50x | 10 / 20 / 40 |" in table
    doc = tmp_path / "golden.md"
    doc.write_text("# golden\n")
    write_table(table, doc)
    write_table(table.replace("2,500", "2,400"), doc)
    text = doc.read_text()
    assert text.count("rules-table:begin") == 1 and "2,400" in text and "2,500" not in text


def test_engines_bench_synth_record_places_each_p(measured_json, monkeypatch, tmp_path) -> None:
    """`core bench --engines --synth --record`: one placed core per P (the forward engine from P = 4), every
    row's samples/s at its own P's Fmax, per-P keys and core.sltt.samples_per_s from the same run, and the
    docs block replaced in place (the simulations and builds replaced by stored results)."""
    import spikemesh.gen.core_perf as core_perf

    placed = []

    def fake_synth(layers, T, workdir, freq, router, **core):
        placed.append((tuple(layers), T, core["lanes"], core["overlap"], router))
        P = core["lanes"]
        return {"fmax_mhz": {"clk": 80.0 / P ** 0.25}, "workdir": str(workdir),
                "utilization": {"TRELLIS_COMB": 7000 * P, "TRELLIS_FF": 3000 * P, "DP16KD": 60 + P,
                                "MULT18X18D": 2 * P + 1}}

    def fake_cycles(layers, T, samples, rule, lanes, overlap=False, schedules=("sparse",), **kw):
        c = 100_000 / lanes * (0.8 if overlap else 1.0) * (1.5 if schedules == ("dense_upd",) else 1.0)
        run = {"fp_cycles": c / 2, "bp_cycles": c / 6, "wg_cycles": c / 6, "upd_cycles": c / 6, "cycles": c,
               "mac_ops": c * lanes * 0.7, "mac_issues": c, "overlap_cycles": c * 0.2 if overlap else 0}
        return {schedules[0]: [run] * samples, "wall_s": 1.0}

    monkeypatch.setattr(core_perf, "synth_ecp5", fake_synth)
    _real_place = core_perf._place_engines_core
    monkeypatch.setattr(core_perf, "core_cycles", fake_cycles)
    monkeypatch.setattr(core_perf, "summarise", lambda runs: dict(runs[0]))
    monkeypatch.setattr(core_perf, "torch_sltt_step", lambda *a, **kw: 0.01)
    doc = tmp_path / "core.md"
    doc.write_text(f"# core\n\n{core_perf.ENGINES_BEGIN}\nold table\n{core_perf.ENGINES_END}\n\nmore\n")
    monkeypatch.setattr(core_perf, "CORE_DOC", doc)
    monkeypatch.setattr(core_perf, "_place_engines_core", lambda layers, T, wd, P: (
        {"error": "SynthFailed: nextpnr failed"} if P == 8 else _real_place(layers, T, wd, P)))
    argv = ["core", "bench", "--engines", "--lanes", "1,4,8", "--samples", "2", "--synth", "--record",
            "--out", str(tmp_path / "bench.json")]
    assert main(argv) == 0
    assert sorted(placed) == [((64, 128, 128, 10), 8, 1, False, "router2"), ((64, 128, 128, 10), 8, 4, True, "router2")]
    assert core_perf.engines_router(8) == "router1"  # router2 stalls on the P >= 8 cores
    data = json.loads(measured_json.read_text())
    f4 = 80.0 / 4 ** 0.25
    assert data["core.engines.p4.fmax_mhz"]["value"] == round(f4, 1)
    assert data["core.engines.p1.lut"]["value"] == 7000 and data["core.engines.p4.bram"]["value"] == 64
    assert data["core.engines.p4.sltt.samples_per_s"]["value"] == round(f4 * 1e6 / (25_000 * 0.8))
    assert data["core.sltt.samples_per_s"]["value"] == round(round(f4, 1) * 1e6 / (25_000 * 0.8))
    assert data["core.engines.p1.fmax_mhz"]["command"] == \
        "spikemesh core bench --engines --lanes 1,4,8 --samples 2 --synth --record"  # every P, placed or not
    assert "core.engines.p8.fmax_mhz" not in data
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["runs"]["bptt"]["p1"]["samples_per_s"] == pytest.approx(80e6 / 100_000)
    assert main(argv) == 0  # a second run replaces the block
    text = doc.read_text()
    assert "old table" not in text and text.count(core_perf.ENGINES_BEGIN) == 1 and text.endswith("more\n")
    assert "| 4 | forward engine (router2) | 28,000 | 12,000 | 9 | 64 |" in text
    assert "| 8 | forward engine (router1) | not placed: SynthFailed: nextpnr failed |" in text



def test_engines_bench_failed_build_is_a_row_not_a_crash(monkeypatch, tmp_path) -> None:
    """A build that fails (a tool error) comes back as that P's error; the other P's results stand."""
    import spikemesh.gen.core_perf as core_perf

    def boom(*a, **kw):
        raise RuntimeError("nextpnr exited 1")

    monkeypatch.setattr(core_perf, "synth_ecp5", boom)
    row = core_perf._place_engines_core((64, 128, 128, 10), 8, tmp_path, 8)
    assert row == {"error": "RuntimeError: nextpnr exited 1"}
    run = {"fp_cycles": 1, "bp_cycles": 1, "wg_cycles": 1, "upd_cycles": 1, "cycles": 10, "speedup": 1.0,
           "utilisation": 0.5}
    table = core_perf.engines_table({"runs": {"sltt": {"p8": run}}, "ecp5_failed": {"p8": row["error"]}}, None)
    assert "| 8 | forward engine (router1) | not placed: RuntimeError: nextpnr exited 1 |" in table


def test_core_synth_seeds_records_the_median_seed(measured_json, monkeypatch, capsys) -> None:
    """`core synth --seeds 1,2,3` places the core once per seed and records the median seed's Fmax and LUT, the
    seeds and their Fmax in the unit and `--seeds` in the command; a bad seed list is refused before any tool."""
    import spikemesh.gen.core_perf as core_perf

    placed = []

    def fake(*a, seed=1, **kw):
        placed.append(seed)
        return {"fmax_mhz": {"clk": {1: 88.46, 2: 71.0, 3: 80.04}[seed]},
                "utilization": {"TRELLIS_COMB": 7000 + seed, "TRELLIS_FF": 3600}}

    monkeypatch.setattr(core_perf, "synth_ecp5", fake)
    assert main(["core", "synth", "--layers", "64-32-10", "--t-max", "4", "--router", "router2", "--seeds", "1,2,3",
                 "--record"]) == 0
    assert placed == [1, 2, 3]
    data = json.loads(measured_json.read_text())
    assert data["core.fmax_mhz"]["value"] == 80.0 and data["core.lut"]["value"] == 7003
    assert "median of seeds 1,2,3: 88.5/71.0/80.0 MHz" in data["core.fmax_mhz"]["unit"]
    assert data["core.fmax_mhz"]["command"].endswith("--freq 100 --seeds 1,2,3 --record")
    capsys.readouterr()
    assert main(["core", "synth", "--layers", "64-32-10", "--seeds", "0"]) == 2
    assert "--seeds: one or more nextpnr seeds >= 1" in capsys.readouterr().err
    assert placed == [1, 2, 3]
