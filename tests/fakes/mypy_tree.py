"""Type-check the TensorRT/CUDA modules against tensorrt-stubs: `python tests/fakes/mypy_tree.py`.

mypy cannot follow setup.cfg's package_dir mapping (segnet.export = export/, segnet.runtime = runtime/),
and the published stubs have a few syntax errors. So this builds, in a temporary folder, a source tree of
symlinks laid out as the installed package, plus fixed stubs for MYPYPATH, and runs mypy there with the
`[mypy]` section of setup.cfg (which lists the files).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAPPING = {"export": "export", "runtime": "runtime", "benchmarks": "benchmarks"}


def build_tree(target: Path) -> tuple[Path, Path]:
    """(source root, stubs root) under `target`."""
    if __package__:
        from .trt_stubs import write_stub_tree
    else:  # run as a script
        sys.path.insert(0, str(Path(__file__).parent))
        from trt_stubs import write_stub_tree  # type: ignore[no-redef]
    src = target / "src" / "segnet"
    src.mkdir(parents=True)
    for entry in (ROOT / "segnet").iterdir():
        if entry.name != "__pycache__":
            (src / entry.name).symlink_to(entry)
    for name, folder in MAPPING.items():
        (src / name).symlink_to(ROOT / folder)
    return target / "src", write_stub_tree(target / "stubs")


def run_mypy(cache_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run mypy on the files setup.cfg's [mypy] section lists; returns the finished process."""
    with tempfile.TemporaryDirectory(prefix="segnet-mypy-") as tmp:
        src, stubs = build_tree(Path(tmp))
        env = {**os.environ, "MYPYPATH": str(stubs)}
        cache = cache_dir or ROOT / ".mypy_cache"
        command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "setup.cfg"), "--cache-dir", str(cache)]
        return subprocess.run(command, cwd=src, env=env, capture_output=True, text=True, check=False)


if __name__ == "__main__":
    result = run_mypy()
    print(result.stdout + result.stderr, end="")
    sys.exit(result.returncode)
