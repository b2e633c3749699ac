"""The sources stay runnable on Python 3.8 (JetPack 5's system Python), checked here on the dev Python.

Jetson users run the runtime on their JetPack's Python (5.1: 3.8, 6: 3.10, 7: 3.12); we develop on 3.11. These
checks catch, without a 3.8 interpreter, what would only fail there: syntax newer than the floor, constructs
3.8 evaluates at run time (`tuple[int, int]`, `X | None` or `Sequence[str]` outside annotations) and stdlib
APIs it lacks. `tests/jetson_python.sh /path/to/python3.8` runs the whole suite under a real interpreter.
"""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parents[1]
FLOOR = (3, 8)
SOURCE_DIRS = ("segnet", "export", "runtime", "benchmarks", "tests")
BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}  # subscriptable from 3.9
TYPE_NAMES = BUILTIN_GENERICS | {"int", "float", "complex", "str", "bytes", "bool", "object"}
NEWER_ATTRIBUTES = {  # attribute -> the Python that added it
    "removeprefix": "3.9", "removesuffix": "3.9", "is_relative_to": "3.9", "with_stem": "3.9", "unparse": "3.9",
    "BooleanOptionalAction": "3.9", "bit_count": "3.10", "pairwise": "3.10", "UTC": "3.11",
}
NEWER_MODULES = {"zoneinfo": "3.9", "graphlib": "3.9", "tomllib": "3.11"}
NEWER_NAMES = {  # (module, name) -> the Python that added it
    ("functools", "cache"): "3.9", ("itertools", "pairwise"): "3.10", ("datetime", "UTC"): "3.11",
    **{("typing", name): "3.9+" for name in ("Annotated", "ParamSpec", "Concatenate", "TypeAlias", "TypeGuard",
                                              "Self", "Never", "LiteralString", "Required", "NotRequired",
                                              "assert_never", "reveal_type", "dataclass_transform", "Unpack")},
}
NEWER_KEYWORDS = {("zip", "strict"): "3.10", ("dataclass", "slots"): "3.10", ("dataclass", "kw_only"): "3.10"}


def sources() -> list[Path]:
    return sorted(p for folder in SOURCE_DIRS for p in (ROOT / folder).rglob("*.py") if "egg-info" not in str(p))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def not_run(tree: ast.Module, source: str) -> set[int]:
    """ids of the nodes Python never evaluates: `if TYPE_CHECKING:` bodies, and annotations where they are lazy."""
    lazy = "from __future__ import annotations" in source
    skipped: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            skipped += node.body
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if lazy:
                args = node.args
                every = args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]
                skipped += [a.annotation for a in every if a is not None and a.annotation is not None]
                skipped += [node.returns] if node.returns is not None else []
            # annotations of local variables are never evaluated
            skipped += [sub.annotation for sub in ast.walk(node) if isinstance(sub, ast.AnnAssign)]
        elif isinstance(node, ast.AnnAssign) and lazy:
            skipped.append(node.annotation)
    return {id(sub) for node in skipped for sub in ast.walk(node)}


def runtime_problems(path: Path) -> Iterator[str]:
    """Generics and `|` unions of types that run at import or call time (TypeError on 3.8)."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, str(path))
    skip = not_run(tree, source)
    abc_names = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module in ("collections", "collections.abc") for alias in node.names}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and (
                node.value.id in BUILTIN_GENERICS or node.value.id in abc_names):
            yield f"line {node.lineno}: {node.value.id}[...] (use typing's generic or a string)"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and any(
                (isinstance(side, ast.Constant) and side.value is None)
                or (isinstance(side, ast.Name) and side.id in TYPE_NAMES) for side in (node.left, node.right)):
            yield f"line {node.lineno}: `X | Y` of types (use typing.Union/Optional)"


def api_problems(tree: ast.Module) -> Iterator[str]:
    """Stdlib modules, names, attributes and keywords added after 3.8."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in NEWER_MODULES:
                    yield f"line {node.lineno}: import {alias.name} ({NEWER_MODULES[alias.name]})"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                added = NEWER_NAMES.get((node.module or "", alias.name)) or NEWER_MODULES.get(node.module or "")
                if added:
                    yield f"line {node.lineno}: from {node.module} import {alias.name} ({added})"
        elif isinstance(node, ast.Attribute) and node.attr in NEWER_ATTRIBUTES:
            yield f"line {node.lineno}: .{node.attr} ({NEWER_ATTRIBUTES[node.attr]})"
        elif isinstance(node, ast.Call):
            func = getattr(node.func, "id", getattr(node.func, "attr", ""))
            for keyword in node.keywords:
                added = NEWER_KEYWORDS.get((func, keyword.arg or ""))
                if added:
                    yield f"line {node.lineno}: {func}({keyword.arg}=) ({added})"


def collect(check: Callable[[Path], Iterable[str]]) -> list[str]:
    return [f"{path.relative_to(ROOT)}: {problem}" for path in sources() for problem in check(path)]


def test_python_floor_matches_setup_cfg_and_ruff():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["options"]["python_requires"].strip() == f">={FLOOR[0]}.{FLOOR[1]}"
    ruff = (ROOT / "ruff.toml").read_text()
    assert re.search(rf'^target-version\s*=\s*"py{FLOOR[0]}{FLOOR[1]}"', ruff, re.MULTILINE)


def floor_syntax_problems(path: Path) -> Iterator[str]:
    try:
        ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=FLOOR)
    except SyntaxError as exc:
        yield f"line {exc.lineno}: {exc.msg}"


def test_sources_parse_with_the_floor_grammar():
    """match, except*, parenthesised context managers and the like are syntax errors before 3.10/3.11."""
    problems = collect(floor_syntax_problems)
    assert not problems, "\n".join(problems)


def test_no_run_time_generics_or_type_unions():
    problems = collect(runtime_problems)
    assert not problems, "\n".join(problems)


def test_no_stdlib_api_newer_than_the_floor():
    problems = collect(lambda path: api_problems(parse(path)))
    assert not problems, "\n".join(problems)


BAD = [  # (snippet, checker): each must be reported, so the checks above can fail
    ("match x:\n    case 1:\n        pass\n", floor_syntax_problems),
    ("with (open('a') as f, open('b') as g):\n    pass\n", floor_syntax_problems),
    ("Size = tuple[int, int]\n", runtime_problems),
    ("from collections.abc import Sequence\nNames = Sequence[str]\n", runtime_problems),
    ("from __future__ import annotations\nx = isinstance(1, int | None)\n", runtime_problems),
    ("def f(a: int | None): pass\n", runtime_problems),  # evaluated: no `from __future__ import annotations`
    ("'abc'.removeprefix('a')\n", lambda path: api_problems(parse(path))),
    ("from functools import cache\n", lambda path: api_problems(parse(path))),
    ("list(zip([1], [2], strict=True))\n", lambda path: api_problems(parse(path))),
]
GOOD = [  # what 3.8 runs fine
    ("from __future__ import annotations\ndef f(a: int | None, b: list[str]) -> dict[str, tuple[int, ...]]:\n"
    "    c: set[int] = set()\n    return {}\n"),
    ("from typing import TYPE_CHECKING, Tuple\nif TYPE_CHECKING:\n    from typing_extensions import Self\n"
    "Size = Tuple[int, int]\nflags = 1 | 2\n"),
]


def test_checks_flag_newer_constructs_and_pass_floor_ones(tmp_path: Path):
    for index, (snippet, check) in enumerate(BAD):
        path = tmp_path / f"bad{index}.py"
        path.write_text(snippet)
        assert list(check(path)), snippet
    for index, snippet in enumerate(GOOD):
        path = tmp_path / f"good{index}.py"
        path.write_text(snippet)
        assert not [*floor_syntax_problems(path), *runtime_problems(path), *api_problems(parse(path))], snippet
