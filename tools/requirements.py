"""Write requirements.txt and requirements-jetson.txt from setup.cfg, the one list of the dependencies.

    python tools/requirements.py           # (make requirements) rewrite both files
    python tools/requirements.py --check   # exit 1 naming the files that differ from setup.cfg

Standard library only, so it runs before anything is installed. Environment markers are kept as setup.cfg
writes them: on aarch64 (Jetson) opencv-python is not installed over JetPack's system OpenCV, whose
GStreamer support CSI cameras need.
"""

from __future__ import annotations

import argparse
import configparser
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# file -> (extras on top of install_requires, what the file is for)
FILES = {
    "requirements.txt": (("train", "export", "runtime", "trt"),
                         ("train, export, build and run on a desktop or server (add TensorRT for engines);\n"
                         "#   for the CPU build of PyTorch install it first from https://download.pytorch.org/whl/cpu")),
    "requirements-jetson.txt": (("runtime", "trt"),
                                ("the torch-free runtime on a Jetson; OpenCV (python3-opencv) and TensorRT\n"
                                "#   (python3-libnvinfer) come from JetPack's apt, not pip")),
}


def requirements(setup_cfg: Path, extras: tuple[str, ...]) -> list[str]:
    """install_requires then each extra's requirements, in setup.cfg's order, each once."""
    config = configparser.ConfigParser()
    config.read(setup_cfg, encoding="utf-8")
    groups = [config["options"]["install_requires"]] + [config["options.extras_require"][e] for e in extras]
    seen: dict[str, None] = {}
    for group in groups:
        for line in group.splitlines():
            if line.strip():
                seen.setdefault(line.strip(), None)
    return list(seen)


def render(name: str, setup_cfg: Path = ROOT / "setup.cfg") -> str:
    extras, purpose = FILES[name]
    head = ["# Generated from setup.cfg by tools/requirements.py (make requirements); do not edit by hand.",
            f"# install_requires + extras {', '.join(extras)}:", f"#   {purpose}.",
            "# Development installs use pip install -e '.[...]' instead (see docs/installation.md)."]
    return "\n".join(head + requirements(setup_cfg, extras)) + "\n"


def stale(root: Path = ROOT) -> list[str]:
    """The requirement files whose content is not what setup.cfg gives (missing ones included)."""
    out = []
    for name in FILES:
        path = root / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render(name, root / "setup.cfg"):
            out.append(name)
    return out


def write(root: Path = ROOT) -> None:
    for name in FILES:
        tmp = root / f".{name}.tmp"
        tmp.write_text(render(name, root / "setup.cfg"), encoding="utf-8")
        os.replace(tmp, root / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for name in bad:
            print(f"{name} differs from setup.cfg: run `make requirements`", file=sys.stderr)
        return 1 if bad else 0
    write()
    for name in FILES:
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
