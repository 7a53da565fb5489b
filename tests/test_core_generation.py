"""Generation at scale: the block-RAM estimate, the refusal of cores no supported board holds, and the emission
of a large core that fits (docs/core.md, "Generation time"). No wall-time asserts: times are printed."""
import gc
import json
import subprocess
import sys
import time

import pytest
from amaranth import Shape
from amaranth.back import verilog

from spikemesh.rtl.core import CoreConfig, CoreLayout, TrainingCore
from spikemesh.rtl.core.layout import LARGEST_DEVICE_BRAMS, dp16kd_blocks

TOO_BIG = "1024,1024,1024,10"  # beyond the largest device: refused before generation (~4.4 GB, > 300 s without the check)
# the largest class of core the 85F holds with G_1 as a matrix: 784 inputs (MNIST), 206 of 208 DP16KD at t_max = 4
# (784-119-10 needs 214)
LARGE_FIT = dict(layers=(784, 118, 10), t_max=4)

# DP16KD per memory that yosys' memory_libmap (the mapping of `synth_ecp5`) chose for these cores
# (read_rtlil; proc; flatten; memory -nomap; memory_libmap -lib lutrams_trellis.txt -lib brams_16kd.txt);
# memories not listed went to LUT RAM. The 64-32-10 totals (12, 16, 12, 13) are those of the placed builds in
# docs/core.md. `tch` (the sparse update's 1-bit column memory) was checked on the bare memory shape: yosys maps
# 512 and more entries to one DP16KD and 320 to LUT RAM, as the estimate does. W of a P-lane core is P skewed
# 16-bit banks (rtl/core/skewmem.py); each bank shape here was checked the same way (`synth_ecp5 -run :map_ffs`
# on the bare memory): 1184 x 16 -> 2, 608 -> 1, 3328 with two read ports -> 8, 40500 -> 40 DP16KD. dp is P
# lanes wide at P > 1 (lanemem): 34 x 128 (P = 8) goes to LUT RAM, 155 x 32 (P = 2) to one DP16KD. The psi and
# delta lists are indexed by the neuron layers' width only; their shapes were checked as bare memories the same way:
# 22 x 512 -> 1, 26 x 2048 -> 3, 26 x 512 -> 1, 25 x 4096 -> 6, 25 x 1024 -> 2 DP16KD.
YOSYS_BLOCKS = [
    (dict(layers=(64, 32, 10), t_max=4), dict(w=3, g=3, acc=1, spk=1, psi=1, dlt=1, prog=1)),
    (dict(layers=(64, 32, 10), t_max=4, overlap=True), dict(w=6, g=3, acc=1, spk=2, psi=1, dlt=1, prog=1)),
    (dict(layers=(64, 32, 10), t_max=4, lanes=2), dict(w0=2, w1=2, g=3, acc=1, spk=1, psi=1, dlt=1, prog=1)),
    (dict(layers=(64, 32, 10), t_max=4, lanes=4), dict(w0=1, w1=1, w2=1, w3=1, g=4, spk=1, psi=1, dlt=1, prog=1)),
    (dict(layers=(10, 7, 6, 4), t_max=4, lanes=4, overlap=True), dict(spk=2, psi=1, prog=1)),
    (dict(layers=(7, 5, 3), t_max=4, surrogates=("rect", "sigmoid"), sg_table_depth=16384),
     dict(sgt=16, psi=1, prog=1)),
    (dict(layers=(64, 128, 128, 10)), dict(w=26, g=26, v=1, acc=1, spk=2, psi=6, dp=1, dlt=1, a=1, prog=1)),
    (dict(layers=(64, 128, 128, 10), lanes=8, overlap=True),
     dict(**{f"w{b}": 8 for b in range(8)}, g=28, v=1, spk=4, psi=6, dlt=1, a=1, prog=1)),
    (dict(layers=(256, 256, 10)), dict(w=68, g=68, v=1, acc=1, x=1, spk=4, psi=12, dp=1, dlt=2, a=1, prog=1, tch=1)),
    (dict(layers=(784, 100, 10), t_max=4),
     dict(w=80, g=80, v=1, acc=1, x=1, spk=11, psi=3, dp=1, dlt=1, a=1, prog=1, tch=1)),
    (dict(layers=(300, 200, 100, 10), t_max=4, lanes=2),
     dict(w0=40, w1=40, g=80, v=1, acc=1, x=1, spk=5, psi=6, dp=1, dlt=2, a=1, prog=1, tch=1)),
    (dict(layers=(100, 300, 10), t_max=16, surrogates=("rect", "atan"), sg_table_depth=32768),
     dict(w=34, g=34, v=1, acc=1, x=1, spk=20, psi=48, dp=1, dlt=3, a=1, prog=1, sgt=32)),
]


@pytest.mark.parametrize("kwargs, blocks", YOSYS_BLOCKS)
def test_bram_estimate_matches_yosys(kwargs, blocks):
    need = CoreLayout(CoreConfig(**kwargs)).bram_blocks()
    assert {k: v for k, v in need.items() if v} == blocks


def test_bram_estimate_geometries():
    assert dp16kd_blocks(16, 96) == 0 and dp16kd_blocks(16, 106) == 1  # LUT RAM up to ~1.5 Kbit
    assert dp16kd_blocks(16, 1024) == 1 and dp16kd_blocks(16, 1025) == 2
    assert dp16kd_blocks(26, 32768) == 48  # 27-bit words (3 bytes of 9) packed into 18-bit ports
    assert dp16kd_blocks(16, 79400) == 80  # 16384 x 1 (5-way read mux) beats 78 x (1024 x 18) (78-way)
    assert dp16kd_blocks(32, 1184, lanes=2) == 3  # 512 x 36: two 16-bit lanes padded to 18 bits each
    assert dp16kd_blocks(16, 4096, ports=2) == 2 * dp16kd_blocks(16, 4096)  # a second read port: a copy


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")  # only the top level is elaborated
@pytest.mark.parametrize("kwargs", [dict(layers=(8, 6, 3), t_max=4),
                                    dict(layers=(7, 5, 3), t_max=3, lanes=2, overlap=True),
                                    dict(layers=(7, 5, 3), t_max=4, surrogates=("rect", "sigmoid"),
                                         sg_table_depth=16384)])
def test_memories_are_what_the_core_builds(kwargs):
    """CoreLayout.memories() (what the estimate counts) lists exactly the core's Memory objects and shapes."""
    cfg = CoreConfig(**kwargs)
    core = TrainingCore(cfg)
    core.elaborate(None)
    built = {name: (Shape.cast(mem.shape).width, mem.depth, len(mem.read_ports), len(mem.write_ports))
             for name, mem in core.memories.items()}
    listed = {name: (width, depth, ports, 1) for name, width, depth, ports, _ in CoreLayout(cfg).memories()}
    del core
    gc.collect()  # the unelaborated submodules warn here, under the filter, not in a later test
    assert built == listed


def test_largest_device_is_the_boards_largest():
    from spikemesh.boards.profiles import BOARDS, ECP5_DP16KD

    assert LARGEST_DEVICE_BRAMS == max(ECP5_DP16KD.values()) == max(b().bram_blocks for b in BOARDS.values())


def test_too_big_core_is_refused_at_once():
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as exc:
        CoreConfig(layers=tuple(int(n) for n in TOO_BIG.split(",")))
    dt = time.perf_counter() - t0
    msg = str(exc.value)
    print(f"\n{TOO_BIG}: refused in {dt * 1e3:.2f} ms: {msg}")
    # W = G = 1024*1024 + 1024*1024 + 1024*10 = 2,107,392 words each: 129 address blocks of 16384 x 1 = 2064 DP16KD
    # (+1 for the sparse update's 3,072 column bits)
    assert msg.startswith("layers=(1024, 1024, 1024, 10)")
    assert "needed 4220 DP16KD" in msg and "w 2064, g 2064" in msg and "2,107,392" in msg
    assert f"available {LARGEST_DEVICE_BRAMS}" in msg and "ECP5-85F" in msg and "\n" not in msg


def test_refusal_boundary():
    CoreConfig(**LARGE_FIT)  # 206 of 208 DP16KD
    with pytest.raises(ValueError, match=r"needed 214 DP16KD"):
        CoreConfig(layers=(784, 119, 10), t_max=4)  # one more neuron: W and G grow by 4 blocks each
    with pytest.raises(ValueError, match=r"needed 236 DP16KD"):
        CoreConfig(layers=(784, 128, 10))  # t_max 8: the spike/psi lists double
    with pytest.raises(ValueError, match=r"layers\[1\]"):  # per-parameter checks still come first
        CoreConfig(layers=(8, 2000))


def test_cli_refuses_with_one_line(tmp_path, capsys, monkeypatch):
    from spikemesh.gen.cli import main

    def never(*args, **kwargs):  # without the refusal the emitter would run for minutes: fail at once instead
        raise AssertionError("the configuration reached the emitter")

    monkeypatch.setattr(verilog, "convert", never)
    out = tmp_path / "core.v"
    assert main(["emit", "core", "--layers", TOO_BIG, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikemesh emit: error: layers=(1024, 1024, 1024, 10)")
    assert "needed 4220" in err and "available 208" in err
    assert not out.exists()


EMIT = """
import json, resource, sys, time
from spikemesh.gen.cli import main
t0 = time.perf_counter()
rc = main(["emit", "core", "--layers", sys.argv[1], "--t-max", sys.argv[2], "-o", sys.argv[3]])
print(json.dumps(dict(rc=rc, wall=time.perf_counter() - t0,
                      rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def test_large_core_that_fits_emits(tmp_path):
    """The largest class of core the 85F holds goes through `spikemesh emit core` (in its own process, for its
    peak memory); the time is printed, not asserted (docs/core.md: ~9 s)."""
    out = tmp_path / "core.v"
    layers = ",".join(map(str, LARGE_FIT["layers"]))
    r = subprocess.run([sys.executable, "-c", EMIT, layers, str(LARGE_FIT["t_max"]), str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"\nspikemesh emit core --layers {layers} --t-max {LARGE_FIT['t_max']}: {res['wall']:.1f} s, "
          f"peak RSS {res['rss_mb']:.0f} MB (python)")
    assert res["rc"] == 0
    text = out.read_text()
    lay = CoreLayout(CoreConfig(**LARGE_FIT))
    assert text.count("module spikemesh_core(") == 1 and "endmodule" in text
    assert f"reg [15:0] mem_w [{lay.wdepth - 1}:0];" in text and f"reg [15:0] mem_g [{lay.wdepth - 1}:0];" in text
    assert res["rss_mb"] < 2048  # "a few GB" at most; ~0.1 GB measured (docs/core.md)
