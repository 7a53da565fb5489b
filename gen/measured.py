"""docs/measured.json: the project's headline figures, one JSON object, key -> {value, unit, command, date}.

Only the commands that measure a figure write it (through `record`); nobody edits the file by hand.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

MEASURED = Path(__file__).resolve().parents[1] / "docs" / "measured.json"


def record(figures: dict[str, tuple[object, str]], command: str, path: Path | None = None) -> Path:
    """Add or replace `figures` (key -> (value, unit)), all measured by `command`, dated today."""
    path = Path(path or MEASURED)
    data = json.loads(path.read_text()) if path.exists() else {}
    today = datetime.date.today().isoformat()
    for key, (value, unit) in figures.items():
        data[key] = {"value": value, "unit": unit, "command": command, "date": today}
    path.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
    return path


def replace_section(path: Path, begin: str, end: str, body: str) -> None:
    """Replace the text between the `begin` and `end` marker lines of a docs page (append both if absent)."""
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
