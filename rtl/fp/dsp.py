"""The significand multiplier: an ECP5 MULT18X18D with its input and output registers when the target is
ECP5 (nextpnr's DSP timing assumes registered DSPs; yosys does not pack registers into it by itself), else a
generic `*` (simulation, iCE40, other vendors)."""
from __future__ import annotations

from amaranth.hdl import C, Cat, ClockSignal, Instance, Module, Signal, Value


def use_ecp5_dsp(dsp: str, platform, width: int) -> bool:
    """`dsp`: 'ecp5' forces the primitive, 'generic' forbids it, 'auto' asks the platform."""
    if width > 18:
        return False
    if dsp == "ecp5":
        return True
    return dsp == "auto" and getattr(platform, "family", None) == "ecp5"


def ecp5_mult18x18d_registered(m: Module, a: Value, b: Value, en: Value, name: str = "sigmul") -> Value:
    """a*b (unsigned, <= 18 bits each) through one MULT18X18D with REG_INPUTA/B and REG_OUTPUT on CLK0/CE0:
    latency 2, both register stages gated by `en` (the pipeline's clock enable)."""
    wa, wb = len(a), len(b)
    p = Signal(36, name=f"{name}_p")
    ports: dict[str, object] = {}
    a18 = Cat(a, C(0, 18 - wa))
    b18 = Cat(b, C(0, 18 - wb))
    for i in range(18):
        ports[f"i_A{i}"] = a18[i]
        ports[f"i_B{i}"] = b18[i]
    for i in range(36):
        ports[f"o_P{i}"] = p[i]
    # Unused clock/CE/reset/cascade pins stay unconnected: nextpnr cannot route constants onto DSP clock pins.
    ports.update(i_CLK0=ClockSignal(), i_CE0=en, i_RST0=C(0, 1))
    m.submodules[name] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
        p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
        p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
        p_CLK0_DIV="ENABLED", p_GSR="DISABLED", p_SOURCEB_MODE="B_SHIFT", p_MULT_BYPASS="DISABLED",
        p_RESETMODE="SYNC",
        i_SIGNEDA=C(0, 1), i_SIGNEDB=C(0, 1),
        **ports,
    )
    return p[:wa + wb]
