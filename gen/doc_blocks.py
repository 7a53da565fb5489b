"""Generated blocks inside hand-written docs: a command rewrites only the text between its two marker lines."""
from __future__ import annotations

from pathlib import Path


def write_block(path: Path, begin: str, end: str, body: str, heading: str = "") -> None:
    """Put `body` between the markers `begin` / `end` in `path`, in place; on the first run the block (after
    `heading`, if given) is appended to the file."""
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else ""
    if begin in text:
        pre, rest = text.split(begin, 1)
        text = pre + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + (heading + "\n" if heading else "") + block + "\n"
    path.write_text(text)
