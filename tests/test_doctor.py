"""`segnet doctor` reports what is there and never crashes on what is not."""

from __future__ import annotations

import json
import subprocess
import sys

from fakes import Script, install

from segnet.cli.commands import doctor

BLOCK = (
    "import sys, importlib.abc\n"
    "BLOCKED = {blocked!r}\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name.split('.')[0] in BLOCKED:\n"
    "            raise ImportError(name + ' is blocked in this test')\n"
    "sys.meta_path.insert(0, Block())\n"
    "import argparse\n"
    "from segnet.cli.commands import doctor\n"
    "sys.exit(doctor.run(argparse.Namespace(json='-')))\n"
)


def test_doctor_with_every_optional_component_blocked():
    blocked = ["torch", "onnxruntime", "onnx", "cv2", "cuda", "tensorrt"]
    result = subprocess.run([sys.executable, "-c", BLOCK.format(blocked=blocked)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for name in ("torch", "onnxruntime", "onnx", "opencv", "cuda", "tensorrt"):
        assert report["components"][name]["available"] is False, name
        assert "blocked" in report["components"][name]["error"] or "needed" in report["components"][name]["error"]
    assert report["components"]["numpy"]["available"] is True
    assert not any(f["usable"] for name, f in report["features"].items() if "camera" not in name)
    assert "onnxruntime" in report["features"]["run on CPU (ONNX Runtime)"]["missing"]


def test_doctor_with_tensorrt_and_gpu(monkeypatch, capsys):
    install(monkeypatch, "10.3", Script(num_dla_cores=2), name=b"Orin", integrated=True)
    report = doctor.collect()
    assert report["tensorrt"] == {"available": True, "version": "10.3.0.26", "dla_cores": 2, "fast_fp16": True}
    device = report["cuda"]["devices"][0]
    assert device["name"] == "Orin" and device["compute_capability"] == "8.7" and device["integrated"] is True
    usable = doctor.features(report)
    assert usable["TensorRT build/run"]["usable"] and usable["DLA"]["usable"]
    assert doctor.run(doctor.argparse.Namespace(json=None)) == 0
    assert "[x] TensorRT build/run" in capsys.readouterr().out


def test_doctor_without_gpu_keeps_tensorrt_but_not_the_feature(monkeypatch):
    install(monkeypatch, "10.3", Script(builder_fails=True), devices=0)
    report = doctor.collect()
    assert report["tensorrt"]["available"] and "builder_error" in report["tensorrt"]
    assert not doctor.features(report)["TensorRT build/run"]["usable"]


def test_jetson_release_detection(monkeypatch, tmp_path):
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    release = tmp_path / "nv_tegra_release"
    release.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n")
    monkeypatch.setattr(doctor, "DEVICE_TREE_MODEL", model)
    monkeypatch.setattr(doctor, "TEGRA_RELEASE", release)
    info = doctor.jetson_info()
    assert info == {"available": True, "model": "NVIDIA Jetson AGX Orin Developer Kit", "l4t": "36.4.3",
                    "jetpack": "6.2"}
    assert doctor.jetpack_for("35.4.1") == "5.1.2" and doctor.jetpack_for("36.3.0") == "6.0"
    assert doctor.jetpack_for("32.7.4") is None
