"""The `segnet` command line: the subcommands of COMMANDS, in that order, one module each in
`segnet.cli.commands`.

Each command module defines NAME, HELP, DESCRIPTION (with examples), `add_arguments(parser)` and
`run(args) -> int`; flags spelt the same everywhere come from segnet/cli/options.py. Modules import heavy dependencies inside `run`, so
`segnet --help` and the torch-free commands (run, bench, doctor, check) work on a Jetson without torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType
from typing import Sequence

from segnet import __version__
from segnet.errors import SegnetError

# every command, in the order of `segnet --help`: the flow from data to a running camera, then the tools
COMMANDS = ("synth", "train", "evaluate", "export", "check", "rewrite_unpool", "build", "deploy", "run",
            "serve", "bench", "demo", "doctor")


def _command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"segnet.cli.commands.{name}") for name in COMMANDS]


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
