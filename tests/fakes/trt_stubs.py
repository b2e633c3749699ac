"""Read NVIDIA's tensorrt-stubs (TensorRT 10.13 Python API) into a model the strict fakes are built from.

The published .pyi is not quite valid Python (parameters named `in`, a non-default parameter after
defaults): `sanitized_sources` fixes those few spots, for `ast` here and for mypy (`write_stub_tree`).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

# (pattern, replacement) applied to tensorrt_bindings/tensorrt.pyi before parsing.
_FIXES = [
    (re.compile(r"\bin: "), "in_: "),
    (re.compile(r"power: Weights = None, channel_axis: int\)"), "power: Weights = None, channel_axis: int = ...)"),
]
_ENUM_VALUE = re.compile(r"^\s+(\w+): typing\.ClassVar\[([\w.]+)\]\s+# value = <[\w.]+: (-?\d+)>", re.MULTILINE)


def stubs_root() -> Path | None:
    """site-packages folder holding tensorrt/__init__.pyi and tensorrt_bindings/ (None if not installed)."""
    spec = importlib.util.find_spec("tensorrt_bindings")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder.parent if (folder / "tensorrt.pyi").is_file() else None


def sanitized_sources() -> dict[str, str]:
    """Relative path -> fixed source text for the three stub files."""
    root = stubs_root()
    if root is None:
        raise FileNotFoundError("tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs)")
    files = {}
    for rel in ("tensorrt/__init__.pyi", "tensorrt_bindings/__init__.pyi", "tensorrt_bindings/tensorrt.pyi"):
        text = (root / rel).read_text(encoding="utf-8")
        for pattern, replacement in _FIXES:
            text = pattern.sub(replacement, text)
        files[rel] = text
    return files


def write_stub_tree(target: Path) -> Path:
    """Write the fixed stubs under `target` (for MYPYPATH) and return it."""
    for rel, text in sanitized_sources().items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


@dataclass
class StubClass:
    """What the stubs declare for one class."""

    name: str
    methods: dict[str, list[inspect.Signature]] = field(default_factory=dict)  # overloads, without self
    static: set[str] = field(default_factory=set)
    properties: set[str] = field(default_factory=set)
    settable: set[str] = field(default_factory=set)  # plain attributes and properties with setters
    members: dict[str, int] = field(default_factory=dict)  # enum members of this class's own type
    member_refs: dict[str, str] = field(default_factory=dict)  # ClassVar members of another enum type
    nested: dict[str, StubClass] = field(default_factory=dict)
    bases: list[str] = field(default_factory=list)

    @property
    def is_enum(self) -> bool:
        return bool(self.members)


def _signature(args: ast.arguments, drop_first: bool) -> inspect.Signature:
    params: list[inspect.Parameter] = []
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for index, (arg, default) in enumerate(zip(positional, defaults)):
        if drop_first and index == 0:
            continue
        kind = inspect.Parameter.POSITIONAL_ONLY if arg in args.posonlyargs else inspect.Parameter.POSITIONAL_OR_KEYWORD
        params.append(inspect.Parameter(arg.arg, kind, default=inspect.Parameter.empty if default is None else ...))
    if args.vararg:
        params.append(inspect.Parameter(args.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append(inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if default is None else ...))
    if args.kwarg:
        params.append(inspect.Parameter(args.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def _render(node: ast.expr) -> str:
    """ast.unparse for what stubs hold here (dotted names, subscripts, constants): ast.unparse needs 3.9."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_render(node.value)}.{node.attr}"
    if isinstance(node, ast.Subscript):
        inner = node.slice.value if type(node.slice).__name__ == "Index" else node.slice  # 3.8 wraps it
        return f"{_render(node.value)}[{_render(inner)}]"
    if isinstance(node, ast.Tuple):
        return ", ".join(_render(item) for item in node.elts)
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else repr(node.value)
    raise ValueError(f"stub expression not understood on this Python: {ast.dump(node)}")


_unparse = getattr(ast, "unparse", _render)


def _decorators(node: ast.FunctionDef) -> set[str]:
    return {_unparse(d) for d in node.decorator_list}


def _read_class(node: ast.ClassDef, values: dict[tuple[str, str], int], outer: str = "") -> StubClass:
    qualified = f"{outer}.{node.name}" if outer else node.name
    cls = StubClass(node.name, bases=[_unparse(b) for b in node.bases])
    for item in node.body:
        if isinstance(item, ast.ClassDef):
            cls.nested[item.name] = _read_class(item, values, qualified)
        elif isinstance(item, ast.FunctionDef):
            deco = _decorators(item)
            if "property" in deco:
                cls.properties.add(item.name)
            elif any(d.endswith(".setter") for d in deco):
                cls.settable.add(item.name)
            else:
                static = "staticmethod" in deco
                if static:
                    cls.static.add(item.name)
                cls.methods.setdefault(item.name, []).append(_signature(item.args, drop_first=not static))
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            name, annotation = item.target.id, _unparse(item.annotation)
            if annotation.startswith("typing.ClassVar["):
                target = annotation[len("typing.ClassVar["):-1]
                if name == "__members__":
                    continue
                if target in (qualified, node.name):
                    cls.members[name] = values.get((target, name), len(cls.members))
                else:
                    cls.member_refs[name] = target
            else:
                cls.settable.add(name)
    return cls


@functools.lru_cache(maxsize=1)
def load_stubs() -> tuple[dict[str, StubClass], dict[str, list[inspect.Signature]], str]:
    """(classes by name, module functions by name, stub version) of the tensorrt-stubs API."""
    sources = sanitized_sources()
    text = sources["tensorrt_bindings/tensorrt.pyi"]
    values = {(m.group(2), m.group(1)): int(m.group(3)) for m in _ENUM_VALUE.finditer(text)}
    classes: dict[str, StubClass] = {}
    functions: dict[str, list[inspect.Signature]] = {}
    for rel in ("tensorrt_bindings/tensorrt.pyi", "tensorrt_bindings/__init__.pyi"):
        for node in ast.parse(sources[rel]).body:
            if isinstance(node, ast.ClassDef):
                classes[node.name] = _read_class(node, values)
            elif isinstance(node, ast.FunctionDef):
                functions.setdefault(node.name, []).append(_signature(node.args, drop_first=False))
    version = re.search(r"__version__: str = '([\d.]+)'", sources["tensorrt/__init__.pyi"])
    return classes, functions, version.group(1) if version else "10.13"
