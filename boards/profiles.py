"""Supported boards and the SoC configurations built for them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from spikemesh.rtl.link.protocol import LinkConfig
from spikemesh.rtl.soc import SocConfig


@dataclass(frozen=True)
class BoardProfile:
    name: str
    family: str                 # "ecp5" or "ice40"
    platform: Callable          # amaranth-boards platform class
    clk_in_hz: int
    clk_hz: int                 # system clock after the PLL (== clk_in_hz: no PLL)
    baud: int
    dataset_words: dict         # per configuration name
    max_words: int
    flash_tool: str
    cores: dict = None          # configuration name -> layer sizes of the training core (None: link only)
    clocks: dict = None         # configuration name -> (system clock, baud) when they differ
    synth_opts: dict = None     # configuration name -> extra synth_* options

    def __post_init__(self):
        object.__setattr__(self, "cores", dict(self.cores or {}))
        object.__setattr__(self, "clocks", dict(self.clocks or {}))
        object.__setattr__(self, "synth_opts", dict(self.synth_opts or {}))

    def for_config(self, config: str) -> "BoardProfile":
        """This profile with the configuration's own clock (and so clocks per bit) applied."""
        if config not in self.clocks:
            return self
        clk, baud = self.clocks[config]
        return replace(self, clk_hz=clk, baud=baud, clocks={})

    def core_config(self, config: str = "default"):
        """The training core's CoreConfig for a configuration, or None (link, status and dataset only)."""
        layers = (self.cores or {}).get(config)
        if layers is None:
            return None
        from spikemesh.rtl.core.config import CoreConfig
        return CoreConfig(layers=layers, t_max=8)

    @property
    def clocks_per_bit(self) -> int:
        cpb = round(self.clk_hz / self.baud)
        if abs(self.clk_hz / cpb - self.baud) > 0.02 * self.baud:
            raise ValueError(f"baud: {self.baud} is not within 2% of {self.clk_hz} Hz / an integer")
        return cpb

    def soc_config(self, config: str = "default") -> SocConfig:
        if config in self.clocks:
            return self.for_config(config).soc_config(config)
        if config not in self.dataset_words:
            raise ValueError(f"config must be one of {sorted(self.dataset_words)} for board {self.name}, "
                             f"got {config!r}")
        return SocConfig(clk_hz=self.clk_hz, name=f"{self.name}/{config}",
                         link=LinkConfig(clocks_per_bit=self.clocks_per_bit, max_words=self.max_words),
                         dataset_words=self.dataset_words[config])


def _ulx3s(device: str, dataset: dict, cores: dict | None = None, clocks: dict | None = None,
           synth: dict | None = None) -> BoardProfile:
    import amaranth_boards.ulx3s as u
    return BoardProfile(f"ulx3s-{device.lower()}", "ecp5", getattr(u, f"ULX3S_{device}_Platform"),
                        25_000_000, 75_000_000, 3_000_000, dataset, 256, "openFPGALoader", cores, clocks, synth)


def _icebreaker() -> BoardProfile:
    import amaranth_boards.icebreaker as i
    # 12 MHz without a PLL: 4 clocks per bit at 3 Mbaud; the UP5K's EBR (120 kbit) bounds the dataset.
    return BoardProfile("icebreaker", "ice40", i.ICEBreakerPlatform, 12_000_000, 12_000_000, 3_000_000,
                        {"small": 2048}, 64, "iceprog")


BOARDS: dict[str, Callable[[], BoardProfile]] = {
    # "train": the link SoC plus a training core for 8x8 digits (64-16-10). Its yosys-inferred DSPs do not
    # route (docs/boards.md), so multipliers go to LUTs (-nodsp) and the clock drops to 25 MHz (no PLL
    # multiplication; 27.5 MHz Fmax measured at -nodsp) with 3 Mbaud -> 1 Mbaud at 25 clocks per bit.
    "ulx3s-85f": lambda: _ulx3s("85F", {"default": 16384, "small": 4096, "train": 16384},
                                {"train": (64, 16, 10)}, {"train": (25_000_000, 1_000_000)}, {"train": "-nodsp"}),
    "ulx3s-45f": lambda: _ulx3s("45F", {"default": 16384, "small": 4096}),
    "ulx3s-25f": lambda: _ulx3s("25F", {"default": 8192, "small": 4096}),
    "ulx3s-12f": lambda: _ulx3s("12F", {"small": 4096}),
    "icebreaker": _icebreaker,
}


def board_profile(name: str) -> BoardProfile:
    if name not in BOARDS:
        raise ValueError(f"board must be one of {sorted(BOARDS)}, got {name!r}")
    return BOARDS[name]()


def with_clock(profile: BoardProfile, clk_hz: int) -> BoardProfile:
    return replace(profile, clk_hz=clk_hz)
