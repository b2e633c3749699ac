"""The skeleton every table script shares: its size and preset arguments, and `publish`, which prints the
table with the machine and the script's own command line and writes NAME.md and NAME.json."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segnet import atomic


def publish(name: str, sections: Sequence[str], data: Any, out: str | Path | None,
            argv: Sequence[str] | None, peak: Any = None, machine: bool = True) -> str:
    """Print `sections` and the machine block (with the command that reruns script `name`), and write
    OUT/NAME.md and OUT/NAME.json (`data`) atomically when `out` is given. Returns the markdown."""
    from segnet.benchmarks.peak import machine_info
    from segnet.benchmarks.report import machine_block

    command = command_line(name, argv)
    tail = machine_block(machine_info(), command, peak) if machine else f"command: `{command}`"
    text = "\n\n".join([*sections, tail])
    print(text)
    if out is not None:
        atomic.write_text(Path(out) / f"{name}.md", text + "\n")
        atomic.write_text(Path(out) / f"{name}.json",
                          json.dumps(data, indent=2, default=str) + "\n")
    return text


def parse_preset(text: str) -> tuple[str, float]:
    """'segnet_lite:0.25' -> ("segnet_lite", 0.25); no width means 1.0."""
    name, _, width = text.partition(":")
    return name, float(width or 1.0)


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """How to rerun a script: `python -m segnet.benchmarks.<module> <its arguments>`."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python -m", f"segnet.benchmarks.scripts.{module}", *(shlex.quote(a) for a in args)])
