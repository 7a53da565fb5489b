"""Process helpers for tests that kill hosts and workers: children by parent PID (from /proc), liveness."""
from pathlib import Path


def children(pid: int) -> dict[int, str]:
    """PID -> command line of every process whose parent is `pid`."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out[int(d.name)] = cmd
    return out


def harness_children(pid: int) -> list[int]:
    """PIDs of simulated-board processes whose parent is `pid`."""
    return [p for p, cmd in children(pid).items() if "Vsoc_harness" in cmd]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
