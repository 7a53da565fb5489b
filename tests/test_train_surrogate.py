"""CoreClient.set_surrogate: the host refuses a surrogate the core lacks and writes a table surrogate's window
(sgr registers, sgt entries) at the addresses of the board's memory map. The words it writes are checked
against the golden table through `reconstruct` (the hardware's lookup rule)."""
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from spikemesh.firmware.surrogate_table import reconstruct, surrogate_window
from spikemesh.firmware.train import CoreClient
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.layout import CoreLayout
from spikemesh.sim.golden import surrogate_table


class RecordingBoard:
    """Just enough of `Board` for CoreClient: a memory map with the core at `base`, and a write log."""

    def __init__(self, cfg: CoreConfig, base: int = 0x10000):
        regions = [{"name": r.name, "offset": r.offset, "size": r.size} for r in CoreLayout(cfg).regions()]
        self.map = SimpleNamespace(targets=[{"name": "core", "base": base, "regions": regions}])
        self.mem: dict[int, int] = {}

    def write(self, addr, words):
        for k, w in enumerate(np.asarray(words).ravel()):
            self.mem[addr + k] = int(w)


def test_set_surrogate_refuses_missing_kind():
    client = CoreClient(RecordingBoard(CoreConfig((7, 5, 3), t_max=4)), CoreConfig((7, 5, 3), t_max=4))
    with pytest.raises(ValueError, match="surrogate 'sigmoid' is not built"):
        client.set_surrogate("sigmoid", 1.0)
    client.set_surrogate("tri", 1.0)  # compiled in by default: nothing to write
    assert client.board.mem == {}


def test_set_surrogate_writes_the_window():
    cfg = CoreConfig((7, 5, 3), t_max=4, surrogates=("rect", "sigmoid"), sg_table_depth=16384)
    board = RecordingBoard(cfg)
    client = CoreClient(board, cfg)
    client.set_surrogate("sigmoid", 2.0)
    win = surrogate_window("sigmoid", 2.0, 16384)
    sgr, sgt = client.base["sgr"], client.base["sgt"]
    assert [board.mem[sgr + k] for k in range(3)] == list(win.regs().values())
    entries = np.array([board.mem[sgt + k] for k in range(16384)], np.uint16)
    rebuilt = reconstruct(replace(win, entries=entries))
    assert np.array_equal(rebuilt, surrogate_table("sigmoid", 2.0).view(np.uint16))
