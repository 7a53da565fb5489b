"""Supported boards and the SoC configurations built for them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from spikemesh.rtl.link.protocol import LinkConfig
from spikemesh.rtl.soc.top import SocConfig


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
    bram_blocks: int = 0        # block RAMs of the device (ECP5 DP16KD, iCE40 EBR); 0: not checked
    bram_block_words: int = 1024  # 16-bit words per block (DP16KD 1024x18, iCE40 EBR 256x16)
    mesh_cores: dict = None     # configuration name -> cores of a multi-core data-parallel board (rtl/mesh/board_soc.py;
                                # dataset_words is then per core, the cores' T <= 4)
    mesh_model: dict = None     # configuration name -> the network a model-parallel board splits one layer per core
                                # (rtl/mesh/board_soc_mp.py; no dataset BRAM: dataset_words is unused, T <= 4)

    def __post_init__(self):
        object.__setattr__(self, "cores", dict(self.cores or {}))
        object.__setattr__(self, "clocks", dict(self.clocks or {}))
        object.__setattr__(self, "synth_opts", dict(self.synth_opts or {}))
        object.__setattr__(self, "mesh_cores", dict(self.mesh_cores or {}))
        object.__setattr__(self, "mesh_model", dict(self.mesh_model or {}))

    @property
    def default_config(self) -> str:
        """The configuration `spikemesh build --board NAME` builds without --config."""
        return "default" if "default" in self.dataset_words else next(iter(self.dataset_words))

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
        if isinstance(layers, CoreConfig):  # a configuration with its own lanes, T or rules
            return layers
        return CoreConfig(layers=layers, t_max=4 if config in self.mesh_cores else 8)

    @property
    def clocks_per_bit(self) -> int:
        cpb = round(self.clk_hz / self.baud)
        if abs(self.clk_hz / cpb - self.baud) > 0.02 * self.baud:
            raise ValueError(f"baud: {self.baud} is not within 2% of {self.clk_hz} Hz / an integer")
        return cpb

    def bram_estimate(self, config: str = "default") -> dict[str, int]:
        """Block RAMs a configuration needs: the dataset buffer, the core's memories (every region rounded up
        as one pool), the link's RX and TX buffers.  An estimate (yosys maps small memories to LUT RAM): the 85F
        train builds placed 172 / 175 / 180 DP16KD (64-16-10 / 64-32-10 / 64-64-10) where this says 172 / 174 / 179."""
        per = self.bram_block_words
        need = {"dataset": -(-self.dataset_words[config] // per), "link": 2, "core": 0}
        cc = self.core_config(config)
        if cc is not None:
            from spikemesh.rtl.core.layout import CoreLayout
            need["core"] = -(-sum(r.size for r in CoreLayout(cc).regions()) // per)
        cores = self.mesh_cores.get(config)
        if cores:  # per core: its memories, its interface's FIFOs (~2) and its own dataset; the host port's RX FIFO
            # (the 85F mesh4 build placed 72 DP16KD where this says 71)
            need = {"dataset": cores * need["dataset"], "link": need["link"] + 1, "core": cores * (need["core"] + 2)}
        net = self.mesh_model.get(config)
        if net:  # per core: its slice's memories and its interfaces' FIFOs (~2); the host port's RX FIFO
            from spikemesh.rtl.mesh.board_soc_mp import core_words, slice_configs
            need = {"dataset": 0, "link": need["link"] + 1,
                    "core": sum(-(-core_words(c) // per) + 2 for c in slice_configs(net, len(net) - 1).values())}
        return need

    def check_fits(self, config: str = "default") -> None:
        """ValueError at generation time when the configuration's block RAMs exceed the device's."""
        if not self.bram_blocks:
            return
        need = self.bram_estimate(config)
        if sum(need.values()) > self.bram_blocks:
            room = (self.bram_blocks - need["link"] - need["core"]) * self.bram_block_words
            raise ValueError(
                f"dataset_words: {self.name}/{config} needs ~{sum(need.values())} block RAMs "
                f"(dataset {need['dataset']}, core {need['core']}, link {need['link']}) but the device has "
                f"{self.bram_blocks}; dataset_words must be <= {max(room, 0)} for this core, "
                f"got {self.dataset_words[config]}")

    def soc_config(self, config: str = "default") -> SocConfig:
        if config in self.clocks:
            return self.for_config(config).soc_config(config)
        if config not in self.dataset_words:
            raise ValueError(f"config must be one of {sorted(self.dataset_words)} for board {self.name}, "
                             f"got {config!r}")
        self.check_fits(config)
        return SocConfig(clk_hz=self.clk_hz, name=f"{self.name}/{config}",
                         link=LinkConfig(clocks_per_bit=self.clocks_per_bit, max_words=self.max_words),
                         dataset_words=self.dataset_words[config])


ECP5_DP16KD = {"12F": 32, "25F": 56, "45F": 108, "85F": 208}  # LFE5U block RAMs (18 kbit each)

# The whole digits training split (1437 samples) as on-board records for a 64-input core: 163,386 words
# (direct or rate T=4 encoding, ~114 words per sample, `firmware.dataset.encode_records`), in 160 DP16KD.
DIGITS_TRAIN_WORDS = 160 * 1024


def demo_core():
    """The training core `spikemesh demo` trains on (gen/demo.py DemoConfig's defaults)."""
    from spikemesh.rtl.core.config import CoreConfig

    return CoreConfig(layers=(64, 64, 10), t_max=4, lanes=4, rules=("sltt",))


def _ulx3s(device: str, dataset: dict, cores: dict | None = None, clocks: dict | None = None,
           synth: dict | None = None, mesh: dict | None = None, model: dict | None = None) -> BoardProfile:
    import amaranth_boards.ulx3s as u
    return BoardProfile(f"ulx3s-{device.lower()}", "ecp5", getattr(u, f"ULX3S_{device}_Platform"),
                        25_000_000, 75_000_000, 3_000_000, dataset, 256, "openFPGALoader", cores, clocks, synth,
                        ECP5_DP16KD[device], mesh_cores=mesh, mesh_model=model)


def _icebreaker() -> BoardProfile:
    import amaranth_boards.icebreaker as i
    # 12 MHz without a PLL: 4 clocks per bit at 3 Mbaud; the UP5K's EBR (120 kbit) bounds the dataset.
    return BoardProfile("icebreaker", "ice40", i.ICEBreakerPlatform, 12_000_000, 12_000_000, 3_000_000,
                        {"small": 2048}, 64, "iceprog", bram_blocks=30, bram_block_words=256)


BOARDS: dict[str, Callable[[], BoardProfile]] = {
    # "train": the link SoC plus a training core for 8x8 digits (64-16-10, DSPs = the FP multipliers'
    # explicit MULT18X18D) and the whole digits training split in the dataset BRAM; 60 MHz PLL clock =
    # exactly 3 Mbaud at 20 clocks per bit (docs/boards.md has the measured Fmax).
    # "mesh4": the multi-core board: 4 cores 64-16-10 (T <= 4) behind in-network-reducing interfaces on a 1x5
    # mesh, the UART link at the host node, 8 Ki words of dataset per core (the simulated board's tile); 36 MHz
    # (the 4-core mesh's out-of-context Fmax was 43 MHz, docs/mesh.md) = 3 Mbaud at 12 clocks per bit.
    # "mp3": the model-parallel board: digits 64-128-128-10 (too large for one core) one layer per core on a 1x4
    # mesh behind copy engines, the UART link at the host node; 36 MHz like mesh4 (placed: 43.8 MHz, docs/boards.md).
    # "demo": `make demo`'s chip (64-64-10, 4 MAC lanes, T <= 4, SLTT) with the whole training split; 45 MHz =
    # 3 Mbaud at 15 clocks per bit (at 60 MHz it reached 56.6 MHz, docs/boards.md).
    "ulx3s-85f": lambda: _ulx3s("85F", {"default": 16384, "small": 4096, "train": DIGITS_TRAIN_WORDS, "mesh4": 8192,
                                        "demo": DIGITS_TRAIN_WORDS, "mp3": 1024},
                                {"train": (64, 16, 10), "mesh4": (64, 16, 10), "demo": demo_core()},
                                {"train": (60_000_000, 3_000_000), "mesh4": (36_000_000, 3_000_000),
                                 "demo": (45_000_000, 3_000_000), "mp3": (36_000_000, 3_000_000)},
                                mesh={"mesh4": 4}, model={"mp3": (64, 128, 128, 10)}),
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
