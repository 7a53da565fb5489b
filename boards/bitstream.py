"""Check that a packed bitstream is one for the intended device before anyone loads it.

ECP5 (`ecppack`): an optional comment block (0xFF 0x00 ... 0x00 0xFF), the preamble 0xFFFFBDB3, then
commands; VERIFY_ID (0xE2, three zero bytes, a 32-bit big-endian JTAG IDCODE) names the device the
bitstream was packed for, and the FPGA refuses a bitstream whose IDCODE is not its own.
iCE40 (`icepack`): the sync word 0x7EAA997E after an optional comment block.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ECP5_PREAMBLE = b"\xff\xff\xbd\xb3"
ECP5_VERIFY_ID = 0xE2
ICE40_SYNC = b"\x7e\xaa\x99\x7e"

# JTAG IDCODEs of the ECP5 devices the boards carry (Lattice TN1260 / prjtrellis devices.json).
ECP5_IDCODES = {
    "LFE5U-12F": 0x21111043,
    "LFE5U-25F": 0x41111043,
    "LFE5U-45F": 0x41112043,
    "LFE5U-85F": 0x41113043,
}


class BadBitstream(ValueError):
    """The file is not a bitstream for the device it was built for."""


@dataclass(frozen=True)
class BitstreamInfo:
    device: str
    size: int          # bytes
    idcode: int | None  # ECP5 only


def _skip_comment(data: bytes) -> int:
    """Offset just past ecppack/icepack's comment block (0xFF 0x00 ... 0x00 0xFF), or 0 without one."""
    if data[:2] != b"\xff\x00":
        return 0
    end = data.find(b"\x00\xff", 2)
    if end < 0:
        raise BadBitstream("unterminated comment block at the start of the bitstream")
    return end + 2


def check_ecp5(data: bytes, device: str) -> BitstreamInfo:
    if device not in ECP5_IDCODES:
        raise BadBitstream(f"device must be one of {sorted(ECP5_IDCODES)}, got {device!r}")
    pos = data.find(ECP5_PREAMBLE, _skip_comment(data))
    if pos < 0:
        raise BadBitstream("no ECP5 preamble 0xFFFFBDB3")
    # Between the preamble and VERIFY_ID there are only dummy bytes and fixed-size commands (LSC_RESET_CRC
    # 0x3B, LSC_WRITE_COMP_DIC ...); the IDCODE check comes within the first few dozen bytes.
    head = data[pos + 4: pos + 4 + 64]
    for i in range(len(head) - 7):
        if head[i] == ECP5_VERIFY_ID and head[i + 1: i + 4] == b"\x00\x00\x00":
            idcode = int.from_bytes(head[i + 4: i + 8], "big")
            if idcode != ECP5_IDCODES[device]:
                names = {v: k for k, v in ECP5_IDCODES.items()}
                raise BadBitstream(f"bitstream is for IDCODE {idcode:#010x} ({names.get(idcode, 'unknown')}), "
                                   f"not {device} ({ECP5_IDCODES[device]:#010x})")
            return BitstreamInfo(device, len(data), idcode)
    raise BadBitstream("no VERIFY_ID command after the ECP5 preamble")


def check_ice40(data: bytes, device: str) -> BitstreamInfo:
    if data.find(ICE40_SYNC, _skip_comment(data), 64) < 0:
        raise BadBitstream("no iCE40 sync word 0x7EAA997E at the start of the bitstream")
    return BitstreamInfo(device, len(data), None)


def check_bitstream(path: Path | str, family: str, device: str) -> BitstreamInfo:
    """Parse the bitstream's header for `device` (raises `BadBitstream`)."""
    data = Path(path).read_bytes()
    if family == "ecp5":
        return check_ecp5(data, device)
    if family == "ice40":
        return check_ice40(data, device)
    raise BadBitstream(f"family must be 'ecp5' or 'ice40', got {family!r}")
