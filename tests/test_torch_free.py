"""The Jetson runtime needs no torch: importing it with torch blocked must work."""

import subprocess
import sys

BLOCK_TORCH = (
    "import sys, importlib.abc\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name == 'torch' or name.startswith('torch.'):\n"
    "            raise ImportError('torch is blocked in this test')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True, text=True)


def test_runtime_imports_without_torch():
    result = run_without_torch("import segnet.runtime, segnet.spec, segnet.cli; print('ok')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_help_works_without_torch():
    result = run_without_torch("from segnet.cli import main; main(['--help'])")
    assert "usage: segnet" in result.stdout, result.stderr
