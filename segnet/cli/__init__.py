"""The `segnet` command line: one subcommand per module in `segnet.cli.commands`.

Each command module defines NAME, HELP, ORDER (position in `segnet --help`), DESCRIPTION (with examples),
`add_arguments(parser)` and `run(args) -> int`. Modules import heavy dependencies inside `run`, so
`segnet --help` and the torch-free commands (run, bench, doctor, check) work on a Jetson without torch.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType
from typing import Sequence

from segnet import __version__
from segnet.errors import SegnetError


def _command_modules() -> list[ModuleType]:
    from segnet.cli import commands

    modules = [importlib.import_module(f"{commands.__name__}.{info.name}")
               for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_")]
    return sorted(modules, key=lambda m: (m.ORDER, m.NAME))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segnet",
        description="SegNet edge toolkit: train, export, build TensorRT engines, stream and benchmark.",
        epilog="Run `segnet COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"segnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.DESCRIPTION,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except SegnetError as exc:
        print(f"segnet {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"segnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
