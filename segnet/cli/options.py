"""The flags every command spells the same way: `--imgsz H W`, `--data-format`, `--json [FILE]`,
`--device`, and deprecated aliases of old spellings (a note on stderr, same destination)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Sequence

from segnet import atomic
from segnet.cli.argtypes import positive_int

# what each --device value means, in every command that takes one (choices differ by command)
DEVICE_MEANINGS = {
    "auto": "CUDA when available, else the CPU",
    "cpu": "the CPU",
    "cuda": "the NVIDIA GPU (PyTorch; ONNX Runtime's CUDA execution provider); cuda:N picks GPU N",
    "tensorrt": "ONNX Runtime's TensorRT execution provider, which builds and caches its own engines; "
                "--backend tensorrt instead runs a segnet-built .engine natively (the faster, Jetson way)",
}
DATA_FORMAT_HELP = "dataset layout: auto (detect), folder, camvid, voc"


class Deprecated(argparse.Action):
    """An old spelling kept for a release: stores into the new flag's destination and says so once."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "",
                 convert: Callable[[Any], Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.new, self.convert = new, convert

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"segnet: note: {option_string} is deprecated (removed in the next release); use {self.new}",
              file=sys.stderr)
        setattr(namespace, self.dest, self.convert(values) if self.convert else values)


def deprecated(parser: Any, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Accept `old` as a hidden alias of `new` (same `dest`); kwargs as for add_argument (nargs, type,
    convert to bring the old value to the new form)."""
    parser.add_argument(old, action=Deprecated, new=new, dest=dest, **kwargs)


def add_imgsz(parser: Any, help: str, default: Sequence[int] | None = None) -> None:
    """`--imgsz H W` (dest imgsz, a list of two ints or `default`)."""
    parser.add_argument("--imgsz", type=positive_int, nargs=2, metavar=("H", "W"), default=default, help=help)


def add_data_format(parser: Any, choices: Sequence[str] | None = None, default: str | None = "auto",
                    dest: str = "data_format") -> None:
    """`--data-format` (and the old `--format` of train and evaluate as a deprecated alias)."""
    parser.add_argument("--data-format", dest=dest, choices=choices, default=default,
                        help=f"{DATA_FORMAT_HELP} (default: {default or 'auto-detect'})")


def add_group_by(parser: Any, default: str | None = None) -> None:
    """`--group-by prefix|folder`: how a file's group (sequence) is read (segnet.data.groups)."""
    from segnet.data.groups import GROUP_RULES

    parser.add_argument("--group-by", choices=GROUP_RULES, default=default,
                        help="a file's group: its name up to the first '_' (prefix, default) or its folder")


def add_json(parser: Any, what: str) -> None:
    """`--json [FILE]`: `what` as JSON to stdout (no FILE, or '-') or written atomically to FILE."""
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                        help=f"{what} as JSON: to FILE, or to stdout without one (or with '-')")


def write_json(target: str | None, doc: Any) -> None:
    """Write `doc` where `--json` said: stdout for '-', else the file (atomically; says where)."""
    text = json.dumps(doc, indent=2, default=str) + "\n"
    if target in (None, "-"):
        sys.stdout.write(text)
        return
    atomic.write_text(target, text)
    print(f"wrote {target}", file=sys.stderr)


def add_device(parser: Any, choices: Sequence[str], default: str | None, allow_index: bool = False,
               shown_default: str | None = None) -> None:
    """`--device` with the listed `choices` (cuda:N too when `allow_index`), each explained the same way."""

    def parse(text: str) -> str:
        base = text.split(":", 1)[0] if allow_index else text
        index_ok = not allow_index or ":" not in text or (base == "cuda" and text.split(":", 1)[1].isdigit())
        if base not in choices or not index_ok:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}"
                                             f"{' (or cuda:N)' if allow_index else ''}, got {text!r}")
        return text

    meanings = "; ".join(f"{name}: {DEVICE_MEANINGS[name]}" for name in choices)
    parser.add_argument("--device", type=parse, default=default, metavar="|".join(choices),
                        help=f"where the network runs (default: {shown_default or default}). {meanings}")
