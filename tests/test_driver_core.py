"""The one core driver (firmware/core_driver.py): registers and bit fields by name from the memory map, the
per-sample sequence over a bus port, the same code synchronous (board link, mesh) and asynchronous (cocotb,
Amaranth's simulator)."""
import json

import numpy as np
import pytest

from spikemesh.firmware.core_driver import BoardPort, CoreDriver, SyncCoreDriver, core_target, run_sync
from spikemesh.rtl.bus import MemoryMap, find_register
from spikemesh.rtl.core import CoreConfig, CoreLayout
from spikemesh.rtl.core.layout import (COUNTERS, CTRL_CLEAR_COUNTERS, CTRL_REGS, CTRL_START, MODE_DIRECT,
                                       MODE_TABLE, OVERLAP_COUNTERS, STATUS_BUSY, STATUS_DONE)

CFG = CoreConfig((7, 5, 3), t_max=4)


class FakeCore:
    """Words in a dict, the core's ctrl register answering busy for `busy_polls` reads after a start."""

    def __init__(self, ctrl_addr: int, busy_polls: int = 2):
        self.mem: dict[int, int] = {}
        self.log: list[tuple[str, int, list]] = []
        self.ctrl_addr, self.busy_polls, self.left = ctrl_addr, busy_polls, 0

    def read(self, addr, n):
        self.log.append(("r", addr, n))
        out = []
        for a in range(addr, addr + n):
            if a == self.ctrl_addr:
                self.left -= 1
                out.append(STATUS_BUSY if self.left >= 0 else STATUS_DONE)
            else:
                out.append(self.mem.get(a, 0))
        return np.array(out, np.uint16)

    def write(self, addr, words):
        words = [int(w) for w in np.asarray(words).ravel()]
        self.log.append(("w", addr, words))
        for k, w in enumerate(words):
            self.mem[addr + k] = w
        if addr == self.ctrl_addr and words and words[0] & CTRL_START:
            self.left = self.busy_polls


def test_memory_map_lists_registers_and_fields():
    mm = MemoryMap(addr_width=24)
    base = mm.add("core", CoreLayout(CFG).regions())
    mm = MemoryMap.from_json(mm.to_json())  # what the host loads
    addr, reg = mm.register("core", "ctrl")
    assert addr == base + CoreLayout(CFG).region("ctrl").offset
    fields = {f["name"]: (f["offset"], f["width"], f["access"]) for f in reg["fields"]}
    assert fields == {"start": (0, 1, "w"), "clear": (1, 1, "w"), "busy": (0, 1, "r"), "done": (1, 1, "r")}
    assert [r["name"] for r in next(r for r in mm.target("core")["regions"] if r["name"] == "ctrl")["registers"]] \
        == list(CTRL_REGS)
    mode = mm.register("core", "mode")[1]
    assert {f["name"]: 1 << f["offset"] for f in mode["fields"]}["table"] == MODE_TABLE
    # counters: one 32-bit register (two words) per counter, the forward engine's too
    ov = CoreLayout(CoreConfig((7, 5, 3), t_max=4, overlap=True))
    regs = ov.region("counters").registers
    assert [r.name for r in regs] == list(COUNTERS + OVERLAP_COUNTERS) and {r.words for r in regs} == {2}
    # a one-word region is a register by itself; unknown names are refused
    assert find_register([{"name": "session", "offset": 7, "size": 1, "access": "rw", "description": ""}],
                         "session")[0] == 7
    with pytest.raises(KeyError):
        mm.register("core", "nonesuch")


def test_write_reg_by_fields():
    drv = CoreDriver(None, CFG)  # address arithmetic only
    assert drv.reg_value("ctrl", start=1, clear=1) == CTRL_START | CTRL_CLEAR_COUNTERS == 3
    assert drv.reg_value("mode", direct=1, table=1) == MODE_DIRECT | MODE_TABLE
    with pytest.raises(ValueError, match="read-only"):
        drv.reg_value("ctrl", done=1)
    with pytest.raises(KeyError, match="no field"):
        drv.reg_value("ctrl", go=1)
    with pytest.raises(ValueError, match="does not fit"):
        drv.reg_value("ctrl", start=2)
    with pytest.raises(TypeError):
        drv.reg_value("ctrl", 3, start=1)


def test_sync_driver_runs_the_per_sample_sequence_over_a_board_port():
    mm = MemoryMap(addr_width=24)
    base = mm.add("core", CoreLayout(CFG).regions())
    fake = FakeCore(base + CoreLayout(CFG).region("ctrl").offset)
    fake.map = mm
    drv = SyncCoreDriver(CoreDriver(BoardPort(fake), CFG, core_target(mm)))
    X = [np.array([0, 1.5, 0, 0, 2.0, 0, 0], np.float16)]
    drv.load_input(X, True, label=2)
    drv.write_reg("theta", 0x3C00)
    polls = drv.run([0x1234, 0x5678])
    assert polls == 2  # two polls answered busy, the third done
    lay, b = CoreLayout(CFG), drv.base
    writes = [(a, w) for kind, a, w in fake.log if kind == "w"]
    assert writes[0] == (drv.reg_addr("label"), [2])
    assert writes[1] == (b["x"], np.asarray(X[0]).view(np.uint16).tolist())
    assert writes[2] == (b["spk"] + lay.spk_addr(0, 0, 0), [1 | 1 << lay.nb, 4 | 1 << lay.nb])
    assert writes[3] == (b["cnt"] + lay.cnt_addr(0, 0), [2])
    assert writes[-3:] == [(b["prog"], [0x1234, 0x5678]), (drv.reg_addr("start_pc"), [0]),
                           (drv.reg_addr("ctrl"), [3])]
    assert drv.read_reg("theta") == 0x3C00
    ctr = drv.counters()
    assert list(ctr) == list(COUNTERS) and not any(ctr.values())


def test_core_client_is_the_driver_over_a_board():
    from types import SimpleNamespace

    from spikemesh.firmware.link import LinkError
    from spikemesh.firmware.train import CoreClient

    mm = MemoryMap(addr_width=24)
    base = mm.add("core", CoreLayout(CFG).regions())
    fake = FakeCore(base + CoreLayout(CFG).region("ctrl").offset, busy_polls=1)
    fake.map, fake.session_token = mm, 0
    cl = CoreClient(fake, CFG)
    cl.run(timeout=5.0)
    assert fake.log[0] == ("w", cl.reg_addr("ctrl"), [3]) and cl.status() == {"busy": False, "done": True}
    trailer = cl.run_writes(clear_counters=False, limit=9)
    assert trailer[0] == (cl.reg_addr("ctrl"), [1])
    assert (trailer[1][1].mask, trailer[1][1].value) == (STATUS_BUSY | STATUS_DONE, STATUS_DONE)
    with pytest.raises(LinkError, match="no training core"):
        CoreClient(SimpleNamespace(map=MemoryMap(addr_width=24)), CFG)
    with pytest.raises(LinkError, match="does not match"):
        CoreClient(fake, CoreConfig((7, 5, 3), t_max=4, overlap=True))


def test_sync_driver_refuses_a_port_that_suspends():
    class Suspending:
        async def read(self, addr, n):
            import asyncio
            await asyncio.sleep(0)
            return [0] * n

    with pytest.raises(RuntimeError, match="suspended"):
        run_sync(CoreDriver(Suspending(), CFG).read_reg("theta"))


def test_pysim_driver_registers_on_the_core():
    """The async driver on Amaranth's simulator: registers by name, status fields, a short program, counters."""
    from amaranth.sim import Simulator

    from spikemesh.firmware.program import assemble
    from spikemesh.rtl.core import TrainingCore, config_id
    from spikemesh.rtl.core.isa import Op
    from spikemesh.sim.benches.core_host import PysimCoreHost

    dut = TrainingCore(CFG)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    out = {}

    async def tb(ctx):
        h = PysimCoreHost(ctx, dut)
        await h.write_reg("theta", 0x3C00)
        out["theta"] = await h.read_reg("theta")
        out["id"] = await h.read_reg("config_id")
        out["before"] = await h.status()
        out["polls"] = await h.run(assemble([(Op.CLRV, 0, 0)], CFG))
        out["after"] = await h.read_fields("ctrl")
        out["ctr"] = await h.counters()

    sim.add_testbench(tb)
    sim.run()
    assert out["theta"] == 0x3C00 and out["id"] == config_id(CFG)
    assert out["before"] == {"busy": False, "done": False} and out["after"] == {"busy": 0, "done": 1}
    assert out["ctr"]["cycles"] > 0 and list(out["ctr"]) == list(COUNTERS)


def test_core_map_command_lists_registers(capsys):
    from spikemesh.gen.cli import main

    assert main(["core", "map", "--layers", "7-5-3", "--t-max", "4"]) == 0
    mm = json.loads(capsys.readouterr().out)
    ctrl = next(r for r in mm["targets"][0]["regions"] if r["name"] == "ctrl")
    assert [r["name"] for r in ctrl["registers"]] == list(CTRL_REGS)
