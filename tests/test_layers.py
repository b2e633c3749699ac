"""The arrows run one way: core below, the NVIDIA helpers next, export and runtime beside each other,
benchmarks above both, the CLI on top (docs/design.md, "Layers"); library code holds no argparse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"segnet": ROOT / "segnet", "segnet.export": ROOT / "export", "segnet.runtime": ROOT / "runtime",
            "segnet.benchmarks": ROOT / "benchmarks"}
# each layer and the layers it may import
ALLOWED = {
    "core": {"core"},
    "nvidia": {"core", "nvidia"},
    "export": {"core", "nvidia", "export"},
    "runtime": {"core", "nvidia", "runtime"},
    "benchmarks": {"core", "nvidia", "export", "runtime", "benchmarks"},
    "cli": {"core", "nvidia", "export", "runtime", "benchmarks", "cli"},
}
ENTRY_POINTS = {"segnet.__main__"}  # `python -m segnet` runs the CLI


def layer(module: str) -> str | None:
    for name in ("cli", "benchmarks", "export", "runtime", "nvidia"):
        if module == f"segnet.{name}" or module.startswith(f"segnet.{name}."):
            return name
    return "core" if module == "segnet" or module.startswith("segnet.") else None


def modules() -> list[tuple[str, Path]]:
    found = []
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join([package, *parts])
            found.append((name[: -len(".__init__")] if name.endswith(".__init__") else name, path))
    return found


def imported(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_layer_table_covers_every_module():
    assert {layer(name) for name, _ in modules()} == set(ALLOWED)


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_run_down_the_layers(module, path):
    if module in ENTRY_POINTS:
        return
    mine = layer(module)
    wrong = [name for name in imported(path) if layer(name) not in (None, *ALLOWED[mine])]
    assert not wrong, f"{path.relative_to(ROOT)} ({mine}) imports {wrong}: see docs/design.md, Layers"


def test_library_code_holds_no_argparse():
    scripts = ROOT / "benchmarks" / "scripts"  # each prints a README table from its own command line
    offenders = [str(path.relative_to(ROOT)) for name, path in modules()
                 if layer(name) != "cli" and scripts not in path.parents and "argparse" in imported(path)]
    assert not offenders
