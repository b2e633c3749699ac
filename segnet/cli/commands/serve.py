"""`segnet serve`: a Triton Inference Server (PyTriton) hosting a model for many clients (torch-free)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

from segnet.cli.argtypes import non_negative_int, positive_int
from segnet.errors import MissingDependencyError, SegnetError

NAME = "serve"
HELP = "serve a model on a Triton Inference Server (KServe v2 gRPC + HTTP, dynamic batching across clients)"
SERVER_VENV = ".venv-serve"
PYTHON_ENV = "SEGNET_SERVER_PYTHON"
DESCRIPTION = f"""\
Start a Triton Inference Server (NVIDIA's PyTriton, which bundles the tritonserver binary) hosting the
model's Segmenter (ONNX Runtime on the CPU, TensorRT for .engine files or --backend tensorrt). Clients send
BGR frames of any size and get class maps back, batched across clients by Triton's dynamic batcher:
  segnet run NAME --backend triton --url grpc://127.0.0.1:8001 --source video.mp4 --output out.mp4
The model config's parameters carry the spec (classes, palette), so clients need only the model name.
Loopback only by default: --host 0.0.0.0 serves other machines (no authentication: trusted networks only).

PyTriton's server stub needs Python 3.12+ here; from another interpreter `segnet serve` runs itself in the
server environment: --server-python, ${PYTHON_ENV}, or {SERVER_VENV}/ of the checkout (`make serve-venv`).
See docs/serving.md.

examples:
  segnet serve model.onnx                               # grpc://127.0.0.1:8001, http://127.0.0.1:8000
  segnet serve model.engine --name road --max-batch 16 --queue-delay-us 5000 --host 0.0.0.0
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="model file: .onnx or .engine (with its spec)")
    parser.add_argument("--name", default=None, help="model name clients ask for (default: the file's stem)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=positive_int, default=8001, help="gRPC port (default 8001)")
    parser.add_argument("--http-port", type=positive_int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument("--max-batch", type=positive_int, default=8, help="largest batch Triton forms (default 8)")
    parser.add_argument("--queue-delay-us", type=non_negative_int, default=2000,
                        help="how long a request may wait for others to batch with, in us (default 2000)")
    parser.add_argument("--preferred", default=None, metavar="LIST", help="preferred batch sizes, e.g. 4,8")
    parser.add_argument("--instances", type=positive_int, default=1, help="model instances (default 1)")
    parser.add_argument("--interface", choices=("frames", "network"), default="frames",
                        help="frames: BGR frames in, class maps out (default); network: the model's own tensors, "
                        "as in a `segnet deploy triton` repository (clients resize, normalise and arg-max)")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "tensorrt"))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "tensorrt"),
                        help="ONNX Runtime execution provider (default cpu)")
    parser.add_argument("--threads", type=positive_int, default=None, help="ONNX Runtime intra-op threads")
    parser.add_argument("--server-python", type=Path, default=None,
                        help=f"Python of the server environment (default ${PYTHON_ENV}, else ./{SERVER_VENV})")


def can_serve_here() -> bool:
    """Whether this interpreter runs PyTriton's server (Python 3.12+ with pytriton installed)."""
    return sys.version_info >= (3, 12) and importlib.util.find_spec("pytriton") is not None


def server_python(explicit: Path | None) -> Path:
    """The server environment's interpreter: --server-python, $SEGNET_SERVER_PYTHON, or the checkout's venv."""
    checkout = Path(__file__).resolve().parents[3]
    candidates = [(explicit, "--server-python")] if explicit else []
    if os.environ.get(PYTHON_ENV):
        candidates.append((Path(os.environ[PYTHON_ENV]), f"${PYTHON_ENV}"))
    candidates.append((checkout / SERVER_VENV / "bin" / "python", f"{SERVER_VENV}/ of {checkout}"))
    for path, where in candidates:
        if path is not None and path.is_file():
            return path
        if path is not None and explicit is not None:
            raise SegnetError(f"{path} ({where}): no such interpreter")
    raise MissingDependencyError(
        f"the Triton server needs PyTriton under Python 3.12+ and this is Python {sys.version_info[0]}."
        f"{sys.version_info[1]}{'' if importlib.util.find_spec('pytriton') else ' without pytriton'}: run "
        f"`make serve-venv` in the checkout (it makes {SERVER_VENV}/ with python3.12 or 3.13), or pass "
        "--server-python PATH")


def forwarded(args: argparse.Namespace) -> list[str]:
    """The same request as command-line arguments, for the server environment's `segnet serve`."""
    argv = [str(args.model.resolve()), "--host", args.host, "--port", str(args.port), "--http-port", str(args.http_port),
            "--max-batch", str(args.max_batch), "--queue-delay-us", str(args.queue_delay_us),
            "--instances", str(args.instances), "--backend", args.backend, "--device", args.device,
            "--interface", args.interface]
    for flag, value in (("--name", args.name), ("--preferred", args.preferred), ("--threads", args.threads)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def run(args: argparse.Namespace) -> int:
    from segnet.cli.commands.deploy import preferred_sizes

    if not args.model.is_file():
        raise SegnetError(f"{args.model}: model file not found")
    preferred = preferred_sizes(args.preferred)
    if not can_serve_here():
        python = server_python(args.server_python)
        process = subprocess.Popen([str(python), "-m", "segnet", "serve", *forwarded(args)])
        signal.signal(signal.SIGTERM, lambda *_: process.terminate())
        try:
            return process.wait()
        except KeyboardInterrupt:  # the server got the same Ctrl+C and shuts down
            return process.wait() or 130
    from segnet.artifacts import stem
    from segnet.runtime.triton_server import ServeOptions, serve

    options = ServeOptions(name=args.name or stem(args.model), host=args.host, grpc_port=args.port,
                           http_port=args.http_port, max_batch_size=args.max_batch, queue_delay_us=args.queue_delay_us,
                           preferred=preferred, instances=args.instances, backend=args.backend, device=args.device,
                           threads=args.threads, interface=args.interface)
    serve(args.model, options, ready=lambda line: print(line, flush=True))
    return 0
