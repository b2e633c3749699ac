#!/usr/bin/env bash
# Run the torch-free tests under another Python, as on a Jetson's system Python (JetPack 5: 3.8, 6: 3.10, 7: 3.12).
#
#   tests/jetson_python.sh /usr/bin/python3.8 [pytest args...]
#
# Builds (once) a venv OUTSIDE the repo with only what the device runtime needs: the package with its `runtime`
# and `trt` extras (numpy, OpenCV, ONNX Runtime, cuda-python), onnx + onnx-graphsurgeon (check, rewrite-unpool),
# tensorrt-stubs (the TensorRT fakes read them), pytest, and no torch. Then runs the test suite there: tests
# that need torch (or Pillow, mypy) must skip, not crash. Without pytest args it runs all of tests/.
# The venv goes to $JETSON_VENV (default ~/.cache/segnet/venv-py<XY>); delete it to rebuild.
set -euo pipefail

PY=${1:?usage: tests/jetson_python.sh /path/to/python3.X [pytest args...]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=$("$PY" -c 'import sys; print("%d%d" % sys.version_info[:2])')
VENV=${JETSON_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/segnet/venv-py$TAG}

if [ ! -f "$VENV/.segnet-ready" ]; then
    echo "building $VENV with $("$PY" --version)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q "onnx>=1.14" "onnx-graphsurgeon>=0.5" "pytest>=7"
    # the extras come from setup.cfg, so this also checks that its requirements resolve on this Python
    "$VENV/bin/python" -m pip install -q -e "$ROOT[runtime,trt]"
    # the strict TensorRT fakes are built from NVIDIA's stubs; the .pyi files are only read as data, so the
    # package's own Python floor (3.10) does not apply
    "$VENV/bin/python" -m pip install -q --no-deps --ignore-requires-python tensorrt-stubs
    touch "$VENV/.segnet-ready"
fi

if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "error: torch is importable in $VENV; this run must be torch-free (delete the venv to rebuild)" >&2
    exit 2
fi

cd "$ROOT"
echo "$("$VENV/bin/python" --version): torch-free test run"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
