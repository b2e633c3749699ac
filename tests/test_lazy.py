"""segnet.lazy is the one way optional modules are imported (docs/design.md, Layers)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from segnet import lazy
from segnet.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]


def test_require_takes_the_first_importable_alternative(monkeypatch):
    new = types.ModuleType("fake_new_name")
    monkeypatch.setitem(sys.modules, "fake_new_name", new)
    assert lazy.require(("fake_old_name_absent", "fake_new_name")) is new


def test_require_names_the_module_really_missing_and_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)  # None in sys.modules: ImportError
    monkeypatch.setitem(sys.modules, "cuda.cudart", None)
    with pytest.raises(MissingDependencyError, match=r"^cuda is needed \(CUDA buffers\).*pip install cuda-python"):
        lazy.require(("cuda.bindings.runtime", "cuda.cudart"), "CUDA buffers")


def test_lazy_module_imports_on_first_attribute_only():
    loads = []

    def load():
        loads.append(1)
        return types.SimpleNamespace(Builder="builder")

    stand_in = lazy.LazyModule(load)
    assert loads == []
    assert stand_in.Builder == "builder" and loads == [1]


def test_package_attributes_import_their_home_on_first_access():
    getattr_ = lazy.attributes("pkg", {"Path": "pathlib"})
    assert getattr_("Path") is Path
    with pytest.raises(AttributeError, match="'pkg' has no attribute 'Nope'"):
        getattr_("Nope")


def test_no_other_import_fallbacks_in_library_code():
    """A try/except ImportError outside segnet/lazy.py is a second idiom (or hides a broken install)."""
    found = []
    for folder in ("segnet", "export", "runtime", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "segnet" / "lazy.py":
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
                      for m in re.finditer(r"except \(?(ImportError|ModuleNotFoundError)", text)]
    assert not found
