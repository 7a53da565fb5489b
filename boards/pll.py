"""PLL parameter search and primitives: EHXPLLL (ECP5) and SB_PLL40_CORE (iCE40)."""
from __future__ import annotations

from amaranth import Instance, Signal


def ecp5_pll_params(f_in: float, f_out: float) -> dict:
    """Dividers for EHXPLLL with CLKOP feedback: f_out = f_in / CLKI_DIV * CLKFB_DIV, VCO = f_out * CLKOP_DIV."""
    best = None
    for clki in range(1, 129):
        f_pfd = f_in / clki
        if not 3.125e6 <= f_pfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            f = f_pfd * clkfb
            if not 3.125e6 <= f <= 400e6:
                continue
            for clkop in range(1, 129):
                if 400e6 <= f * clkop <= 800e6:
                    err = abs(f - f_out)
                    if best is None or err < best[0]:
                        best = (err, clki, clkfb, clkop, f)
                    break
    if best is None or best[0] > 0.01 * f_out:
        raise ValueError(f"clk_hz: no ECP5 PLL setting reaches {f_out / 1e6:.3f} MHz from {f_in / 1e6:.3f} MHz "
                         "within 1% (range ~3.125..400 MHz)")
    _, clki, clkfb, clkop, f = best
    return {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop, "CLKOP_CPHASE": (clkop - 1) // 2,
            "f_out": f}


def ecp5_pll(clk_in, f_in: float, f_out: float) -> tuple[Instance, Signal, Signal, float]:
    p = ecp5_pll_params(f_in, f_out)
    clk_out, locked = Signal(name="clk_pll"), Signal(name="pll_locked")
    inst = Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=str(f_in / 1e6), a_FREQUENCY_PIN_CLKOP=str(p["f_out"] / 1e6),
        a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
        p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"], p_CLKOP_CPHASE=p["CLKOP_CPHASE"],
        p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=p["CLKFB_DIV"],
        i_RST=0, i_STDBY=0, i_CLKI=clk_in, o_CLKOP=clk_out, i_CLKFB=clk_out, i_PHASESEL0=0, i_PHASESEL1=0,
        i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=locked,
    )
    return inst, clk_out, locked, p["f_out"]


def ice40_pll_params(f_in: float, f_out: float) -> dict:
    """SB_PLL40 (SIMPLE feedback) dividers, the search `icepll` does: f_out = f_in*(DIVF+1)/((DIVR+1)*2**DIVQ)."""
    best = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = f_vco / (1 << divq)
                err = abs(f - f_out)
                if best is None or err < best[0]:
                    best = (err, divr, divf, divq, f_pfd, f)
    if best is None or best[0] > 0.01 * f_out:
        raise ValueError(f"clk_hz: no iCE40 PLL setting reaches {f_out / 1e6:.3f} MHz from {f_in / 1e6:.3f} MHz")
    _, divr, divf, divq, f_pfd, f = best
    filt = next(i for i, lim in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12), 1) if f_pfd < lim)
    return {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filt, "f_out": f}


def ice40_pll(clk_in, f_in: float, f_out: float) -> tuple[Instance, Signal, Signal, float]:
    p = ice40_pll_params(f_in, f_out)
    clk_out, locked = Signal(name="clk_pll"), Signal(name="pll_locked")
    inst = Instance("SB_PLL40_CORE", p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"],
                    p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"], i_REFERENCECLK=clk_in,
                    i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=clk_out, o_LOCK=locked)
    return inst, clk_out, locked, p["f_out"]
