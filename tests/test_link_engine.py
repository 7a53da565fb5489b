"""The link engine (COBS/CRC, stop-and-wait, duplicates, NAK, watchdog) against a bus memory model (cocotb)."""
from spikemesh.rtl.link.engine import LinkEngine
from spikemesh.rtl.link.protocol import PROTOCOL_VERSION, Ident, LinkConfig
from spikemesh.sim.cocotb_run import run_cocotb

CFG = LinkConfig(clocks_per_bit=8, max_words=160, watchdog_cycles=3000)
IDENT = Ident(PROTOCOL_VERSION, 16, 16, 0, CFG.max_words, 8, 1_000_000, bytes(range(1, 9)), b"\x00\x01\x02\x03",
              "engine-test").pack()


def test_link_engine_against_bus_model():
    run_cocotb(lambda: LinkEngine(CFG, 16, IDENT), toplevel="link_engine", sim="verilator",
               test_module="spikemesh.sim.benches.link_engine_bench",
               params={"max_words": CFG.max_words, "ident": IDENT.hex(), "watchdog": CFG.watchdog_cycles})
