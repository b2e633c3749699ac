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
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], check=False, capture_output=True, text=True)


def test_runtime_imports_without_torch():
    result = run_without_torch("import segnet.runtime, segnet.spec, segnet.cli; print('ok')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_help_works_without_torch():
    result = run_without_torch("from segnet.cli import main; main(['--help'])")
    assert "usage: segnet" in result.stdout, result.stderr


RUNTIME_MODULES = [
    "segnet.runtime.backends", "segnet.runtime.backends.onnxruntime", "segnet.runtime.model_io",
    "segnet.runtime.segmenter", "segnet.render", "segnet.runtime.sources", "segnet.runtime.sinks",
    "segnet.runtime.http_view", "segnet.runtime.pipeline", "segnet.runtime.run_stats",
    "segnet.cli.commands.run",
]


def test_every_runtime_module_imports_without_torch():
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in RUNTIME_MODULES)
    code += "from segnet.runtime import Segmenter\nprint('ok')"
    result = run_without_torch(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_segnet_run_streams_without_torch(tmp_path):
    """A real run (synthetic source, ONNX Runtime) in a process where torch cannot be imported."""
    from segnet.benchmarks.tiny_onnx import build_tiny_onnx

    model = build_tiny_onnx(tmp_path / "tiny.onnx", outputs=("logits",))
    code = ("from segnet.cli import main\n"
            f"raise SystemExit(main(['run', {str(model)!r}, '--source', 'synthetic://?frames=3&size=32x48', '-q']))")
    result = run_without_torch(code)
    assert result.returncode == 0, result.stderr
    assert "frames in 3, out 3" in result.stdout


def test_serving_modules_import_without_torch():
    """The Triton client and server, and the deploy writers, are torch-free (.venv-serve has no torch at all)."""
    result = run_without_torch("import segnet.runtime.backends.triton, segnet.runtime.triton_server, "
                               "segnet.runtime.triton_process, segnet.export.triton_repo, segnet.export.deepstream, "
                               "segnet.cli.commands.serve, segnet.cli.commands.deploy; print('ok')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
