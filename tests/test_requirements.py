"""requirements.txt / requirements-jetson.txt are generated from setup.cfg and must not drift from it."""

from __future__ import annotations

import configparser
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import requirements


def lines(name: str) -> list[str]:
    return [line for line in (ROOT / name).read_text(encoding="utf-8").splitlines() if not line.startswith("#")]


def test_the_committed_files_are_what_setup_cfg_gives():
    assert requirements.stale() == [], "run `make requirements` and commit the result"


def test_a_changed_setup_cfg_is_detected(tmp_path):
    for name in ("setup.cfg", *requirements.FILES):
        shutil.copyfile(ROOT / name, tmp_path / name)
    assert requirements.stale(tmp_path) == []
    cfg = (tmp_path / "setup.cfg").read_text(encoding="utf-8")
    (tmp_path / "setup.cfg").write_text(cfg.replace("onnxruntime>=1.16", "onnxruntime>=1.18"), encoding="utf-8")
    assert requirements.stale(tmp_path) == list(requirements.FILES)  # both carry onnxruntime
    requirements.write(tmp_path)
    assert requirements.stale(tmp_path) == [] and "onnxruntime>=1.18" in (tmp_path / "requirements.txt").read_text()


def test_contents_desktop_has_training_jetson_is_torch_free_and_keeps_system_opencv():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    core = [r for r in config["options"]["install_requires"].splitlines() if r.strip()]
    desktop, jetson = lines("requirements.txt"), lines("requirements-jetson.txt")
    assert desktop[:len(core)] == core and jetson[:len(core)] == core
    assert "torch>=2.1" in desktop and "onnxscript>=0.3" in desktop and len(desktop) == len(set(desktop))
    assert not [r for r in jetson if r.startswith(("torch", "onnx>", "matplotlib", "pytest"))]
    opencv = [r for r in jetson if r.startswith("opencv")]
    assert opencv == ['opencv-python-headless>=4.5; platform_machine != "aarch64"']


@pytest.mark.parametrize("machine,expected", [("x86_64", True), ("aarch64", False)])
def test_the_opencv_marker_leaves_jetson_opencv_alone(machine, expected):
    markers = pytest.importorskip("packaging.markers")
    requirement = next(r for r in lines("requirements-jetson.txt") if r.startswith("opencv"))
    marker = markers.Marker(requirement.split(";", 1)[1])
    assert marker.evaluate({"platform_machine": machine}) is expected
